"""The pipeline's two stages as objects: detection, and crop + classify + label + track.

Why two objects: the split layout runs each stage in its own process, and a process must load
only its stage's models (detector_node has no use for the emotion and gender sessions,
classifier_node none for YuNet). :class:`~face_affect_ros.core.pipeline.FaceAffectPipeline`
composes one of each for the single-process node, the CLIs and the benchmarks, so all of them
run the same code.

Both stages take a :class:`PipelineConfig` and read only their own fields of it. ``apply(config)``
switches a running stage to a new configuration whose session fields are unchanged (thresholds,
margins, label set, flip, smoothing...) without touching the sessions; a stage is one object per
thread, so the caller hands the change to the thread that runs it (the nodes' worker does).
"""

from __future__ import annotations

import math
import time
from collections.abc import Sequence

import cv2
import numpy as np

from face_affect_ros.core.align import ChipAligner
from face_affect_ros.core.classifier import AffectClassifier, ModelInput
from face_affect_ros.core.config import (
    BORDER_MODES,
    CLASSIFIER_SESSION_FIELDS,
    DETECTOR_SESSION_FIELDS,
    PipelineConfig,
    changed_fields,
    session_kwargs,
)
from face_affect_ros.core.detector import Detection, FaceDetector, check_image
from face_affect_ros.core.evidence import age_summary
from face_affect_ros.core.labels import LABEL_SETS, decide_gender, merge_matrix
from face_affect_ros.core.results import FaceResult, FrameResult, StageTimings
from face_affect_ros.core.tracking import FaceTracker
from face_affect_ros.core.verify import FaceVerifier

__all__ = ["ClassifierStage", "DetectorStage", "crop_face"]


def crop_face(
    gray: np.ndarray,
    box: Sequence[float],
    margin: tuple[float, float],
    border: int = cv2.BORDER_REFLECT_101,
) -> np.ndarray:
    """Cut the box enlarged by ``margin`` (fractions of w, h on each side) out of ``gray``.

    ``gray`` may also be a colour frame (the crop keeps its channels).

    Returns a view when the region lies inside the image; parts outside are filled with
    ``border`` (a new array, only for faces cut by the border). The region always keeps its
    size, so a half-visible face is not stretched to fill the model input.
    """
    x, y, w, h = (float(v) for v in box)
    mx, my = margin
    x0 = math.floor(x - mx * w + 0.5)
    y0 = math.floor(y - my * h + 0.5)
    x1 = max(x0 + 1, math.floor(x + w + mx * w + 0.5))
    y1 = max(y0 + 1, math.floor(y + h + my * h + 0.5))
    height, width = gray.shape[:2]
    if x0 >= 0 and y0 >= 0 and x1 <= width and y1 <= height:
        return gray[y0:y1, x0:x1]
    cx0, cy0 = max(x0, 0), max(y0, 0)
    cx1, cy1 = min(x1, width), min(y1, height)
    if cx0 >= cx1 or cy0 >= cy1:
        # No overlap at all (not produced by the detector, but defined): the nearest image
        # pixel everywhere, or zeros for the constant fill.
        fill = (
            0
            if border == cv2.BORDER_CONSTANT
            else gray[min(max(y0, 0), height - 1), min(max(x0, 0), width - 1)]
        )
        return np.full((y1 - y0, x1 - x0, *gray.shape[2:]), fill, dtype=gray.dtype)
    return cv2.copyMakeBorder(
        gray[cy0:cy1, cx0:cx1], cy0 - y0, y1 - cy1, cx0 - x0, x1 - cx1, border, value=0
    )


def _check_in_place(stage: str, session_fields: frozenset[str], old, new) -> None:
    rebuild = changed_fields(old, new) & session_fields
    if rebuild:
        raise ValueError(
            f"{stage}: {sorted(rebuild)} need new sessions; build a new stage instead of apply()"
        )


class DetectorStage:
    """YuNet face detection configured from a PipelineConfig (the detector_node's models).

    Raises:
        ModelError: the detector model or manifest is missing, corrupt or inconsistent.
    """

    def __init__(self, config: PipelineConfig) -> None:
        self.config = config
        self.detector = self._build(config)
        #: The face / not-face second look every detection passes (None: verify_faces off).
        self.verifier = self._build_verifier(config)

    @staticmethod
    def _build_verifier(config: PipelineConfig) -> FaceVerifier | None:
        if not config.verify_faces:
            return None
        return FaceVerifier(
            config.manifest_path(config.verify_model),
            threshold=config.verify_threshold,
            **session_kwargs(config),
        )

    @staticmethod
    def _build(config: PipelineConfig) -> FaceDetector:
        return FaceDetector(
            config.manifest_path(config.detector_model),
            input_size=config.detector_input_size,
            score_threshold=config.score_threshold,
            nms_threshold=config.nms_threshold,
            min_face_size=config.min_face_size,
            max_faces=config.max_faces,
            **session_kwargs(config),
        )

    @property
    def model_name(self) -> str:
        """The detector manifest's name."""
        return self.detector.manifest.name

    def providers_in_use(self) -> dict[str, str]:
        """{model name: execution provider that runs it} of the detector and the verifier.

        For diagnostics (``core.providers.summarize`` makes one line of it).
        """
        out = self.detector.providers_in_use()
        if self.verifier is not None:
            out.update(self.verifier.providers_in_use())
        return out

    def apply(self, config: PipelineConfig) -> None:
        """Switch to `config` in place (thresholds, min size, max faces).

        Raises:
            ValueError: `config` changes a field in DETECTOR_SESSION_FIELDS.
        """
        _check_in_place("detector", DETECTOR_SESSION_FIELDS, self.config, config)
        det = self.detector
        det.score_threshold = float(config.score_threshold)
        det.nms_threshold = float(config.nms_threshold)
        det.min_face_size = float(config.min_face_size)
        det.max_faces = int(config.max_faces)
        if self.verifier is not None:
            self.verifier.threshold = float(config.verify_threshold)
        self.config = config

    def reconfigure(self, config: PipelineConfig) -> bool:
        """Switch to `config`: in place, or with a new session if a session field changed.

        Returns True if a new session was built. On a ModelError the stage is unchanged.
        """
        if not changed_fields(self.config, config) & DETECTOR_SESSION_FIELDS:
            self.apply(config)
            return False
        detector = self._build(config)
        verifier = self._build_verifier(config)
        self.detector, self.verifier = detector, verifier
        self.config = config
        return True

    def detect(self, image: np.ndarray) -> list[Detection]:
        """Faces of a uint8 mono / BGR / BGRA frame, highest score first.

        Raises:
            ValueError: the image has the wrong type, dtype or shape, or is empty.
        """
        image = check_image(image)
        detections = self.detector.detect(image)
        if self.verifier is not None and detections:
            detections = self.verifier.filter(image, detections)
        return detections


class ClassifierStage:
    """Per-model crops, emotion + gender (+ age) in one batch each, label rules and tracking.

    Each model's manifest says how its input is cut (:class:`ModelInput`): the mini-Xception
    models take gray crops of the detector box with the configured margins, the dlib-models
    networks RGB chips aligned on the five landmarks (:mod:`face_affect_ros.core.align`).

    Raises:
        ModelError: a classifier model or manifest is missing, corrupt or inconsistent.
    """

    def __init__(self, config: PipelineConfig) -> None:
        self.classifier = self._build(config)
        self.tracker: FaceTracker | None = None
        self.config = config
        self._configure(config)

    @staticmethod
    def _build(config: PipelineConfig) -> AffectClassifier:
        return AffectClassifier(
            config.manifest_path(config.emotion_model),
            config.manifest_path(config.gender_model),
            flip_tta=config.flip_tta,
            antialias=config.antialias,
            age_manifest=config.manifest_path(config.age_model) if config.age else None,
            **session_kwargs(config),
        )

    def _configure(self, config: PipelineConfig) -> None:
        self.gender_labels = self.classifier.gender_labels
        self.age_values = self.classifier.age_values
        tasks = ("emotion", "gender", "age") if config.age else ("emotion", "gender")
        self._inputs: dict[str, ModelInput] = {t: self.classifier.input_spec(t) for t in tasks}
        self.emotion_labels = LABEL_SETS[config.emotion_label_set]
        self._merge = merge_matrix(config.emotion_label_set, self.classifier.emotion_labels)
        self._border = BORDER_MODES[config.border_mode]
        self._aligners = {
            task: ChipAligner(spec.size, border=self._border)
            for task, spec in self._inputs.items()
            if spec.crop == "aligned"
        }
        #: The abstention threshold in force: the configured one, else the model's calibrated.
        self.gender_min_confidence = config.resolved_gender_min_confidence()
        self.classifier.flip_tta = bool(config.flip_tta)
        if not config.tracking:
            self.tracker = None
        elif self.tracker is None:
            self.tracker = FaceTracker(smoothing=config.emotion_smoothing)
        else:  # the tracks continue: ids stay stable across a parameter change
            self.tracker.smoothing = config.emotion_smoothing
        self.config = config

    @property
    def merge(self) -> np.ndarray:
        """Matrix from the model's emotion classes to the configured label set."""
        return self._merge

    @property
    def border(self) -> int:
        """cv2 border mode of crops that reach outside the image."""
        return self._border

    @property
    def model_names(self) -> tuple[str, str]:
        """(emotion, gender) manifest names."""
        emotion, gender = self.classifier.manifests
        return emotion.name, gender.name

    def providers_in_use(self) -> dict[str, str]:
        """{model name: execution provider that runs it} of emotion, gender (and age)."""
        return self.classifier.providers_in_use()

    def apply(self, config: PipelineConfig) -> None:
        """Switch to `config` in place; face tracks (and their ids) continue.

        In place: margins, border, label set, gender threshold, flip, tracking, smoothing.
        (Switching the gender model or age on / off needs new sessions: a new stage.)

        Raises:
            ValueError: `config` changes a field in CLASSIFIER_SESSION_FIELDS.
        """
        _check_in_place("classifier", CLASSIFIER_SESSION_FIELDS, self.config, config)
        self._configure(config)

    def reconfigure(self, config: PipelineConfig) -> bool:
        """Switch to `config`: in place, or with new sessions if a session field changed.

        Face tracks continue either way. Returns True if new sessions were built. On a
        ModelError the stage is unchanged.
        """
        if not changed_fields(self.config, config) & CLASSIFIER_SESSION_FIELDS:
            self.apply(config)
            return False
        self.classifier = self._build(config)
        self._configure(config)
        return True

    def adopt_tracks(self, previous: ClassifierStage) -> None:
        """Continue `previous`'s face tracks (after new sessions were built for a change)."""
        if self.tracker is not None and previous.tracker is not None:
            previous.tracker.smoothing = self.tracker.smoothing
            self.tracker = previous.tracker

    def emotion_crop(self, image: np.ndarray, detection: Detection) -> np.ndarray:
        """Return the gray crop the emotion model sees for `detection` (before resizing).

        Cut like the classifiers' grey crops (:meth:`_grey_crop`); a copy, safe to keep.
        """
        crop = self._grey_crop(check_image(image), detection.box, self.config.emotion_margin)
        return crop.copy()

    def task_crops(
        self,
        image: np.ndarray,
        detections: Sequence[Detection],
        tasks: Sequence[str] | None = None,
    ) -> dict[str, list[np.ndarray]]:
        """Every model's crops of `detections` (what classify() feeds them), by task.

        `tasks` limits them to those models (of "emotion", "gender", "age"; None: all loaded).
        Views into the frame or the stage's buffers: valid until the next call (the perception
        loop classifies them at once).
        """
        image = check_image(image)
        detections = list(detections)
        wanted = self._inputs if tasks is None else [t for t in self._inputs if t in tasks]
        return {task: self._crops(task, image, detections) for task in wanted}

    def face_crops(
        self, task: str, image: np.ndarray, detections: Sequence[Detection]
    ) -> list[np.ndarray]:
        """What the ``task`` model sees for each detection, before resizing to its input.

        Box models get the detector box with the task's margins (gray or colour as the
        manifest says); aligned models a landmark-aligned chip at their input size. Both fill
        pixels outside the image with ``border_mode``. Copies, safe to keep.
        """
        crops = self._crops(task, check_image(image), list(detections))
        return [c.copy() for c in crops]

    def _crops(self, task: str, image: np.ndarray, detections: list[Detection]) -> list[np.ndarray]:
        spec = self._inputs[task]
        if spec.crop == "aligned":
            aligner = self._aligners[task]
            src = image if image.ndim == 2 or image.shape[2] == 3 else image[:, :, :3]
            return [_to_color(aligner.chip(src, d.landmarks), spec.color) for d in detections]
        margin = self.config.emotion_margin if task == "emotion" else self.config.gender_margin
        if spec.color == "gray":
            return [self._grey_crop(image, d.box, margin) for d in detections]
        src = _to_bgr(image)
        return [
            _to_color(crop_face(src, d.box, margin, self._border), spec.color) for d in detections
        ]

    def _grey_crop(
        self, image: np.ndarray, box: Sequence[float], margin: tuple[float, float]
    ) -> np.ndarray:
        """A box crop in grey, cut in colour and converted alone.

        The same pixels as cutting it from the frame converted to grey (the conversion is per
        pixel, the border fill commutes with it), for the crop's pixels instead of the frame's
        (0.5 ms per classified frame at 1080p).
        """
        src = image if image.ndim == 2 else _to_bgr(image)
        return _to_color(crop_face(src, box, margin, self._border), "gray")

    def classify(
        self,
        image: np.ndarray,
        detections: Sequence[Detection],
        t0: float | None = None,
        t1: float | None = None,
    ) -> FrameResult:
        """Classify the faces `detections` (found on this same frame) and track them.

        `t0` / `t1` (perf_counter seconds) are when the frame's processing and detection
        started / ended, for the result's timings; both default to now (no detection stage).

        Raises:
            ValueError: the image has the wrong type, dtype or shape, or is empty.
        """
        if t0 is None:
            t0 = time.perf_counter()
        if t1 is None:
            t1 = t0
        image = check_image(image)
        detections = list(detections)
        faces: tuple[FaceResult, ...] = ()
        t2 = t3 = t1
        if detections:
            crops = {task: self._crops(task, image, detections) for task in self._inputs}
            t2 = time.perf_counter()
            emotion_probs, gender_probs = self.classifier.classify(
                crops["emotion"], crops["gender"]
            )
            age_probs = self.classifier.classify_age(crops["age"]) if "age" in crops else None
            t3 = time.perf_counter()
            faces = self._results(detections, emotion_probs, gender_probs, age_probs)
        if self.tracker is not None:
            # Every classified frame updates the tracks, empty ones too (tracks age out).
            faces = tuple(self.tracker.update(faces, self.emotion_labels))
        t4 = time.perf_counter()
        return FrameResult(
            width=int(image.shape[1]),
            height=int(image.shape[0]),
            emotion_labels=self.emotion_labels,
            faces=faces,
            timings=StageTimings(
                detect_ms=(t1 - t0) * 1e3,
                crop_ms=(t2 - t1) * 1e3,
                classify_ms=(t3 - t2) * 1e3,
                total_ms=(t4 - t0) * 1e3,
            ),
            gender_labels=self.gender_labels,
            age_values=self.age_values,
        )

    def _results(
        self,
        detections: list[Detection],
        emotion_probs: np.ndarray,
        gender_probs: np.ndarray,
        age_probs: np.ndarray | None = None,
    ) -> tuple[FaceResult, ...]:
        derived = emotion_probs @ self._merge
        best = derived.argmax(axis=1)
        out = []
        for i, det in enumerate(detections):
            gender, gender_conf = decide_gender(
                gender_probs[i], self.gender_labels, self.gender_min_confidence
            )
            age: dict = {}
            if age_probs is not None:
                years, spread, minor = age_summary(age_probs[i], self.age_values)
                age = {
                    "age_years": years,
                    "age_spread": spread,
                    "minor_probability": minor,
                    "age_scores": tuple(float(p) for p in age_probs[i]),
                }
            out.append(
                FaceResult(
                    detection=det,
                    emotion=self.emotion_labels[int(best[i])],
                    emotion_confidence=float(derived[i, best[i]]),
                    emotion_scores=tuple(float(p) for p in derived[i]),
                    gender=gender,
                    gender_confidence=gender_conf,
                    gender_scores=tuple(float(p) for p in gender_probs[i]),
                    **age,
                )
            )
        return tuple(out)


def _to_bgr(image: np.ndarray) -> np.ndarray:
    """A 3-channel BGR view or copy of a mono / BGR / BGRA frame."""
    if image.ndim == 2:
        return cv2.cvtColor(image, cv2.COLOR_GRAY2BGR)
    return image if image.shape[2] == 3 else image[:, :, :3]


def _to_color(crop: np.ndarray, color: str) -> np.ndarray:
    """A mono or BGR crop in a model's colour ("gray", "bgr" or "rgb")."""
    if color == "gray":
        return crop if crop.ndim == 2 else cv2.cvtColor(crop, cv2.COLOR_BGR2GRAY)
    if crop.ndim == 2:
        return cv2.cvtColor(crop, cv2.COLOR_GRAY2BGR if color == "bgr" else cv2.COLOR_GRAY2RGB)
    return crop if color == "bgr" else np.ascontiguousarray(crop[:, :, ::-1])
