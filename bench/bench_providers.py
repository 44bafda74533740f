"""Execution providers side by side: per model and per frame, on what this onnxruntime offers.

For every ``execution_provider`` value whose provider the installed onnxruntime offers (always
``cpu``; ``openvino`` with the onnxruntime-openvino wheel, ``cuda`` / ``tensorrt`` with
onnxruntime-gpu), the script opens every model through the package's own session path
(:class:`~face_affect_ros.core.providers.ProviderRequest`), says which provider each model
actually runs on, and times, interleaved round by round so load drifts hit all alike:

* per model: one ``session.run`` on the input the pipeline gives it (YuNet n at the scan size
  256x192 and at 640x480, YuNet n / s on a 128x128 window, emotion, gender and age on one face),
  with the largest output difference from the CPU provider's on the same input;
* per frame: ``FaceAffectPipeline.process`` on the one-face and the five-face 640x480 frames.

The project's venv has the CPU wheel only, so run it in a bench venv that has the other wheel
INSTEAD of onnxruntime (they cannot coexist, README "Execution providers"), e.g.::

    python3 -m venv /tmp/ovvenv
    /tmp/ovvenv/bin/pip install onnxruntime-openvino numpy opencv-python-headless scikit-image
    PYTHONPATH=face_affect_ros /tmp/ovvenv/bin/python bench/bench_providers.py

Writes: bench/results/bench_providers.json
"""

from __future__ import annotations

import argparse
import sys
import time
from typing import Any

import benchlib as bl
import cv2
import numpy as np
import onnxruntime as ort
from face_affect_ros.core.manifest import load_model
from face_affect_ros.core.paths import model_manifest_path
from face_affect_ros.core.pipeline import FaceAffectPipeline, PipelineConfig
from face_affect_ros.core.providers import ORT_NAMES, ProviderRequest, provider_in_use, summarize

NAME = "bench_providers"
#: (case, model, input shape N x C x H x W) of the per-model sweep.
MODEL_CASES = (
    ("YuNet n 256x192 (scan)", "yunet_n_dynamic", (1, 3, 192, 256)),
    ("YuNet n 640x480 (scan)", "yunet_n_dynamic", (1, 3, 480, 640)),
    ("YuNet n 128x128 (window)", "yunet_n_dynamic", (1, 3, 128, 128)),
    ("YuNet s 128x128 (verify)", "yunet_s_dynamic", (1, 3, 128, 128)),
    ("emotion mini-Xception", "emotion_mini_xception", (1, 1, 64, 64)),
    ("gender-v1 (dlib)", "gender_dlib_v1", (1, 3, 32, 32)),
    ("age-v1 (dlib)", "age_dlib_v1", (1, 3, 64, 64)),
)


def offered_values() -> list[str]:
    """The execution_provider values whose provider this onnxruntime offers (cpu first)."""
    have = set(ort.get_available_providers())
    return [p for p in ("cpu", "openvino", "cuda", "tensorrt") if ORT_NAMES[p] in have]


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n", 1)[0])
    parser.add_argument("--iterations", type=int, default=100)
    parser.add_argument("--warmup", type=int, default=5)
    parser.add_argument("--device", default="", help="provider_device for every provider but cpu")
    args = parser.parse_args(argv)
    cv2.setNumThreads(1)
    values = offered_values()
    print(f"onnxruntime {ort.__version__}: {', '.join(ort.get_available_providers())}")
    rng = np.random.default_rng(0)
    inputs = {
        case: rng.uniform(0, 255 if "yunet" in model else 1, size=shape).astype(np.float32)
        for case, model, shape in MODEL_CASES
    }
    sessions: dict[tuple[str, str], Any] = {}
    in_use: dict[tuple[str, str], str] = {}
    for value in values:
        request = ProviderRequest(value, args.device if value != "cpu" else "")
        for case, model, _ in MODEL_CASES:
            manifest, session = load_model(model_manifest_path(model), providers=request)
            sessions[value, case] = (manifest, session)
            in_use[value, case] = provider_in_use(session)
    pipelines = {
        v: FaceAffectPipeline(
            PipelineConfig(execution_provider=v, provider_device=args.device if v != "cpu" else "")
        )
        for v in values
    }
    frames = {"1 face": bl.comparison_frames()[0], "5 faces": bl.crowd_frame(5)}

    model_ms: dict[tuple[str, str], list[float]] = {k: [] for k in sessions}
    frame_ms: dict[tuple[str, str], list[float]] = {(v, f): [] for v in values for f in frames}
    frame_cpu: dict[tuple[str, str], list[float]] = {(v, f): [] for v in values for f in frames}
    for it in range(-args.warmup, args.iterations):
        order = values if it % 2 == 0 else values[::-1]
        for value in order:
            for case, _, _ in MODEL_CASES:
                manifest, session = sessions[value, case]
                feed = {manifest.input.name: inputs[case]}
                t0 = time.perf_counter()
                session.run(None, feed)
                if it >= 0:
                    model_ms[value, case].append((time.perf_counter() - t0) * 1e3)
            for key, frame in frames.items():
                c0, t0 = time.process_time(), time.perf_counter()
                pipelines[value].process(frame.image)
                if it >= 0:
                    frame_ms[value, key].append((time.perf_counter() - t0) * 1e3)
                    frame_cpu[value, key].append((time.process_time() - c0) * 1e3)

    diffs: dict[tuple[str, str], float] = {}
    for value in values:
        for case, _, _ in MODEL_CASES:
            ref_m, ref_s = sessions["cpu", case]
            manifest, session = sessions[value, case]
            feed = {manifest.input.name: inputs[case]}
            ref = ref_s.run(None, {ref_m.input.name: inputs[case]})
            got = session.run(None, feed)
            diffs[value, case] = max(
                float(np.abs(a - b).max()) for a, b in zip(ref, got, strict=True)
            )

    headers = ["case", *(f"{v} ms (runs on)" for v in values), *(f"{v} max|Δ|" for v in values)]
    rows = []
    for case, _, _ in MODEL_CASES:
        rows.append(
            [
                case,
                *(f"{np.median(model_ms[v, case]):.2f} ({in_use[v, case]})" for v in values),
                *(f"{diffs[v, case]:.1e}" for v in values),
            ]
        )
    print(f"\n[{NAME}] per model, one session.run, {args.iterations} interleaved rounds, medians")
    print(bl.table(headers, rows))
    print(
        "\nper frame, FaceAffectPipeline.process (640x480, defaults), medians: wall ms / "
        "CPU ms of the process (all threads)"
    )
    frame_rows = [
        [
            key,
            *(
                f"{np.median(frame_ms[v, key]):.2f} / {np.median(frame_cpu[v, key]):.2f}"
                for v in values
            ),
        ]
        for key in frames
    ]
    frame_rows.append(
        ["models run on", *(summarize(pipelines[v].providers_in_use()) for v in values)]
    )
    print(bl.table(["frame", *values], frame_rows))
    path = bl.write_results(
        NAME,
        {
            "command": " ".join(["python bench/bench_providers.py", *(argv or sys.argv[1:])]),
            "onnxruntime": ort.__version__,
            "available_providers": ort.get_available_providers(),
            "settings": {"iterations": args.iterations, "warmup": args.warmup, "threads": 1},
            "models": {
                f"{v} | {case}": {
                    "runs_on": in_use[v, case],
                    "ms": bl.summarize(model_ms[v, case]),
                    "max_abs_diff_vs_cpu": diffs[v, case],
                }
                for v in values
                for case, _, _ in MODEL_CASES
            },
            "frames": {
                f"{v} | {key}": {
                    "runs_on": summarize(pipelines[v].providers_in_use()),
                    "ms": bl.summarize(frame_ms[v, key]),
                    "cpu_ms": bl.summarize(frame_cpu[v, key]),
                }
                for v in values
                for key in frames
            },
        },
    )
    print(f"wrote {path}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
