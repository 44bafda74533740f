"""Small synthetic labelled datasets with a learnable signal, in both supported formats.

Why: the training, evaluation and pruning tools must be testable end to end in seconds, without
FER-2013 (not redistributable) or a face dataset on disk. Each class is a bright pattern at a
different place (top band, bottom band, centre disc, ...) on a noisy background with random
levels and position jitter. The patterns are mirror-symmetric and survive the training
augmentation (+-10 deg, +-10 % shift and zoom), so a correct trainer must learn them and a broken
one (labels shuffled, augmentation wrong, BN statistics wrong) visibly does not.

Also usable by hand to smoke-test a training setup::

    python -m face_affect_ros.tools.synthetic --csv /tmp/synth.csv --folder /tmp/synth
"""

from __future__ import annotations

import argparse
import csv
import os
from collections.abc import Sequence
from pathlib import Path

import cv2
import numpy as np

PATTERNS: tuple[str, ...] = (
    "top_band",
    "bottom_band",
    "centre_disc",
    "side_bands",
    "dark_centre",
    "horizontal_bar",
    "vertical_bar",
)
"""The seven pattern classes, in label order (as many as FER-2013 has emotions)."""


def draw_pattern(pattern: str, size: int, rng: np.random.Generator) -> np.ndarray:
    """Draw one ``uint8 [size, size]`` image of a pattern class with random levels and jitter."""
    low = rng.uniform(30, 110)
    high = low + rng.uniform(70, 130)
    img = np.full((size, size), low, dtype=np.float32)
    s = size
    j = lambda: int(rng.integers(-s // 16, s // 16 + 1))  # noqa: E731 - tiny jitter helper
    third = s // 3
    if pattern == "top_band":
        img[: third + j()] = high
    elif pattern == "bottom_band":
        img[2 * third + j() :] = high
    elif pattern == "centre_disc":
        cv2.circle(img, (s // 2 + j(), s // 2 + j()), s // 5, float(high), -1)
    elif pattern == "side_bands":
        w = s // 4 + j()
        img[:, :w] = high
        img[:, s - w :] = high
    elif pattern == "dark_centre":
        img[:] = high
        cv2.circle(img, (s // 2 + j(), s // 2 + j()), s // 4, float(low), -1)
    elif pattern == "horizontal_bar":
        y = s // 2 + j()
        img[y - s // 10 : y + s // 10] = high
    elif pattern == "vertical_bar":
        x = s // 2 + j()
        img[:, x - s // 10 : x + s // 10] = high
    else:
        raise ValueError(f"unknown pattern {pattern!r}; choose from {PATTERNS}")
    img += rng.normal(0.0, 12.0, img.shape).astype(np.float32)
    img = cv2.GaussianBlur(img, (3, 3), 0)
    return np.clip(np.rint(img), 0, 255).astype(np.uint8)


def make_dataset(
    n_per_class: int,
    size: int = 48,
    patterns: Sequence[str] = PATTERNS,
    seed: int = 0,
) -> tuple[np.ndarray, np.ndarray]:
    """Return ``uint8 [N, size, size]`` images and ``int64 [N]`` labels (index into patterns).

    Samples are interleaved by class so any prefix is roughly balanced.
    """
    rng = np.random.default_rng(seed)
    images, labels = [], []
    for _ in range(n_per_class):
        for label, pattern in enumerate(patterns):
            images.append(draw_pattern(pattern, size, rng))
            labels.append(label)
    return np.stack(images), np.asarray(labels, dtype=np.int64)


def write_fer_csv(
    path: str | os.PathLike[str],
    images: np.ndarray,
    labels: np.ndarray,
    usages: Sequence[str],
) -> Path:
    """Write images in Kaggle ``fer2013.csv`` format (``emotion,pixels,Usage``)."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    with path.open("w", newline="", encoding="utf-8") as handle:
        writer = csv.writer(handle)
        writer.writerow(["emotion", "pixels", "Usage"])
        for img, label, usage in zip(images, labels, usages, strict=True):
            writer.writerow([int(label), " ".join(map(str, img.ravel().tolist())), usage])
    return path


def write_image_folder(
    root: str | os.PathLike[str],
    images: np.ndarray,
    labels: np.ndarray,
    class_names: Sequence[str],
) -> Path:
    """Write images as ``root/<class>/<index>.png``."""
    root = Path(root)
    for name in class_names:
        (root / name).mkdir(parents=True, exist_ok=True)
    for i, (img, label) in enumerate(zip(images, labels, strict=True)):
        if not cv2.imwrite(str(root / class_names[int(label)] / f"{i:05d}.png"), img):
            raise OSError(f"cannot write {root / class_names[int(label)]}")
    return root


def fer_usages(n: int, fractions: tuple[float, float] = (0.7, 0.15)) -> list[str]:
    """Assign Training / PublicTest / PrivateTest to ``n`` interleaved samples (70/15/15 %)."""
    n_train = int(n * fractions[0])
    n_val = int(n * fractions[1])
    return ["Training"] * n_train + ["PublicTest"] * n_val + ["PrivateTest"] * (n - n_train - n_val)


def main(argv: Sequence[str] | None = None) -> int:
    """Write a synthetic FER-format CSV and / or a folder dataset."""
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--csv", type=Path, help="write a fer2013.csv-format file here (48x48)")
    p.add_argument("--folder", type=Path, help="write root/<class>/*.png here (64x64)")
    p.add_argument("--per-class", type=int, default=60)
    p.add_argument("--seed", type=int, default=0)
    args = p.parse_args(argv)
    if args.csv:
        images, labels = make_dataset(args.per_class, 48, seed=args.seed)
        write_fer_csv(args.csv, images, labels, fer_usages(len(labels)))
        print(f"{args.csv}: {len(labels)} images")
    if args.folder:
        images, labels = make_dataset(args.per_class, 64, seed=args.seed + 1)
        write_image_folder(args.folder, images, labels, PATTERNS)
        print(f"{args.folder}: {len(labels)} images")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
