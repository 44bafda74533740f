"""Translation between ROS messages and the core's arrays and dataclasses (both ways).

Nothing here computes on pixels: decoding rules live in core.image_io, geometry in the core. This
module only moves fields, so the nodes and the bag tool publish byte-identical messages.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from typing import Any

import numpy as np
from geometry_msgs.msg import Point, Pose, Quaternion
from sensor_msgs.msg import CompressedImage, Image, RegionOfInterest
from std_msgs.msg import Header

from face_affect_msgs.msg import FaceAffect, FaceAffectArray, FaceDetection, FaceDetectionArray
from face_affect_ros.core import image_io
from face_affect_ros.core.detector import Detection
from face_affect_ros.core.localise import TrackedFace
from face_affect_ros.core.loop_config import loop_stamp
from face_affect_ros.core.results import FaceResult, FrameResult, StageTimings
from face_affect_ros.schema.messages import (
    age_from_msg,
    face_affect_array_fields,
    face_detection_fields,
    roi_fields,
)


def stamp_ns(header: Header) -> int:
    """The header stamp as integer nanoseconds (the key pairing images and detections)."""
    return header.stamp.sec * 1_000_000_000 + header.stamp.nanosec


def frame_stamp(header: Header, received: float) -> float:
    """The loop's clock for a frame: its header stamp in seconds, else `received`.

    ``loop_stamp`` is the one rule of every runner; `received` (monotonic seconds) keeps the
    clock moving for a driver that does not stamp its frames.
    """
    stamp = loop_stamp(header.stamp.sec, header.stamp.nanosec)
    return stamp if stamp > 0 else received


def image_from_msg(
    msg: Image | CompressedImage, max_pixels: int, warnings: list[str] | None = None
) -> np.ndarray:
    """BGR or mono array of a raw or compressed image message; ImageDecodeError if unusable.

    `warnings` collects what a compressed frame's decoder said about a frame it kept.
    """
    if isinstance(msg, CompressedImage):
        return image_io.decode_compressed(msg.format, msg.data, max_pixels, warnings)
    return image_io.decode_raw(msg.encoding, msg.width, msg.height, msg.step, msg.data, max_pixels)


def image_to_msg(header: Header, image: np.ndarray) -> Image:
    """A bgr8 (HxWx3) or mono8 (HxW) sensor_msgs/Image with `header`.

    For debug images, normalised camera frames and the anonymised stream (as its input came).
    """
    if image.ndim == 2:
        grey = np.ascontiguousarray(image, dtype=np.uint8)
        height, width = grey.shape
        msg = Image(header=header, width=width, height=height, encoding="mono8", step=width)
        msg.data = grey.tobytes()
        return msg
    width, height, step, data = image_io.encode_bgr8(image)
    msg = Image(header=header, width=width, height=height, encoding="bgr8", step=step)
    msg.data = data
    return msg


def roi_of(box: Sequence[float], width: int, height: int) -> RegionOfInterest:
    """Integer RegionOfInterest covering `box` (x, y, w, h), clamped to a width x height image."""
    return RegionOfInterest(**roi_fields(box, width, height))


#: FaceAffect / FaceDetection fields of the 3D block (schema.messages.face_pose_fields).
POSE_FIELDS = (
    "pose_source",
    "pose_valid",
    "pose_status",
    "head_pose",
    "distance",
    "engagement",
    "engagement_level",
)


def pose_msg(fields: Mapping[str, Any]) -> Pose:
    """geometry_msgs/Pose of a ``head_pose`` field dict."""
    return Pose(
        position=Point(**fields["position"]), orientation=Quaternion(**fields["orientation"])
    )


def pose_fields_of(msg: Any) -> dict[str, Any]:
    """The 3D fields of a FaceDetection (or FaceAffect) message, to copy into another."""
    return {name: getattr(msg, name) for name in POSE_FIELDS}


def _with_pose(fields: dict[str, Any]) -> dict[str, Any]:
    if isinstance(fields["head_pose"], Mapping):
        fields["head_pose"] = pose_msg(fields["head_pose"])
    return fields


def detections_to_msg(
    header: Header,
    width: int,
    height: int,
    detections: Iterable[Detection | TrackedFace],
    poses: Mapping[str, Mapping[str, Any]] | None = None,
) -> FaceDetectionArray:
    """FaceDetectionArray of one frame (empty `detections` when no face).

    Tracked faces carry their track id, whether the detector found them in this frame and
    their 3D fields from `poses` (by track id); bare detections (tracking off) an empty id.
    """
    poses = poses or {}
    msg = FaceDetectionArray(header=header, image_width=width, image_height=height)
    for item in detections:
        if isinstance(item, TrackedFace):
            fields = face_detection_fields(
                item.detection,
                width,
                height,
                item.track_id,
                item.looked,
                poses.get(item.track_id),
            )
        else:
            fields = face_detection_fields(item, width, height)
        fields = _with_pose(fields)
        fields["roi"] = RegionOfInterest(**fields["roi"])
        msg.detections.append(FaceDetection(**fields))
    return msg


def detections_from_msg(msg: FaceDetectionArray) -> list[Detection]:
    """The core's detections back from a FaceDetectionArray (split layout's classifier)."""
    out = []
    for d in msg.detections:
        pts = np.asarray(d.landmarks, dtype=np.float64).reshape(5, 2)
        out.append(
            Detection(
                box=tuple(float(v) for v in d.box),
                score=float(d.confidence),
                landmarks=tuple((float(x), float(y)) for x, y in pts),
            )
        )
    return out


def tracked_faces_from_msg(msg: FaceDetectionArray) -> list[TrackedFace]:
    """The tracked faces of a FaceDetectionArray (ids may be empty: tracking off upstream)."""
    return [
        TrackedFace(d.id, det, bool(d.detector_look))
        for d, det in zip(msg.detections, detections_from_msg(msg), strict=True)
    ]


def frame_result_to_msg(
    header: Header, result: FrameResult, poses: Mapping[str, Mapping[str, Any]] | None = None
) -> FaceAffectArray:
    """FaceAffectArray of one processed frame (empty `faces` when no face was found).

    The values come from :func:`face_affect_ros.schema.messages.face_affect_array_fields`, as
    in the bag tool's rosbags messages; `poses` holds each face's 3D fields by track id (as
    dicts, or as a FaceDetection's fields when the split layout's classifier copies them).
    """
    fields = face_affect_array_fields(result, poses)
    faces = []
    for face in fields.pop("faces"):
        face = _with_pose(face)
        face["roi"] = RegionOfInterest(**face["roi"])
        faces.append(FaceAffect(**face))
    return FaceAffectArray(header=header, faces=faces, **fields)


def frame_result_from_msg(msg: FaceAffectArray) -> FrameResult:
    """A core FrameResult back from a FaceAffectArray (the demo draws and records it).

    The message carries the clamped integer ``roi``, not the detector's sub-pixel box, so the
    result's box is the published one; timings are not carried (zeros).
    """
    faces = []
    for f in msg.faces:
        lm = [float(v) for v in f.landmarks]
        det = Detection(
            box=(
                float(f.roi.x_offset),
                float(f.roi.y_offset),
                float(f.roi.width),
                float(f.roi.height),
            ),
            score=float(f.detection_confidence),
            landmarks=tuple((lm[2 * i], lm[2 * i + 1]) for i in range(len(lm) // 2)),
        )
        faces.append(
            FaceResult(
                detection=det,
                emotion=f.emotion,
                emotion_confidence=float(f.emotion_confidence),
                emotion_scores=tuple(float(p) for p in f.emotion_scores),
                gender=f.gender,
                gender_confidence=float(f.gender_confidence),
                gender_scores=tuple(float(p) for p in f.gender_scores),
                track_id=f.id,
                age_years=age_from_msg(f.age_years),
                age_spread=age_from_msg(f.age_spread),
                minor_probability=age_from_msg(f.minor_probability),
            )
        )
    return FrameResult(
        width=int(msg.image_width),
        height=int(msg.image_height),
        emotion_labels=tuple(msg.emotion_labels),
        faces=tuple(faces),
        timings=StageTimings(0.0, 0.0, 0.0, 0.0),
        gender_labels=tuple(msg.gender_labels),
    )
