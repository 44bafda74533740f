"""Label sets derived from the 7 FER-2013 classes, and gender abstention."""

from __future__ import annotations

import numpy as np
import pytest
from face_affect_ros.core import labels as lab


@pytest.fixture(scope="module")
def probs() -> np.ndarray:
    return np.random.default_rng(7).dirichlet(np.ones(7), size=500).astype(np.float32)


def test_label_set_contents() -> None:
    assert lab.LABEL_SETS["fer7"] == (
        "angry",
        "disgust",
        "fear",
        "happy",
        "sad",
        "surprise",
        "neutral",
    )
    assert lab.LABEL_SETS["iot4"] == ("neutral", "angry", "surprise", "happy")
    assert lab.LABEL_SETS["hierarchical3"] == ("happy", "sad", "other")


@pytest.mark.parametrize("name", sorted(lab.LABEL_SETS))
def test_every_set_sums_to_one(probs: np.ndarray, name: str) -> None:
    labels, out = lab.derive_emotions(probs, name)
    assert out.shape == (len(probs), len(labels))
    np.testing.assert_allclose(out.sum(axis=1), 1.0, atol=1e-5)
    assert np.all(out >= 0)


def test_fer7_is_identity(probs: np.ndarray) -> None:
    np.testing.assert_allclose(lab.derive_emotions(probs, "fer7")[1], probs, atol=1e-7)


def test_iot4_merges_confusable_classes(probs: np.ndarray) -> None:
    _, out = lab.derive_emotions(probs, "iot4")
    angry, disgust, fear, happy, sad, surprise, neutral = probs.T
    np.testing.assert_allclose(out[:, 0], neutral + sad, atol=1e-6)
    np.testing.assert_allclose(out[:, 1], angry + disgust, atol=1e-6)
    np.testing.assert_allclose(out[:, 2], surprise + fear, atol=1e-6)
    np.testing.assert_allclose(out[:, 3], happy, atol=1e-6)


def test_hierarchical3_other_is_the_rest(probs: np.ndarray) -> None:
    _, out = lab.derive_emotions(probs, "hierarchical3")
    np.testing.assert_allclose(out[:, 0], probs[:, 3], atol=1e-6)
    np.testing.assert_allclose(out[:, 1], probs[:, 4], atol=1e-6)
    np.testing.assert_allclose(out[:, 2], 1 - probs[:, 3] - probs[:, 4], atol=1e-5)


def test_sad_face_stays_confident_under_merge() -> None:
    """Merging keeps a clearly sad face's confidence instead of amplifying the noise."""
    sad = np.array([0.05, 0.0, 0.05, 0.02, 0.8, 0.03, 0.05], np.float32)
    labels, out = lab.derive_emotions(sad, "iot4")
    assert labels[int(out.argmax())] == "neutral"
    assert out.max() == pytest.approx(0.85)


def test_source_labels_are_matched_by_name(probs: np.ndarray) -> None:
    order = [6, 0, 5, 1, 4, 2, 3]
    shuffled_labels = [lab.FER7[i] for i in order]
    a = lab.derive_emotions(probs, "iot4")[1]
    b = lab.derive_emotions(probs[:, order], "iot4", shuffled_labels)[1]
    np.testing.assert_allclose(a, b, atol=1e-6)


def test_single_vector_input() -> None:
    labels, out = lab.derive_emotions(np.eye(7, dtype=np.float32)[3], "hierarchical3")
    assert labels == lab.HIERARCHICAL3 and out.tolist() == [1.0, 0.0, 0.0]


def test_unknown_set_and_wrong_labels_raise() -> None:
    with pytest.raises(ValueError, match="unknown emotion label set 'fer8'"):
        lab.merge_matrix("fer8", lab.FER7)
    with pytest.raises(ValueError, match="not the FER-2013 classes"):
        lab.merge_matrix("iot4", ("a", "b", "c", "d", "e", "f", "g"))
    with pytest.raises(ValueError, match="expected 7 probabilities"):
        lab.derive_emotions(np.ones((2, 6)), "fer7")


@pytest.mark.parametrize(
    ("p", "threshold", "expected"),
    [
        ((0.9, 0.1), 0.7, ("woman", 0.9)),
        ((0.2, 0.8), 0.7, ("man", 0.8)),
        ((0.6, 0.4), 0.7, ("unknown", 0.6)),
        ((0.35, 0.65), 0.7, ("unknown", 0.65)),
        ((0.7, 0.3), 0.7, ("woman", 0.7)),
        ((0.55, 0.45), 0.5, ("woman", 0.55)),
        ((0.99, 0.01), 1.0, ("unknown", 0.99)),
    ],
)
def test_gender_abstains_below_threshold(p, threshold: float, expected) -> None:
    label, confidence = lab.decide_gender(np.array(p, np.float32), ("woman", "man"), threshold)
    assert label == expected[0]
    assert confidence == pytest.approx(expected[1])


def test_gender_default_threshold() -> None:
    assert lab.DEFAULT_GENDER_MIN_CONFIDENCE == 0.7
    assert lab.decide_gender([0.69, 0.31], ("woman", "man"))[0] == lab.UNKNOWN


def test_gender_shape_checked() -> None:
    with pytest.raises(ValueError, match="expected 2 gender probabilities"):
        lab.decide_gender([0.2, 0.3, 0.5], ("woman", "man"))
