"""How the pipeline's cost grows with faces per frame, frame size and onnxruntime threads.

Three sweeps over ``FaceAffectPipeline.process`` (detect + crop + emotion + gender), each run
interleaved: one round visits every case of the sweep once, so machine load drifts hit all
cases alike. OpenCV is limited to one thread throughout so only onnxruntime's threads vary.

* faces: 1, 2, 5, 10, 20 real faces (the astronaut's head + lfw faces, 88 px) in one 640x480
  frame. ``max_faces`` is raised to 32 here so the 20-face frame is not capped at the default
  16; "found" is checked against the pasted boxes.
* size: one face at 40 % of the frame height in 320x240, 640x480, 1280x720, 1920x1080 frames
  (the detector always runs at its default input size; only the resize and crops grow).
* classify: the classification step alone (emotion + gender, and age) on the 1, 5 and 20 face
  frames' crops, all faces through each model in one ``session.run`` (what the pipeline does)
  side by side with one run per face (batch = 1, the path issue 20 asked about), with and without
  the age model. Outputs of the two paths are bit-identical (test/test_batch_fidelity.py).
* windows: the perception loop's window looks (YuNet n, 128x128 window per track) and the
  verifier's second looks (YuNet s) at the 1, 5 and 20 faces, one run per face vs all windows of
  the frame in one run (``WindowDetector.find_many``, ``FaceVerifier.scores``; same detections,
  test/test_core_window.py).
* threads: onnxruntime intra-op threads 1 and 2 on the one-face and the 10-face 640x480 frames,
  each setting in its own worker process (this script with ``--serve N``), driven alternately,
  with an idle pause after every call in which the CPU still burnt (spin-waiting thread pools)
  is measured.

Usage:  python bench/bench_scaling.py [--iterations N] [--quick] [--sweeps classify,...]
Writes: bench/results/bench_scaling.json
"""

from __future__ import annotations

import argparse
import dataclasses
import json
import subprocess
import sys
import time
from collections.abc import Callable
from typing import Any

import benchlib as bl
import cv2
import numpy as np
from face_affect_ros.core.pipeline import FaceAffectPipeline, PipelineConfig

NAME = "bench_scaling"
FACE_COUNTS = (1, 2, 5, 10, 20)
SIZES = ((320, 240), (640, 480), (1280, 720), (1920, 1080))
THREADS = (1, 2)
#: Faces per frame of the classify sweep.
CLASSIFY_FACES = (1, 5, 20)
SWEEPS = ("faces", "size", "classify", "windows", "threads")
STAGES = ("detect_ms", "crop_ms", "classify_ms")
#: Idle time after each call in the threads sweep: longer than onnxruntime's spin-wait
#: (about 160 ms of CPU after a call with 2 intra-op threads, measured here).
IDLE_S = 0.3


def time_once(pipeline: FaceAffectPipeline, frame: bl.Frame) -> tuple[dict[str, float], list]:
    """One timed ``process`` call: wall, CPU and stage times (ms), and the boxes found."""
    c0, t0 = time.process_time(), time.perf_counter()
    result = pipeline.process(frame.image)
    t1, c1 = time.perf_counter(), time.process_time()
    t = result.timings
    sample = {
        "wall_ms": (t1 - t0) * 1e3,
        "cpu_ms": (c1 - c0) * 1e3,
        "detect_ms": t.detect_ms,
        "crop_ms": t.crop_ms,
        "classify_ms": t.classify_ms,
    }
    return sample, [list(f.detection.box) for f in result.faces]


Runner = Callable[[], tuple[dict[str, float], list]]


def interleaved(
    cases: list[tuple[str, Runner, bl.Frame]], iterations: int, warmup: int
) -> dict[str, dict[str, Any]]:
    """Run every case once per round (order reversed every other round); summarize."""
    samples: dict[str, list[dict[str, float]]] = {key: [] for key, _, _ in cases}
    found: dict[str, tuple[int, int]] = {}
    for it in range(-warmup, iterations):
        order = cases if it % 2 == 0 else cases[::-1]
        for key, run, frame in order:
            sample, boxes = run()
            if it < 0:
                matched = sum(m is not None for m in bl.match(frame.faces, boxes))
                found[key] = (matched, len(boxes))
            else:
                samples[key].append(sample)
    out = {}
    for key, _, frame in cases:
        s = samples[key]
        matched, detections = found[key]
        out[key] = {
            "frame": frame.size,
            "ground_truth_faces": len(frame.faces),
            "found": matched,
            "detections": detections,
            **{m: bl.summarize(x[m] for x in s) for m in s[0]},
        }
    return out


def classify_sweep(iterations: int, warmup: int) -> dict[str, dict[str, Any]]:
    """Classification ms per frame: batched vs one face per run, interleaved round by round."""
    pipes = {
        "no age": FaceAffectPipeline(PipelineConfig(intra_op_threads=1, max_faces=32)),
        "age": FaceAffectPipeline(PipelineConfig(intra_op_threads=1, max_faces=32, age=True)),
    }
    cases = []
    for label, pipe in pipes.items():
        stage = pipe.classifier_stage
        clf = stage.classifier
        for n in CLASSIFY_FACES:
            frame = bl.crowd_frame(n)
            detections = pipe.detector_stage.detect(frame.image)
            # Copies: task_crops returns views into buffers the next call reuses.
            crops = {
                task: [c.copy() for c in cs]
                for task, cs in stage.task_crops(frame.image, detections).items()
            }

            def batched(crops=crops, clf=clf) -> None:
                clf.classify(crops["emotion"], crops["gender"])
                if "age" in crops:
                    clf.classify_age(crops["age"])

            def one_by_one(crops=crops, clf=clf) -> None:
                for i in range(len(crops["emotion"])):
                    clf.classify(crops["emotion"][i : i + 1], crops["gender"][i : i + 1])
                    if "age" in crops:
                        clf.classify_age(crops["age"][i : i + 1])

            for path, run in (("batched", batched), ("batch=1 loop", one_by_one)):
                cases.append((f"{n} faces, {label}, {path}", run, len(detections)))
    samples: dict[str, list[float]] = {key: [] for key, _, _ in cases}
    for it in range(-warmup, iterations):
        for key, run, _ in cases if it % 2 == 0 else cases[::-1]:
            t0 = time.perf_counter()
            run()
            if it >= 0:
                samples[key].append((time.perf_counter() - t0) * 1e3)
    return {
        key: {"faces_classified": found, "classify_ms": bl.summarize(samples[key])}
        for key, _, found in cases
    }


def windows_sweep(iterations: int, warmup: int) -> dict[str, dict[str, Any]]:
    """Window looks and verifier looks per frame: one run per face vs one batched run."""
    from face_affect_ros.core.detector import FaceDetector
    from face_affect_ros.core.paths import model_manifest_path
    from face_affect_ros.core.verify import FaceVerifier
    from face_affect_ros.core.window import WindowDetector, box_centre

    window = WindowDetector(model_manifest_path("yunet_n_dynamic"))
    verifier = FaceVerifier(model_manifest_path("yunet_s_dynamic"))
    truth = FaceDetector(
        model_manifest_path("yunet_n_dynamic"), input_size=(640, 480), max_faces=32
    )
    cases = []
    for n in CLASSIFY_FACES:
        image = bl.crowd_frame(n).image
        found = truth.detect(image)
        wins = [(box_centre(d.box), d.box[2], 1.0) for d in found]

        def look_loop(image=image, wins=wins) -> None:
            for centre, width, widen in wins:
                window.find(image, centre, width, widen)

        def look_batched(image=image, wins=wins) -> None:
            window.find_many(image, wins)

        def verify_loop(image=image, found=found) -> None:
            for d in found:
                verifier.score(image, d)

        def verify_batched(image=image, found=found) -> None:
            verifier.scores(image, found)

        for what, loop, batched in (
            ("window looks", look_loop, look_batched),
            ("verifier looks", verify_loop, verify_batched),
        ):
            cases.append((f"{n} faces, {what}, batched", batched, len(found)))
            cases.append((f"{n} faces, {what}, batch=1 loop", loop, len(found)))
    samples: dict[str, list[float]] = {key: [] for key, _, _ in cases}
    for it in range(-warmup, iterations):
        for key, run, _ in cases if it % 2 == 0 else cases[::-1]:
            t0 = time.perf_counter()
            run()
            if it >= 0:
                samples[key].append((time.perf_counter() - t0) * 1e3)
    return {
        key: {"faces_classified": found, "classify_ms": bl.summarize(samples[key])}
        for key, _, found in cases
    }


def classify_rows(results: dict[str, dict[str, Any]]) -> list[list[str]]:
    """One row per (faces, age) case: batched and batch=1 medians side by side."""
    rows = []
    for key, r in results.items():
        if not key.endswith(", batched"):
            continue
        base = key.removesuffix(", batched")
        loop = results[f"{base}, batch=1 loop"]["classify_ms"]["median"]
        med = r["classify_ms"]["median"]
        rows.append(
            [
                base,
                str(r["faces_classified"]),
                bl.fmt(loop, 2),
                bl.fmt(med, 2),
                bl.fmt(r["classify_ms"]["p95"], 2),
                f"{loop / med:.2f}x",
            ]
        )
    return rows


def local(pipeline: FaceAffectPipeline, frame: bl.Frame) -> Runner:
    return lambda: time_once(pipeline, frame)


def thread_frames() -> dict[str, bl.Frame]:
    return {"1 face": bl.comparison_frames()[0], "10 faces": bl.crowd_frame(10)}


class ThreadServer:
    """This script in ``--serve THREADS`` mode, driven over pipes.

    One pipeline with that many onnxruntime threads in its own process, timing frames on
    request. After each call the server stays idle for ``IDLE_S`` and reports the CPU its
    process burnt meanwhile: onnxruntime's intra-op pool (more than one thread) spin-waits for
    new work after every run, and that spinning would otherwise land on the next case.
    """

    def __init__(self, threads: int) -> None:
        self.proc = subprocess.Popen(
            [sys.executable, __file__, "--serve", str(threads)],
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            text=True,
        )

    def runner(self, frame_key: str) -> Runner:
        def run() -> tuple[dict[str, float], list]:
            assert self.proc.stdin is not None and self.proc.stdout is not None
            self.proc.stdin.write(frame_key + "\n")
            self.proc.stdin.flush()
            reply = json.loads(self.proc.stdout.readline())
            return reply["sample"], reply["boxes"]

        return run

    def close(self) -> None:
        assert self.proc.stdin is not None
        self.proc.stdin.close()
        self.proc.wait(timeout=30)


def serve(threads: int) -> int:
    cv2.setNumThreads(1)
    pipeline = FaceAffectPipeline(PipelineConfig(intra_op_threads=threads))
    frames = thread_frames()
    for line in sys.stdin:
        sample, boxes = time_once(pipeline, frames[line.strip()])
        c0 = time.process_time()
        time.sleep(IDLE_S)
        sample["idle_cpu_ms"] = (time.process_time() - c0) * 1e3
        print(json.dumps({"sample": sample, "boxes": boxes}), flush=True)
    return 0


def rows_of(results: dict[str, dict[str, Any]]) -> list[list[str]]:
    rows = []
    for key, r in results.items():
        rows.append(
            [
                key,
                r["frame"],
                f"{r['found']}/{r['ground_truth_faces']}"
                + (f" (+{r['detections'] - r['found']})" if r["detections"] > r["found"] else ""),
                bl.fmt(r["wall_ms"]["median"], 2),
                bl.fmt(r["wall_ms"]["p95"], 2),
                bl.fmt(1e3 / r["wall_ms"]["median"], 0),
                bl.fmt(r["cpu_ms"]["median"], 2),
                *(bl.fmt(r[s]["median"], 2) for s in STAGES),
            ]
        )
    return rows


HEADERS = [
    "case",
    "frame",
    "found",
    "median ms",
    "p95 ms",
    "fps",
    "CPU ms",
    "detect",
    "crop",
    "classify",
]


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n", 1)[0])
    parser.add_argument("--iterations", type=int, default=200, help="timed rounds per sweep")
    parser.add_argument("--warmup", type=int, default=3)
    parser.add_argument(
        "--thread-rounds",
        type=int,
        default=50,
        help=f"rounds of the threads sweep ({IDLE_S} s idle per call)",
    )
    parser.add_argument("--quick", action="store_true", help="10 rounds")
    parser.add_argument(
        "--sweeps",
        default=",".join(SWEEPS),
        help=f"comma-separated subset of {','.join(SWEEPS)} (default: all)",
    )
    parser.add_argument("--serve", type=int, metavar="THREADS", help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    if args.serve is not None:
        return serve(args.serve)
    iterations = 10 if args.quick else args.iterations
    thread_rounds = 5 if args.quick else args.thread_rounds
    cv2.setNumThreads(1)
    load_at_start = bl.load_average()

    sweeps = [x.strip() for x in args.sweeps.split(",") if x.strip()]
    unknown = sorted(set(sweeps) - set(SWEEPS))
    if unknown:
        parser.error(f"unknown sweep(s) {unknown}: choose from {','.join(SWEEPS)}")
    one_thread = FaceAffectPipeline(PipelineConfig(intra_op_threads=1))
    payload: dict[str, Any] = {
        "command": " ".join(
            ["python bench/bench_scaling.py", *(sys.argv[1:] if argv is None else argv)]
        ),
        "settings": {
            "iterations": iterations,
            "thread_rounds": thread_rounds,
            "thread_idle_s": IDLE_S,
            "warmup": args.warmup,
            "opencv_threads": 1,
            "sweeps": sweeps,
            "pipeline": "PipelineConfig defaults; faces and classify sweeps with max_faces=32",
            "pipeline_config": dataclasses.asdict(one_thread.config),
        },
        "load_average_at_start": load_at_start,
    }
    print(f"\n[{NAME}] {iterations} interleaved rounds per sweep; stage columns are medians, ms")

    if "faces" in sweeps:
        uncapped = FaceAffectPipeline(PipelineConfig(intra_op_threads=1, max_faces=32))
        crowds = {n: bl.crowd_frame(n) for n in FACE_COUNTS}
        faces = interleaved(
            [(f"{n} faces", local(uncapped, frame), frame) for n, frame in crowds.items()],
            iterations,
            args.warmup,
        )
        # Marginal cost of a face: least-squares slope of the median against the faces found.
        n_found = np.array([faces[k]["found"] for k in faces], dtype=np.float64)
        med = np.array([faces[k]["wall_ms"]["median"] for k in faces])
        slope, intercept = np.polyfit(n_found, med, 1)
        print("\nFaces per 640x480 frame (88 px faces, max_faces=32, 1 thread)")
        print(bl.table(HEADERS, rows_of(faces)))
        print(f"fit: {intercept:.2f} ms + {slope:.2f} ms per face")
        payload["faces"] = faces
        payload["faces_fit_ms"] = {"intercept": intercept, "per_face": slope}

    if "size" in sweeps:
        sized = [bl.sized_frame(w, h) for w, h in SIZES]
        sizes = interleaved(
            [(frame.name, local(one_thread, frame), frame) for frame in sized],
            iterations,
            args.warmup,
        )
        w, h = one_thread.config.detector_input_size
        print(f"\nFrame size (one face at 40 % of the height, detector input {w}x{h}, 1 thread)")
        print(bl.table(HEADERS, rows_of(sizes)))
        payload["sizes"] = sizes

    if "classify" in sweeps:
        classify = classify_sweep(iterations, args.warmup)
        print(
            "\nClassification per frame (crops cut beforehand; emotion + gender_dlib_v1 "
            "[+ age_dlib_v1]; 1 thread): one run per model vs one run per face and model"
        )
        print(
            bl.table(
                [
                    "case",
                    "faces",
                    "batch=1 loop ms",
                    "batched ms",
                    "batched p95",
                    "loop / batched",
                ],
                classify_rows(classify),
            )
        )
        payload["classify"] = classify

    if "windows" in sweeps:
        windows = windows_sweep(iterations, args.warmup)
        print(
            "\nWindow looks per frame (YuNet n, 128x128 per track; verifier YuNet s, 128x128 per "
            "candidate; 1 thread): one run per face vs one batched run"
        )
        print(
            bl.table(
                ["case", "faces", "batch=1 loop ms", "batched ms", "batched p95", "loop / batched"],
                classify_rows(windows),
            )
        )
        payload["windows"] = windows

    if "threads" in sweeps:
        servers = {n: ThreadServer(n) for n in THREADS}
        try:
            threads = interleaved(
                [
                    (f"{key}, {n} thread{'s' if n > 1 else ''}", servers[n].runner(key), frame)
                    for key, frame in thread_frames().items()
                    for n in THREADS
                ],
                thread_rounds,
                args.warmup,
            )
        finally:
            for server in servers.values():
                server.close()
        speedup = {
            "1 face": threads["1 face, 1 thread"]["wall_ms"]["median"]
            / threads["1 face, 2 threads"]["wall_ms"]["median"],
            "10 faces": threads["10 faces, 1 thread"]["wall_ms"]["median"]
            / threads["10 faces, 2 threads"]["wall_ms"]["median"],
        }
        print(
            "\nonnxruntime intra-op threads (640x480; each in its own process, called alternately)"
        )
        rows = [
            [*row, bl.fmt(threads[key]["idle_cpu_ms"]["median"], 1)]
            for key, row in zip(threads, rows_of(threads), strict=True)
        ]
        print(bl.table([*HEADERS, f"idle-spin CPU ms in {IDLE_S * 1e3:.0f} ms"], rows))
        print(
            "2-thread speed-up (1-thread median / 2-thread median): "
            + ", ".join(f"{k} {v:.2f}x" for k, v in speedup.items())
        )
        payload["threads"] = threads
        payload["two_thread_speedup"] = speedup

    # A partial run keeps its own file, so it never overwrites the full sweep's results.
    name = NAME if sweeps == list(SWEEPS) else f"{NAME}_{'_'.join(sweeps)}"
    path = bl.write_results(name, payload)
    print(f"wrote {path}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
