"""Choose the default YuNet variant, input size and score threshold by measurement.

Real faces available offline are composited onto real backgrounds at known positions:

* the 100 face patches of ``skimage.data.lfw_subset()`` (25x25 grey, tight Viola-Jones style
  crops), upscaled to a face size S and pasted up to 6 per 640x480 frame on backgrounds from
  skimage (coffee, chelsea, rocket, brick, grass, gravel, page, text, hubble, ihc, moon, clock);
* the astronaut's face (``skimage.data.astronaut()``), pasted with its surrounding head and
  shoulders once per frame, its box taken from the detector on the original 512x512 image;
* the 100 non-face patches of ``lfw_subset`` pasted the same way, for false positives.

Face sizes S (box width in the 640x480 frame) run from 16 to 192 px. A detection matches a
ground-truth box when their IoU is >= 0.3 (a YuNet box covers brow to chin and is narrower than
the lfw patch, so well-localised detections give IoU around 0.5-0.7); unmatched detections on
any frame count as false positives (the backgrounds include a cat face, which counts as a false
positive when detected). Timing is the median of ``FaceDetector.detect`` (preprocessing,
inference, decoding, NMS) on the 640x480 frames with one onnxruntime thread.

Usage:  PYTHONPATH=face_affect_ros python bench/detector_sweep.py [--models-dir DIR]

Result on the development machine (2 CPU cores, onnxruntime 1.32, one thread), 2026-11:
see the module-level RESULTS comment at the end of this file, copied from the printed table.
"""

from __future__ import annotations

import argparse
import statistics
import sys
import time
from dataclasses import dataclass
from pathlib import Path

import cv2
import numpy as np
from skimage import data

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "face_affect_ros"))

from face_affect_ros.core.detector import FaceDetector
from face_affect_ros.core.paths import models_dir
from face_affect_ros.core.tracking import box_iou as iou

FRAME_W, FRAME_H = 640, 480
FACE_SIZES = (16, 20, 24, 32, 48, 64, 96, 128, 192)
FACES_PER_FRAME = 6
MATCH_IOU = 0.3
VARIANTS = ("yunet_n_dynamic", "yunet_s_dynamic")
INPUT_SIZES = ((160, 120), (224, 168), (256, 192), (320, 240), (384, 288), (640, 480))
SWEEP_THRESHOLDS = (0.5, 0.6, 0.7, 0.8, 0.9)
LOW_THRESHOLD = 0.3  # run once at this threshold, then filter (greedy NMS makes that exact)
TIMING_ROUNDS = 300


@dataclass
class Frame:
    image: np.ndarray
    boxes: list[tuple[float, float, float, float]]  # ground truth (x, y, w, h)
    sizes: list[int]
    sources: list[str]  # "lfw" or "astronaut" per box


def backgrounds() -> list[np.ndarray]:
    """Real photographs and textures without human faces, as 640x480 BGR."""
    out = []
    for name in (
        "coffee",
        "chelsea",
        "rocket",
        "brick",
        "grass",
        "gravel",
        "page",
        "text",
        "hubble_deep_field",
        "immunohistochemistry",
        "moon",
        "clock",
    ):
        img = getattr(data, name)()
        if img.ndim == 2:
            img = cv2.cvtColor(img, cv2.COLOR_GRAY2BGR)
        else:
            img = cv2.cvtColor(img[:, :, :3], cv2.COLOR_RGB2BGR)
        out.append(cv2.resize(img, (FRAME_W, FRAME_H), interpolation=cv2.INTER_AREA))
    return out


def lfw_patches() -> tuple[np.ndarray, np.ndarray]:
    """(faces, non_faces) as uint8 arrays of shape (100, 25, 25)."""
    patches = (data.lfw_subset() * 255.0).round().astype(np.uint8)
    return patches[:100], patches[100:]


def astronaut_reference() -> tuple[np.ndarray, tuple[float, float, float, float]]:
    """Astronaut as BGR and its face box, detected on the original 512x512 image."""
    img = cv2.cvtColor(data.astronaut(), cv2.COLOR_RGB2BGR)
    det = FaceDetector(models_dir() / "yunet_n_dynamic.json", input_size=(512, 512))
    (face,) = det.detect(img)
    return img, face.box


def _place(
    rng: np.random.Generator, taken: list[tuple[int, int, int, int]], w: int, h: int, margin: int
) -> tuple[int, int] | None:
    for _ in range(200):
        x = int(rng.integers(margin, FRAME_W - w - margin + 1))
        y = int(rng.integers(margin, FRAME_H - h - margin + 1))
        if all(
            x + w + margin <= tx
            or tx + tw + margin <= x
            or y + h + margin <= ty
            or ty + th + margin <= y
            for tx, ty, tw, th in taken
        ):
            return x, y
    return None


def paste_patch(canvas: np.ndarray, patch: np.ndarray, x: int, y: int, size: int) -> None:
    up = cv2.resize(patch, (size, size), interpolation=cv2.INTER_CUBIC)
    canvas[y : y + size, x : x + size] = up[:, :, None]


def paste_astronaut(
    canvas: np.ndarray,
    astro: np.ndarray,
    box: tuple[float, float, float, float],
    x: int,
    y: int,
    size: int,
) -> tuple[float, float, float, float]:
    """Paste the astronaut's head (box enlarged 1.6x) so the face box is ``size`` px wide."""
    bx, by, bw, bh = box
    cx, cy = bx + bw / 2, by + bh / 2
    half_w, half_h = 0.8 * 1.6 * bw, 0.8 * 1.6 * bh
    x0, y0 = round(cx - half_w), round(cy - half_h)
    x1, y1 = round(cx + half_w), round(cy + half_h)
    crop = astro[max(y0, 0) : y1, max(x0, 0) : x1]
    s = size / bw
    cw, ch = max(1, round(crop.shape[1] * s)), max(1, round(crop.shape[0] * s))
    interp = cv2.INTER_AREA if s < 1 else cv2.INTER_CUBIC
    canvas[y : y + ch, x : x + cw] = cv2.resize(crop, (cw, ch), interpolation=interp)
    return (x + (bx - max(x0, 0)) * s, y + (by - max(y0, 0)) * s, bw * s, bh * s)


def make_frames(seed: int = 0) -> tuple[list[Frame], list[np.ndarray]]:
    """Build (face frames with ground truth, non-face frames)."""
    rng = np.random.default_rng(seed)
    bgs = backgrounds()
    faces, non_faces = lfw_patches()
    astro, astro_box = astronaut_reference()
    frames: list[Frame] = []
    for size in FACE_SIZES:
        order = list(range(len(faces)))
        while order:
            canvas = bgs[len(frames) % len(bgs)].copy()
            taken: list[tuple[int, int, int, int]] = []
            boxes: list[tuple[float, float, float, float]] = []
            sources: list[str] = []
            # The astronaut first: its pasted head is 2.6x the face size.
            aw = round(2.56 * size)
            ah = round(2.56 * size * astro_box[3] / astro_box[2])
            pos = _place(rng, taken, aw, ah, 4) if size <= 96 else None
            if pos is not None:
                boxes.append(paste_astronaut(canvas, astro, astro_box, pos[0], pos[1], size))
                sources.append("astronaut")
                taken.append((pos[0], pos[1], aw, ah))
            for _ in range(FACES_PER_FRAME):
                if not order:
                    break
                pos = _place(rng, taken, size, size, max(4, size // 4))
                if pos is None:
                    break
                paste_patch(canvas, faces[order.pop()], pos[0], pos[1], size)
                taken.append((pos[0], pos[1], size, size))
                boxes.append((float(pos[0]), float(pos[1]), float(size), float(size)))
                sources.append("lfw")
            frames.append(Frame(canvas, boxes, [size] * len(boxes), sources))
    negatives: list[np.ndarray] = []
    order = list(range(len(non_faces)))
    while order:
        canvas = bgs[len(negatives) % len(bgs)].copy()
        taken = []
        for _ in range(FACES_PER_FRAME):
            if not order:
                break
            size = int(rng.choice(FACE_SIZES[3:]))
            pos = _place(rng, taken, size, size, 8)
            if pos is None:
                break
            paste_patch(canvas, non_faces[order.pop()], pos[0], pos[1], size)
            taken.append((pos[0], pos[1], size, size))
        negatives.append(canvas)
    return frames, negatives


def match(
    dets: list[tuple[tuple[float, ...], float]], gts: list[tuple[float, ...]], threshold: float
) -> tuple[list[bool], int]:
    """Greedy by score: (which ground truths were found, number of false positives)."""
    found = [False] * len(gts)
    fps = 0
    for box, score in sorted(dets, key=lambda d: -d[1]):
        if score < threshold:
            continue
        best, best_iou = -1, MATCH_IOU
        for j, gt in enumerate(gts):
            v = iou(box, gt)
            if not found[j] and v >= best_iou:
                best, best_iou = j, v
        if best >= 0:
            found[best] = True
        else:
            fps += 1
    return found, fps


def evaluate(
    variant: str, input_size: tuple[int, int], frames: list[Frame], negatives: list[np.ndarray]
) -> dict[str, object]:
    det = FaceDetector(
        models_dir() / f"{variant}.json", input_size=input_size, score_threshold=LOW_THRESHOLD
    )
    raw_pos = [[(d.box, d.score) for d in det.detect(f.image)] for f in frames]
    raw_neg = [[(d.box, d.score) for d in det.detect(img)] for img in negatives]
    per_threshold = {}
    for thr in SWEEP_THRESHOLDS:
        by: dict[str, dict[int, list[bool]]] = {"lfw": {}, "astronaut": {}}
        fps = 0
        for frame, dets in zip(frames, raw_pos, strict=True):
            found, fp = match(dets, frame.boxes, thr)
            fps += fp
            for size, source, ok in zip(frame.sizes, frame.sources, found, strict=True):
                by[source].setdefault(size, []).append(ok)
        neg_fps = sum(match(dets, [], thr)[1] for dets in raw_neg)
        total = [ok for v in by["lfw"].values() for ok in v]
        astro = [ok for v in by["astronaut"].values() for ok in v]
        per_threshold[thr] = {
            "recall": sum(total) / len(total),
            "astronaut_recall": sum(astro) / len(astro),
            "recall_by_size": {
                src: {s: sum(v) / len(v) for s, v in d.items()} for src, d in by.items()
            },
            "fp_face_frames": fps,
            "fp_nonface_frames": neg_fps,
        }
    return {"variant": variant, "input_size": input_size, "thresholds": per_threshold}


def time_configs(
    configs: list[tuple[str, tuple[int, int]]],
    images: list[np.ndarray],
    rounds: int = TIMING_ROUNDS,
) -> list[tuple[float, float]]:
    """(wall, thread CPU) median ms of ``detect`` per config.

    Configs are interleaved round-robin so background load on a shared machine hits every
    config alike; thread CPU time (one onnxruntime thread runs on the caller's thread) is not
    inflated by waiting for a core and is the reproducible number on a loaded machine.
    """
    detectors = [FaceDetector(models_dir() / f"{v}.json", input_size=s) for v, s in configs]
    for det in detectors:
        for img in images[:3]:
            det.detect(img)
    wall: list[list[float]] = [[] for _ in configs]
    cpu: list[list[float]] = [[] for _ in configs]
    for r in range(rounds):
        img = images[r % len(images)]
        for det, acc_wall, acc_cpu in zip(detectors, wall, cpu, strict=True):
            t0, c0 = time.perf_counter(), time.thread_time()
            det.detect(img)
            acc_cpu.append(time.thread_time() - c0)
            acc_wall.append(time.perf_counter() - t0)
    return [
        (statistics.median(w) * 1e3, statistics.median(c) * 1e3)
        for w, c in zip(wall, cpu, strict=True)
    ]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument(
        "--threshold", type=float, default=0.6, help="score threshold for the main table"
    )
    args = parser.parse_args()
    frames, negatives = make_frames()
    n_faces = sum(len(f.boxes) for f in frames)
    print(
        f"{len(frames)} face frames with {n_faces} faces, {len(negatives)} non-face frames "
        f"(100 non-face patches), frame {FRAME_W}x{FRAME_H}, match IoU >= {MATCH_IOU}"
    )
    configs = [(v, s) for v in VARIANTS for s in INPUT_SIZES]
    results = [evaluate(v, s, frames, negatives) for v, s in configs]
    timing_images = [f.image for f in frames[:: max(1, len(frames) // 20)]]
    timings = time_configs(configs, timing_images)
    for r, (wall_ms, cpu_ms) in zip(results, timings, strict=True):
        r["median_ms"] = wall_ms
        r["median_cpu_ms"] = cpu_ms

    sizes_hdr = " ".join(f"{s:>5d}" for s in FACE_SIZES)
    astro_sizes = sorted(results[0]["thresholds"][args.threshold]["recall_by_size"]["astronaut"])
    print(
        f"\nscore threshold {args.threshold}. recall = lfw faces (all sizes); then lfw recall by "
        "face width (px in 640x480); then astronaut recall by face width"
    )
    print(
        f"{'variant':<16} {'input':>8} {'recall':>6} {'FP':>4} {'FPneg':>5} {'ms':>6} "
        f"{'cpu_ms':>6} | "
        f"{sizes_hdr} | " + " ".join(f"{s:>4d}" for s in astro_sizes)
    )
    for r in results:
        t = r["thresholds"][args.threshold]
        lfw = " ".join(f"{t['recall_by_size']['lfw'][s]:5.2f}" for s in FACE_SIZES)
        astro = " ".join(f"{t['recall_by_size']['astronaut'][s]:4.2f}" for s in astro_sizes)
        w, h = r["input_size"]
        print(
            f"{r['variant']:<16} {f'{w}x{h}':>8} {t['recall']:6.3f} "
            f"{t['fp_face_frames']:4d} {t['fp_nonface_frames']:5d} {r['median_ms']:6.2f} "
            f"{r['median_cpu_ms']:6.2f} | "
            f"{lfw} | {astro}"
        )

    print(
        "\nscore threshold sweep: lfw recall / astronaut recall (all sizes) / false positives "
        "on face frames + non-face frames"
    )
    print(f"{'variant':<16} {'input':>8} " + " ".join(f"{t:>18}" for t in SWEEP_THRESHOLDS))
    for r in results:
        w, h = r["input_size"]
        cells = " ".join(
            f"{r['thresholds'][t]['recall']:5.3f}/{r['thresholds'][t]['astronaut_recall']:5.3f}/"
            f"{r['thresholds'][t]['fp_face_frames']:>2d}+{r['thresholds'][t]['fp_nonface_frames']:<2d}"
            for t in SWEEP_THRESHOLDS
        )
        print(f"{r['variant']:<16} {f'{w}x{h}':>8} {cells}")


if __name__ == "__main__":
    main()
