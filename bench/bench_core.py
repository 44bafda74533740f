"""Latency of the inference core on one CPU thread: the real-time budget check.

Measures, with onnxruntime limited to one intra-op thread and after a warm-up:

1. ``FaceAffectPipeline.process`` on a 640x480 BGR frame with one face (the astronaut scaled to
   480x480 on a rocket background; face about 85 px wide), everything included (input check,
   detector resize + inference + decoding, gray conversion, crops, both classifiers, labels):
   median and p95 of wall time per stage over ``--runs`` frames, plus the thread CPU time of the
   whole call (not inflated when other processes compete for the cores).
2. Batching: ``AffectClassifier.classify`` with N faces in one call versus N calls of one face
   (real face crops: lfw patches), N = 1, 2, 4, 8; and the whole pipeline on frames with
   N faces.
3. Flip test-time augmentation: the one-face frame with ``flip_tta`` on versus off.
4. Detector choices: the detect stage for the YuNet variants and input sizes considered.

Prints tables and writes bench/results/core.json. Target: median <= 5 ms for one face at
640x480.

Usage:  PYTHONPATH=face_affect_ros python bench/bench_core.py [--runs 300]
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import statistics
import sys
import time
from collections.abc import Callable
from pathlib import Path

import cv2
import numpy as np
import onnxruntime as ort
from skimage import data

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "face_affect_ros"))

from face_affect_ros.core.pipeline import (
    FaceAffectPipeline,
    FrameResult,
    PipelineConfig,
)

RESULTS = Path(__file__).resolve().parent / "results" / "core.json"
BATCH_SIZES = (1, 2, 4, 8)
DETECTOR_CHOICES = (
    ("yunet_n_dynamic", (256, 192)),
    ("yunet_n_dynamic", (320, 240)),
    ("yunet_s_dynamic", (256, 192)),
    ("yunet_s_dynamic", (320, 240)),
)
TARGET_MS = 5.0


def percentile(values: list[float], q: float) -> float:
    return float(np.percentile(np.asarray(values), q))


def one_face_frame() -> np.ndarray:
    """640x480 BGR: rocket background, astronaut scaled to 480x480 at x=80."""
    frame = cv2.resize(
        cv2.cvtColor(data.rocket(), cv2.COLOR_RGB2BGR), (640, 480), interpolation=cv2.INTER_AREA
    )
    astro = cv2.cvtColor(data.astronaut(), cv2.COLOR_RGB2BGR)
    frame[:, 80:560] = cv2.resize(astro, (480, 480), interpolation=cv2.INTER_AREA)
    return frame


def n_face_frame(n: int) -> np.ndarray:
    """640x480 BGR with n real faces: lfw patches (upscaled to 120 px) on a grid."""
    frame = cv2.resize(
        cv2.cvtColor(data.coffee(), cv2.COLOR_RGB2BGR), (640, 480), interpolation=cv2.INTER_AREA
    )
    faces = (data.lfw_subset()[:100] * 255).round().astype(np.uint8)
    for i in range(n):
        x, y = 20 + (i % 4) * 155, 40 + (i // 4) * 220
        patch = cv2.resize(faces[i], (120, 120), interpolation=cv2.INTER_CUBIC)
        frame[y : y + 120, x : x + 120] = patch[:, :, None]
    return frame


def lfw_crops(n: int) -> list[np.ndarray]:
    faces = (data.lfw_subset()[:100] * 255).round().astype(np.uint8)
    return [cv2.resize(faces[i], (100, 100), interpolation=cv2.INTER_CUBIC) for i in range(n)]


def timed(fn: Callable[[], object]) -> tuple[float, float]:
    """(wall ms, thread CPU ms) of one call."""
    t0, c0 = time.perf_counter(), time.thread_time()
    fn()
    return (time.perf_counter() - t0) * 1e3, (time.thread_time() - c0) * 1e3


def summary(values: list[float]) -> dict[str, float]:
    return {"median": statistics.median(values), "p95": percentile(values, 95), "min": min(values)}


def bench_one_face(pipeline: FaceAffectPipeline, frame: np.ndarray, runs: int, warmup: int) -> dict:
    for _ in range(warmup):
        pipeline.process(frame)
    stages: dict[str, list[float]] = {
        "detect": [],
        "crop": [],
        "classify": [],
        "other": [],
        "total": [],
        "total_cpu": [],
    }
    result: FrameResult | None = None
    for _ in range(runs):
        t0, c0 = time.perf_counter(), time.thread_time()
        result = pipeline.process(frame)
        cpu = (time.thread_time() - c0) * 1e3
        wall = (time.perf_counter() - t0) * 1e3
        t = result.timings
        stages["detect"].append(t.detect_ms)
        stages["crop"].append(t.crop_ms)
        stages["classify"].append(t.classify_ms)
        stages["other"].append(t.total_ms - t.detect_ms - t.crop_ms - t.classify_ms)
        stages["total"].append(wall)
        stages["total_cpu"].append(cpu)
    assert result is not None and len(result.faces) == 1, "the benchmark frame must show 1 face"
    face = result.faces[0]
    return {
        "runs": runs,
        "stages_ms": {k: summary(v) for k, v in stages.items()},
        "face": {"box": list(face.detection.box), "emotion": face.emotion, "gender": face.gender},
    }


def bench_batching(pipeline: FaceAffectPipeline, runs: int) -> dict:
    clf = pipeline.classifier
    out = {}
    colour = clf.input_spec("gender").color != "gray"  # the dlib gender model takes RGB
    for n in BATCH_SIZES:
        crops = lfw_crops(n)
        gcrops = [cv2.cvtColor(c, cv2.COLOR_GRAY2RGB) for c in crops] if colour else crops
        batched, single = [], []
        for _ in range(5):
            clf.classify(crops, gcrops)
        for _ in range(runs):  # interleaved so load changes hit both alike
            batched.append(timed(lambda c=crops, g=gcrops: clf.classify(c, g))[0])
            single.append(
                timed(
                    lambda c=crops, g=gcrops: [
                        clf.classify([x], [y]) for x, y in zip(c, g, strict=True)
                    ]
                )[0]
            )
        b, s = statistics.median(batched), statistics.median(single)
        out[n] = {
            "batched_ms": b,
            "single_calls_ms": s,
            "ratio_single_over_batched": s / b,
            "batched_per_face_ms": b / n,
        }
    return out


def bench_faces_per_frame(pipeline: FaceAffectPipeline, runs: int) -> dict:
    out = {}
    for n in BATCH_SIZES:
        frame = n_face_frame(n)
        found = len(pipeline.process(frame).faces)
        totals = [pipeline.process(frame).timings for _ in range(runs)]
        out[n] = {
            "faces_found": found,
            "total_ms": statistics.median(t.total_ms for t in totals),
            "classify_ms": statistics.median(t.classify_ms for t in totals),
        }
    return out


def bench_tta(
    plain: FaceAffectPipeline, tta: FaceAffectPipeline, frame: np.ndarray, runs: int
) -> dict:
    for _ in range(10):
        plain.process(frame)
        tta.process(frame)
    a, b = [], []
    for _ in range(runs):
        a.append(plain.process(frame).timings)
        b.append(tta.process(frame).timings)
    off_total = statistics.median(t.total_ms for t in a)
    on_total = statistics.median(t.total_ms for t in b)
    off_cls = statistics.median(t.classify_ms for t in a)
    on_cls = statistics.median(t.classify_ms for t in b)
    return {
        "off_total_ms": off_total,
        "on_total_ms": on_total,
        "off_classify_ms": off_cls,
        "on_classify_ms": on_cls,
        "extra_ms": on_total - off_total,
    }


def bench_detectors(frame: np.ndarray, runs: int) -> list[dict]:
    pipes = [
        FaceAffectPipeline(PipelineConfig(detector_model=v, detector_input_size=s))
        for v, s in DETECTOR_CHOICES
    ]
    times: list[list[float]] = [[] for _ in pipes]
    for p in pipes:
        for _ in range(10):
            p.detect(frame)
    for _ in range(runs):
        for p, acc in zip(pipes, times, strict=True):
            acc.append(timed(lambda p=p: p.detect(frame))[0])
    return [
        {
            "variant": v,
            "input_size": list(s),
            "detect_median_ms": statistics.median(t),
            "detect_p95_ms": percentile(t, 95),
        }
        for (v, s), t in zip(DETECTOR_CHOICES, times, strict=True)
    ]


def machine() -> dict:
    cpu = "unknown"
    try:
        with open("/proc/cpuinfo") as handle:
            for line in handle:
                if line.startswith("model name"):
                    cpu = line.split(":", 1)[1].strip()
                    break
    except OSError:
        pass
    return {
        "cpu": cpu,
        "cores": os.cpu_count(),
        "python": platform.python_version(),
        "onnxruntime": ort.__version__,
        "numpy": np.__version__,
        "opencv": cv2.__version__,
        "loadavg_start": list(os.getloadavg()),
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=300, help="timed runs per measurement")
    parser.add_argument("--warmup", type=int, default=30)
    parser.add_argument("--out", type=Path, default=RESULTS)
    args = parser.parse_args()
    if args.runs < 200:
        parser.error("--runs must be >= 200 for a stable p95")

    info = machine()
    config = PipelineConfig(intra_op_threads=1)
    pipeline = FaceAffectPipeline(config)
    frame = one_face_frame()
    one = bench_one_face(pipeline, frame, args.runs, args.warmup)
    batching = bench_batching(pipeline, max(50, args.runs // 4))
    per_frame = bench_faces_per_frame(pipeline, max(50, args.runs // 4))
    tta = bench_tta(
        pipeline, FaceAffectPipeline(PipelineConfig(flip_tta=True)), frame, max(100, args.runs // 2)
    )
    detectors = bench_detectors(frame, max(100, args.runs // 2))
    info["loadavg_end"] = list(os.getloadavg())

    st = one["stages_ms"]
    print(
        f"1. one face, 640x480, {config.detector_model} at "
        f"{config.detector_input_size[0]}x{config.detector_input_size[1]}, 1 thread, "
        f"{args.runs} runs ({one['face']['emotion']}, {one['face']['gender']})"
    )
    print(f"   {'stage':<10} {'median ms':>10} {'p95 ms':>8} {'min ms':>8}")
    for name in ("detect", "crop", "classify", "other", "total", "total_cpu"):
        print(
            f"   {name:<10} {st[name]['median']:10.2f} {st[name]['p95']:8.2f} "
            f"{st[name]['min']:8.2f}"
        )
    print(
        "   (total_cpu: thread CPU time of process(); min: the run least disturbed by other "
        "processes)"
    )
    verdict = "meets" if st["total"]["median"] <= TARGET_MS else "misses"
    print(f"   target median <= {TARGET_MS} ms: {verdict}")
    print("\n2. batching: classify N faces in one call vs N calls of one face")
    print(f"   {'N':>3} {'batched ms':>11} {'N calls ms':>11} {'ratio':>6} {'per face':>9}")
    for n, r in batching.items():
        print(
            f"   {n:>3} {r['batched_ms']:11.2f} {r['single_calls_ms']:11.2f} "
            f"{r['ratio_single_over_batched']:6.2f} {r['batched_per_face_ms']:9.2f}"
        )
    print("   whole pipeline, frames with N faces (lfw patches, 120 px):")
    print(f"   {'N':>3} {'found':>6} {'total ms':>9} {'classify ms':>12}")
    for n, r in per_frame.items():
        print(f"   {n:>3} {r['faces_found']:>6} {r['total_ms']:9.2f} {r['classify_ms']:12.2f}")
    print(
        f"\n3. flip TTA, one face: total {tta['off_total_ms']:.2f} -> {tta['on_total_ms']:.2f} "
        f"ms (+{tta['extra_ms']:.2f}); classify {tta['off_classify_ms']:.2f} -> "
        f"{tta['on_classify_ms']:.2f} ms"
    )
    print("\n4. detect stage by detector choice (same frame, interleaved):")
    for d in detectors:
        w, h = d["input_size"]
        print(
            f"   {d['variant']:<16} {w}x{h:<4} median {d['detect_median_ms']:5.2f} ms, "
            f"p95 {d['detect_p95_ms']:5.2f} ms"
        )
    print(
        f"\nmachine: {info['cpu']}, {info['cores']} cores, load {info['loadavg_start'][0]:.2f}"
        f" -> {info['loadavg_end'][0]:.2f}"
    )

    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(
        json.dumps(
            {
                "command": "python bench/bench_core.py " + " ".join(sys.argv[1:]),
                "machine": info,
                "config": {
                    "detector_model": config.detector_model,
                    "detector_input_size": list(config.detector_input_size),
                    "intra_op_threads": config.intra_op_threads,
                    "emotion_margin": list(config.emotion_margin),
                    "gender_margin": list(config.gender_margin),
                },
                "target_median_ms": TARGET_MS,
                "one_face_640x480": one,
                "batching": batching,
                "faces_per_frame": per_frame,
                "flip_tta": tta,
                "detector_choices": detectors,
            },
            indent=2,
        )
        + "\n"
    )
    print(f"wrote {args.out}")


if __name__ == "__main__":
    main()
