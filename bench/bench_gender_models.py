"""The two gender models side by side on every real face we have, and what each costs.

Models: ``gender_mini_xception`` (seed: gray 64x64 crop of the YuNet box with the gender
margins) and ``gender_dlib_v1`` (dlib-models gender-v1: RGB 32x32 chip aligned on YuNet's
landmarks, core/align.py). Both run through the real pipeline (``FaceAffectPipeline.classify``
on the detections), so crops, colour and thresholds are what a node does.

Faces (bench/facesets.py): the photos (bench/get_face_photos.sh, pass the directory; without it
only the astronaut and cameraman), the 61 faces of the sample bag, the lfw patches (gray, 25 px,
upscaled: hard for both). Labels are by eye (bench/face_labels.json, bench/margin_sweep.py).

Prints, per model and set: accuracy by argmax, balanced accuracy, and at each abstention
threshold the share decided and the accuracy of the decided; the threshold each model's rule
picks (the t that maximises correct - WRONG_COST x wrong announcements over all sets pooled:
a wrong "woman" / "man" said to a person costs ten missed ones); agreement
between the two; and cost per face (median, paired in one run).

Usage: .venv/bin/python bench/bench_gender_models.py [/tmp/face_photos]
(without the directory, e.g. from ``make bench``, only the astronaut and cameraman stand for the
photos, and bench/results/gender_models.json, the reported run, is left as it is).
"""

from __future__ import annotations

import json
import statistics
import sys
import time
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent))
import facesets
from face_affect_ros.core.pipeline import FaceAffectPipeline, PipelineConfig

MODELS = ("gender_mini_xception", "gender_dlib_v1")
THRESHOLDS = (0.5, 0.6, 0.7, 0.75, 0.8, 0.85, 0.9, 0.95, 0.98)
#: Calibration rule: maximise (decided right) - WRONG_COST * (decided wrong) over the grid.
WRONG_COST = 10.0
RESULTS = Path(__file__).resolve().parent / "results" / "gender_models.json"


def p_woman(pipe: FaceAffectPipeline, faces: list[facesets.Face]) -> np.ndarray:
    col = pipe.gender_labels.index("woman")
    return np.array(
        [pipe.classify(f.image, [f.detection]).faces[0].gender_scores[col] for f in faces]
    )


def table(name: str, pw: np.ndarray, truth: np.ndarray) -> dict:
    pred = pw >= 0.5
    conf = np.maximum(pw, 1 - pw)
    correct = pred == truth
    row = {
        "faces": len(pw),
        "accuracy": float(correct.mean()),
        "balanced_accuracy": float(0.5 * (correct[truth].mean() + correct[~truth].mean()))
        if truth.any() and (~truth).any()
        else float("nan"),
        "mean_p_correct": float(np.where(truth, pw, 1 - pw).mean()),
        "thresholds": {},
    }
    for t in THRESHOLDS:
        dec = conf >= t
        row["thresholds"][str(t)] = {
            "decided": float(dec.mean()),
            "accuracy_decided": float(correct[dec].mean()) if dec.any() else float("nan"),
        }
    cells = " ".join(
        f"{v['decided']:4.2f}/{v['accuracy_decided']:4.2f}" for v in row["thresholds"].values()
    )
    print(
        f"   {name:<22} {row['faces']:4d} {row['accuracy']:5.2f} {row['balanced_accuracy']:5.2f} "
        f"{row['mean_p_correct']:6.3f}  {cells}"
    )
    return row


def calibrate(pw: np.ndarray, truth: np.ndarray) -> tuple[float, dict[str, float]]:
    """(best threshold, utility per threshold) under the WRONG_COST rule."""
    conf = np.maximum(pw, 1 - pw)
    correct = (pw >= 0.5) == truth
    utility = {}
    for t in THRESHOLDS:
        dec = conf >= t
        utility[str(t)] = float((dec & correct).sum() - WRONG_COST * (dec & ~correct).sum())
    best = max(THRESHOLDS, key=lambda t: (utility[str(t)], -t))
    return best, utility


def cost(faces: list[facesets.Face], repeats: int = 7) -> dict:
    """Median ms per face of classify() with each configuration, paired, one face per call."""
    configs = {
        "mini_xception": PipelineConfig(gender_model=MODELS[0], tracking=False),
        "dlib_v1": PipelineConfig(gender_model=MODELS[1], tracking=False),
        "dlib_v1 + age": PipelineConfig(gender_model=MODELS[1], tracking=False, age=True),
    }
    pipes = {k: FaceAffectPipeline(c) for k, c in configs.items()}
    sample = faces[:: max(1, len(faces) // 20)]
    times = {k: [] for k in pipes}
    for f in sample[:3]:
        for p in pipes.values():
            p.classify(f.image, [f.detection])
    for _ in range(repeats):
        for f in sample:
            for k, p in pipes.items():
                t0 = time.perf_counter()
                p.classify(f.image, [f.detection])
                times[k].append((time.perf_counter() - t0) * 1e3)
    med = {k: statistics.median(v) for k, v in times.items()}
    # The model alone, batch 1, on its prepared input (no crop).
    model_ms = {}
    for task, model in (
        ("gender_mini_xception", pipes["mini_xception"].classifier._gender),
        ("gender_dlib_v1", pipes["dlib_v1"].classifier._gender),
        ("age_dlib_v1", pipes["dlib_v1 + age"].classifier._age),
    ):
        model.load([np.zeros(model._pix, np.uint8)])
        runs = []
        for _ in range(50):
            t0 = time.perf_counter()
            model.run(1, False)
            runs.append((time.perf_counter() - t0) * 1e3)
        model_ms[task] = statistics.median(runs)
    return {
        "classify_ms_per_face": med,
        "model_run_ms_batch1": model_ms,
        "faces_timed": len(sample),
    }


def tracks(model: str) -> dict:
    """The sample bag through a tracking pipeline; gender and age accumulated per track."""
    from face_affect_ros.core.evidence import TrackEvidence, age_summary

    pipe = FaceAffectPipeline(PipelineConfig(gender_model=model, age=True))
    gender, age = TrackEvidence(max_weight=None), TrackEvidence(max_weight=None)
    frames = 0
    for i, img in enumerate(facesets.bag_frames()[:45]):  # frames 45+ are the cat
        frames = i + 1
        for f in pipe.process(img).faces:
            gender.update(f.track_id, f.gender_scores, f.detection.score)
            age.update(f.track_id, f.age_scores, f.detection.score)
    out = {}
    for tid in sorted(gender._tracks):
        g, a = gender.get(tid), age.get(tid)
        years, _, minor = age_summary(a.mean, pipe.age_values)
        out[tid] = {
            "observations": g.count,
            "p_woman": float(g.mean[pipe.gender_labels.index("woman")]),
            "age_years": years,
            "minor_probability": minor,
        }
    out["frames"] = frames
    return out


def main() -> None:
    photo_dir = Path(sys.argv[1]) if len(sys.argv) > 1 else None
    sets = {
        "photos": facesets.photos(photo_dir),
        "sample bag": facesets.bag_faces(),
        "lfw patches": facesets.lfw_faces(),
    }
    pipes = {m: FaceAffectPipeline(PipelineConfig(gender_model=m, tracking=False)) for m in MODELS}
    probs = {m: {s: p_woman(pipes[m], faces) for s, faces in sets.items()} for m in MODELS}
    truth = {s: np.array([f.label == "woman" for f in faces]) for s, faces in sets.items()}
    out: dict = {"sets": {s: len(f) for s, f in sets.items()}, "models": {}}
    head = " ".join(f"  t={t:<5}" for t in THRESHOLDS)
    print(
        "per model and set: faces, accuracy, balanced accuracy, mean p(correct), "
        "then decided/accuracy-of-decided at each threshold"
    )
    print(f"   {'':<22} {'n':>4} {'acc':>5} {'bal':>5} {'p':>6}  {head}")
    for m in MODELS:
        print(f"  {m}")
        out["models"][m] = {s: table(s, probs[m][s], truth[s]) for s in sets}
        pooled_p = np.concatenate([probs[m][s] for s in sets])
        pooled_t = np.concatenate([truth[s] for s in sets])
        out["models"][m]["all"] = table("all", pooled_p, pooled_t)
        t, utility = calibrate(pooled_p, pooled_t)
        out["models"][m]["calibrated_min_confidence"] = t
        out["models"][m]["utility"] = utility
        print(
            "   utility (right - 10 x wrong, all sets): "
            + " ".join(f"{k}:{v:.0f}" for k, v in utility.items())
        )
        print(f"   -> calibrated threshold: {t}")
    print("\nagreement of the two models by argmax (and both right)")
    out["agreement"] = {}
    for s in sets:
        a = (probs[MODELS[0]][s] >= 0.5) == (probs[MODELS[1]][s] >= 0.5)
        both = a & ((probs[MODELS[0]][s] >= 0.5) == truth[s])
        out["agreement"][s] = {"agree": float(a.mean()), "both_right": float(both.mean())}
        print(f"   {s:<12} {a.mean():5.2f} ({a.sum()}/{len(a)}), both right {both.mean():.2f}")
    print("\nper track over the sample bag's 45 frames with people (TrackEvidence, weighted by the")
    print("detection score): observations, mean p(woman), accumulated age, p(minor)")
    out["tracks"] = {}
    for m in MODELS:
        t = tracks(m)
        out["tracks"][m] = t
        for tid, v in t.items():
            if tid != "frames":
                print(
                    f"   {m:<22} {tid:<8} n={v['observations']:3d} p(woman) "
                    f"{v['p_woman']:.3f} age {v['age_years']:5.1f} p(minor) "
                    f"{v['minor_probability']:.3f}"
                )
    print("\ncost per face (median ms, one face per call, paired in one run)")
    c = cost(sets["photos"] + sets["sample bag"])
    out["cost"] = c
    for k, v in c["classify_ms_per_face"].items():
        print(f"   classify() emotion + gender ({k}): {v:.2f} ms")
    for k, v in c["model_run_ms_batch1"].items():
        print(f"   {k} model run, batch 1: {v:.2f} ms")
    if photo_dir is not None:
        RESULTS.write_text(json.dumps(out, indent=1) + "\n")


if __name__ == "__main__":
    main()
