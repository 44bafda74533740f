"""Parameters and counters of the perception loop, shared by its two halves.

Why a module of its own: the localisation half (:mod:`.localise`, in ``detector_node`` or
``face_affect_node``) and the affect half (:mod:`.affect`, in ``classifier_node`` or
``face_affect_node``) read the same :class:`TemporalConfig` (each uses its own fields, and both
use ``classify_rate``: the localisation half makes sure a track has fresh detector landmarks on
the frames the affect half classifies it), and :class:`LoopCounters` is filled by both.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

from face_affect_ros.core.accumulate import (
    DEFAULT_EMOTION_TIME_CONSTANT,
    DEFAULT_EVIDENCE_INTERVAL,
    DEFAULT_EVIDENCE_MAX_LOOKS,
)

#: Seconds between two full-frame scans for new faces.
DEFAULT_SCAN_PERIOD = 0.3
#: Detector input of the full-frame scan: 640x480 finds 96 % of 20-29 px faces (issue 12).
DEFAULT_SCAN_INPUT_SIZE = (640, 480)
#: Score threshold of the scan (the verifier makes the final face / not-face call).
DEFAULT_SCAN_THRESHOLD = 0.6
#: Classifications per second per track.
DEFAULT_CLASSIFY_RATE = 5.0
#: Seconds a track survives without being found.
DEFAULT_TRACK_LOST_AFTER = 0.5
#: Face width (px) in the track window's detector input, and window side / face width.
DEFAULT_TRACK_FACE_PX = 48.0
DEFAULT_TRACK_WINDOW_SCALE = 2.5
#: Score threshold for re-finding a known (already verified) face in its window.
DEFAULT_TRACK_THRESHOLD = 0.5
#: YuNet window looks per second per track; frames in between follow the face by template
#: matching (a 24 px grey patch, ~0.1 ms instead of ~1.3 ms). 0: a window look every frame.
DEFAULT_TRACK_LOOK_RATE = 10.0
#: A template follow that correlates at least this well stands in for a detector look due at
#: ``track_look_rate`` (never for one due because the track is classified: the classifiers'
#: crops need the detector's landmarks); a weaker one falls back to the look. Halves the looks at
#: a face that holds still or moves smoothly (bench_temporal: the same recall, false tracks and
#: expression-delay spread). 0: every due look runs.
DEFAULT_TRACK_FOLLOW_CONFIDENCE = 0.9
#: Longest time between two scans when nothing changed in the frame outside the known faces
#: (a due scan is skipped on a still scene). 0: scan every ``scan_period`` regardless.
DEFAULT_SCAN_IDLE_PERIOD = 2.0
#: Fraction of the frame's 8x8 blocks that must change between two consecutive frames for a
#: scan to run at once (a cut, a fast turn of the robot's head). 0: never.
DEFAULT_CUT_FRACTION = 0.5

#: Seconds between two scans of one native-resolution tile of a frame larger than the scan's
#: input (HD cameras; :mod:`.tiles`), in rotation, on frames without a whole-frame scan. 0: no
#: tiles. Frames that fit the scan input (640x480 at the default) never have tiles.
DEFAULT_SCAN_TILE_PERIOD = 0.15
#: Score threshold of a tile's detections: a far face of 16-24 px scores around the scan's 0.6
#: (0.37-0.6 measured, the verifier then 0.9), so tiles take more candidates and the verifier
#: decides, as for the scan.
DEFAULT_SCAN_TILE_THRESHOLD = 0.45

#: A due scan whose only reason is a change covers the changed blocks (outside the known faces)
#: grown by this many pixels, not the whole frame, when that region is at most
#: :data:`REGION_MAX_FRACTION` of the frame, scanned at the frame's own resolution (in frames
#: larger than the scan input only regions of at most its pixel count). False
#: (``scan_regions``): the whole frame every time.
DEFAULT_SCAN_REGIONS = True
REGION_MARGIN = 48
REGION_MAX_FRACTION = 0.5

#: Tolerance on "due" times: stamps of a 30 Hz camera are not exact multiples.
EPS = 1e-3


def _check_positive(name: str, value: object, lo: float, hi: float) -> None:
    if (
        isinstance(value, bool)
        or not isinstance(value, (int, float))
        or not math.isfinite(value)
        or not lo <= value <= hi
    ):
        raise ValueError(f"{name} must be a number in [{lo}, {hi}], got {value!r}")


@dataclass(frozen=True)
class TemporalConfig:
    """Parameters of :class:`PerceptionLoop` (used when the pipeline's ``tracking`` is on).

    Validated on construction like :class:`PipelineConfig`; ranges are the parameter table's.
    """

    scan_period: float = DEFAULT_SCAN_PERIOD
    scan_input_size: tuple[int, int] = DEFAULT_SCAN_INPUT_SIZE
    scan_threshold: float = DEFAULT_SCAN_THRESHOLD
    track_face_px: float = DEFAULT_TRACK_FACE_PX
    track_window_scale: float = DEFAULT_TRACK_WINDOW_SCALE
    track_threshold: float = DEFAULT_TRACK_THRESHOLD
    track_look_rate: float = DEFAULT_TRACK_LOOK_RATE
    track_follow_confidence: float = DEFAULT_TRACK_FOLLOW_CONFIDENCE
    scan_idle_period: float = DEFAULT_SCAN_IDLE_PERIOD
    cut_fraction: float = DEFAULT_CUT_FRACTION
    scan_tile_period: float = DEFAULT_SCAN_TILE_PERIOD
    scan_tile_threshold: float = DEFAULT_SCAN_TILE_THRESHOLD
    scan_regions: bool = DEFAULT_SCAN_REGIONS
    track_lost_after: float = DEFAULT_TRACK_LOST_AFTER
    classify_rate: float = DEFAULT_CLASSIFY_RATE
    emotion_time_constant: float = DEFAULT_EMOTION_TIME_CONSTANT
    evidence_interval: float = DEFAULT_EVIDENCE_INTERVAL
    evidence_max_looks: float = DEFAULT_EVIDENCE_MAX_LOOKS

    def __post_init__(self) -> None:
        if isinstance(self.scan_input_size, list):
            object.__setattr__(self, "scan_input_size", tuple(self.scan_input_size))
        size = self.scan_input_size
        if (
            not isinstance(size, tuple)
            or len(size) != 2
            or not all(isinstance(v, int) and not isinstance(v, bool) and v >= 32 for v in size)
        ):
            raise ValueError(f"scan_input_size must be (width, height) ints >= 32, got {size!r}")
        _check_positive("scan_period", self.scan_period, 0.0, 60.0)
        _check_positive("scan_threshold", self.scan_threshold, 0.05, 1.0)
        _check_positive("track_face_px", self.track_face_px, 16.0, 256.0)
        _check_positive("track_window_scale", self.track_window_scale, 1.5, 6.0)
        _check_positive("track_threshold", self.track_threshold, 0.05, 1.0)
        _check_positive("track_lost_after", self.track_lost_after, 0.0, 60.0)
        _check_positive("track_look_rate", self.track_look_rate, 0.0, 240.0)
        _check_positive("track_follow_confidence", self.track_follow_confidence, 0.0, 1.0)
        _check_positive("scan_idle_period", self.scan_idle_period, 0.0, 60.0)
        _check_positive("cut_fraction", self.cut_fraction, 0.0, 1.0)
        _check_positive("scan_tile_period", self.scan_tile_period, 0.0, 60.0)
        _check_positive("scan_tile_threshold", self.scan_tile_threshold, 0.05, 1.0)
        if not isinstance(self.scan_regions, bool):
            raise ValueError(f"scan_regions must be a bool, got {self.scan_regions!r}")
        _check_positive("classify_rate", self.classify_rate, 0.1, 240.0)
        _check_positive("emotion_time_constant", self.emotion_time_constant, 0.0, 60.0)
        _check_positive("evidence_interval", self.evidence_interval, 0.01, 60.0)
        _check_positive("evidence_max_looks", self.evidence_max_looks, 1.0, 1000.0)


@dataclass
class LoopCounters:
    """What the loop did since it was made (for diagnostics and benchmarks)."""

    frames: int = 0
    scans: int = 0
    window_looks: int = 0
    follows: int = 0
    scans_skipped: int = 0
    region_scans: int = 0
    tile_scans: int = 0
    tiles_skipped: int = 0
    region_looks: int = 0
    cuts: int = 0
    candidates: int = 0
    refused: int = 0
    tracks_started: int = 0
    classified: int = 0
    #: Of those, classifications that also ran the gender (and age) model.
    evidence_looks: int = 0


def loop_stamp(sec: int, nanosec: int) -> float:
    """Seconds of a ROS header stamp, as every runner of the loop computes them.

    Why one function: the nodes, the split layout and the bag tool must hand the loop the very
    same float for the same stamp, or their schedules (scans, looks, classifications) could fall
    on different frames.
    """
    return int(sec) + int(nanosec) * 1e-9
