"""Field values of the face_affect_msgs messages for a result, independent of any ROS library.

Why here: the nodes publish these messages with rclpy, the offline bag tool writes them with
rosbags (so ``face-affect-bag process`` runs where rclpy is not installed). Both build them from
the values computed here, once: roi clamping, landmark flattening and score order cannot drift
apart. The callers only pour the values into their library's message classes.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

from face_affect_ros.core.detector import Detection
from face_affect_ros.core.engagement import EngagementLevel
from face_affect_ros.core.head_pose import SOURCE_DEPTH, SOURCE_LANDMARKS
from face_affect_ros.core.people import Person
from face_affect_ros.core.rep155 import Transform
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


def face_affect_fields(
    face: FaceResult, width: int, height: int, pose: Mapping[str, Any] | None = None
) -> dict[str, Any]:
    """face_affect_msgs/FaceAffect fields (``roi`` as a RegionOfInterest field dict).

    `pose`: the face's 3D fields (:func:`face_pose_fields`); None: not localised in 3D.
    """
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
        **(dict(pose) if pose is not None else face_pose_fields(None)),
    }


def face_affect_array_fields(
    result: FrameResult, poses: Mapping[str, Mapping[str, Any]] | None = None
) -> dict[str, Any]:
    """face_affect_msgs/FaceAffectArray fields except ``header`` (``faces`` as field dicts).

    `poses`: each face's 3D fields by track id (faces without an entry: not localised).
    """
    poses = poses or {}
    w, h = result.width, result.height
    return {
        "image_width": w,
        "image_height": h,
        "emotion_labels": list(result.emotion_labels),
        "gender_labels": list(result.gender_labels),
        "faces": [face_affect_fields(f, w, h, poses.get(f.track_id)) for f in result.faces],
    }


def face_detection_fields(
    det: Detection,
    width: int,
    height: int,
    track_id: str = "",
    detector_look: bool = True,
    pose: Mapping[str, Any] | None = None,
) -> dict[str, Any]:
    """face_affect_msgs/FaceDetection fields (``roi`` as a RegionOfInterest field dict).

    `pose`: the face's 3D fields (:func:`face_pose_fields`); None: not localised in 3D.
    """
    return {
        **(dict(pose) if pose is not None else face_pose_fields(None)),
        "id": track_id,
        "detector_look": bool(detector_look),
        "roi": roi_fields(det.box, width, height),
        "box": [float(v) for v in det.box],
        "confidence": float(det.score),
        "landmarks": landmarks_flat(det),
    }


# ----------------------------------------------------------------------------- 3D (issue 18)
#: face_affect_msgs/FaceAffect pose_source constants.
POSE_SOURCE_NONE = 0
POSE_SOURCE_LANDMARKS = 1
POSE_SOURCE_DEPTH = 2
_POSE_SOURCES = {SOURCE_LANDMARKS: POSE_SOURCE_LANDMARKS, SOURCE_DEPTH: POSE_SOURCE_DEPTH}
#: FaceAffect.DISTANCE_INVALID / ENGAGEMENT_INVALID: the fields' value when pose_valid is false.
DISTANCE_INVALID = -1.0
ENGAGEMENT_INVALID = -1.0
#: pose_status of faces for which no 3D estimate was attempted (e.g. the bag tool, which reads no
#: camera_info).
NOT_LOCALISED = "3D localisation not run"

_IDENTITY_POSE = {
    "position": {"x": 0.0, "y": 0.0, "z": 0.0},
    "orientation": {"x": 0.0, "y": 0.0, "z": 0.0, "w": 1.0},
}


def face_pose_fields(person: Person | None, status: str = NOT_LOCALISED) -> dict[str, Any]:
    """FaceAffect's pose and engagement fields of one face's :class:`Person` result.

    ``head_pose`` is a geometry_msgs/Pose field dict (``position`` {x, y, z}, ``orientation``
    {x, y, z, w}); the caller builds its library's Pose from it. `person` None (no 3D estimate
    attempted for this face) gives the invalid values with `status` as ``pose_status``.
    """
    if person is None or not person.valid:
        return {
            "pose_source": POSE_SOURCE_NONE,
            "pose_valid": False,
            "pose_status": status if person is None else person.reason,
            "head_pose": {k: dict(v) for k, v in _IDENTITY_POSE.items()},
            "distance": DISTANCE_INVALID,
            "engagement": ENGAGEMENT_INVALID,
            "engagement_level": int(
                EngagementLevel.UNKNOWN if person is None else person.engagement_level
            ),
        }
    face = person.face
    if face is None:
        raise ValueError(f"valid Person {person.track_id!r} has no face transform")
    px, py, pz = face.translation
    qx, qy, qz, qw = face.rotation
    return {
        "pose_source": _POSE_SOURCES[person.source],
        "pose_valid": True,
        "pose_status": person.pose.depth_note,
        "head_pose": {
            "position": {"x": px, "y": py, "z": pz},
            "orientation": {"x": qx, "y": qy, "z": qz, "w": qw},
        },
        "distance": float(person.distance),
        "engagement": float(person.engagement),
        "engagement_level": int(person.engagement_level),
    }


def transform_fields(transform: Transform) -> dict[str, Any]:
    """geometry_msgs/TransformStamped fields of a REP-155 transform, except ``header.stamp``.

    The caller sets the stamp to the image's (REP-155: face frames are stamped with the image
    they were seen in) and builds its library's message from the nested dicts.
    """
    tx, ty, tz = transform.translation
    qx, qy, qz, qw = transform.rotation
    return {
        "header": {"frame_id": transform.parent},
        "child_frame_id": transform.child,
        "transform": {
            "translation": {"x": tx, "y": ty, "z": tz},
            "rotation": {"x": qx, "y": qy, "z": qz, "w": qw},
        },
    }
