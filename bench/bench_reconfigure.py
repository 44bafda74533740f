"""Cost of a runtime parameter change: in place (now) versus a new pipeline (before issue 10).

Why: a node used to answer `ros2 param set ... score_threshold` or `label_set` by building a
whole new FaceAffectPipeline (three onnxruntime sessions, every model file hashed again) on the
executor thread. Now the core decides (core.config.stages_to_rebuild) that such a change needs
no new sessions and FaceAffectPipeline.reconfigure applies it to the running stages. Both are
timed here side by side, interleaved, on the same changes; medians in milliseconds.

    .venv/bin/python bench/bench_reconfigure.py [--runs 30]
"""

from __future__ import annotations

import argparse
import dataclasses
import statistics
import time

import benchlib as bl  # also puts the working tree's package first on sys.path
from face_affect_ros.core.config import PipelineConfig
from face_affect_ros.core.pipeline import FaceAffectPipeline
from face_affect_ros.core.stages import ClassifierStage, DetectorStage

CHANGES = {
    "score_threshold": 0.8,
    "emotion_label_set": "hierarchical3",
    "emotion_margin": (0.3, 0.1),
    "gender_min_confidence": 0.9,
}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=30)
    args = parser.parse_args()
    base = PipelineConfig()
    pipeline = FaceAffectPipeline(base)
    rows = []
    results = {}
    for name, value in CHANGES.items():
        changed = dataclasses.replace(base, **{name: value})
        in_place, rebuild = [], []
        for i in range(args.runs):
            target = changed if i % 2 == 0 else base
            t0 = time.perf_counter()
            assert pipeline.reconfigure(target) == frozenset()
            in_place.append((time.perf_counter() - t0) * 1e3)
            t0 = time.perf_counter()
            fresh = FaceAffectPipeline(target)  # what the node did before
            fresh.adopt_tracks(pipeline)
            rebuild.append((time.perf_counter() - t0) * 1e3)
        a, b = statistics.median(in_place), statistics.median(rebuild)
        results[name] = {"in_place_ms": a, "new_pipeline_ms": b, "ratio": b / a}
        rows.append((name, f"{a:.4f}", f"{b:.1f}", f"{b / a:.0f}x"))
    print(bl.table(("change", "in place ms", "new pipeline ms", "ratio"), rows))
    # What a split node's configure loads: its stage only (before: a whole pipeline).
    loads: dict[str, list[float]] = {"detector stage": [], "classifier stage": [], "pipeline": []}
    makers = {
        "detector stage": DetectorStage,
        "classifier stage": ClassifierStage,
        "pipeline": FaceAffectPipeline,
    }
    for _ in range(max(3, args.runs // 3)):
        for name, make in makers.items():
            t0 = time.perf_counter()
            make(base)
            loads[name].append((time.perf_counter() - t0) * 1e3)
    load_ms = {k: statistics.median(v) for k, v in loads.items()}
    sessions = {"detector stage": 1, "classifier stage": 2, "pipeline": 3}
    print()
    print(
        bl.table(
            ("built at configure", "onnxruntime sessions", "median ms"),
            [(k, sessions[k], f"{v:.1f}") for k, v in load_ms.items()],
        )
    )
    bl.write_results(
        "reconfigure", {"runs": args.runs, "changes": results, "configure_load_ms": load_ms}
    )


if __name__ == "__main__":
    main()
