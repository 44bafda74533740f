"""Labelled face datasets for the model tools: FER-2013 CSV, folder-per-class, real face crops.

Why one module: training, evaluation, pruning and quantisation must read images and turn them
into model inputs exactly the way the runtime does (gray uint8, ``cv2.INTER_LINEAR`` resize,
``x = u8 * scale + offset`` from the manifest). If each tool had its own loader, a model could be
evaluated on inputs it never sees on the robot. Everything here is NumPy + OpenCV; torch is not
needed to load data.

Formats:

* **FER-2013** (Kaggle ``fer2013.csv``): columns ``emotion`` (0..6), ``pixels`` (space-separated
  48x48 gray values) and ``Usage`` (``Training`` / ``PublicTest`` / ``PrivateTest``). Class names
  are the seven FER labels in their index order, whichever classes occur in the file.
* **Folder per class**: ``root/<class>/*.png|jpg|jpeg|bmp`` (e.g. IMDB gender crops in
  ``root/woman`` and ``root/man``). Colour images are converted to gray with OpenCV's BT.601
  weights (``cv2.IMREAD_GRAYSCALE``). Class names are the folder names, sorted, unless given.
"""

from __future__ import annotations

import csv
import hashlib
import os
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from pathlib import Path

import cv2
import numpy as np

from face_affect_ros.core.labels import FER7

FER2013_LABELS: tuple[str, ...] = FER7
"""FER-2013's emotion indices 0..6, the order of the shipped emotion model's outputs."""

FER2013_USAGES: tuple[str, ...] = ("Training", "PublicTest", "PrivateTest")
"""The ``Usage`` values of fer2013.csv: train, validation and test split by convention."""

IMAGE_SUFFIXES: tuple[str, ...] = (".png", ".jpg", ".jpeg", ".bmp")

DEFAULT_SIZE = 64
"""Side of the square model input of all shipped classifiers."""


class DatasetError(ValueError):
    """A dataset file or folder is missing or malformed; the message names it."""


@dataclass(frozen=True)
class LabelledImages:
    """Gray images and integer labels with the class names the labels index.

    ``images`` is ``uint8 [N, H, W]``, ``labels`` is ``int64 [N]`` with values in
    ``range(len(class_names))``; ``source`` says where the data came from (for reports).
    """

    images: np.ndarray
    labels: np.ndarray
    class_names: tuple[str, ...]
    source: str

    def __len__(self) -> int:
        return int(self.labels.shape[0])

    def subset(
        self, index: np.ndarray | Sequence[int], source: str | None = None
    ) -> LabelledImages:
        """Return the samples at ``index`` (same class names)."""
        idx = np.asarray(index, dtype=np.int64)
        return LabelledImages(
            self.images[idx], self.labels[idx], self.class_names, source or self.source
        )


def resize_gray(images: np.ndarray, size: int, interpolation: int = cv2.INTER_LINEAR) -> np.ndarray:
    """Resize ``uint8 [N, H, W]`` gray images to ``[N, size, size]`` (no-op if already so)."""
    if images.ndim != 3:
        raise ValueError(f"expected gray images [N, H, W], got shape {images.shape}")
    if images.shape[1:] == (size, size):
        return np.ascontiguousarray(images)
    out = np.empty((images.shape[0], size, size), dtype=np.uint8)
    for i, img in enumerate(images):
        out[i] = cv2.resize(img, (size, size), interpolation=interpolation)
    return out


def to_model_input(
    crops: np.ndarray, scale: float = 2.0 / 255.0, offset: float = -1.0
) -> np.ndarray:
    """Turn ``uint8 [N, H, W]`` crops into the float32 ``[N, 1, H, W]`` a classifier takes.

    The manifest contract ``x = u8 * scale + offset`` computed in float32, as the runtime does.
    """
    if crops.dtype != np.uint8 or crops.ndim != 3:
        raise ValueError(f"expected uint8 [N, H, W] crops, got {crops.dtype} {crops.shape}")
    x = crops.astype(np.float32) * np.float32(scale) + np.float32(offset)
    return x[:, np.newaxis]


def load_fer2013_csv(
    path: str | os.PathLike[str],
    usages: Iterable[str] | None = ("Training",),
    size: int = DEFAULT_SIZE,
    interpolation: int = cv2.INTER_LINEAR,
) -> LabelledImages:
    """Read the rows of a Kaggle ``fer2013.csv`` whose ``Usage`` is in ``usages``.

    ``usages=None`` reads every row (also for files without a ``Usage`` column). The 48x48
    images are resized to ``size`` with ``interpolation`` (the upstream training resized to 64
    with OpenCV's default, INTER_LINEAR).

    Raises:
        DatasetError: file missing, columns missing, a pixel row of the wrong length, a label
            outside 0..6, or no row selected.
    """
    path = Path(path)
    if not path.is_file():
        raise DatasetError(f"{path}: FER-2013 CSV not found")
    wanted = None if usages is None else set(usages)
    images: list[np.ndarray] = []
    labels: list[int] = []
    with path.open(newline="", encoding="utf-8") as handle:
        reader = csv.DictReader(handle)
        fields = set(reader.fieldnames or ())
        if not {"emotion", "pixels"} <= fields:
            raise DatasetError(
                f"{path}: needs columns 'emotion' and 'pixels', has {sorted(fields)}"
            )
        if wanted is not None and "Usage" not in fields:
            raise DatasetError(f"{path}: no 'Usage' column to select {sorted(wanted)} from")
        for line, row in enumerate(reader, start=2):
            if wanted is not None and row["Usage"] not in wanted:
                continue
            pixels = np.array(row["pixels"].split(), dtype=np.uint8)
            side = round(pixels.size**0.5)
            if side * side != pixels.size or side == 0:
                raise DatasetError(f"{path}:{line}: {pixels.size} pixels is not a square image")
            label = int(row["emotion"])
            if not 0 <= label < len(FER2013_LABELS):
                raise DatasetError(f"{path}:{line}: emotion {label} outside 0..6")
            img = pixels.reshape(side, side)
            if side != size:
                img = cv2.resize(img, (size, size), interpolation=interpolation)
            images.append(img)
            labels.append(label)
    if not images:
        raise DatasetError(f"{path}: no rows with Usage in {sorted(wanted or [])}")
    which = "all rows" if wanted is None else "+".join(sorted(wanted))
    return LabelledImages(
        np.stack(images), np.asarray(labels, dtype=np.int64), FER2013_LABELS, f"{path} ({which})"
    )


def _class_dirs(root: Path) -> list[Path]:
    return sorted(p for p in root.iterdir() if p.is_dir() and not p.name.startswith("."))


def _image_files(folder: Path) -> list[Path]:
    return sorted(
        p for p in folder.rglob("*") if p.is_file() and p.suffix.lower() in IMAGE_SUFFIXES
    )


def load_image_folder(
    root: str | os.PathLike[str],
    class_names: Sequence[str] | None = None,
    size: int = DEFAULT_SIZE,
    interpolation: int = cv2.INTER_LINEAR,
) -> LabelledImages:
    """Read ``root/<class>/**/*.png|jpg|jpeg|bmp`` as gray ``size`` x ``size`` images.

    ``class_names`` fixes the label order (e.g. ``("woman", "man")`` to match the shipped
    gender model); every name needs a folder. Without it, the sorted folder names are used.
    Memory: about ``size * size`` bytes per image (4 KiB at 64x64), all loaded at once.

    Raises:
        DatasetError: root or a class folder missing, a class with no images, an unreadable file.
    """
    root = Path(root)
    if not root.is_dir():
        raise DatasetError(f"{root}: image folder not found")
    found = {p.name: p for p in _class_dirs(root)}
    if class_names is None:
        names = tuple(sorted(found))
    else:
        names = tuple(class_names)
        missing = [n for n in names if n not in found]
        if missing:
            raise DatasetError(f"{root}: no folder for classes {missing} (found {sorted(found)})")
    if len(names) < 2:
        raise DatasetError(f"{root}: need at least two class folders, found {sorted(found)}")
    images: list[np.ndarray] = []
    labels: list[int] = []
    for label, name in enumerate(names):
        files = _image_files(found[name])
        if not files:
            raise DatasetError(f"{found[name]}: no {'/'.join(IMAGE_SUFFIXES)} images")
        for file in files:
            img = cv2.imread(str(file), cv2.IMREAD_GRAYSCALE)
            if img is None:
                raise DatasetError(f"{file}: OpenCV cannot read this image")
            if img.shape != (size, size):
                img = cv2.resize(img, (size, size), interpolation=interpolation)
            images.append(img)
            labels.append(label)
    return LabelledImages(np.stack(images), np.asarray(labels, dtype=np.int64), names, str(root))


def is_fer_csv(path: str | os.PathLike[str]) -> bool:
    """Tell a FER-2013 ``.csv`` file from a folder-per-class dataset (by suffix)."""
    return Path(path).suffix.lower() == ".csv"


def load_dataset(
    path: str | os.PathLike[str],
    usages: Iterable[str] | None = ("Training",),
    class_names: Sequence[str] | None = None,
    size: int = DEFAULT_SIZE,
    interpolation: int = cv2.INTER_LINEAR,
) -> LabelledImages:
    """Load either format: a ``.csv`` is FER-2013 (``usages`` applies), a folder is per-class."""
    if is_fer_csv(path):
        return load_fer2013_csv(path, usages, size, interpolation)
    return load_image_folder(path, class_names, size, interpolation)


def stratified_split(
    labels: np.ndarray, fraction: float, seed: int
) -> tuple[np.ndarray, np.ndarray]:
    """Split indices into (train, held-out) with ``fraction`` of every class held out.

    Per class so that small classes (FER-2013's 'disgust' has 1.5% of the images) are present
    in both parts; seeded so a rerun uses the same split.
    """
    if not 0.0 < fraction < 1.0:
        raise ValueError(f"fraction must be in (0, 1), got {fraction}")
    rng = np.random.default_rng(seed)
    train: list[np.ndarray] = []
    held: list[np.ndarray] = []
    for cls in np.unique(labels):
        idx = np.flatnonzero(labels == cls)
        rng.shuffle(idx)
        n_held = round(len(idx) * fraction)
        if len(idx) > 1:
            n_held = min(max(n_held, 1), len(idx) - 1)
        held.append(idx[:n_held])
        train.append(idx[n_held:])
    return np.sort(np.concatenate(train)), np.sort(np.concatenate(held))


def dataset_fingerprint(path: str | os.PathLike[str]) -> str:
    """Return a sha256 identifying a dataset: CSV bytes, or (relative path, size) of images.

    Recorded in manifests of trained models, so a model can be traced to its data. For folders,
    hashing every image's bytes would read hundreds of thousands of files twice; names and sizes
    identify a dataset well enough for provenance.
    """
    path = Path(path)
    digest = hashlib.sha256()
    if path.is_file():
        with path.open("rb") as handle:
            for chunk in iter(lambda: handle.read(1 << 20), b""):
                digest.update(chunk)
        return digest.hexdigest()
    for file in _image_files(path):
        digest.update(f"{file.relative_to(path).as_posix()}\t{file.stat().st_size}\n".encode())
    return digest.hexdigest()


def real_face_crops() -> tuple[np.ndarray, list[str]]:
    """Return the 101 real gray 64x64 face crops of the Keras fixture and their source tags.

    The 100 face patches of ``skimage.data.lfw_subset()`` (25x25, upscaled with INTER_LINEAR)
    and the astronaut's face. Read from ``test/fixtures/keras_reference.npz`` when the source
    checkout has it (no scikit-image needed), else built by the function that made the fixture,
    so both give identical pixels.
    """
    fixture = Path(__file__).resolve().parents[2] / "test" / "fixtures" / "keras_reference.npz"
    if fixture.is_file():
        with np.load(fixture) as ref:
            if "inputs" in ref and "sources" in ref:
                return np.asarray(ref["inputs"], dtype=np.uint8), [str(t) for t in ref["sources"]]
    from face_affect_ros.tools.make_fidelity_fixture import build_face_crops

    return build_face_crops()
