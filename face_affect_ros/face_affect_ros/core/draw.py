"""Annotate frames with pipeline results (ROS debug image, CLI ``--out``, bag videos).

Drawing works on a BGR copy so the caller's frame, which may still be in use by the pipeline
or a ROS message, is never modified. Line widths and text size follow the image size so the
annotation stays legible on both 320x240 and 4000x3000 frames.
"""

from __future__ import annotations

import cv2
import numpy as np

from face_affect_ros.core.detector import check_image
from face_affect_ros.core.labels import UNKNOWN
from face_affect_ros.core.pipeline import FrameResult

#: BGR colours of the five landmarks (eyes, nose, mouth corners) in YuNet order.
LANDMARK_COLORS = ((255, 0, 0), (0, 0, 255), (0, 255, 0), (255, 0, 255), (0, 255, 255))
#: Box colours by gender label; anything else (``unknown``) is drawn in grey.
GENDER_COLORS = {"woman": (180, 105, 255), "man": (255, 160, 0)}
UNKNOWN_COLOR = (160, 160, 160)


def _to_bgr(image: np.ndarray) -> np.ndarray:
    image = check_image(image)
    if image.ndim == 2:
        return cv2.cvtColor(image, cv2.COLOR_GRAY2BGR)
    if image.shape[2] == 4:
        return cv2.cvtColor(image, cv2.COLOR_BGRA2BGR)
    return image.copy()


def draw_results(image: np.ndarray, result: FrameResult, landmarks: bool = True) -> np.ndarray:
    """Return a BGR copy of ``image`` with each face's box, landmarks and labels drawn.

    The label reads ``<n>: <emotion> <p>`` (n: the track id face_<n>, when tracked) and, unless
    the gender abstained, ``<gender> <p>``;
    with age estimation on, ``~<years>y`` after it.

    Raises:
        ValueError: the image is not a valid uint8 mono / BGR / BGRA frame.
    """
    canvas = _to_bgr(image)
    height, width = canvas.shape[:2]
    thickness = max(1, round(min(width, height) / 320))
    font_scale = max(0.35, min(width, height) / 900)
    for face in result.faces:
        x, y, w, h = face.detection.box
        color = GENDER_COLORS.get(face.gender, UNKNOWN_COLOR)
        p0 = (round(x), round(y))
        p1 = (round(x + w), round(y + h))
        cv2.rectangle(canvas, p0, p1, color, thickness, cv2.LINE_AA)
        if landmarks:
            radius = max(1, thickness + 1)
            for (lx, ly), lc in zip(face.detection.landmarks, LANDMARK_COLORS, strict=True):
                cv2.circle(canvas, (round(lx), round(ly)), radius, lc, -1, cv2.LINE_AA)
        text = f"{face.emotion} {face.emotion_confidence:.2f}"
        if face.track_id:
            text = f"{face.track_id.removeprefix('face_')}: {text}"
        if face.gender != UNKNOWN:
            text += f" {face.gender} {face.gender_confidence:.2f}"
        if face.age_years is not None:
            text += f" ~{face.age_years:.0f}y"
        (tw, th), base = cv2.getTextSize(text, cv2.FONT_HERSHEY_SIMPLEX, font_scale, thickness)
        # Above the box when there is room, otherwise inside its top edge.
        ty = p0[1] - base - 2 if p0[1] - th - base - 2 >= 0 else p0[1] + th + 2
        tx = min(max(p0[0], 0), max(width - tw, 0))
        cv2.rectangle(canvas, (tx, ty - th - 2), (tx + tw, ty + base), color, -1)
        cv2.putText(
            canvas,
            text,
            (tx, ty),
            cv2.FONT_HERSHEY_SIMPLEX,
            font_scale,
            (0, 0, 0),
            thickness,
            cv2.LINE_AA,
        )
    return canvas
