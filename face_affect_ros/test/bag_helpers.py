"""Shared by the test_bag_* tests: the sample bag, the stored expectation and how to compare.

The expectation (fixtures/sample_bag_expected.json) is the offline tool's output on the sample
bag, reduced to what a consumer relies on: per frame, each face's roi, labels and probabilities.
Regenerate it after an intended change of models, pipeline defaults or the sample bag with

    .venv/bin/python face_affect_ros/test/bag_helpers.py --regenerate

(any venv with the package's dependencies works; run from the repository root) and review the
diff: labels that change are behaviour changes.
"""

from __future__ import annotations

import json
import math
import sys
from pathlib import Path
from typing import Any

TEST_DIR = Path(__file__).resolve().parent
PACKAGE_DIR = TEST_DIR.parent
SAMPLE_BAG = PACKAGE_DIR / "sample" / "face_affect_sample.mcap"
SAMPLE_TOPIC = "/camera/image_raw/compressed"
SAMPLE_FRAMES = 60
EXPECTED = TEST_DIR / "fixtures" / "sample_bag_expected.json"

#: Tolerances of "the same result": integer roi within 1 px, probabilities within 1e-3.
BOX_TOL_PX = 1
PROB_TOL = 1e-3

Faces = list[dict[str, Any]]


def reduce_face(face: dict[str, Any]) -> dict[str, Any]:
    """Keep what the comparison uses from a JSON face record (offline tool or demo)."""
    return {
        "id": face.get("track_id", ""),
        "roi": [int(v) for v in face["roi"]],
        "emotion": face["emotion"],
        "emotion_scores": {k: round(float(v), 6) for k, v in face["emotion_scores"].items()},
        "gender": face["gender"],
        "gender_scores": {k: round(float(v), 6) for k, v in face["gender_scores"].items()},
    }


def frames_from_jsonl(path: Path) -> dict[int, Faces]:
    """Map stamp (ns) -> reduced faces from a .jsonl of the offline tool or the demo."""
    frames = {}
    for line in path.read_text(encoding="utf-8").splitlines():
        record = json.loads(line)
        if "error" not in record:
            frames[record["stamp_ns"]] = [reduce_face(f) for f in record["faces"]]
    return frames


def load_expected() -> dict[int, Faces]:
    """The stored expectation as stamp (ns) -> reduced faces."""
    doc = json.loads(EXPECTED.read_text(encoding="utf-8"))
    return {frame["stamp_ns"]: frame["faces"] for frame in doc["frames"]}


def _centre(face: dict[str, Any]) -> tuple[float, float]:
    x, y, w, h = face["roi"]
    return x + w / 2, y + h / 2


def _tie(key: str, scores: dict[str, float], label: str) -> bool:
    """True if `label` differs from the expectation only because the decision is a tie.

    With probabilities equal within PROB_TOL, a label may still flip when the decision sits on
    its threshold: two emotions within PROB_TOL of each other, or a gender probability within
    PROB_TOL of the abstention threshold. That is the same result, not a regression.
    """
    top = max(scores.values())
    if key == "emotion":
        return label in scores and top - scores[label] <= 2 * PROB_TOL
    from face_affect_ros.bag.process import node_parameters, pipeline_config

    threshold = pipeline_config(node_parameters()).resolved_gender_min_confidence()
    return abs(top - threshold) <= 2 * PROB_TOL


def compare_faces(stamp: int, expected: Faces, actual: Faces) -> list[str]:
    """Differences between two frames' faces beyond the tolerances (empty list: the same).

    Faces are paired by nearest centre, not by list position: two faces with almost equal
    detector scores may come in either order without anything being wrong.
    """
    where = f"stamp {stamp}"
    if len(expected) != len(actual):
        return [f"{where}: {len(actual)} face(s), expected {len(expected)}"]
    problems = []
    remaining = list(actual)
    for exp in expected:
        cx, cy = _centre(exp)
        act = min(remaining, key=lambda f: math.dist((cx, cy), _centre(f)))
        remaining.remove(act)
        if exp.get("id", "") != act.get("id", ""):
            problems.append(f"{where}: track id {act.get('id')!r} vs expected {exp.get('id')!r}")
        box_diff = max(abs(a - b) for a, b in zip(exp["roi"], act["roi"], strict=True))
        if box_diff > BOX_TOL_PX:
            problems.append(f"{where}: roi {act['roi']} vs expected {exp['roi']}")
        for key in ("emotion", "gender"):
            scores = f"{key}_scores"
            if set(exp[scores]) != set(act[scores]):
                problems.append(
                    f"{where}: {scores} labels {sorted(act[scores])} vs {sorted(exp[scores])}"
                )
                continue
            diff = max(abs(exp[scores][k] - act[scores][k]) for k in exp[scores])
            if diff > PROB_TOL:
                problems.append(f"{where}: {scores} differ by {diff:.2e}")
            elif exp[key] != act[key] and not _tie(key, exp[scores], act[key]):
                problems.append(f"{where}: {key} {act[key]!r} vs expected {exp[key]!r}")
    return problems


def compare_frames(expected: dict[int, Faces], actual: dict[int, Faces]) -> list[str]:
    """Differences over the frames both have; frames only in `actual` are differences too."""
    problems = [f"stamp {s}: not in the expectation" for s in sorted(set(actual) - set(expected))]
    for stamp in sorted(set(expected) & set(actual)):
        problems += compare_faces(stamp, expected[stamp], actual[stamp])
    return problems


def regenerate() -> None:
    """Process the sample bag offline and store the reduced result as the expectation."""
    import tempfile

    sys.path.insert(0, str(PACKAGE_DIR))
    from face_affect_ros.cli import bag as cli

    with tempfile.TemporaryDirectory() as tmp:
        jsonl = Path(tmp) / "sample.jsonl"
        status = cli.main(
            [
                "process",
                str(SAMPLE_BAG),
                "--out",
                str(Path(tmp) / "out"),
                "--json",
                str(jsonl),
                "--no-progress",
            ]
        )
        if status != 0:
            raise SystemExit(status)
        frames = frames_from_jsonl(jsonl)
    doc = {
        "comment": "Offline result of face-affect-bag on sample/face_affect_sample.mcap with the "
        "default face_affect_node parameters. Regenerate: python "
        "face_affect_ros/test/bag_helpers.py --regenerate (see that file).",
        "bag": "face_affect_ros/sample/face_affect_sample.mcap",
        "topic": SAMPLE_TOPIC,
        "frames": [{"stamp_ns": s, "faces": f} for s, f in sorted(frames.items())],
    }
    # One frame per line: a behaviour change shows up as a readable diff of the frames it affects.
    head = json.dumps({k: v for k, v in doc.items() if k != "frames"}, indent=1)[:-2]
    lines = ",\n  ".join(json.dumps(frame) for frame in doc["frames"])
    EXPECTED.parent.mkdir(parents=True, exist_ok=True)
    EXPECTED.write_text(f'{head},\n "frames": [\n  {lines}\n ]\n}}\n', encoding="utf-8")
    faces = sum(len(f) for f in frames.values())
    print(f"wrote {EXPECTED}: {len(frames)} frames, {faces} faces")


if __name__ == "__main__":
    if sys.argv[1:] != ["--regenerate"]:
        raise SystemExit(f"usage: {sys.argv[0]} --regenerate")
    regenerate()
