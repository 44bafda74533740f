"""Field values of the face_affect_msgs messages for a result, independent of any ROS library.

Why here: the nodes publish these messages with rclpy, the offline bag tool writes them with
rosbags (so ``face-affect-bag process`` runs where rclpy is not installed). Both build them from
the values computed here, once: roi clamping, landmark flattening and score order cannot drift
apart. The callers only pour the values into their library's message classes.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from face_affect_ros.core.detector import Detection
from face_affect_ros.core.results import FaceResult, FrameResult, clamped_roi

#: face_affect_msgs/FaceAffect.AGE_OFF: the age fields' value when age estimation is off (not
#: NaN, so that equal messages compare equal).
AGE_OFF = -1.0


def age_to_msg(value: float | None) -> float:
    """A FaceAffect age field for an optional core value (None -> AGE_OFF)."""
    return AGE_OFF if value is None else float(value)


def age_from_msg(value: float) -> float | None:
    """The core's optional age value of a FaceAffect age field (negative -> None)."""
    return None if value < 0 else float(value)


def landmarks_flat(det: Detection) -> list[float]:
    """The five landmarks as x0, y0, ..., x4, y4 (the messages' float32[10])."""
    return [float(v) for point in det.landmarks for v in point]


def roi_fields(box: Sequence[float], width: int, height: int) -> dict[str, int]:
    """sensor_msgs/RegionOfInterest fields of a box clamped to the image."""
    x, y, w, h = clamped_roi(box, width, height)
    return {"x_offset": x, "y_offset": y, "width": w, "height": h}


def face_affect_fields(face: FaceResult, width: int, height: int) -> dict[str, Any]:
    """face_affect_msgs/FaceAffect fields (``roi`` as a RegionOfInterest field dict)."""
    det = face.detection
    return {
        "id": face.track_id,
        "roi": roi_fields(det.box, width, height),
        "detection_confidence": float(det.score),
        "landmarks": landmarks_flat(det),
        "emotion": face.emotion,
        "emotion_confidence": float(face.emotion_confidence),
        "emotion_scores": [float(p) for p in face.emotion_scores],
        "gender": face.gender,
        "gender_confidence": float(face.gender_confidence),
        "gender_scores": [float(p) for p in face.gender_scores],
        "age_years": age_to_msg(face.age_years),
        "age_spread": age_to_msg(face.age_spread),
        "minor_probability": age_to_msg(face.minor_probability),
    }


def face_affect_array_fields(result: FrameResult) -> dict[str, Any]:
    """face_affect_msgs/FaceAffectArray fields except ``header`` (``faces`` as field dicts)."""
    return {
        "image_width": result.width,
        "image_height": result.height,
        "emotion_labels": list(result.emotion_labels),
        "gender_labels": list(result.gender_labels),
        "faces": [face_affect_fields(f, result.width, result.height) for f in result.faces],
    }


def face_detection_fields(
    det: Detection, width: int, height: int, track_id: str = "", detector_look: bool = True
) -> dict[str, Any]:
    """face_affect_msgs/FaceDetection fields (``roi`` as a RegionOfInterest field dict)."""
    return {
        "id": track_id,
        "detector_look": bool(detector_look),
        "roi": roi_fields(det.box, width, height),
        "box": [float(v) for v in det.box],
        "confidence": float(det.score),
        "landmarks": landmarks_flat(det),
    }
