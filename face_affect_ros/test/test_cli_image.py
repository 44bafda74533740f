"""face-affect-image, run as a subprocess like a user would (no entry point needed)."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import cv2
import pytest
from face_affect_ros.schema.results import SCHEMA
from skimage import data

PACKAGE_DIR = Path(__file__).resolve().parents[1]
FER7 = ["angry", "disgust", "fear", "happy", "sad", "surprise", "neutral"]


def run(*args: str) -> subprocess.CompletedProcess:
    env = dict(os.environ)
    env["PYTHONPATH"] = os.pathsep.join(p for p in (str(PACKAGE_DIR), env.get("PYTHONPATH")) if p)
    return subprocess.run(
        [sys.executable, "-m", "face_affect_ros.cli.image", *args],
        capture_output=True,
        text=True,
        env=env,
        timeout=120,
        check=False,
    )


@pytest.fixture(scope="module")
def images(tmp_path_factory) -> dict[str, Path]:
    root = tmp_path_factory.mktemp("cli_images")
    paths = {
        "astronaut": root / "astronaut.png",
        "rocket": root / "rocket.jpg",
        "camera": root / "camera.png",
        "broken": root / "broken.png",
    }
    cv2.imwrite(str(paths["astronaut"]), cv2.cvtColor(data.astronaut(), cv2.COLOR_RGB2BGR))
    cv2.imwrite(str(paths["rocket"]), cv2.cvtColor(data.rocket(), cv2.COLOR_RGB2BGR))
    cv2.imwrite(str(paths["camera"]), data.camera())
    paths["broken"].write_bytes(b"\x89PNG\r\n\x1a\n but not really")
    return paths


FRAME_KEYS = {"schema", "width", "height", "emotion_labels", "gender_labels", "faces"}
FACE_KEYS = {
    "track_id",
    "box",
    "roi",
    "score",
    "landmarks",
    "emotion",
    "emotion_confidence",
    "emotion_scores",
    "gender",
    "gender_confidence",
    "gender_scores",
}


def test_json_schema(images) -> None:
    proc = run("--json", str(images["astronaut"]), str(images["rocket"]))
    assert proc.returncode == 0, proc.stderr
    lines = proc.stdout.splitlines()
    assert len(lines) == 2
    astro, rocket = (json.loads(line) for line in lines)
    # The face_affect/v1 record every tool writes, with the image path as its envelope.
    assert set(astro) == {"image", *FRAME_KEYS}
    assert astro["schema"] == SCHEMA
    assert astro["image"] == str(images["astronaut"])
    assert (astro["width"], astro["height"]) == (512, 512)
    (face,) = astro["faces"]
    assert set(face) == FACE_KEYS
    assert face["track_id"] == ""  # photos are independent frames: no tracking
    assert list(face["gender_scores"]) == ["woman", "man"]
    assert len(face["box"]) == 4 and all(isinstance(v, float) for v in face["box"])
    assert 0.0 < face["score"] <= 1.0
    assert len(face["landmarks"]) == 5 and all(len(p) == 2 for p in face["landmarks"])
    assert list(face["emotion_scores"]) == FER7
    assert sum(face["emotion_scores"].values()) == pytest.approx(1.0, abs=1e-4)
    assert face["emotion"] == "happy" and face["gender"] == "woman"
    assert 0.7 <= face["gender_confidence"] <= 1.0
    assert rocket["faces"] == [] and (rocket["width"], rocket["height"]) == (640, 427)


def test_table_output(images) -> None:
    proc = run(str(images["astronaut"]), str(images["camera"]))
    assert proc.returncode == 0, proc.stderr
    out = proc.stdout
    assert f"{images['astronaut']}  512x512  1 face" in out
    astro_block, camera_block = out.split(str(images["camera"]))
    assert "happy" in astro_block and "woman" in astro_block
    assert " man " in camera_block


def test_unreadable_file_fails_but_others_are_processed(images) -> None:
    proc = run(
        "--json",
        str(images["broken"]),
        str(images["astronaut"]),
        str(images["astronaut"].parent / "missing.png"),
    )
    assert proc.returncode == 1
    errors = proc.stderr.strip().splitlines()
    assert len(errors) == 2
    assert any(str(images["broken"]) in e and "cannot read" in e for e in errors)
    assert any("missing.png" in e and "no such file" in e for e in errors)
    (line,) = proc.stdout.splitlines()
    assert json.loads(line)["image"] == str(images["astronaut"])


def test_directory_input_and_out(images, tmp_path: Path) -> None:
    folder = tmp_path / "in"
    folder.mkdir()
    for name in ("astronaut", "rocket"):
        target = folder / images[name].name
        target.write_bytes(images[name].read_bytes())
    (folder / "notes.txt").write_text("not an image")
    out = tmp_path / "out"
    proc = run("--json", "--out", str(out), str(folder))
    assert proc.returncode == 0, proc.stderr
    reported = [json.loads(line)["image"] for line in proc.stdout.splitlines()]
    assert reported == [str(folder / "astronaut.png"), str(folder / "rocket.jpg")]
    annotated = cv2.imread(str(out / "astronaut.png"))
    original = cv2.imread(str(folder / "astronaut.png"))
    assert annotated.shape == original.shape
    assert (annotated != original).any()
    assert (out / "rocket.png").is_file()


def test_label_set_option(images) -> None:
    proc = run("--json", "--label-set", "iot4", str(images["astronaut"]))
    assert proc.returncode == 0, proc.stderr
    face = json.loads(proc.stdout)["faces"][0]
    assert list(face["emotion_scores"]) == ["neutral", "angry", "surprise", "happy"]
    assert face["emotion"] == "happy"


def test_bad_models_dir_is_a_usage_error(images, tmp_path: Path) -> None:
    proc = run("--models-dir", str(tmp_path), str(images["astronaut"]))
    assert proc.returncode == 2
    (line,) = proc.stderr.strip().splitlines()
    assert line.startswith("face-affect-image: error:") and "not found" in line
    assert proc.stdout == ""


def test_bad_arguments(images) -> None:
    assert run("--input-size", "320", str(images["astronaut"])).returncode == 2
    assert run("--score-threshold", "2", str(images["astronaut"])).returncode == 2
    assert run().returncode == 2


def test_empty_directory_is_reported(tmp_path: Path) -> None:
    proc = run(str(tmp_path))
    assert proc.returncode == 1
    assert "contains no image files" in proc.stderr
