"""face_affect_ros against the PyPI package ``fer`` on the same 640x480 frames.

``fer`` (25.10.3) is what a user would otherwise install for emotion recognition with the
paper's model. It runs in its own venv (``bench/.fer-venv``, made by ``bench/fer_env.py``) as
a long-lived worker process; this process runs our pipeline. For every frame and iteration the
two are run back to back (the order alternates between iterations), each timed inside its own
process, and the samples are paired by (iteration, frame) to compute per-pair ratios.

What is compared:

* ours: ``FaceAffectPipeline`` with its defaults (YuNet n, mini-Xception emotion
  *and* gender, batched), one onnxruntime intra-op thread, OpenCV limited to one thread, so
  the whole pipeline runs on one core. It does strictly more work than fer: gender too.
* ``fer``: ``FER()`` defaults, as a user gets them: Haar cascade (OpenCV 4, which uses every
  core for ``detectMultiScale``), quantized TFLite emotion model; emotion only.
* ``fer_1t``: the same with ``cv2.setNumThreads(1)``: the same one-core budget as ours.
* ``fer_keras``: ``FER(use_tflite=False)``: the float Keras model, i.e. the very weights our
  ONNX emotion model was converted from (separates crop/detector effects from quantization).
* ``fer_mtcnn``: ``FER(mtcnn=True)``: facenet-pytorch MTCNN instead of the Haar cascade (torch
  CPU; torchvision shimmed, see ``fer_worker.py``), when it installs here.

Times are wall-clock per frame (``perf_counter``) and CPU time of the whole process
(``process_time``, all threads) around ``FaceAffectPipeline.process`` and
``FER.detect_emotions``; images are already decoded arrays in both processes. Answers: on a
second set of frames (the 100 lfw faces and the astronaut at 8 sizes / mirrorings) each face of
the ground truth is matched to each system's boxes (IoU >= 0.3) and the top emotions compared.

Usage:  python bench/bench_vs_fer.py [--iterations N] [--quick] [--only-default]
            [--comparators fer fer_1t]
Writes: bench/results/bench_vs_fer.json
"""

from __future__ import annotations

import argparse
import dataclasses
import sys
import time
from collections import defaultdict
from typing import Any

import benchlib as bl
import cv2
import numpy as np
from face_affect_ros.core.pipeline import FaceAffectPipeline, FrameResult, PipelineConfig
from fer_env import FerUnavailableError, FerWorker, install_record, venv_size_bytes

NAME = "bench_vs_fer"
#: comparator name -> (fer worker configuration, OpenCV threads in the worker; None = default)
COMPARATORS: dict[str, tuple[str, int | None]] = {
    "fer": ("fer", None),
    "fer_1t": ("fer", 1),
    "fer_keras": ("fer_keras", None),
    "fer_mtcnn": ("fer_mtcnn", None),
}
#: Pause before every timed call, so thread pools still spinning after the previous call
#: (torch's, for MTCNN) do not run into the next one.
SETTLE_S = 0.01
FER_LABELS = ("angry", "disgust", "fear", "happy", "sad", "surprise", "neutral")


def fer_top(emotions: dict[str, float]) -> tuple[str, float]:
    """Apply fer's own top-emotion rule (``FER.top_emotion``): first maximum in label order."""
    label = max(emotions, key=lambda k: emotions[k])
    return label, float(emotions[label])


def run_ours(pipeline: FaceAffectPipeline, image: np.ndarray) -> tuple[dict[str, Any], FrameResult]:
    c0, t0 = time.process_time(), time.perf_counter()
    result = pipeline.process(image)
    t1, c1 = time.perf_counter(), time.process_time()
    t = result.timings
    sample = {
        "wall_ms": (t1 - t0) * 1e3,
        "cpu_ms": (c1 - c0) * 1e3,
        "detect_ms": t.detect_ms,
        "crop_ms": t.crop_ms,
        "classify_ms": t.classify_ms,
    }
    return sample, result


def ours_faces(result: FrameResult) -> list[dict[str, Any]]:
    return [
        {
            "box": [round(v, 1) for v in f.detection.box],
            "emotion": f.emotion,
            "p": round(f.emotion_confidence, 3),
            "gender": f.gender,
        }
        for f in result.faces
    ]


def found_summary(frame: bl.Frame, boxes: list[list[float]]) -> str:
    matched = sum(m is not None for m in bl.match(frame.faces, boxes))
    extra = len(boxes) - matched
    return f"{matched}/{len(frame.faces)}" + (f" +{extra} other" if extra else "")


def timing_phase(
    pipeline: FaceAffectPipeline,
    worker: FerWorker | None,
    comparators: list[str],
    frames: list[bl.Frame],
    iterations: int,
    warmup: int,
) -> dict[str, Any]:
    ours: dict[str, list[dict[str, float]]] = defaultdict(list)
    theirs: dict[str, dict[str, list[dict[str, float]]]] = defaultdict(lambda: defaultdict(list))
    answers: dict[str, dict[str, Any]] = {}
    for it in range(-warmup, iterations):
        for frame in frames:
            # Alternate who goes first so neither side always runs on a "warm" core.
            order = ["ours", *comparators] if it % 2 == 0 else [*comparators, "ours"]
            for who in order:
                time.sleep(SETTLE_S)
                if who == "ours":
                    sample, result = run_ours(pipeline, frame.image)
                    if it >= 0:
                        ours[frame.name].append(sample)
                    answers.setdefault(frame.name, {})["ours"] = ours_faces(result)
                else:
                    assert worker is not None
                    config, threads = COMPARATORS[who]
                    reply = worker.run(
                        config, frame.image, stages=(who == "fer"), cv2_threads=threads
                    )
                    if it >= 0:
                        theirs[who][frame.name].append(reply)
                    answers.setdefault(frame.name, {})[who] = reply["faces"]
        if it >= 0 and (it + 1) % 10 == 0:
            print(f"  iteration {it + 1}/{iterations}", flush=True)

    out: dict[str, Any] = {}
    for frame in frames:
        o = ours[frame.name]
        row: dict[str, Any] = {
            "size": frame.size,
            "ground_truth_faces": len(frame.faces),
            "ours": {
                "wall_ms": bl.summarize(s["wall_ms"] for s in o),
                "cpu_ms": bl.summarize(s["cpu_ms"] for s in o),
                "detect_ms": bl.summarize(s["detect_ms"] for s in o),
                "crop_ms": bl.summarize(s["crop_ms"] for s in o),
                "classify_ms": bl.summarize(s["classify_ms"] for s in o),
                "found": found_summary(frame, [f["box"] for f in answers[frame.name]["ours"]]),
                "faces": answers[frame.name]["ours"],
            },
        }
        for who in comparators:
            t = theirs[who][frame.name]
            entry = {
                "wall_ms": bl.summarize(s["wall_ms"] for s in t),
                "cpu_ms": bl.summarize(s["cpu_ms"] for s in t),
                "ratio_wall_vs_ours": bl.ratio_summary(
                    [s["wall_ms"] for s in t], [s["wall_ms"] for s in o]
                ),
                "ratio_cpu_vs_ours": bl.ratio_summary(
                    [s["cpu_ms"] for s in t], [s["cpu_ms"] for s in o]
                ),
                "found": found_summary(frame, [f["box"] for f in answers[frame.name][who]]),
                "faces": answers[frame.name][who],
            }
            if who == "fer":
                entry["detect_ms"] = bl.summarize(s["detect_ms"] for s in t)
                entry["emotion_ms"] = bl.summarize(s["emotion_ms"] for s in t)
            row[who] = entry
        out[frame.name] = row
    return out


def fer_style_crops(
    image: np.ndarray, boxes: list[list[int]], size: tuple[int, int]
) -> list[np.ndarray]:
    """Cut and resize face crops exactly like fer 25.10.3's ``FER.detect_emotions``.

    Gray image padded by 40 px of the mean of its last two rows, box made square
    (``tosquare``), enlarged by 10 px per side, clipped at the padded image's top-left only,
    resized straight to the model size with ``cv2.resize``'s default (bilinear). Passing
    model-size crops bypasses our classifier's own resizing (which pre-shrinks large crops
    with area averaging against aliasing, unlike fer).
    """
    pad, off = 40, 10
    gray = cv2.cvtColor(image, cv2.COLOR_BGR2GRAY)
    mean = cv2.mean(gray[-2:, :])[0]
    padded = cv2.copyMakeBorder(gray, pad, pad, pad, pad, cv2.BORDER_CONSTANT, value=mean)
    crops = []
    for x, y, w, h in boxes:
        if h > w:
            x, w = x - (h - w) // 2, h
        elif w > h:
            y, h = y - (w - h) // 2, w
        x1, y1 = max(0, x - off + pad), max(0, y - off + pad)
        crops.append(cv2.resize(padded[y1 : y + h + off + pad, x1 : x + w + off + pad], size))
    return crops


def agreement_phase(
    pipeline: FaceAffectPipeline,
    worker: FerWorker | None,
    comparators: list[str],
    frames: list[bl.Frame],
) -> dict[str, Any]:
    """Top emotion of every ground-truth face, per system; agreement between systems.

    ``ours_model_fer_crops`` is a diagnostic: our ONNX emotion model on exactly fer's model
    inputs (fer_keras's Haar boxes, fer's crop and resize rule, fer's rounding to 2 decimals),
    to tell apart what the model conversion changes (should be nothing) from what our
    detector, crop margins and resizing change.
    """
    # fer_1t answers exactly like fer (same code, one thread): no separate column.
    answering = [c for c in comparators if COMPARATORS[c][1] is None]
    diagnostic = "fer_keras" in answering
    systems = ["ours", *answering, *(["ours_model_fer_crops"] if diagnostic else [])]
    faces: list[dict[str, Any]] = []
    extra = dict.fromkeys(systems, 0)
    for frame in frames:
        per_system: dict[str, list[tuple[str, float] | None]] = {}
        _, result = run_ours(pipeline, frame.image)
        boxes = [list(f.detection.box) for f in result.faces]
        idx = bl.match(frame.faces, boxes)
        extra["ours"] += len(boxes) - sum(i is not None for i in idx)
        per_system["ours"] = [
            None if i is None else (result.faces[i].emotion, result.faces[i].emotion_confidence)
            for i in idx
        ]
        for who in answering:
            config, threads = COMPARATORS[who]
            found = worker.run(config, frame.image, cv2_threads=threads)["faces"]
            idx = bl.match(frame.faces, [f["box"] for f in found])
            extra[who] += len(found) - sum(i is not None for i in idx)
            per_system[who] = [None if i is None else fer_top(found[i]["emotions"]) for i in idx]
            if who == "fer_keras" and diagnostic:
                crops = fer_style_crops(
                    frame.image,
                    [found[i]["box"] for i in idx if i is not None],
                    pipeline.classifier.emotion_input[0],
                )
                clf = pipeline.classifier
                gcrops = (
                    [cv2.cvtColor(c, cv2.COLOR_GRAY2RGB) for c in crops]
                    if clf.input_spec("gender").color != "gray"
                    else crops
                )
                probs = clf.classify(crops, gcrops)[0] if crops else []
                labels = pipeline.classifier.emotion_labels
                tops = iter(
                    fer_top({lab: round(float(p), 2) for lab, p in zip(labels, row, strict=True)})
                    for row in probs
                )
                per_system["ours_model_fer_crops"] = [
                    None if i is None else next(tops) for i in idx
                ]
        for k, source in enumerate(frame.sources):
            faces.append(
                {
                    "frame": frame.name,
                    "source": source,
                    **{s: per_system[s][k] for s in systems},
                }
            )

    def compare(a: str, b: str) -> dict[str, Any]:
        both = [f for f in faces if f[a] is not None and f[b] is not None]
        same = sum(f[a][0] == f[b][0] for f in both)
        return {
            "faces_found_by_both": len(both),
            "same_top_emotion": same,
            "rate": same / len(both) if both else None,
        }

    pairs = {f"{a}_vs_ours": compare(a, "ours") for a in answering}
    if "fer" in answering and "fer_keras" in answering:
        pairs["fer_vs_fer_keras"] = compare("fer", "fer_keras")
    if diagnostic:
        pairs["ours_model_fer_crops_vs_fer_keras"] = compare("ours_model_fer_crops", "fer_keras")
        pairs["ours_model_fer_crops_vs_fer"] = compare("ours_model_fer_crops", "fer")
    found = {s: sum(f[s] is not None for f in faces) for s in systems}
    disagreements = [
        {
            "frame": f["frame"],
            "source": f["source"],
            **{s: (None if f[s] is None else [f[s][0], round(f[s][1], 2)]) for s in systems},
        }
        for f in faces
        if f["ours"] is not None and f.get("fer") is not None and f["fer"][0] != f["ours"][0]
    ]
    return {
        "ground_truth_faces": len(faces),
        "found": found,
        "unmatched_detections": extra,
        "pairs": pairs,
        "fer_vs_ours_disagreements": disagreements,
        "top_emotion_counts": {
            s: {
                lab: sum(1 for f in faces if f[s] is not None and f[s][0] == lab)
                for lab in FER_LABELS
            }
            for s in systems
        },
    }


def print_report(timing: dict[str, Any], agreement: dict[str, Any], comparators: list[str]) -> None:
    rows = []
    for name, row in timing.items():
        o = row["ours"]
        rows.append(
            [
                name,
                "ours",
                o["found"],
                bl.fmt(o["wall_ms"]["median"]),
                bl.fmt(o["wall_ms"]["p95"]),
                bl.fmt(1e3 / o["wall_ms"]["median"], 0),
                bl.fmt(o["cpu_ms"]["median"]),
                "1.0",
                "1.0",
            ]
        )
        for who in comparators:
            t = row[who]
            rows.append(
                [
                    "",
                    who,
                    t["found"],
                    bl.fmt(t["wall_ms"]["median"]),
                    bl.fmt(t["wall_ms"]["p95"]),
                    bl.fmt(1e3 / t["wall_ms"]["median"], 0),
                    bl.fmt(t["cpu_ms"]["median"]),
                    bl.fmt(t["ratio_wall_vs_ours"]["median_of_ratios"]),
                    bl.fmt(t["ratio_cpu_vs_ours"]["median_of_ratios"]),
                ]
            )
    print("\nPer frame (640x480), wall ms; ratio = theirs / ours, median of per-pair ratios")
    print(
        bl.table(
            [
                "frame",
                "system",
                "faces found",
                "median ms",
                "p95 ms",
                "fps",
                "CPU ms",
                "x wall",
                "x CPU",
            ],
            rows,
        )
    )
    print("\nStages, median ms (ours: detect / crop / classify emotion+gender; fer: find_faces /")
    print("detect_emotions given the boxes, timed in two extra calls)")
    rows = []
    for name, row in timing.items():
        o = row["ours"]
        r = [
            name,
            bl.fmt(o["detect_ms"]["median"], 2),
            bl.fmt(o["crop_ms"]["median"], 2),
            bl.fmt(o["classify_ms"]["median"], 2),
        ]
        if "fer" in row:
            r += [
                bl.fmt(row["fer"]["detect_ms"]["median"], 2),
                bl.fmt(row["fer"]["emotion_ms"]["median"], 2),
            ]
        rows.append(r)
    headers = ["frame", "ours detect", "ours crop", "ours classify"]
    if "fer" in comparators:
        headers += ["fer Haar", "fer emotion"]
    print(bl.table(headers, rows))
    if agreement:
        print(f"\nTop-emotion agreement on {agreement['ground_truth_faces']} real faces")
        print("found per system:", agreement["found"])
        print("unmatched detections per system:", agreement["unmatched_detections"])
        print(
            bl.table(
                ["pair", "faces found by both", "same top emotion", "rate"],
                [
                    [k, v["faces_found_by_both"], v["same_top_emotion"], bl.fmt(v["rate"], 3)]
                    for k, v in agreement["pairs"].items()
                ],
            )
        )
        dis = agreement["fer_vs_ours_disagreements"]
        if dis:
            print(f"\nfer vs ours disagreements ({len(dis)}):")
            keys = [k for k in dis[0] if k not in ("frame", "source")]
            print(
                bl.table(
                    ["frame", "face", *keys],
                    [
                        [
                            d["frame"],
                            d["source"],
                            *("-" if d[k] is None else f"{d[k][0]} {d[k][1]:.2f}" for k in keys),
                        ]
                        for d in dis
                    ],
                )
            )


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n", 1)[0])
    parser.add_argument("--iterations", type=int, default=50, help="timed rounds per frame")
    parser.add_argument("--warmup", type=int, default=3)
    parser.add_argument("--quick", action="store_true", help="5 rounds, first 3 agreement frames")
    parser.add_argument(
        "--only-default", action="store_true", help="compare with FER() defaults only"
    )
    parser.add_argument(
        "--comparators",
        nargs="*",
        choices=list(COMPARATORS),
        help="these comparators only (e.g. fer fer_1t: the same one-core budget as ours too)",
    )
    args = parser.parse_args(argv)
    iterations = 5 if args.quick else args.iterations

    load_at_start = bl.load_average()
    cv2.setNumThreads(1)  # ours on one core: onnxruntime and OpenCV
    t0 = time.perf_counter()
    pipeline = FaceAffectPipeline(PipelineConfig(intra_op_threads=1))
    startup = {"ours_pipeline_construct_s": time.perf_counter() - t0}
    frames = bl.comparison_frames()
    agree_frames = bl.agreement_frames()[: 3 if args.quick else None]

    notes: list[str] = []
    worker: FerWorker | None = None
    fer_info: dict[str, Any] = {}
    comparators: list[str] = []
    try:
        t0 = time.perf_counter()
        worker = FerWorker()
        fer_info = worker.info()
        startup["fer_worker_start_s"] = time.perf_counter() - t0
        wanted = ["fer"] if args.only_default else (args.comparators or list(COMPARATORS))
        loaded: set[str] = set()
        for who in wanted:
            config = COMPARATORS[who][0]
            if config in loaded:
                comparators.append(who)
                continue
            try:
                load = worker.load(config)
                startup[f"{config}_construct_s"] = load["load_s"]
                loaded.add(config)
            except RuntimeError as exc:
                notes.append(f"{who} skipped: {exc}")
                print(f"[{NAME}] {who} skipped: {exc}", file=sys.stderr)
                continue
            if load.get("mtcnn_note") and who == "fer_mtcnn":
                notes.append(f"fer_mtcnn: {load['mtcnn_note']}")
            comparators.append(who)
    except FerUnavailableError as exc:
        notes.append(f"fer unavailable, ours only: {exc}")
        print(f"[{NAME}] fer unavailable, timing ours only: {exc}", file=sys.stderr)

    print(f"[{NAME}] {iterations} rounds x {len(frames)} frames; comparators: {comparators}")
    try:
        timing = timing_phase(pipeline, worker, comparators, frames, iterations, args.warmup)
        agreement = agreement_phase(pipeline, worker, comparators, agree_frames)
        if worker is not None:
            fer_info = worker.info()  # again: the MTCNN note is known once it was built
    finally:
        if worker is not None:
            worker.close()

    print_report(timing, agreement, comparators)
    one = timing["one_face"]
    if "fer" in one:
        r = one["fer"]["ratio_wall_vs_ours"]
        print(
            f"\none face, 640x480: ours {one['ours']['wall_ms']['median']:.1f} ms (detect + "
            f"emotion + gender, 1 thread) vs fer {one['fer']['wall_ms']['median']:.1f} ms "
            f"(detect + emotion, default threads): fer/ours = {r['median_of_ratios']:.1f}x "
            f"(pairwise median; ratio of medians {r['ratio_of_medians']:.1f}x; target >= 10x)"
        )
    print("start-up, s:", ", ".join(f"{k} {v:.2f}" for k, v in startup.items()))
    for note in notes:
        print("note:", note)
    path = bl.write_results(
        NAME,
        {
            "command": " ".join(
                ["python bench/bench_vs_fer.py", *(sys.argv[1:] if argv is None else argv)]
            ),
            "settings": {
                "iterations": iterations,
                "warmup": args.warmup,
                "ours": "FaceAffectPipeline(PipelineConfig(intra_op_threads=1)), "
                "cv2.setNumThreads(1)",
                "comparators": {k: COMPARATORS[k] for k in comparators},
                "pipeline_config": dataclasses.asdict(pipeline.config),
            },
            "fer_env": {
                "versions": fer_info.get("versions"),
                "cv2_default_threads": fer_info.get("cv2_default_threads"),
                "venv_size_bytes": venv_size_bytes(),
                "install": install_record(),
            },
            "load_average_at_start": load_at_start,
            "startup": startup,
            "notes": notes,
            "frames": timing,
            "agreement": agreement,
        },
    )
    print(f"wrote {path}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
