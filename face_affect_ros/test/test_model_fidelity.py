"""The shipped mini-Xception ONNX files give what the ORIGINAL Keras models give on real faces.

The reference outputs were computed once with the upstream HDF5 files in real TensorFlow/Keras
(face_affect_ros/tools/make_fidelity_fixture.py) and stored in fixtures/keras_reference.npz.
This test needs only NumPy, onnxruntime and the shipped files, and feeds the models exactly as
the runtime does: uint8 pixels * manifest scale + manifest offset.
"""

from __future__ import annotations

import hashlib
import json
from pathlib import Path

import numpy as np
import onnxruntime as ort
import pytest

MODELS_DIR = Path(__file__).resolve().parents[1] / "models"
FIXTURE = Path(__file__).resolve().parent / "fixtures" / "keras_reference.npz"

CLASSIFIERS = [("emotion_mini_xception", "emotion"), ("gender_mini_xception", "gender")]
MIN_TOP1_AGREEMENT = 0.99
MAX_ABS_PROB_DIFF = 1e-3


@pytest.fixture(scope="module")
def reference() -> dict[str, np.ndarray]:
    with np.load(FIXTURE) as data:
        return {key: data[key] for key in data.files}


def _manifest(name: str) -> dict:
    return json.loads((MODELS_DIR / f"{name}.json").read_text(encoding="utf-8"))


def _session(manifest: dict) -> ort.InferenceSession:
    options = ort.SessionOptions()
    options.intra_op_num_threads = 1
    return ort.InferenceSession(
        str(MODELS_DIR / manifest["file"]), options, providers=["CPUExecutionProvider"]
    )


def _model_input(manifest: dict, crops: np.ndarray) -> np.ndarray:
    spec = manifest["input"]
    x = crops.astype(np.float32) * np.float32(spec["scale"]) + np.float32(spec["offset"])
    return x[:, np.newaxis, :, :]


def test_fixture_holds_real_faces(reference: dict[str, np.ndarray]) -> None:
    crops = reference["inputs"]
    assert crops.dtype == np.uint8
    assert crops.ndim == 3 and crops.shape[1:] == (64, 64)
    assert crops.shape[0] >= 100
    assert len(reference["sources"]) == crops.shape[0]
    assert str(reference["tensorflow_version"]) and str(reference["tf_keras_version"])
    for _, task in CLASSIFIERS:
        probs = reference[task]
        assert probs.shape[0] == crops.shape[0]
        np.testing.assert_allclose(probs.sum(axis=1), 1.0, atol=1e-5)


@pytest.mark.parametrize(("name", "task"), CLASSIFIERS)
def test_onnx_matches_keras(name: str, task: str, reference: dict[str, np.ndarray]) -> None:
    manifest = _manifest(name)
    want = reference[task]
    assert str(reference[f"{task}_sha256"]) == manifest["source"]["sha256"], (
        "the fixture was made from a different upstream file than the manifest names"
    )
    got = _session(manifest).run(
        [manifest["outputs"][0]["name"]],
        {manifest["input"]["name"]: _model_input(manifest, reference["inputs"])},
    )[0]
    assert got.shape == want.shape
    assert got.shape[1] == len(manifest["outputs"][0]["labels"])
    agreement = float((got.argmax(axis=1) == want.argmax(axis=1)).mean())
    max_diff = float(np.abs(got - want).max())
    assert agreement >= MIN_TOP1_AGREEMENT, f"{name}: top-1 agreement {agreement:.4f}"
    assert max_diff <= MAX_ABS_PROB_DIFF, f"{name}: max abs probability difference {max_diff:.3g}"
    recorded = manifest.get("fidelity")
    assert recorded is not None, f"{name}: manifest has no fidelity record"
    assert recorded["faces"] == want.shape[0]
    assert recorded["top1_agreement"] == pytest.approx(agreement)
    assert recorded["max_abs_prob_diff"] <= MAX_ABS_PROB_DIFF


@pytest.mark.parametrize(("name", "task"), CLASSIFIERS)
def test_batch_size_does_not_change_results(
    name: str, task: str, reference: dict[str, np.ndarray]
) -> None:
    manifest = _manifest(name)
    session = _session(manifest)
    x = _model_input(manifest, reference["inputs"][:8])
    batched = session.run(None, {"input": x})[0]
    single = np.concatenate([session.run(None, {"input": x[i : i + 1]})[0] for i in range(8)])
    np.testing.assert_allclose(batched, single, atol=1e-6)


@pytest.mark.parametrize("manifest_path", sorted(MODELS_DIR.glob("*.json")), ids=lambda p: p.stem)
def test_manifest_sha256_matches_file(manifest_path: Path) -> None:
    manifest = json.loads(manifest_path.read_text(encoding="utf-8"))
    model = manifest_path.parent / manifest["file"]
    assert hashlib.sha256(model.read_bytes()).hexdigest() == manifest["sha256"]
    assert (manifest_path.parent / manifest["license"]).is_file()


def test_every_shipped_model_has_a_manifest() -> None:
    onnx_files = {p.name for p in MODELS_DIR.glob("*.onnx")}
    named = {json.loads(p.read_text(encoding="utf-8"))["file"] for p in MODELS_DIR.glob("*.json")}
    assert onnx_files == named
