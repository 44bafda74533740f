"""Emotion label sets derived from the 7 FER-2013 classes, and gender abstention.

The emotion model always predicts the 7 FER-2013 classes. Applications often want fewer: a
robot reacting to people rarely needs to tell disgust from anger. Every coarser set here is a
*merge* of the 7 classes: each fine class belongs to exactly one coarse class and its
probability is added there. We merge rather than drop-and-renormalise because:

* probabilities stay calibrated: P(coarse) is exactly the model's probability of the union
  of its fine classes, so the reported confidence means the same thing in every set;
* no evidence is thrown away: with renormalisation a clearly sad face (p_sad = 0.8) would have
  its remaining 0.2 blown up into a confident but arbitrary angry / neutral / ... answer;
* merging removes, by construction, confusions inside a merged group; the one confusion
  reported for these models that a merge can absorb is angry with disgust (PROVENANCE.md).

Sets:

``fer7``
    angry, disgust, fear, happy, sad, surprise, neutral (the model's own classes).
``iot4``
    neutral, angry, surprise, happy: the 4 classes of Mikhaylevskiy et al. Merge rule:
    angry += disgust (both lower the brows and tighten the lips; the model confuses them, and
    disgust is FER-2013's rarest class, about 550 images); surprise += fear (both raise the
    brows and widen the eyes, action units 1+2+5); neutral += sad (the remaining low-arousal
    class). These are design choices, not measured: no labelled emotion data is available
    offline to compare merge against renormalise.
``hierarchical3``
    happy, sad, other: other is the sum of the remaining five classes.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np

# Emotion label strings (FER-2013 order, as in the upstream model's output).
ANGRY = "angry"
DISGUST = "disgust"
FEAR = "fear"
HAPPY = "happy"
SAD = "sad"
SURPRISE = "surprise"
NEUTRAL = "neutral"
OTHER = "other"

# Gender label strings.
WOMAN = "woman"
MAN = "man"
#: Reported instead of a gender when the model's confidence is below the abstention threshold.
UNKNOWN = "unknown"

FER7: tuple[str, ...] = (ANGRY, DISGUST, FEAR, HAPPY, SAD, SURPRISE, NEUTRAL)
IOT4: tuple[str, ...] = (NEUTRAL, ANGRY, SURPRISE, HAPPY)
HIERARCHICAL3: tuple[str, ...] = (HAPPY, SAD, OTHER)

#: Which coarse class each FER-2013 class is added to, per label set.
_MERGES: dict[str, dict[str, str]] = {
    "fer7": {c: c for c in FER7},
    "iot4": {
        ANGRY: ANGRY,
        DISGUST: ANGRY,
        FEAR: SURPRISE,
        HAPPY: HAPPY,
        SAD: NEUTRAL,
        SURPRISE: SURPRISE,
        NEUTRAL: NEUTRAL,
    },
    "hierarchical3": {
        ANGRY: OTHER,
        DISGUST: OTHER,
        FEAR: OTHER,
        HAPPY: HAPPY,
        SAD: SAD,
        SURPRISE: OTHER,
        NEUTRAL: OTHER,
    },
}

#: Label set name -> its labels, in output order.
LABEL_SETS: dict[str, tuple[str, ...]] = {
    "fer7": FER7,
    "iot4": IOT4,
    "hierarchical3": HIERARCHICAL3,
}

#: Default minimum gender probability below which the gender is reported as ``unknown``.
#: 0.7 keeps the answer when the model is clearly on one side; on a two-class softmax anything
#: between 0.5 and 0.7 is close to a coin toss and is better not announced.
DEFAULT_GENDER_MIN_CONFIDENCE = 0.7


def merge_matrix(label_set: str, source_labels: Sequence[str]) -> np.ndarray:
    """Matrix M (len(source_labels) x len(set)) with ``coarse = fine @ M``.

    Args:
        label_set: a key of :data:`LABEL_SETS`.
        source_labels: the emotion model's output labels (from its manifest); they must be the
            7 FER-2013 classes in any order, matched by name so the manifest's order rules.

    Raises:
        ValueError: unknown label set, or source labels that are not the FER-2013 classes.
    """
    if label_set not in LABEL_SETS:
        raise ValueError(
            f"unknown emotion label set {label_set!r}, expected one of {sorted(LABEL_SETS)}"
        )
    if sorted(source_labels) != sorted(FER7):
        raise ValueError(
            f"emotion model labels {list(source_labels)} are not the FER-2013 classes {list(FER7)}"
        )
    targets = LABEL_SETS[label_set]
    merge = _MERGES[label_set]
    matrix = np.zeros((len(source_labels), len(targets)), dtype=np.float32)
    for i, label in enumerate(source_labels):
        matrix[i, targets.index(merge[label])] = 1.0
    return matrix


def derive_emotions(
    probs: np.ndarray, label_set: str, source_labels: Sequence[str] = FER7
) -> tuple[tuple[str, ...], np.ndarray]:
    """Map FER-2013 probabilities ([7] or [N, 7]) to ``label_set``.

    Returns:
        (labels of the set, probabilities of shape [..., len(labels)]); each row still sums
        to the input row's sum (1 for softmax outputs).
    """
    probs = np.asarray(probs, dtype=np.float32)
    if probs.shape[-1] != len(source_labels):
        raise ValueError(
            f"expected {len(source_labels)} probabilities per face, got shape {probs.shape}"
        )
    return LABEL_SETS[label_set], probs @ merge_matrix(label_set, source_labels)


def decide_gender(
    probs: Sequence[float] | np.ndarray,
    labels: Sequence[str],
    min_confidence: float = DEFAULT_GENDER_MIN_CONFIDENCE,
) -> tuple[str, float]:
    """Return the most likely gender, or :data:`UNKNOWN` below ``min_confidence``.

    Returns:
        (label, confidence); the confidence is the top probability even when abstaining, so a
        consumer can see how close the call was.
    """
    probs = np.asarray(probs, dtype=np.float32)
    if probs.ndim != 1 or probs.shape[0] != len(labels):
        raise ValueError(f"expected {len(labels)} gender probabilities, got shape {probs.shape}")
    best = int(np.argmax(probs))
    confidence = float(probs[best])
    # Compare in float32 so that a probability equal to the threshold counts as confident.
    if probs[best] < np.float32(min_confidence):
        return UNKNOWN, confidence
    return labels[best], confidence
