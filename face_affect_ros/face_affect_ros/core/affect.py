"""The affect half of the perception loop: per-track emotion, gender and age estimates.

Why a half of its own: it needs only the classifiers, so the split layout's ``classifier_node``
runs it on the tracks ``detector_node`` publishes (ids in ``FaceDetection.id``), and
``face_affect_node`` runs it right after the localisation half (:mod:`.localise`) in one
process. Its state is keyed by track id, so it does not care which process found the faces.

Per track it keeps (see :mod:`.accumulate`):

* a classification schedule: a track is classified when it is first seen and then at most
  ``classify_rate`` times a second (the localisation half gives it detector landmarks on those
  frames; ``due`` is the one rule both halves use);
* ``emotion_scores``: an exponential moving average of the classifications with time constant
  ``emotion_time_constant`` seconds;
* ``gender_scores`` (and ``age_scores``): the posterior from all looks so far, each look
  weighted by the time since the previous one, capped at ``evidence_max_looks``. Since a look
  counts fully only once per ``evidence_interval``, those models look at a track whose gender
  is decided at most that often (on its classification frames); emotion, and the evidence of a
  track still undecided, at every classification.

A track not seen for ``track_lost_after`` seconds is forgotten, and a stamp earlier than the
previous one restarts the stream (the localisation half then restarts its ids at ``face_1``).
Everything is a function of the frames, their stamps and the tracks: same input, same output.
"""

from __future__ import annotations

import time
from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np

from face_affect_ros.core.accumulate import EmotionFilter, EvidenceAccumulator
from face_affect_ros.core.detector import Detection, check_image
from face_affect_ros.core.evidence import age_summary
from face_affect_ros.core.labels import UNKNOWN, decide_gender
from face_affect_ros.core.localise import TrackedFace, check_stamp, due
from face_affect_ros.core.loop_config import EPS, LoopCounters, TemporalConfig
from face_affect_ros.core.results import FaceResult, FrameResult, StageTimings
from face_affect_ros.core.stages import ClassifierStage


@dataclass
class _Estimate:
    """What the affect half knows about one track."""

    emotion: EmotionFilter
    gender: EvidenceAccumulator
    age: EvidenceAccumulator
    seen: float  # last stamp the track was given
    classified_at: float | None = None
    evidence_at: float | None = None  # last gender (and age) look
    emotion_scores: np.ndarray | None = None
    gender_scores: np.ndarray | None = None
    age_scores: np.ndarray | None = None


class AffectLoop:
    """Tracked faces of a frame -> FaceResults with the tracks' emotion / gender / age estimates.

    `stage` is the classifier stage (crops, models, label set, gender threshold); it may be
    reconfigured between frames. One instance per camera stream and thread.
    """

    def __init__(
        self,
        stage: ClassifierStage,
        temporal: TemporalConfig,
        counters: LoopCounters | None = None,
    ) -> None:
        self.stage = stage
        self.temporal = temporal
        self.counters = counters if counters is not None else LoopCounters()
        self._tracks: dict[str, _Estimate] = {}
        self._last_stamp: float | None = None

    def reset(self) -> None:
        """Forget every track's estimate (a new stream)."""
        self._tracks = {}
        self._last_stamp = None

    def configure(self, temporal: TemporalConfig) -> None:
        """Apply new loop parameters; the tracks' estimates continue with the new constants."""
        self.temporal = temporal
        for est in self._tracks.values():
            est.emotion.time_constant = temporal.emotion_time_constant
            for acc in (est.gender, est.age):
                acc.interval = temporal.evidence_interval
                acc.max_looks = temporal.evidence_max_looks

    def adopt(self, previous: AffectLoop) -> None:
        """Continue `previous`'s estimates under this loop's parameters."""
        self._tracks = previous._tracks
        self._last_stamp = previous._last_stamp
        self.counters = previous.counters
        self.configure(self.temporal)

    def warm_up(self) -> None:
        """Classify one blank face once (no state is touched): see LocalisationLoop.warm_up."""
        blank = np.zeros((128, 128, 3), np.uint8)
        face = Detection(
            box=(32.0, 32.0, 64.0, 64.0),
            score=1.0,
            landmarks=((52.0, 55.0), (76.0, 55.0), (64.0, 68.0), (54.0, 80.0), (74.0, 80.0)),
        )
        crops = self.stage.task_crops(blank, [face])
        self.stage.classifier.classify(crops["emotion"], crops["gender"])
        if "age" in crops:
            self.stage.classifier.classify_age(crops["age"])

    @property
    def track_count(self) -> int:
        """Tracks with an estimate."""
        return len(self._tracks)

    def step(
        self,
        image: np.ndarray,
        stamp: float,
        faces: Sequence[TrackedFace],
        localise_ms: float = 0.0,
    ) -> FrameResult:
        """Classify the due tracks among `faces` (found in `image`, taken at `stamp`).

        `faces` must carry non-empty, distinct track ids. The result lists every face of
        `faces` with its track's estimate, highest detector score first; ``timings.detect_ms``
        is `localise_ms` (the localisation half's time, for the caller's accounting).

        Raises:
            ValueError: a bad image or stamp, or faces without distinct track ids.
        """
        stamp = check_stamp(stamp)
        t0 = time.perf_counter()
        image = check_image(image)
        ids = [f.track_id for f in faces]
        if any(not i for i in ids) or len(set(ids)) != len(ids):
            raise ValueError(f"tracked faces need distinct non-empty ids, got {ids!r}")
        if self._last_stamp is not None and stamp < self._last_stamp:
            self.reset()
        self._last_stamp = stamp
        tmp = self.temporal
        estimates = []
        for face in faces:
            est = self._tracks.get(face.track_id)
            if est is None:
                est = _Estimate(
                    emotion=EmotionFilter(tmp.emotion_time_constant),
                    gender=EvidenceAccumulator(tmp.evidence_interval, tmp.evidence_max_looks),
                    age=EvidenceAccumulator(tmp.evidence_interval, tmp.evidence_max_looks),
                    seen=stamp,
                )
                self._tracks[face.track_id] = est
            est.seen = stamp
            estimates.append(est)
        lost_after = tmp.track_lost_after
        self._tracks = {k: e for k, e in self._tracks.items() if stamp - e.seen <= lost_after + EPS}
        crop_ms, classify_ms = self._classify_due(image, faces, estimates, stamp)
        order = sorted(range(len(faces)), key=lambda i: -faces[i].detection.score)
        results = tuple(self._result(faces[i], estimates[i]) for i in order)
        total = (time.perf_counter() - t0) * 1e3 + localise_ms
        stage = self.stage
        return FrameResult(
            width=int(image.shape[1]),
            height=int(image.shape[0]),
            emotion_labels=stage.emotion_labels,
            faces=results,
            timings=StageTimings(
                detect_ms=localise_ms,
                crop_ms=crop_ms,
                classify_ms=classify_ms,
                total_ms=total,
            ),
            gender_labels=stage.gender_labels,
        )

    def _classify_due(
        self,
        image: np.ndarray,
        faces: Sequence[TrackedFace],
        estimates: list[_Estimate],
        stamp: float,
    ) -> tuple[float, float]:
        rate = self.temporal.classify_rate
        due_idx = [i for i, e in enumerate(estimates) if due(e.classified_at, stamp, rate)]
        if not due_idx:
            return 0.0, 0.0
        newborn = [estimates[i] for i in due_idx if estimates[i].classified_at is None]
        # Gender (and age) evidence counts by time, one full look per evidence_interval
        # (accumulate.EvidenceAccumulator): a look sooner adds a fraction of one. Until a
        # track's gender is decided those models look at every classification (many samples
        # average out a bad crop, and the decision comes as soon as it can); once decided, at
        # most once per interval. Emotion, which changes, at every classification.
        evidence_rate = 1.0 / self.temporal.evidence_interval
        evidence_idx = [
            i
            for i in due_idx
            if not self._gender_decided(estimates[i])
            or due(estimates[i].evidence_at, stamp, evidence_rate)
        ]
        t0 = time.perf_counter()
        stage = self.stage
        # The stage's own crops (box or landmark-aligned chip, colour per manifest).
        crops = stage.task_crops(image, [faces[i].detection for i in due_idx], ("emotion",))
        evidence_crops = stage.task_crops(
            image, [faces[i].detection for i in evidence_idx], ("gender", "age")
        )
        t1 = time.perf_counter()
        classifier = stage.classifier
        derived = classifier.classify_emotion(crops["emotion"]) @ stage.merge
        gender_probs = classifier.classify_gender(evidence_crops["gender"])
        age_probs = (
            classifier.classify_age(evidence_crops["age"]) if "age" in evidence_crops else None
        )
        for row, i in enumerate(due_idx):
            est = estimates[i]
            est.classified_at = stamp
            est.emotion_scores = est.emotion.update(derived[row], stamp)
        for row, i in enumerate(evidence_idx):
            est = estimates[i]
            est.evidence_at = stamp
            est.gender_scores = est.gender.update(gender_probs[row], stamp)
            if age_probs is not None:
                # Age accumulates like gender: the same person, more looks, a surer estimate.
                est.age_scores = est.age.update(age_probs[row], stamp)
        self.counters.classified += len(due_idx)
        self.counters.evidence_looks += len(evidence_idx)
        if newborn:
            self._align_schedule(newborn, estimates)
        t2 = time.perf_counter()
        return (t1 - t0) * 1e3, (t2 - t1) * 1e3

    def _gender_decided(self, est: _Estimate) -> bool:
        """True if the track's published gender is not unknown (the rule of :meth:`_result`)."""
        if est.gender_scores is None:
            return False
        stage = self.stage
        label, _ = decide_gender(
            est.gender_scores.astype(np.float32), stage.gender_labels, stage.gender_min_confidence
        )
        return label != UNKNOWN

    def _align_schedule(self, newborn: list[_Estimate], given: list[_Estimate]) -> None:
        """New tracks (classified for the first time now) take the oldest given track's mark.

        The oldest: the first made of the tracks given in this frame that were classified
        before it. The localisation half applies the same rule to the same tracks (it forces a
        detector look on the frames a track is classified), so both agree on the frames; all
        faces in view are then classified on the same frames, in one batched run per model.
        """
        given_ids = {id(e) for e in given}
        fresh = {id(e) for e in newborn}
        for est in self._tracks.values():
            if id(est) in given_ids and id(est) not in fresh:
                for new in newborn:
                    new.classified_at, new.evidence_at = est.classified_at, est.evidence_at
                return

    def _result(self, face: TrackedFace, est: _Estimate) -> FaceResult:
        emotion, gender = est.emotion_scores, est.gender_scores
        if emotion is None or gender is None:  # classified when first given: cannot happen
            raise RuntimeError(f"track {face.track_id} has no estimate")
        stage = self.stage
        best = int(np.argmax(emotion))
        gender_label, gender_conf = decide_gender(
            gender.astype(np.float32), stage.gender_labels, stage.gender_min_confidence
        )
        age: dict = {}
        if est.age_scores is not None and stage.age_values:
            years, spread, minor = age_summary(est.age_scores, stage.age_values)
            age = {
                "age_years": years,
                "age_spread": spread,
                "minor_probability": minor,
                "age_scores": tuple(float(p) for p in est.age_scores),
            }
        return FaceResult(
            detection=face.detection,
            emotion=stage.emotion_labels[best],
            emotion_confidence=float(emotion[best]),
            emotion_scores=tuple(float(p) for p in emotion),
            gender=gender_label,
            gender_confidence=gender_conf,
            gender_scores=tuple(float(p) for p in gender),
            track_id=face.track_id,
            detector_look=face.looked,
            **age,
        )
