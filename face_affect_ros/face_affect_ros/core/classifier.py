"""Emotion and gender classification of face crops, batched, through onnxruntime.

Everything about a model's input (size, scaling, interpolation) and output (name, labels) is
read from its manifest, so a retrained or re-exported model needs no code change. All faces of a
frame go through each model in one ``session.run``: per-call overhead in onnxruntime is a large
share of a 64x64 mini-Xception's cost, so one batched call is cheaper than N single ones
(bench/bench_core.py measures the ratio). Input buffers are kept between frames and only grow.
"""

from __future__ import annotations

import os
from collections.abc import Sequence
from dataclasses import dataclass

import cv2
import numpy as np

from face_affect_ros.core.manifest import INTERPOLATIONS as _INTERPOLATIONS
from face_affect_ros.core.manifest import ModelError, ModelManifest, Providers, load_model
from face_affect_ros.core.providers import provider_in_use

Crops = Sequence[np.ndarray] | np.ndarray


@dataclass(frozen=True)
class ModelInput:
    """What a model's input crop is: size (w, h), colour, crop kind and resize flag."""

    size: tuple[int, int]
    color: str  # "gray" | "bgr" | "rgb"
    crop: str  # "box" (detector box + margins) | "aligned" (landmark-aligned chip)
    interpolation: int


class _Model:
    """One classification model (gray or colour input) with its reusable input buffers."""

    def __init__(
        self,
        path: str | os.PathLike[str],
        task: str,
        intra_op_threads: int,
        providers: Providers,
        verify_sha256: bool,
        antialias: bool,
    ) -> None:
        self.manifest, self.session = load_model(path, intra_op_threads, providers, verify_sha256)
        m: ModelManifest = self.manifest
        where = str(m.manifest_path)
        if m.task != task:
            raise ModelError(f"{where}: task is {m.task!r}, expected {task!r}")
        spec = m.input
        channels = spec.shape[1]
        if channels != (1 if spec.color == "gray" else 3):
            raise ModelError(
                f"{where}: color {spec.color!r} with shape {list(spec.shape)}: a classifier "
                "takes 1-channel 'gray' or 3-channel 'bgr' / 'rgb' input"
            )
        height, width = spec.shape[2], spec.shape[3]
        if not isinstance(height, int) or not isinstance(width, int):
            raise ModelError(
                f"{where}: classifier input needs fixed height and width, got {list(spec.shape)}"
            )
        if spec.dtype != "float32":
            raise ModelError(f"{where}: classifier input must be float32, got {spec.dtype}")
        if spec.resize not in _INTERPOLATIONS:
            raise ModelError(
                f"{where}: resize {spec.resize!r} is not one of {sorted(_INTERPOLATIONS)}"
            )
        out = m.outputs[0]
        if not out.labels and not out.values:
            raise ModelError(f"{where}: output {out.name!r} has neither labels nor values")
        if out.activation != "softmax":
            raise ModelError(
                f"{where}: output {out.name!r} activation is {out.activation!r}, "
                "expected 'softmax' (probabilities)"
            )
        self.size = (width, height)
        self.channels = int(channels)
        self.color = spec.color
        self.crop = spec.crop
        self.interpolation = _INTERPOLATIONS[spec.resize]
        self.labels = out.labels
        self.values = out.values
        self.output_name = out.name
        self.input_name = spec.name
        self.scale = np.float32(spec.scale)
        self.offset = np.float32(spec.offset)
        # Per-channel mean, shaped to broadcast over (N, C, H, W); None for the scalar form.
        self.mean = (
            np.asarray(spec.mean, dtype=np.float32).reshape(1, -1, 1, 1) if spec.mean else None
        )
        # Two-stage shrink (see AffectClassifier): area-average to twice the input size first.
        self.antialias = antialias and self.interpolation != cv2.INTER_AREA
        pix = (height, width) if self.channels == 1 else (height, width, self.channels)
        self._pix = pix
        self._pre = np.empty((2 * height, 2 * width, *pix[2:]), dtype=np.uint8)
        self._u8 = np.empty((0, *pix), dtype=np.uint8)
        self._blob = np.empty((0, self.channels, height, width), dtype=np.float32)

    def _reserve(self, n: int, flip: bool) -> None:
        if self._u8.shape[0] < n:
            capacity = max(n, 2 * self._u8.shape[0], 4)
            self._u8 = np.empty((capacity, *self._u8.shape[1:]), dtype=np.uint8)
        rows = 2 * n if flip else n
        if self._blob.shape[0] < rows:
            capacity = max(rows, 2 * self._blob.shape[0], 4)
            self._blob = np.empty((capacity, *self._blob.shape[1:]), dtype=np.float32)

    def load(self, crops: Crops) -> int:
        """Resize / copy the crops into the uint8 staging buffer; returns the batch size."""
        width, height = self.size
        ndim = 2 if self.channels == 1 else 3
        if isinstance(crops, np.ndarray) and crops.ndim == ndim + 1:
            _check_crop(crops, "crops batch", ndim + 1, self.channels)
            if crops.shape[1:] != self._pix:
                crops = list(crops)
        n = len(crops)
        if n == 0:
            return 0
        self._reserve(n, flip=True)
        if isinstance(crops, np.ndarray):
            np.copyto(self._u8[:n], crops)
            return n
        for i, crop in enumerate(crops):
            _check_crop(crop, f"crop {i}", ndim, self.channels)
            if crop.shape == self._pix:
                self._u8[i] = crop
                continue
            if self.antialias and (crop.shape[0] > 2 * height or crop.shape[1] > 2 * width):
                crop = cv2.resize(
                    crop, (2 * width, 2 * height), dst=self._pre, interpolation=cv2.INTER_AREA
                )
            cv2.resize(crop, (width, height), dst=self._u8[i], interpolation=self.interpolation)
        return n

    def run(self, n: int, flip: bool) -> np.ndarray:
        """Normalise the first ``n`` staged crops and run the model once; [n, classes]."""
        if n == 0:
            return np.zeros((0, self.manifest.outputs[0].shape[-1]), dtype=np.float32)
        blob = self._blob[: 2 * n if flip else n]
        if self.mean is None:
            np.multiply(self._u8[:n], self.scale, out=blob[:n, 0], casting="unsafe")
        else:
            # (u8 - mean) * scale in this order: with a power-of-two scale (1/256 for the dlib
            # models) this is bit-identical to the upstream (u8 - mean) / 256.
            np.copyto(blob[:n], self._u8[:n].transpose(0, 3, 1, 2), casting="unsafe")
            blob[:n] -= self.mean
            blob[:n] *= self.scale
        if self.offset != 0.0:
            blob[:n] += self.offset
        if flip:
            # Mirror images go in the same batch: one call instead of two.
            np.copyto(blob[n:], blob[:n, :, :, ::-1])
        (probs,) = self.session.run([self.output_name], {self.input_name: blob})
        if flip:
            return (probs[:n] + probs[n:]) * np.float32(0.5)
        return probs


def _check_crop(crop: object, what: str, ndim: int = 3, channels: int = 1) -> None:
    color = channels != 1
    if (
        not isinstance(crop, np.ndarray)
        or crop.dtype != np.uint8
        or crop.ndim != ndim
        or 0 in crop.shape
        or (color and crop.shape[-1] != channels)
    ):
        desc = (
            f"{type(crop).__name__} {getattr(crop, 'dtype', '')} {getattr(crop, 'shape', '')}"
        ).strip()
        kind = {(2, False): "HxW", (3, False): "NxHxW", (3, True): "HxWx3"}.get(
            (ndim, color), "NxHxWx3"
        )
        what_kind = "colour" if color else "gray"
        raise ValueError(f"{what} must be a non-empty uint8 {kind} {what_kind} array, got {desc}")


class AffectClassifier:
    """Emotion (FER-2013 classes), gender and optionally age of face crops.

    Each model's manifest says what its input is (:meth:`input_spec`): the seed mini-Xception
    models take gray 64x64 crops of the detector box with margins, the dlib-models networks RGB
    chips aligned on the landmarks (32x32 gender, 64x64 age). The pipeline cuts accordingly.

    Args:
        emotion_manifest: manifest of the emotion model (task ``emotion``).
        gender_manifest: manifest of the gender model (task ``gender``).
        age_manifest: manifest of an age model (task ``age``, output ``values`` = years per
            class), or None for no age estimate (the default: it costs ~3 ms per face).
        intra_op_threads: onnxruntime intra-op threads per session.
        flip_tta: average each crop's probabilities with its mirror image's. Faces are roughly
            symmetric, so this cancels some left/right bias of the models; it doubles the batch,
            and is off by default because it costs about as much as a second face.
        antialias: crops larger than twice the model input are first shrunk to twice the input
            size with area averaging, then resized with the manifest's interpolation. Plain
            bilinear (the upstream INTER_LINEAR) reads only ~4 source pixels per output pixel,
            so large faces alias and the gender output drifts with face size: over 9 margins
            near the default, the astronaut's lowest p(woman) at 96-512 px faces was 0.84-0.90
            without this step and 0.93-0.94 with it, the cameraman's p(man) 0.81-0.87 vs
            0.88-0.90 (bench/margin_sweep.py, measurement 5). Crops up to twice the input size
            are resized exactly as upstream.
        providers: a core.providers.ProviderRequest (fallback chain, warning) or onnxruntime
            provider names; default CPU.
        verify_sha256: check each ONNX file's hash against its manifest.

    Not thread-safe: the input buffers are reused between calls.
    """

    def __init__(
        self,
        emotion_manifest: str | os.PathLike[str],
        gender_manifest: str | os.PathLike[str],
        intra_op_threads: int = 1,
        flip_tta: bool = False,
        providers: Providers = None,
        verify_sha256: bool = True,
        antialias: bool = True,
        age_manifest: str | os.PathLike[str] | None = None,
    ) -> None:
        self._emotion = _Model(
            emotion_manifest, "emotion", intra_op_threads, providers, verify_sha256, antialias
        )
        self._gender = _Model(
            gender_manifest, "gender", intra_op_threads, providers, verify_sha256, antialias
        )
        self._age = (
            None
            if age_manifest is None
            else _Model(age_manifest, "age", intra_op_threads, providers, verify_sha256, antialias)
        )
        if self._age is not None and not self._age.values:
            raise ModelError(
                f"{self._age.manifest.manifest_path}: an age model's output needs 'values' "
                "(the age in years of each class)"
            )
        for model in (self._emotion, self._gender):
            if not model.labels:
                raise ModelError(f"{model.manifest.manifest_path}: output has no labels")
        self.flip_tta = bool(flip_tta)

    def input_spec(self, task: str) -> ModelInput:
        """How to cut the input of the ``task`` model ("emotion", "gender", "age") from a frame."""
        model = {"emotion": self._emotion, "gender": self._gender, "age": self._age}.get(task)
        if model is None:
            raise KeyError(f"no {task!r} model loaded")
        return ModelInput(model.size, model.color, model.crop, model.interpolation)

    def providers_in_use(self) -> dict[str, str]:
        """{model name: execution provider that runs it}, for diagnostics."""
        models = (self._emotion, self._gender, self._age)
        return {m.manifest.name: provider_in_use(m.session) for m in models if m is not None}

    @property
    def has_age(self) -> bool:
        """Whether an age model is loaded."""
        return self._age is not None

    @property
    def age_values(self) -> tuple[float, ...]:
        """Age in years of each age class (empty without an age model)."""
        return self._age.values if self._age is not None else ()

    def classify_emotion(self, crops: Crops) -> np.ndarray:
        """Emotion probabilities [N, len(emotion_labels)] of N faces cut for the emotion model."""
        return self._emotion.run(self._emotion.load(crops), self.flip_tta)

    def classify_gender(self, crops: Crops) -> np.ndarray:
        """Gender probabilities [N, len(gender_labels)] of N faces cut for the gender model."""
        return self._gender.run(self._gender.load(crops), self.flip_tta)

    def classify_age(self, crops: Crops) -> np.ndarray:
        """Age-class probabilities [N, len(age_values)] of N faces cut for the age model."""
        if self._age is None:
            raise RuntimeError("no age model loaded (pass age_manifest)")
        return self._age.run(self._age.load(crops), self.flip_tta)

    @property
    def emotion_labels(self) -> tuple[str, ...]:
        """Emotion output labels, in the model's order (from the manifest)."""
        return self._emotion.labels

    @property
    def gender_labels(self) -> tuple[str, ...]:
        """Gender output labels, in the model's order (from the manifest)."""
        return self._gender.labels

    @property
    def emotion_input(self) -> tuple[tuple[int, int], int]:
        """((width, height), cv2 interpolation flag) the emotion model's crops are resized to."""
        return self._emotion.size, self._emotion.interpolation

    @property
    def gender_input(self) -> tuple[tuple[int, int], int]:
        """((width, height), cv2 interpolation flag) the gender model's crops are resized to."""
        return self._gender.size, self._gender.interpolation

    @property
    def manifests(self) -> tuple[ModelManifest, ModelManifest]:
        """(emotion, gender) manifests, e.g. for diagnostics."""
        return self._emotion.manifest, self._gender.manifest

    @property
    def age_manifest(self) -> ModelManifest | None:
        """The age model's manifest, None when age is off."""
        return self._age.manifest if self._age is not None else None

    def classify(self, emotion_crops: Crops, gender_crops: Crops) -> tuple[np.ndarray, np.ndarray]:
        """Classify N faces: one batched model run per model.

        Args:
            emotion_crops: N uint8 crops for the emotion model, each HxW (gray) or HxWx3
                (colour, in the model's channel order) of any size, resized with the
                manifest's interpolation, or one array already at the model's input size.
            gender_crops: the same faces cut for the gender model (see :meth:`input_spec`).

        Returns:
            (emotion probabilities [N, 7], gender probabilities [N, 2]), float32, columns in
            :attr:`emotion_labels` / :attr:`gender_labels` order. Fresh arrays, safe to keep.

        Raises:
            ValueError: a crop is not a non-empty uint8 array of the model's channels, or the
                counts differ.
        """
        n = self._emotion.load(emotion_crops)
        m = self._gender.load(gender_crops)
        if n != m:
            raise ValueError(f"got {n} emotion crops but {m} gender crops")
        return (self._emotion.run(n, self.flip_tta), self._gender.run(n, self.flip_tta))
