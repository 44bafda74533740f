"""Translation between ROS messages and the core's arrays and dataclasses.

Nothing here computes on pixels: decoding rules live in core.image_io, geometry in the core. This
module only moves fields, so the nodes and the bag tool publish byte-identical messages.
"""

from __future__ import annotations

import math
from collections.abc import Sequence

import numpy as np
from sensor_msgs.msg import CompressedImage, Image, RegionOfInterest
from std_msgs.msg import Header

from face_affect_msgs.msg import FaceAffect, FaceAffectArray, FaceDetection, FaceDetectionArray
from face_affect_ros.core import image_io
from face_affect_ros.core.detector import Detection
from face_affect_ros.core.pipeline import FrameResult


def stamp_ns(header: Header) -> int:
    """The header stamp as integer nanoseconds (the key pairing images and detections)."""
    return header.stamp.sec * 1_000_000_000 + header.stamp.nanosec


def image_from_msg(msg: Image | CompressedImage, max_pixels: int) -> np.ndarray:
    """BGR or mono array of a raw or compressed image message; ImageDecodeError if unusable."""
    if isinstance(msg, CompressedImage):
        return image_io.decode_compressed(msg.format, msg.data, max_pixels)
    return image_io.decode_raw(msg.encoding, msg.width, msg.height, msg.step, msg.data, max_pixels)


def image_to_msg(header: Header, bgr: np.ndarray) -> Image:
    """A bgr8 sensor_msgs/Image with `header` (debug images, normalised camera frames)."""
    width, height, step, data = image_io.encode_bgr8(bgr)
    msg = Image(header=header, width=width, height=height, encoding="bgr8", step=step)
    msg.data = data
    return msg


def roi_of(box: Sequence[float], width: int, height: int) -> RegionOfInterest:
    """Integer RegionOfInterest covering `box` (x, y, w, h), clamped to a width x height image."""
    x0 = min(max(0, math.floor(box[0])), width)
    y0 = min(max(0, math.floor(box[1])), height)
    x1 = min(max(0, math.ceil(box[0] + box[2])), width)
    y1 = min(max(0, math.ceil(box[1] + box[3])), height)
    return RegionOfInterest(x_offset=x0, y_offset=y0, width=x1 - x0, height=y1 - y0)


def _landmarks(det: Detection) -> list[float]:
    return [float(v) for point in det.landmarks for v in point]


def detections_to_msg(
    header: Header, width: int, height: int, detections: Sequence[Detection]
) -> FaceDetectionArray:
    """FaceDetectionArray of one frame (empty `detections` when no face)."""
    msg = FaceDetectionArray(header=header, image_width=width, image_height=height)
    for det in detections:
        msg.detections.append(
            FaceDetection(
                roi=roi_of(det.box, width, height),
                box=[float(v) for v in det.box],
                confidence=float(det.score),
                landmarks=_landmarks(det),
            )
        )
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


def frame_result_to_msg(header: Header, result: FrameResult) -> FaceAffectArray:
    """FaceAffectArray of one processed frame (empty `faces` when no face was found)."""
    msg = FaceAffectArray(
        header=header,
        image_width=result.width,
        image_height=result.height,
        emotion_labels=list(result.emotion_labels),
        gender_labels=list(result.gender_labels),
    )
    for face in result.faces:
        det = face.detection
        msg.faces.append(
            FaceAffect(
                id=face.track_id,
                roi=roi_of(det.box, result.width, result.height),
                detection_confidence=float(det.score),
                landmarks=_landmarks(det),
                emotion=face.emotion,
                emotion_confidence=float(face.emotion_confidence),
                emotion_scores=[float(p) for p in face.emotion_scores],
                gender=face.gender,
                gender_confidence=float(face.gender_confidence),
                gender_scores=[float(p) for p in face.gender_scores],
                age_years=_or_off(face.age_years),
                age_spread=_or_off(face.age_spread),
                minor_probability=_or_off(face.minor_probability),
            )
        )
    return msg


def _or_off(value: float | None) -> float:
    """A message float for an optional core value: FaceAffect.AGE_OFF means "not estimated"."""
    return FaceAffect.AGE_OFF if value is None else float(value)
