"""core.tracking: stable ids across frames, new ids for new faces, optional EMA smoothing."""

from __future__ import annotations

import numpy as np
import pytest
from face_affect_ros.core.detector import Detection
from face_affect_ros.core.pipeline import FaceResult
from face_affect_ros.core.tracking import FaceTracker, box_iou

LABELS = ("happy", "sad", "other")


def face(x: float, y: float, scores=(0.6, 0.3, 0.1)) -> FaceResult:
    det = Detection(box=(x, y, 50.0, 60.0), score=0.9, landmarks=((0.0, 0.0),) * 5)
    best = int(np.argmax(scores))
    return FaceResult(
        detection=det,
        emotion=LABELS[best],
        emotion_confidence=scores[best],
        emotion_scores=tuple(scores),
        gender="woman",
        gender_confidence=0.9,
        gender_scores=(0.9, 0.1),
    )


def test_iou() -> None:
    assert box_iou((0, 0, 10, 10), (0, 0, 10, 10)) == 1.0
    assert box_iou((0, 0, 10, 10), (20, 20, 5, 5)) == 0.0
    assert box_iou((0, 0, 10, 10), (5, 0, 10, 10)) == pytest.approx(50 / 150)


def test_ids_follow_moving_faces_and_new_faces_get_new_ids() -> None:
    tracker = FaceTracker()
    ids = [f.track_id for f in tracker.update([face(10, 10), face(300, 10)], LABELS)]
    assert ids == ["face_1", "face_2"]
    # Both move a little, listed in the other order: ids follow the boxes, not the order.
    ids = [f.track_id for f in tracker.update([face(305, 12), face(14, 11)], LABELS)]
    assert ids == ["face_2", "face_1"]
    ids = [f.track_id for f in tracker.update([face(16, 12), face(150, 200)], LABELS)]
    assert ids == ["face_1", "face_3"]


def test_track_survives_missed_frames_then_expires() -> None:
    tracker = FaceTracker(max_missed=2)
    assert tracker.update([face(10, 10)], LABELS)[0].track_id == "face_1"
    tracker.update([], LABELS)
    tracker.update([], LABELS)
    assert tracker.update([face(12, 10)], LABELS)[0].track_id == "face_1"
    for _ in range(3):
        tracker.update([], LABELS)
    assert tracker.update([face(12, 10)], LABELS)[0].track_id == "face_2"
    tracker.reset()
    assert tracker.update([face(12, 10)], LABELS)[0].track_id == "face_1"


def test_without_smoothing_scores_are_untouched() -> None:
    tracker = FaceTracker()
    f = face(10, 10)
    out = tracker.update([f], LABELS)[0]
    assert out.emotion_scores == f.emotion_scores and out.emotion == f.emotion


def test_smoothing_is_an_ema_and_relabels() -> None:
    tracker = FaceTracker(smoothing=0.5)
    tracker.update([face(10, 10, (0.6, 0.3, 0.1))], LABELS)
    out = tracker.update([face(10, 10, (0.0, 1.0, 0.0))], LABELS)[0]
    np.testing.assert_allclose(out.emotion_scores, (0.3, 0.65, 0.05))
    assert out.emotion == "sad" and out.emotion_confidence == pytest.approx(0.65)


@pytest.mark.parametrize("kwargs", [{"iou_threshold": 0.0}, {"max_missed": -1}, {"smoothing": 1.0}])
def test_bad_settings_raise(kwargs) -> None:
    with pytest.raises(ValueError):
        FaceTracker(**kwargs)
