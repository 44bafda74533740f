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

The loop is two halves, each in its own module so that each process of the split layout runs
one: :class:`~face_affect_ros.core.localise.LocalisationLoop` (scan schedule, track windows,
template follows, verification, track ids and lifetimes; in ``detector_node``) and
:class:`~face_affect_ros.core.affect.AffectLoop` (per-track classification schedule, emotion
filter, gender and age evidence, keyed by track id; in ``classifier_node``).
:class:`PerceptionLoop` composes them in one process (``face_affect_node``, the bag tool, the
image tool's sequences). Everything is a function of the frames and their stamps: same
sequence, same output, whichever way the package runs.
"""

from __future__ import annotations

import numpy as np

from face_affect_ros.core.affect import AffectLoop
from face_affect_ros.core.localise import (
    LocalisationLoop,
    LocalisedFrame,
    TrackedFace,
    check_stamp,
)
from face_affect_ros.core.loop_config import (
    DEFAULT_CLASSIFY_RATE,
    DEFAULT_CUT_FRACTION,
    DEFAULT_SCAN_IDLE_PERIOD,
    DEFAULT_SCAN_INPUT_SIZE,
    DEFAULT_SCAN_PERIOD,
    DEFAULT_SCAN_THRESHOLD,
    DEFAULT_TRACK_FACE_PX,
    DEFAULT_TRACK_LOOK_RATE,
    DEFAULT_TRACK_LOST_AFTER,
    DEFAULT_TRACK_THRESHOLD,
    DEFAULT_TRACK_WINDOW_SCALE,
    LoopCounters,
    TemporalConfig,
)
from face_affect_ros.core.pipeline import FaceAffectPipeline, FrameResult, PipelineConfig

__all__ = [
    "DEFAULT_CLASSIFY_RATE",
    "DEFAULT_CUT_FRACTION",
    "DEFAULT_SCAN_IDLE_PERIOD",
    "DEFAULT_SCAN_INPUT_SIZE",
    "DEFAULT_SCAN_PERIOD",
    "DEFAULT_SCAN_THRESHOLD",
    "DEFAULT_TRACK_FACE_PX",
    "DEFAULT_TRACK_LOOK_RATE",
    "DEFAULT_TRACK_LOST_AFTER",
    "DEFAULT_TRACK_THRESHOLD",
    "DEFAULT_TRACK_WINDOW_SCALE",
    "AffectLoop",
    "LocalisationLoop",
    "LocalisedFrame",
    "LoopCounters",
    "PerceptionLoop",
    "TemporalConfig",
    "TrackedFace",
]


class PerceptionLoop:
    """Frames in time order -> faces with stable ids and per-track affect, in one process.

    With ``config.tracking`` off this is per-frame mode: every frame is independent and
    :meth:`step` returns exactly ``FaceAffectPipeline.process`` (which verifies every detection
    when ``config.verify_faces`` is on). With tracking on it runs the localisation half, then
    the affect half, on each frame (module docstring). One instance per camera stream and
    thread.

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
        self.counters = LoopCounters()
        self.localisation: LocalisationLoop | None = None
        self.affect: AffectLoop | None = None
        if not self.pipeline.config.tracking:
            return
        detector_stage = self.pipeline.detector_stage
        self.localisation = LocalisationLoop(
            self.pipeline.config,
            self.temporal,
            verifier=lambda: detector_stage.verifier,
            counters=self.counters,
        )
        self.affect = AffectLoop(
            self.pipeline.classifier_stage, self.temporal, counters=self.counters
        )

    @property
    def config(self) -> PipelineConfig:
        """The pipeline's current configuration (thresholds and labels apply in place)."""
        return self.pipeline.config

    def reset(self) -> None:
        """Forget every track (a new stream, or time went backwards); ids restart at face_1."""
        if self.localisation is not None and self.affect is not None:
            self.localisation.reset()
            self.affect.reset()

    def adopt(self, previous: PerceptionLoop) -> None:
        """Continue `previous`'s tracks (a runtime parameter change keeps ids and estimates)."""
        if (
            self.localisation is not None
            and self.affect is not None
            and previous.localisation is not None
            and previous.affect is not None
        ):
            self.localisation.adopt(previous.localisation)
            self.affect.adopt(previous.affect)
        self.counters = previous.counters
        for half in (self.localisation, self.affect):
            if half is not None:
                half.counters = previous.counters

    def warm_up(self) -> None:
        """Run every model of the loop once on a blank input (see LocalisationLoop.warm_up)."""
        if self.localisation is not None and self.affect is not None:
            self.localisation.warm_up()
            self.affect.warm_up()

    @property
    def track_count(self) -> int:
        """Tracks alive (published or briefly missed)."""
        return self.localisation.track_count if self.localisation is not None else 0

    def step(self, image: np.ndarray, stamp: float) -> FrameResult:
        """Process the frame taken at `stamp` (seconds, any epoch, increasing).

        A stamp earlier than the previous one starts a new stream (tracks reset).

        Raises:
            ValueError: the image is not a uint8 mono / BGR / BGRA frame, or the stamp is not a
                finite number.
        """
        stamp = check_stamp(stamp)
        self.counters.frames += 1
        if self.localisation is None or self.affect is None:
            return self.pipeline.process(image)
        located = self.localisation.step(image, stamp)
        return self.affect.step(image, stamp, located.faces, located.localise_ms)
