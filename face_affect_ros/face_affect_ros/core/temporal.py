"""Perception over time: tracks drive the work, far faces are found on a schedule.

Why: a camera frame is not an unrelated photo. Between two frames a face moves a fraction of its
size, so a known face is found again by a small detector run on a window around where it was
(:class:`~face_affect_ros.core.window.WindowDetector`: the face scaled to 48 px, a 128x128 input
whatever its size in the frame). New faces are found by a full-frame scan at a resolution that
sees 20 px faces (640x480 by default), which costs about four times the default per-frame
detector, so it runs only every ``scan_period`` seconds: a face that appears is found within one
period, and is skipped while nothing changed outside the known faces (a face can only appear
where the picture changes; :class:`~face_affect_ros.core.motion.ChangeMap`), at least every
``scan_idle_period``. The window detector looks at a track ``track_look_rate`` times a second and
whenever it is classified; on the frames between, the face is followed by template matching
(:func:`~face_affect_ros.core.motion.follow_template`, ~0.1 ms instead of ~1.3 ms).
A new face becomes a published track only after the face / not-face verifier
(:mod:`face_affect_ros.core.verify`) accepts it. Each track is classified at most
``classify_rate`` times a second; its emotion is smoothed with a time constant in seconds and its
gender evidence accumulates (:mod:`face_affect_ros.core.accumulate`).

What a published face carries in this mode (tracking on):

* ``emotion_scores``: the track's smoothed emotion probabilities (an exponential moving average
  of the classifications so far, time constant ``emotion_time_constant`` s); ``emotion`` /
  ``emotion_confidence`` are their top class and its value.
* ``gender_scores``: the posterior over the gender labels from all looks at this track so far
  (each look weighted by the time since the previous one, capped; see
  :class:`~face_affect_ros.core.accumulate.EvidenceAccumulator`); ``gender_confidence`` its top
  value, ``gender`` is ``unknown`` while it is below ``gender_min_confidence``.
* ``detection``: where the face was found in this frame (window, scan, or between two detector
  looks the template follow: then the box keeps its size and the landmarks move with it), so the
  box is always from the current frame; a track missed in a frame is not published in it, and
  is dropped after ``track_lost_after`` seconds without being found.

Everything is a function of the frames and their stamps: same sequence, same output.
"""

from __future__ import annotations

import math
import time
from dataclasses import dataclass, field

import numpy as np

from face_affect_ros.core.accumulate import (
    DEFAULT_EMOTION_TIME_CONSTANT,
    DEFAULT_EVIDENCE_INTERVAL,
    DEFAULT_EVIDENCE_MAX_LOOKS,
    EmotionFilter,
    EvidenceAccumulator,
)
from face_affect_ros.core.detector import Detection, FaceDetector, check_image
from face_affect_ros.core.evidence import age_summary
from face_affect_ros.core.labels import decide_gender
from face_affect_ros.core.motion import ChangeMap, face_template, follow_template
from face_affect_ros.core.pipeline import (
    FaceAffectPipeline,
    FaceResult,
    FrameResult,
    PipelineConfig,
    StageTimings,
)
from face_affect_ros.core.tracking import box_iou
from face_affect_ros.core.window import WindowDetector, box_centre

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
#: Longest time between two scans when nothing changed in the frame outside the known faces
#: (a due scan is skipped on a still scene). 0: scan every ``scan_period`` regardless.
DEFAULT_SCAN_IDLE_PERIOD = 2.0

# A window result continues the track if it overlaps the predicted box this much.
_CONTINUE_IOU = 0.2
# Scan detections overlapping a track this much are that track.
_SAME_FACE_IOU = 0.3
# Two tracks on one face (IoU above this): the younger one is dropped.
_DUPLICATE_IOU = 0.5
# A template match continues the track only if it correlates at least this well.
_FOLLOW_MIN_CORRELATION = 0.7
# Tolerance on "due" times: stamps of a 30 Hz camera are not exact multiples.
_EPS = 1e-3


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
    scan_idle_period: float = DEFAULT_SCAN_IDLE_PERIOD
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
        _check_positive("scan_idle_period", self.scan_idle_period, 0.0, 60.0)
        _check_positive("classify_rate", self.classify_rate, 0.1, 240.0)
        _check_positive("emotion_time_constant", self.emotion_time_constant, 0.0, 60.0)
        _check_positive("evidence_interval", self.evidence_interval, 0.01, 60.0)
        _check_positive("evidence_max_looks", self.evidence_max_looks, 1.0, 1000.0)


@dataclass
class _Track:
    track_id: str
    detection: Detection
    stamp: float  # last time found
    born: float
    velocity: tuple[float, float] = (0.0, 0.0)  # px / s of the box centre
    seen_now: bool = False
    classified_at: float | None = None
    looked_at: float | None = None  # last detector (window or scan) look
    template: np.ndarray | None = None  # grey face patch of that look
    look: tuple[Detection, float] | None = None  # that look's detection and stamp
    emotion: EmotionFilter = field(default_factory=EmotionFilter)
    gender: EvidenceAccumulator = field(default_factory=EvidenceAccumulator)
    age: EvidenceAccumulator = field(default_factory=EvidenceAccumulator)
    emotion_scores: np.ndarray | None = None
    gender_scores: np.ndarray | None = None
    age_scores: np.ndarray | None = None

    def predicted_box(self, stamp: float) -> tuple[float, float, float, float]:
        x, y, w, h = self.detection.box
        dt = min(max(0.0, stamp - self.stamp), 0.5)
        return (x + self.velocity[0] * dt, y + self.velocity[1] * dt, w, h)

    def observe(
        self, detection: Detection, stamp: float, since: tuple[Detection, float] | None = None
    ) -> None:
        """Found at `stamp`; the velocity is updated from `since` (detection, stamp) if given.

        Template follows pass ``since`` = None and keep the velocity: their shifts are coarse
        (a pixel of a 24 px template), so velocity is measured between two detector looks.
        """
        if since is not None and stamp - since[1] > 0.0:
            dt = stamp - since[1]
            (ox, oy), (nx, ny) = box_centre(since[0].box), box_centre(detection.box)
            vx, vy = (nx - ox) / dt, (ny - oy) / dt
            # Damped: a single jittery box does not throw the next window off.
            self.velocity = (0.5 * (self.velocity[0] + vx), 0.5 * (self.velocity[1] + vy))
        self.detection, self.stamp, self.seen_now = detection, stamp, True


@dataclass
class LoopCounters:
    """What the loop did since it was made (for diagnostics and benchmarks)."""

    frames: int = 0
    scans: int = 0
    window_looks: int = 0
    follows: int = 0
    scans_skipped: int = 0
    candidates: int = 0
    refused: int = 0
    tracks_started: int = 0
    classified: int = 0


class PerceptionLoop:
    """Frames in time order -> faces with stable ids and per-track affect.

    With ``config.tracking`` off this is per-frame mode: every frame is independent and
    :meth:`step` returns exactly ``FaceAffectPipeline.process`` (which verifies every detection
    when ``config.verify_faces`` is on). With tracking on it runs the temporal loop described in
    the module docstring. One instance per camera stream and thread.

    Raises:
        ModelError: a model or manifest is missing, corrupt or inconsistent.
    """

    def __init__(
        self,
        config: PipelineConfig | None = None,
        temporal: TemporalConfig | None = None,
        pipeline: FaceAffectPipeline | None = None,
    ) -> None:
        self.pipeline = pipeline if pipeline is not None else FaceAffectPipeline(config)
        self.temporal = temporal if temporal is not None else TemporalConfig()
        cfg, tmp = self.pipeline.config, self.temporal
        self.counters = LoopCounters()
        self._tracks: list[_Track] = []
        self._next_id = 1
        self._last_scan: float | None = None
        self._last_stamp: float | None = None
        self._changes = ChangeMap()
        if not cfg.tracking:
            return
        detector_manifest = cfg.manifest_path(cfg.detector_model)
        self._scan = FaceDetector(
            detector_manifest,
            input_size=tmp.scan_input_size,
            score_threshold=tmp.scan_threshold,
            nms_threshold=cfg.nms_threshold,
            min_face_size=cfg.min_face_size,
            max_faces=cfg.max_faces,
            intra_op_threads=cfg.intra_op_threads,
            providers=cfg.providers,
            verify_sha256=cfg.verify_sha256,
        )
        self._window = WindowDetector(
            detector_manifest,
            face_px=tmp.track_face_px,
            window_scale=tmp.track_window_scale,
            score_threshold=tmp.track_threshold,
            intra_op_threads=cfg.intra_op_threads,
            providers=cfg.providers,
            verify_sha256=cfg.verify_sha256,
        )

    # ------------------------------------------------------------------ public
    @property
    def config(self) -> PipelineConfig:
        """The pipeline's current configuration (thresholds and labels apply in place)."""
        return self.pipeline.config

    def reset(self) -> None:
        """Forget every track (a new stream, or time went backwards); ids restart at face_1."""
        self._tracks = []
        self._next_id = 1
        self._last_scan = None
        self._last_stamp = None
        self._changes.reset()

    def adopt(self, previous: PerceptionLoop) -> None:
        """Continue `previous`'s tracks (a runtime parameter change keeps ids and estimates)."""
        if self.config.tracking and previous.config.tracking:
            self._tracks = previous._tracks
            self._next_id = previous._next_id
            self._last_scan = previous._last_scan
            self._last_stamp = previous._last_stamp
            self._changes = previous._changes
            for track in self._tracks:
                track.emotion.time_constant = self.temporal.emotion_time_constant
                for acc in (track.gender, track.age):
                    acc.interval = self.temporal.evidence_interval
                    acc.max_looks = self.temporal.evidence_max_looks
        self.counters = previous.counters

    @property
    def track_count(self) -> int:
        """Tracks alive (published or briefly missed)."""
        return len(self._tracks)

    def step(self, image: np.ndarray, stamp: float) -> FrameResult:
        """Process the frame taken at `stamp` (seconds, any epoch, increasing).

        A stamp earlier than the previous one starts a new stream (tracks reset).

        Raises:
            ValueError: the image is not a uint8 mono / BGR / BGRA frame, or the stamp is not a
                finite number.
        """
        if (
            isinstance(stamp, bool)
            or not isinstance(stamp, (int, float))
            or not math.isfinite(stamp)
        ):
            raise ValueError(f"stamp must be a finite number of seconds, got {stamp!r}")
        stamp = float(stamp)
        self.counters.frames += 1
        if not self.config.tracking:
            return self.pipeline.process(image)
        t0 = time.perf_counter()
        image = check_image(image)
        if self._last_stamp is not None and stamp < self._last_stamp:
            self.reset()
        self._last_stamp = stamp
        self._refind(image, stamp)
        if self._last_scan is None or stamp - self._last_scan >= self.temporal.scan_period - _EPS:
            if self._scan_wanted(image, stamp):
                self._last_scan = stamp
                self._scan_frame(image, stamp)
            else:
                self.counters.scans_skipped += 1
        lost_after = self.temporal.track_lost_after
        self._tracks = [t for t in self._tracks if stamp - t.stamp <= lost_after + _EPS]
        t1 = time.perf_counter()
        seen = [t for t in self._tracks if t.seen_now]
        crop_ms, classify_ms = self._classify_due(image, seen, stamp)
        faces = tuple(self._result(t) for t in sorted(seen, key=lambda t: -t.detection.score))
        t2 = time.perf_counter()
        return FrameResult(
            width=int(image.shape[1]),
            height=int(image.shape[0]),
            emotion_labels=self.pipeline.emotion_labels,
            faces=faces,
            timings=StageTimings(
                detect_ms=(t1 - t0) * 1e3,
                crop_ms=crop_ms,
                classify_ms=classify_ms,
                total_ms=(t2 - t0) * 1e3,
            ),
            gender_labels=self.pipeline.gender_labels,
        )

    # ------------------------------------------------------------------ stages
    def _scan_wanted(self, image: np.ndarray, stamp: float) -> bool:
        """A due scan runs unless nothing changed outside the known faces since the last one.

        A face can only appear where the picture changes, so on a still scene the scan waits up
        to ``scan_idle_period`` (then runs anyway: a face the last scan missed gets another look).
        """
        idle = self.temporal.scan_idle_period
        if idle <= 0.0:
            return True
        thumb = ChangeMap.thumbnail(image)
        boxes = [t.detection.box for t in self._tracks if t.seen_now]
        if (
            self._last_scan is None
            or stamp - self._last_scan >= idle - _EPS
            or self._changes.changed_outside(thumb, boxes)
        ):
            self._changes.set_reference(thumb)
            return True
        return False

    def _due_for_classification(self, track: _Track, stamp: float) -> bool:
        period = 1.0 / self.temporal.classify_rate
        return track.classified_at is None or stamp - track.classified_at >= period - _EPS

    def _follow(
        self, image: np.ndarray, track: _Track, predicted: tuple[float, float, float, float]
    ) -> bool:
        """Between two detector looks, follow the face by template matching (True if found).

        A detector look is due at ``track_look_rate`` and on every frame the track is classified
        (the classifier's crops need the detector's landmarks); a weak match falls back to one.
        """
        rate = self.temporal.track_look_rate
        stamp = self._last_stamp
        if rate <= 0.0 or track.template is None or track.looked_at is None or stamp is None:
            return False
        if stamp - track.looked_at >= 1.0 / rate - _EPS or self._due_for_classification(
            track, stamp
        ):
            return False
        found = follow_template(image, track.template, predicted)
        if found is None or found[2] < _FOLLOW_MIN_CORRELATION:
            return False
        dx, dy, _ = found
        det = track.detection
        # The predicted box moved by (dx, dy); landmarks keep their place in the box.
        ox, oy = predicted[0] + dx - det.box[0], predicted[1] + dy - det.box[1]
        track.observe(
            Detection(
                box=(det.box[0] + ox, det.box[1] + oy, det.box[2], det.box[3]),
                score=det.score,
                landmarks=tuple((x + ox, y + oy) for x, y in det.landmarks),
            ),
            stamp,
            since=None,
        )
        self.counters.follows += 1
        return True

    def _looked(self, image: np.ndarray, track: _Track, det: Detection, stamp: float) -> None:
        since = track.look if track.look is not None else (track.detection, track.stamp)
        track.observe(det, stamp, since)
        track.look = (det, stamp)
        track.looked_at = stamp
        if self.temporal.track_look_rate > 0.0:
            track.template = face_template(image, det.box)

    def _refind(self, image: np.ndarray, stamp: float) -> None:
        for track in self._tracks:
            track.seen_now = False
            predicted = track.predicted_box(stamp)
            if self._follow(image, track, predicted):
                continue
            self.counters.window_looks += 1
            best = self._look(image, predicted, 1.0)
            if best is None:
                # Missed (a fast move, a zoom): one more look at twice the window's side, same
                # input size, before the track counts as unseen in this frame.
                self.counters.window_looks += 1
                best = self._look(image, predicted, 2.0, min_iou=0.0)
            if best is not None:
                self._looked(image, track, best, stamp)
        # Two tracks that converged on one face: keep the older (lower id, earlier born).
        kept: list[_Track] = []
        for track in self._tracks:
            if track.seen_now and any(
                k.seen_now and box_iou(k.detection.box, track.detection.box) > _DUPLICATE_IOU
                for k in kept
            ):
                continue
            kept.append(track)
        self._tracks = kept

    def _look(
        self,
        image: np.ndarray,
        predicted: tuple[float, float, float, float],
        widen: float,
        min_iou: float = _CONTINUE_IOU,
    ) -> Detection | None:
        """The window's face that best continues `predicted` (IoU, then nearest centre)."""
        cx, cy = box_centre(predicted)
        best, best_key = None, None
        for det in self._window.find(image, (cx, cy), predicted[2], widen):
            iou = box_iou(det.box, predicted)
            dx, dy = box_centre(det.box)
            dist = math.hypot(dx - cx, dy - cy) / max(predicted[2], 1.0)
            # Without overlap, only a face of similar size within one window side continues.
            ratio = det.box[2] / max(predicted[2], 1.0)
            if iou < min_iou or (iou == 0.0 and (dist > widen * 1.5 or not 0.5 < ratio < 2.0)):
                continue
            key = (iou, -dist)
            if best_key is None or key > best_key:
                best, best_key = det, key
        return best

    def _scan_frame(self, image: np.ndarray, stamp: float) -> None:
        self.counters.scans += 1
        for det in self._scan.detect(image):
            if any(
                t.seen_now and box_iou(t.detection.box, det.box) >= _SAME_FACE_IOU
                for t in self._tracks
            ):
                continue
            missed = [
                (box_iou(t.predicted_box(stamp), det.box), i)
                for i, t in enumerate(self._tracks)
                if not t.seen_now
            ]
            best = max(missed, default=(0.0, -1))
            if best[0] >= _SAME_FACE_IOU:
                # A track its window lost (fast motion, a blur): the scan found it again.
                self._looked(image, self._tracks[best[1]], det, stamp)
                continue
            self.counters.candidates += 1
            verifier = self.pipeline.detector_stage.verifier
            if verifier is not None and not verifier.accept(image, det):
                self.counters.refused += 1
                continue
            tmp = self.temporal
            track = _Track(
                f"face_{self._next_id}",
                det,
                stamp,
                born=stamp,
                seen_now=True,
                looked_at=stamp,
                template=face_template(image, det.box) if tmp.track_look_rate > 0.0 else None,
                emotion=EmotionFilter(tmp.emotion_time_constant),
                gender=EvidenceAccumulator(tmp.evidence_interval, tmp.evidence_max_looks),
                age=EvidenceAccumulator(tmp.evidence_interval, tmp.evidence_max_looks),
            )
            self._next_id += 1
            self.counters.tracks_started += 1
            self._tracks.append(track)

    def _classify_due(
        self, image: np.ndarray, seen: list[_Track], stamp: float
    ) -> tuple[float, float]:
        due = [t for t in seen if self._due_for_classification(t, stamp)]
        if not due:
            return 0.0, 0.0
        t0 = time.perf_counter()
        stage = self.pipeline.classifier_stage
        detections = [t.detection for t in due]
        # The stage's own crops (box or landmark-aligned chip, colour per manifest).
        crops = stage.task_crops(image, detections)
        t1 = time.perf_counter()
        emotion_probs, gender_probs = stage.classifier.classify(crops["emotion"], crops["gender"])
        age_probs = stage.classifier.classify_age(crops["age"]) if "age" in crops else None
        derived = emotion_probs @ stage.merge
        for i, track in enumerate(due):
            track.classified_at = stamp
            track.emotion_scores = track.emotion.update(derived[i], stamp)
            track.gender_scores = track.gender.update(gender_probs[i], stamp)
            if age_probs is not None:
                # Age accumulates like gender: the same person, more looks, a surer estimate.
                track.age_scores = track.age.update(age_probs[i], stamp)
        self.counters.classified += len(due)
        t2 = time.perf_counter()
        return (t1 - t0) * 1e3, (t2 - t1) * 1e3

    def _result(self, track: _Track) -> FaceResult:
        emotion = track.emotion_scores
        gender = track.gender_scores
        assert emotion is not None and gender is not None  # classified when first seen
        stage = self.pipeline.classifier_stage
        best = int(np.argmax(emotion))
        gender_label, gender_conf = decide_gender(
            gender.astype(np.float32), stage.gender_labels, stage.gender_min_confidence
        )
        age: dict = {}
        if track.age_scores is not None and stage.age_values:
            years, spread, minor = age_summary(track.age_scores, stage.age_values)
            age = {
                "age_years": years,
                "age_spread": spread,
                "minor_probability": minor,
                "age_scores": tuple(float(p) for p in track.age_scores),
            }
        return FaceResult(
            detection=track.detection,
            emotion=stage.emotion_labels[best],
            emotion_confidence=float(emotion[best]),
            emotion_scores=tuple(float(p) for p in emotion),
            gender=gender_label,
            gender_confidence=gender_conf,
            gender_scores=tuple(float(p) for p in gender),
            track_id=track.track_id,
            **age,
        )
