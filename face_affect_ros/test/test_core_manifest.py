"""Manifest loading and verification, model paths, against the shipped models."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import onnxruntime as ort
import pytest
from face_affect_ros.core import paths
from face_affect_ros.core.manifest import (
    ModelError,
    create_session,
    load_manifest,
    load_model,
    parse_manifest,
    sha256_file,
)

MODELS = Path(__file__).resolve().parents[1] / "models"
SHIPPED = (
    "emotion_mini_xception",
    "gender_mini_xception",
    "gender_dlib_v1",
    "age_dlib_v1",
    "yunet_n_dynamic",
    "yunet_s_dynamic",
)


@pytest.fixture
def model_copy(tmp_path: Path):
    """Copy one shipped model + manifest to tmp_path so a test can damage the copy."""

    def make(name: str) -> tuple[Path, Path, dict]:
        shutil.copy(MODELS / f"{name}.onnx", tmp_path / f"{name}.onnx")
        manifest = json.loads((MODELS / f"{name}.json").read_text())
        path = tmp_path / f"{name}.json"
        path.write_text(json.dumps(manifest))
        return path, tmp_path / f"{name}.onnx", manifest

    return make


def _rewrite(path: Path, manifest: dict) -> None:
    path.write_text(json.dumps(manifest))


@pytest.mark.parametrize("name", SHIPPED)
def test_shipped_manifests_verify(name: str) -> None:
    manifest = load_manifest(MODELS / f"{name}.json")
    assert manifest.name == name
    # The dlib-models files keep the wheel's file names (gender-v1.onnx, age-v1.onnx).
    wheel_names = {"gender_dlib_v1": "gender-v1.onnx", "age_dlib_v1": "age-v1.onnx"}
    assert manifest.model_path == MODELS / wheel_names.get(name, f"{name}.onnx")
    assert manifest.sha256 == sha256_file(manifest.model_path)


def test_classifier_manifests_carry_labels() -> None:
    emotion = parse_manifest(MODELS / "emotion_mini_xception.json")
    gender = parse_manifest(MODELS / "gender_mini_xception.json")
    assert emotion.outputs[0].labels == (
        "angry",
        "disgust",
        "fear",
        "happy",
        "sad",
        "surprise",
        "neutral",
    )
    assert gender.outputs[0].labels == ("woman", "man")
    assert emotion.input.shape == ("N", 1, 64, 64)


def test_load_model_returns_the_verified_session() -> None:
    manifest, session = load_model(MODELS / "emotion_mini_xception.json", intra_op_threads=1)
    assert isinstance(session, ort.InferenceSession)
    assert session.get_inputs()[0].name == manifest.input.name
    assert session.get_providers() == ["CPUExecutionProvider"]


def test_opening_a_model_gives_opencv_the_models_thread_budget() -> None:
    """OpenCV's pool follows intra_op_threads: 1 runs its functions on the calling thread."""
    import cv2

    before = cv2.getNumThreads()
    try:
        load_model(MODELS / "emotion_mini_xception.json", intra_op_threads=2)
        assert cv2.getNumThreads() == 2
        load_model(MODELS / "emotion_mini_xception.json", intra_op_threads=1)
        assert cv2.getNumThreads() == 1
    finally:
        cv2.setNumThreads(before)


def test_missing_manifest_names_the_file(tmp_path: Path) -> None:
    missing = tmp_path / "nope.json"
    with pytest.raises(ModelError, match=r"nope\.json.*not found"):
        load_manifest(missing)


def test_missing_model_file_names_the_file(model_copy) -> None:
    path, onnx, _ = model_copy("gender_mini_xception")
    onnx.unlink()
    with pytest.raises(ModelError) as info:
        load_manifest(path)
    assert str(onnx) in str(info.value)
    assert "not found" in str(info.value)


def test_sha256_mismatch_names_the_file(model_copy) -> None:
    path, onnx, _ = model_copy("emotion_mini_xception")
    data = bytearray(onnx.read_bytes())
    data[-1] ^= 0xFF
    onnx.write_bytes(bytes(data))
    with pytest.raises(ModelError) as info:
        load_manifest(path)
    message = str(info.value)
    assert str(onnx) in message and "sha256" in message


def test_corrupt_model_with_matching_hash_names_the_file(model_copy) -> None:
    """A truncated file whose manifest hash was updated still fails, in onnxruntime."""
    path, onnx, manifest = model_copy("emotion_mini_xception")
    onnx.write_bytes(onnx.read_bytes()[:1000])
    manifest["sha256"] = sha256_file(onnx)
    _rewrite(path, manifest)
    with pytest.raises(ModelError) as info:
        load_manifest(path)
    assert str(onnx) in str(info.value)
    assert "onnxruntime cannot load" in str(info.value)


def test_sha256_check_can_be_skipped(model_copy) -> None:
    path, _, manifest = model_copy("gender_mini_xception")
    manifest["sha256"] = "0" * 64
    _rewrite(path, manifest)
    with pytest.raises(ModelError, match="sha256"):
        load_manifest(path)
    assert load_manifest(path, verify_sha256=False).name == "gender_mini_xception"


@pytest.mark.parametrize(
    ("edit", "expected"),
    [
        (lambda m: m["input"].update(name="pixels"), "input is named 'input' in the model"),
        (lambda m: m["input"].update(shape=["N", 1, 48, 48]), "dim 2 is 64 in the model"),
        (lambda m: m["input"].update(shape=["N", 1, 64]), "only 4-D NCHW"),
        (lambda m: m["outputs"][0].update(shape=["N", 7, 1]), "rank 2 in the model"),
        (lambda m: m["outputs"][0].update(name="probs"), "outputs are"),
        (lambda m: m["outputs"][0].update(shape=["N", 6]), "dim 1 is 7 in the model"),
        (lambda m: m["outputs"][0].update(labels=["a", "b"]), "2 labels"),
        (lambda m: m["input"].update(dtype="uint8"), "input type"),
        (lambda m: m.pop("sha256"), "missing key 'sha256'"),
        (lambda m: m.update(task="pose"), "task 'pose'"),
    ],
)
def test_manifest_mismatch_is_reported(model_copy, edit, expected: str) -> None:
    path, _, manifest = model_copy("emotion_mini_xception")
    edit(manifest)
    _rewrite(path, manifest)
    with pytest.raises(ModelError, match=expected) as info:
        load_manifest(path)
    assert "emotion_mini_xception" in str(info.value)


def test_invalid_json_is_reported(tmp_path: Path) -> None:
    path = tmp_path / "broken.json"
    path.write_text("{not json")
    with pytest.raises(ModelError, match=r"broken\.json.*not valid JSON"):
        load_manifest(path)


def test_dynamic_manifest_dim_on_fixed_model_is_rejected(model_copy) -> None:
    path, _, manifest = model_copy("gender_mini_xception")
    manifest["input"]["shape"] = ["N", 1, "H", "W"]
    _rewrite(path, manifest)
    with pytest.raises(ModelError, match="fixed to 64 in the model but dynamic"):
        load_manifest(path)


def test_create_session_rejects_bad_thread_count() -> None:
    with pytest.raises(ValueError, match="intra_op_threads"):
        create_session(MODELS / "emotion_mini_xception.onnx", intra_op_threads=-1)


def test_models_dir_defaults_to_source_tree(monkeypatch) -> None:
    monkeypatch.delenv(paths.MODELS_DIR_ENV, raising=False)
    assert paths.models_dir() == MODELS


def test_models_dir_env_override(monkeypatch, tmp_path: Path) -> None:
    monkeypatch.setenv(paths.MODELS_DIR_ENV, str(tmp_path))
    assert paths.models_dir() == tmp_path
    assert (
        paths.model_manifest_path("emotion_mini_xception")
        == tmp_path / "emotion_mini_xception.json"
    )


def test_models_dir_env_must_exist(monkeypatch, tmp_path: Path) -> None:
    monkeypatch.setenv(paths.MODELS_DIR_ENV, str(tmp_path / "missing"))
    with pytest.raises(ModelError, match=r"missing.*not a directory"):
        paths.models_dir()


def test_models_dir_error_lists_what_was_tried(monkeypatch, tmp_path: Path) -> None:
    monkeypatch.delenv(paths.MODELS_DIR_ENV, raising=False)
    monkeypatch.setattr(paths, "_SOURCE_TREE_MODELS", tmp_path / "models")
    monkeypatch.setattr(paths, "PACKAGE_NAME", "face_affect_ros_package_that_does_not_exist")
    with pytest.raises(ModelError, match="no models directory found; tried"):
        paths.models_dir()


def test_model_manifest_path_keeps_explicit_paths(tmp_path: Path) -> None:
    explicit = tmp_path / "x.json"
    assert paths.model_manifest_path(explicit) == explicit
    assert paths.model_manifest_path("yunet_n_dynamic.json") == MODELS / "yunet_n_dynamic.json"


def test_package_files_are_found_in_one_order(monkeypatch, tmp_path: Path) -> None:
    # One lookup for models, config files and message definitions: source tree first, or
    # installed first for files that must match what the nodes were built from.
    monkeypatch.delenv("AMENT_PREFIX_PATH", raising=False)
    monkeypatch.setattr(paths.sys, "prefix", str(tmp_path / "venv"))
    source = tmp_path / "src" / "config"
    installed = tmp_path / "venv" / "share" / "pkg" / "config"
    for d in (source, installed):
        d.mkdir(parents=True)
        (d / "x.yaml").write_text("a: 1\n")

    def has(d: Path) -> bool:
        return (d / "x.yaml").is_file()

    assert paths.find_package_path("pkg", "config", source, has)[0] == source
    assert paths.find_package_path("pkg", "config", source, has, installed_first=True)[0] == (
        installed
    )
    (source / "x.yaml").unlink()
    assert paths.find_package_path("pkg", "config", source, has)[0] == installed
    (installed / "x.yaml").unlink()
    found, tried = paths.find_package_path("pkg", "config", source, has)
    assert found is None and str(source) in tried and str(installed) in tried
    assert any("AMENT_PREFIX_PATH unset" in t for t in tried)
