"""core/hri.py: our results in REP-155 terms, checked against hri_msgs' own definitions.

The constants are compared with the vendored hri_msgs (third_party/hri_msgs, upstream 2.0.0)
message classes when they are built into the venv, so a mapping can not drift from the message.
"""

from __future__ import annotations

import math

import numpy as np
import pytest
from face_affect_ros.core import hri
from face_affect_ros.core.align import ChipAligner

from face_affect_msgs.msg import FaceAffect


def test_normalized_roi_is_the_box_over_the_image_clipped() -> None:
    assert hri.normalized_roi((64, 48, 128, 96), 640, 480) == pytest.approx((0.1, 0.1, 0.3, 0.3))
    assert hri.normalized_roi((-10, 400, 100, 200), 640, 480) == pytest.approx(
        (0.0, 400 / 480, 90 / 640, 1.0)
    )
    with pytest.raises(ValueError):
        hri.normalized_roi((0, 0, 1, 1), 0, 480)


def test_landmarks_go_to_the_pupils_nose_and_mouth_corners_the_rest_absent() -> None:
    flat = [100, 200, 300, 200, 200, 300, 120, 400, 280, 400]
    points = hri.landmarks70(flat, 640, 480, 0.9)
    assert len(points) == hri.LANDMARK_COUNT == 70
    msgs = pytest.importorskip("hri_msgs.msg")
    fl = msgs.FacialLandmarks
    expected = {
        fl.RIGHT_PUPIL: (100 / 640, 200 / 480),
        fl.LEFT_PUPIL: (300 / 640, 200 / 480),
        fl.NOSE: (200 / 640, 300 / 480),
        fl.MOUTH_OUTER_RIGHT: (120 / 640, 400 / 480),
        fl.MOUTH_OUTER_LEFT: (280 / 640, 400 / 480),
    }
    for index, (x, y, c) in enumerate(points):
        if index in expected:
            assert (x, y) == pytest.approx(expected[index]) and c == pytest.approx(0.9)
        else:
            assert (x, y, c) == (0.0, 0.0, 0.0), index
    assert len(fl().landmarks) == hri.LANDMARK_COUNT


def test_expression_labels_are_the_message_constants() -> None:
    msgs = pytest.importorskip("hri_msgs.msg")
    constants = {
        getattr(msgs.Expression, n) for n in dir(msgs.Expression) if n.isupper() and n.isalpha()
    }
    fer7 = {
        FaceAffect.EMOTION_ANGRY,
        FaceAffect.EMOTION_DISGUST,
        FaceAffect.EMOTION_FEAR,
        FaceAffect.EMOTION_HAPPY,
        FaceAffect.EMOTION_SAD,
        FaceAffect.EMOTION_SURPRISE,
        FaceAffect.EMOTION_NEUTRAL,
    }
    assert set(hri.EXPRESSION_OF_LABEL) == fer7
    assert set(hri.EXPRESSION_OF_LABEL.values()) <= constants
    assert hri.expression_of("surprise") == msgs.Expression.SURPRISED
    assert hri.expression_of("fear") == msgs.Expression.SCARED
    assert hri.expression_of(FaceAffect.EMOTION_OTHER) is None
    assert math.isnan(hri.VALENCE_AROUSAL_UNKNOWN)


def test_gender_and_age_fields() -> None:
    msgs = pytest.importorskip("hri_msgs.msg")
    sb = msgs.SoftBiometrics
    assert hri.gender_code(FaceAffect.GENDER_WOMAN) == sb.FEMALE
    assert hri.gender_code(FaceAffect.GENDER_MAN) == sb.MALE
    assert hri.gender_code(FaceAffect.GENDER_UNKNOWN) == sb.UNDEFINED
    assert hri.age_fields(FaceAffect.AGE_OFF, FaceAffect.AGE_OFF) == (0, 0.0)
    age, conf = hri.age_fields(31.6, 5.0)
    # +-5 years with a 5-year spread: one standard deviation, 68 %.
    assert age == 32 and conf == pytest.approx(0.6827, abs=1e-3)
    assert hri.age_fields(31.6, 20.0)[1] < conf < hri.age_fields(31.6, 1.0)[1]


def test_engagement_levels_are_numbered_as_the_message() -> None:
    msgs = pytest.importorskip("hri_msgs.msg")
    el = msgs.EngagementLevel
    for name in ("UNKNOWN", "DISENGAGED", "ENGAGING", "ENGAGED", "DISENGAGING"):
        assert getattr(FaceAffect, f"ENGAGEMENT_LEVEL_{name}") == getattr(el, name)


def test_cropped_chip_letterboxes_the_box() -> None:
    image = np.zeros((480, 640, 3), np.uint8)
    image[100:300, 200:300] = 255  # a 100 x 200 (w x h) white box
    chip = hri.cropped_chip(image, (200, 100, 100, 200), 128)
    assert chip.shape == (128, 128, 3)
    # Aspect kept: 64 x 128 of white, centred, black bars left and right.
    cols = np.flatnonzero(chip[64, :, 0] > 128)
    assert cols[0] == 32 and cols[-1] == 95
    assert (chip[:, :30] == 0).all() and (chip[:, 98:] == 0).all()
    grey = hri.cropped_chip(image[..., 0], (600, 450, 100, 100), 64)  # clipped, mono
    assert grey.shape == (64, 64, 3)


def test_aligned_chip_is_the_classifiers_aligner() -> None:
    rng = np.random.default_rng(0)
    image = rng.integers(0, 255, (480, 640, 3), dtype=np.uint8)
    flat = [280.0, 200.0, 360.0, 200.0, 320.0, 250.0, 290.0, 290.0, 350.0, 290.0]
    chip = hri.AlignedChips(128).chip(image, flat)
    want = ChipAligner((128, 128)).chip(image, np.reshape(flat, (5, 2)))
    assert chip.shape == (128, 128, 3) and np.array_equal(chip, want)


def test_ids_appear_disappear_and_reuse_is_reported() -> None:
    ids = hri.TrackIds()
    c = ids.update(["face_1", "face_2"])
    assert c.appeared == ("face_1", "face_2") and c.disappeared == () and c.reused == ()
    c = ids.update(["face_2", "face_3"])
    assert c.appeared == ("face_3",) and c.disappeared == ("face_1",) and not c.reused
    assert ids.current == ("face_2", "face_3")
    c = ids.update(["face_1"])  # face_1 came back after it was retired: not unique
    assert c.reused == ("face_1",) and set(c.disappeared) == {"face_2", "face_3"}
    for bad in ("1face", "", "face-1", "face 1"):
        with pytest.raises(ValueError):
            ids.update([bad])
