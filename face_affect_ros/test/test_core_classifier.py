"""AffectClassifier with the shipped emotion / gender models on real face crops."""

from __future__ import annotations

from pathlib import Path

import cv2
import numpy as np
import pytest
from face_affect_ros.core.classifier import AffectClassifier
from face_affect_ros.core.manifest import ModelError
from skimage import data

MODELS = Path(__file__).resolve().parents[1] / "models"
EMOTION = MODELS / "emotion_mini_xception.json"
GENDER = MODELS / "gender_mini_xception.json"


@pytest.fixture(scope="module")
def clf() -> AffectClassifier:
    return AffectClassifier(EMOTION, GENDER)


@pytest.fixture(scope="module")
def tta() -> AffectClassifier:
    return AffectClassifier(EMOTION, GENDER, flip_tta=True)


@pytest.fixture(scope="module")
def faces() -> list[np.ndarray]:
    """Ten real face crops of different sizes: lfw patches upscaled, astronaut's face."""
    lfw = (data.lfw_subset()[:100] * 255).round().astype(np.uint8)
    crops = [
        cv2.resize(lfw[i], (40 + 10 * i, 40 + 10 * i), interpolation=cv2.INTER_CUBIC)
        for i in range(9)
    ]
    astro = cv2.cvtColor(data.astronaut(), cv2.COLOR_RGB2GRAY)
    crops.append(np.ascontiguousarray(astro[66:179, 164:288]))  # tight face, happy woman
    return crops


def test_labels_come_from_the_manifests(clf: AffectClassifier) -> None:
    assert clf.emotion_labels == ("angry", "disgust", "fear", "happy", "sad", "surprise", "neutral")
    assert clf.gender_labels == ("woman", "man")
    assert clf.emotion_input == ((64, 64), cv2.INTER_LINEAR)


def test_outputs_are_probabilities(clf: AffectClassifier, faces) -> None:
    emotion, gender = clf.classify(faces, faces)
    assert emotion.shape == (len(faces), 7) and gender.shape == (len(faces), 2)
    assert emotion.dtype == np.float32
    np.testing.assert_allclose(emotion.sum(axis=1), 1.0, atol=1e-5)
    np.testing.assert_allclose(gender.sum(axis=1), 1.0, atol=1e-5)
    assert np.all(emotion >= 0) and np.all(gender >= 0)


def test_astronaut_face_is_happy(clf: AffectClassifier, faces) -> None:
    emotion, _ = clf.classify(faces[-1:], faces[-1:])
    assert clf.emotion_labels[int(emotion[0].argmax())] == "happy"
    assert emotion[0, 3] > 0.9


def test_batched_equals_individual(clf: AffectClassifier, faces) -> None:
    emotion, gender = clf.classify(faces, faces[::-1])
    for i in range(len(faces)):
        e, g = clf.classify([faces[i]], [faces[::-1][i]])
        np.testing.assert_allclose(e[0], emotion[i], atol=1e-5)
        np.testing.assert_allclose(g[0], gender[i], atol=1e-5)


def test_buffers_grow_and_shrink_without_changing_results(faces) -> None:
    fresh = AffectClassifier(EMOTION, GENDER)
    one = fresh.classify(faces[:1], faces[:1])
    many = fresh.classify(faces, faces)  # grows the buffers past their first size
    again = fresh.classify(faces[:1], faces[:1])
    np.testing.assert_allclose(one[0], again[0], atol=1e-6)
    np.testing.assert_allclose(many[0][0], one[0][0], atol=1e-5)


def test_results_are_not_overwritten_by_the_next_call(clf: AffectClassifier, faces) -> None:
    first, _ = clf.classify(faces[:3], faces[:3])
    kept = first.copy()
    clf.classify(faces[3:], faces[3:])
    np.testing.assert_array_equal(first, kept)


def test_model_sized_array_input_equals_list_input(clf: AffectClassifier, faces) -> None:
    resized = np.stack([cv2.resize(f, (64, 64), interpolation=cv2.INTER_LINEAR) for f in faces[:4]])
    from_array = clf.classify(resized, resized)
    from_list = clf.classify(list(resized), list(resized))
    np.testing.assert_allclose(from_array[0], from_list[0], atol=1e-6)
    # small crops (<= 2x the input) are resized exactly like the manifest says
    from_raw = clf.classify(faces[:4], faces[:4])
    np.testing.assert_allclose(from_array[0], from_raw[0], atol=1e-5)


def test_flip_tta_is_mirror_symmetric(tta: AffectClassifier, faces) -> None:
    mirrored = [np.ascontiguousarray(f[:, ::-1]) for f in faces]
    a = tta.classify(faces, faces)
    b = tta.classify(mirrored, mirrored)
    np.testing.assert_allclose(a[0], b[0], atol=1e-5)
    np.testing.assert_allclose(a[1], b[1], atol=1e-5)


def test_flip_tta_averages_face_and_mirror(
    clf: AffectClassifier, tta: AffectClassifier, faces
) -> None:
    mirrored = [np.ascontiguousarray(f[:, ::-1]) for f in faces]
    plain = clf.classify(faces, faces)
    flipped = clf.classify(mirrored, mirrored)
    both = tta.classify(faces, faces)
    np.testing.assert_allclose(both[0], (plain[0] + flipped[0]) / 2, atol=1e-5)
    np.testing.assert_allclose(both[1], (plain[1] + flipped[1]) / 2, atol=1e-5)
    assert not np.allclose(plain[0], flipped[0], atol=1e-3)  # the models are not symmetric


def test_antialias_only_changes_large_crops(clf: AffectClassifier) -> None:
    plain = AffectClassifier(EMOTION, GENDER, antialias=False)
    astro = cv2.cvtColor(data.astronaut(), cv2.COLOR_RGB2GRAY)
    small = cv2.resize(astro[40:200, 150:300], (120, 128), interpolation=cv2.INTER_AREA)
    large = cv2.resize(astro[40:200, 150:300], (600, 640), interpolation=cv2.INTER_CUBIC)
    np.testing.assert_allclose(
        clf.classify([small], [small])[1], plain.classify([small], [small])[1], atol=1e-6
    )
    ours = clf.classify([large], [large])[1]
    # two-stage = area-average to 2x the input (128x128), then the manifest's INTER_LINEAR
    shrunk = cv2.resize(large, (128, 128), interpolation=cv2.INTER_AREA)
    np.testing.assert_allclose(ours, plain.classify([shrunk], [shrunk])[1], atol=1e-6)
    assert not np.allclose(ours, plain.classify([large], [large])[1], atol=1e-3)


def test_empty_batch(clf: AffectClassifier) -> None:
    emotion, gender = clf.classify([], [])
    assert emotion.shape == (0, 7) and gender.shape == (0, 2)


@pytest.mark.parametrize(
    ("crops", "message"),
    [
        ([np.zeros((10, 10), np.float32)], "crop 0 must be a non-empty uint8"),
        ([np.zeros((10, 10, 3), np.uint8)], "HxW gray"),
        ([np.zeros((0, 10), np.uint8)], "non-empty"),
        (np.zeros((2, 64, 64), np.int16), "crops batch"),
    ],
)
def test_bad_crops_raise_value_error(clf: AffectClassifier, crops, message: str) -> None:
    with pytest.raises(ValueError, match=message):
        clf.classify(crops, crops)


def test_crop_counts_must_match(clf: AffectClassifier, faces) -> None:
    with pytest.raises(ValueError, match="2 emotion crops but 1 gender"):
        clf.classify(faces[:2], faces[:1])


def test_swapped_manifests_are_rejected() -> None:
    with pytest.raises(ModelError, match="expected 'emotion'"):
        AffectClassifier(GENDER, EMOTION)
    with pytest.raises(ModelError, match=r"yunet_n_dynamic\.json: task is 'face_detection'"):
        AffectClassifier(EMOTION, MODELS / "yunet_n_dynamic.json")
