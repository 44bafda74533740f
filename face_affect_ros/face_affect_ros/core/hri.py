"""Our per-track results in REP-155 (ROS4HRI) terms, as plain numbers: no ROS here.

Why here and not in hri_node: the mapping is the contract a ROS4HRI consumer (pyhri/libhri,
hri_person_manager, hri_rviz) relies on, so it is computed and tested without ROS; the node only
pours these numbers into hri_msgs. Sources read to match (the messages of
ros4hri/hri_msgs 2.0.0, vendored in third_party/hri_msgs; the publisher ros4hri/hri_face_detect
2.0.1 ``node_face_detect.py``; ros4hri/hri_emotion_recognizer):

- **roi** (``NormalizedRegionOfInterest2D``): the face box as fractions of the image,
  ``xmin, ymin`` top-left, ``xmax, ymax`` bottom-right, in [0, 1]; ``c`` = the detector's score
  (as hri_face_detect).
- **landmarks** (``FacialLandmarks``): 70 normalised points indexed by the message's constants
  (dlib's 68 plus RIGHT_PUPIL = 68, LEFT_PUPIL = 69). YuNet's five points go where
  hri_face_detect puts YuNet's: eye centres at the pupils, nose tip at NOSE (30), mouth corners
  at MOUTH_OUTER_RIGHT (48) / MOUTH_OUTER_LEFT (54); the person's right eye is the one on the
  image's left. Every other landmark is absent the way hri_face_detect leaves them: x = y = 0
  and confidence ``c`` = 0.
- **expression** (``Expression``): our FER-2013 label mapped to the message's constant
  (:data:`EXPRESSION_OF_LABEL`, as hri_emotion_recognizer maps the same seven classes);
  ``confidence`` = the label's probability. Valence and arousal are not estimated (a 7-class
  classifier gives no calibrated valence / arousal, and averaging circumplex coordinates of the
  classes would invent a scale); the message defines no "unknown" value and 0 would read as
  "neutral", so they are NaN (:data:`VALENCE_AROUSAL_UNKNOWN`).
- **softbiometrics** (``SoftBiometrics``): gender FEMALE / MALE, UNDEFINED when our classifier
  abstains; ``gender_confidence`` = the top gender probability. Age (only with ``age`` on): the
  apparent age in whole years and, as ``age_confidence``, the probability that the apparent age
  is within +-:data:`AGE_TOLERANCE_YEARS` of it under the model's spread (a normal
  distribution); with age off, age = 0 and age_confidence = 0 (no estimate).
- **engagement** (``EngagementLevel``): our level, numbered as the message (FaceAffect's
  ENGAGEMENT_LEVEL_* constants are the message's values).
- **cropped**: the face box scaled (aspect kept) into a black ``size`` x ``size`` square, centred,
  as hri_face_detect's ``publish_cropped_face``; **aligned**: the landmark-aligned chip of
  :mod:`face_affect_ros.core.align` (dlib's face-chip template, what our gender / age models see).

Ids: REP-155 ids must start with a letter and stay unique; our tracks are ``face_<n>`` and
:class:`TrackIds` checks both, and says when an id comes back after it was retired (the
localising node restarts its numbering at face_1 when the stream's time goes backwards, e.g. a
looping bag).
"""

from __future__ import annotations

import math
import re
from collections.abc import Iterable, Sequence
from dataclasses import dataclass

import cv2
import numpy as np

from face_affect_ros.core.align import ChipAligner

#: hri_msgs/FacialLandmarks: number of points and the indices of YuNet's five, in YuNet's order
#: (right eye, left eye, nose tip, right mouth corner, left mouth corner).
LANDMARK_COUNT = 70
RIGHT_PUPIL, LEFT_PUPIL, NOSE, MOUTH_OUTER_RIGHT, MOUTH_OUTER_LEFT = 68, 69, 30, 48, 54
YUNET_LANDMARK_INDICES = (RIGHT_PUPIL, LEFT_PUPIL, NOSE, MOUTH_OUTER_RIGHT, MOUTH_OUTER_LEFT)

#: Our emotion labels -> hri_msgs/Expression constants (the values of NEUTRAL, ANGRY, ...).
#: "other" (label_set hierarchical3) has no counterpart: no expression is published for it.
EXPRESSION_OF_LABEL: dict[str, str] = {
    "neutral": "neutral",
    "angry": "angry",
    "sad": "sad",
    "happy": "happy",
    "surprise": "surprised",
    "disgust": "disgusted",
    "fear": "scared",
}
#: Valence / arousal of an Expression we publish: not estimated (see the module doc).
VALENCE_AROUSAL_UNKNOWN = float("nan")

#: hri_msgs/SoftBiometrics gender codes.
GENDER_UNDEFINED, GENDER_FEMALE, GENDER_MALE = 0, 1, 2
GENDER_OF_LABEL = {"woman": GENDER_FEMALE, "man": GENDER_MALE}
#: age_confidence = P(|true apparent age - published age| <= this many years).
AGE_TOLERANCE_YEARS = 5.0

#: Side in pixels of the cropped / aligned images (hri_face_detect's default, 128).
DEFAULT_CHIP_SIZE = 128

_ID = re.compile(r"[A-Za-z][A-Za-z0-9_]*")


def normalized_roi(
    box: Sequence[float], width: int, height: int
) -> tuple[float, float, float, float]:
    """(xmin, ymin, xmax, ymax) in [0, 1] of a pixel box (x, y, w, h) in a width x height image."""
    if width <= 0 or height <= 0:
        raise ValueError(f"image size must be positive, got {width}x{height}")
    x, y, w, h = (float(v) for v in box)

    def clip(v: float) -> float:
        return min(max(v, 0.0), 1.0)

    return (clip(x / width), clip(y / height), clip((x + w) / width), clip((y + h) / height))


def landmarks70(
    landmarks: Sequence[float], width: int, height: int, confidence: float
) -> list[tuple[float, float, float]]:
    """The 70 (x, y, c) of FacialLandmarks from our flat 5-point list (x0, y0, ..., x4, y4)."""
    pts = np.asarray(landmarks, dtype=np.float64).reshape(5, 2)
    out = [(0.0, 0.0, 0.0)] * LANDMARK_COUNT
    c = min(max(float(confidence), 0.0), 1.0)
    for index, (x, y) in zip(YUNET_LANDMARK_INDICES, pts, strict=True):
        out[index] = (min(max(x / width, 0.0), 1.0), min(max(y / height, 0.0), 1.0), c)
    return out


def expression_of(label: str) -> str | None:
    """The hri_msgs/Expression constant of our emotion label, or None (no counterpart)."""
    return EXPRESSION_OF_LABEL.get(label)


def gender_code(label: str) -> int:
    """SoftBiometrics gender of our gender label (UNDEFINED when the classifier abstained)."""
    return GENDER_OF_LABEL.get(label, GENDER_UNDEFINED)


def age_fields(age_years: float, age_spread: float) -> tuple[int, float]:
    """(age, age_confidence) of SoftBiometrics; (0, 0.0) when age is off (negative values)."""
    if age_years < 0 or age_spread < 0 or not math.isfinite(age_years):
        return 0, 0.0
    age = min(max(round(age_years), 0), 255)
    if age_spread == 0:
        return age, 1.0
    return age, float(math.erf(AGE_TOLERANCE_YEARS / (age_spread * math.sqrt(2.0))))


def cropped_chip(image: np.ndarray, box: Sequence[float], size: int) -> np.ndarray:
    """The face box scaled (aspect kept) and centred in a black size x size image (3 channels)."""
    height, width = image.shape[:2]
    x, y, w, h = (round(float(v)) for v in box)
    x0, y0 = min(max(x, 0), width - 1), min(max(y, 0), height - 1)
    x1, y1 = max(min(x + w, width), x0 + 1), max(min(y + h, height), y0 + 1)
    roi = image[y0:y1, x0:x1]
    if roi.ndim == 2:
        roi = cv2.cvtColor(roi, cv2.COLOR_GRAY2BGR)
    scale = min(size / roi.shape[1], size / roi.shape[0])
    sw = min(size, max(1, round(roi.shape[1] * scale)))
    sh = min(size, max(1, round(roi.shape[0] * scale)))
    interpolation = cv2.INTER_AREA if scale < 1.0 else cv2.INTER_LINEAR
    scaled = cv2.resize(roi, (sw, sh), interpolation=interpolation)
    out = np.zeros((size, size, 3), np.uint8)
    ox, oy = (size - sw) // 2, (size - sh) // 2
    out[oy : oy + sh, ox : ox + sw] = scaled
    return out


class AlignedChips:
    """Landmark-aligned size x size chips (3 channels) of faces, one aligner per size."""

    def __init__(self, size: int = DEFAULT_CHIP_SIZE) -> None:
        self.size = int(size)
        self._aligner = ChipAligner((self.size, self.size))

    def chip(self, image: np.ndarray, landmarks: Sequence[float]) -> np.ndarray:
        """The aligned chip of the face whose flat 5-point landmarks are `landmarks`."""
        out = self._aligner.chip(image, np.asarray(landmarks, dtype=np.float64).reshape(5, 2))
        return cv2.cvtColor(out, cv2.COLOR_GRAY2BGR) if out.ndim == 2 else out


def check_id(track_id: str) -> str:
    """`track_id` if it can be a REP-155 id (starts with a letter; letters, digits, '_')."""
    if not isinstance(track_id, str) or _ID.fullmatch(track_id) is None:
        raise ValueError(
            f"id {track_id!r} is not a REP-155 id: it must start with a letter and hold only "
            "letters, digits and '_'"
        )
    return track_id


@dataclass(frozen=True)
class IdChange:
    """What changed in the set of tracked ids with one message."""

    appeared: tuple[str, ...]
    disappeared: tuple[str, ...]
    #: Ids among `appeared` that had been tracked before and retired (not unique in this run).
    reused: tuple[str, ...]


class TrackIds:
    """The ids currently tracked, and every id seen in this run (to catch reuse)."""

    def __init__(self) -> None:
        self.current: tuple[str, ...] = ()
        self._seen: set[str] = set()

    def update(self, ids: Iterable[str]) -> IdChange:
        """Make `ids` (in order, duplicates dropped) the current set; what appeared and went."""
        new = tuple(dict.fromkeys(check_id(i) for i in ids))
        before = set(self.current)
        appeared = tuple(i for i in new if i not in before)
        disappeared = tuple(i for i in self.current if i not in set(new))
        reused = tuple(i for i in appeared if i in self._seen)
        self._seen.update(appeared)
        self.current = new
        return IdChange(appeared, disappeared, reused)
