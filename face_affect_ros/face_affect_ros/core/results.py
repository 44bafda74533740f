"""The pipeline's frozen results: what one frame and each of its faces produced.

A module of its own because every layer reads them (the stages build them, nodes turn them into
messages, :mod:`face_affect_ros.schema.results` into JSON) and none of those should need the
stages' onnxruntime imports to do so.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass

from face_affect_ros.core.detector import Detection

__all__ = ["Detection", "FaceResult", "FrameResult", "StageTimings", "clamped_roi"]


@dataclass(frozen=True)
class FaceResult:
    """Everything known about one face.

    ``emotion_scores`` is ordered like :attr:`FrameResult.emotion_labels`, ``gender_scores``
    like :attr:`FrameResult.gender_labels`. ``gender`` is ``"unknown"`` when the top gender
    probability (``gender_confidence``) is below the configured threshold.
    """

    detection: Detection
    emotion: str
    emotion_confidence: float
    emotion_scores: tuple[float, ...]
    gender: str
    gender_confidence: float
    gender_scores: tuple[float, ...]
    #: Stable id of the face across frames (``face_<n>``); empty when tracking is off.
    track_id: str = ""
    #: Apparent age: expected value in years of the age model's class probabilities; None
    #: when age estimation is off (PipelineConfig.age).
    age_years: float | None = None
    #: Standard deviation (years) of that distribution: how unsure the estimate is.
    age_spread: float | None = None
    #: Probability that the apparent age is below 18 (core.evidence.MINOR_AGE).
    minor_probability: float | None = None
    #: The age model's class probabilities (classes: FrameResult.age_values); () when off.
    age_scores: tuple[float, ...] = ()
    #: False if the perception loop followed the face by template matching in this frame
    #: instead of finding it with the detector (see core/localise.py).
    detector_look: bool = True


@dataclass(frozen=True)
class StageTimings:
    """Wall-clock milliseconds per stage of one :meth:`FaceAffectPipeline.process` call."""

    detect_ms: float
    crop_ms: float  # gray conversion + per-face crops
    classify_ms: float  # resize into model buffers + both model runs
    total_ms: float


@dataclass(frozen=True)
class FrameResult:
    """All faces of one frame, in original-image pixels, highest detector score first."""

    width: int
    height: int
    emotion_labels: tuple[str, ...]
    faces: tuple[FaceResult, ...]
    timings: StageTimings
    gender_labels: tuple[str, ...]
    #: Age in years of each age class (order of FaceResult.age_scores); () when age is off.
    age_values: tuple[float, ...] = ()


def clamped_roi(box: Sequence[float], width: int, height: int) -> tuple[int, int, int, int]:
    """Integer (x, y, w, h) covering `box` (x, y, w, h floats), clamped to a width x height image.

    The published ``roi`` of a face: the one rule shared by the messages and the JSON records.
    """
    x0 = min(max(0, math.floor(box[0])), width)
    y0 = min(max(0, math.floor(box[1])), height)
    x1 = min(max(0, math.ceil(box[0] + box[2])), width)
    y1 = min(max(0, math.ceil(box[1] + box[3])), height)
    return x0, y0, x1 - x0, y1 - y0
