"""The whole per-frame pipeline: detect faces, crop them per model, classify, label.

``FaceAffectPipeline(config).process(image)`` takes a uint8 mono / BGR / BGRA frame and returns
a frozen :class:`FrameResult` in original-image pixels. ROS nodes, the CLI and the benchmarks
all go through this class, so they agree on crops, labels and thresholds.

Crop margins (fractions of the detector box added on each side, (x, y)) are per model because
the two models were trained on different framings: FER-2013 (emotion) has tight, square face
crops, IMDB-WIKI ``imdb_crop`` (gender) has face crops with a wide margin. The defaults were
chosen by measurement in ``bench/margin_sweep.py``; see :data:`DEFAULT_EMOTION_MARGIN` and
:data:`DEFAULT_GENDER_MARGIN`. Pixels of a crop outside the image are filled by mirroring
(``border_mode``), and crops much larger than a model's input are shrunk in two steps
(``antialias``); both choices are measured, see :class:`PipelineConfig` and
:class:`~face_affect_ros.core.classifier.AffectClassifier`.

Layers: :mod:`.config` (PipelineConfig, which changes need new sessions), :mod:`.stages`
(DetectorStage, ClassifierStage), :mod:`.results` (the frozen results); this module composes
the two stages and re-exports the names the callers have always imported from here.
"""

from __future__ import annotations

import time
from collections.abc import Sequence

import numpy as np

from face_affect_ros.core.classifier import AffectClassifier
from face_affect_ros.core.config import (
    BORDER_MODES,
    CLASSIFIER,
    DEFAULT_EMOTION_MARGIN,
    DEFAULT_GENDER_MARGIN,
    DEFAULT_GENDER_MODEL,
    DETECTOR,
    MARGIN_RANGE,
    PipelineConfig,
    stages_to_rebuild,
)
from face_affect_ros.core.detector import Detection, FaceDetector, check_image
from face_affect_ros.core.results import FaceResult, FrameResult, StageTimings
from face_affect_ros.core.stages import ClassifierStage, DetectorStage, crop_face
from face_affect_ros.core.tracking import FaceTracker

__all__ = [
    "BORDER_MODES",
    "DEFAULT_EMOTION_MARGIN",
    "DEFAULT_GENDER_MARGIN",
    "DEFAULT_GENDER_MODEL",
    "MARGIN_RANGE",
    "ClassifierStage",
    "Detection",
    "DetectorStage",
    "FaceAffectPipeline",
    "FaceResult",
    "FrameResult",
    "PipelineConfig",
    "StageTimings",
    "crop_face",
    "stages_to_rebuild",
]


class FaceAffectPipeline:
    """A DetectorStage and a ClassifierStage run one after the other. One per thread.

    ``detector_stage`` / ``classifier_stage`` are the two stage objects; ``detector`` and
    ``classifier`` the FaceDetector and AffectClassifier inside them (the benchmarks time
    those directly).

    Raises:
        ModelError: a model or manifest is missing, corrupt or inconsistent.
    """

    def __init__(self, config: PipelineConfig | None = None) -> None:
        config = config if config is not None else PipelineConfig()
        self.detector_stage = DetectorStage(config)
        self.classifier_stage = ClassifierStage(config)
        self.config = config

    @property
    def detector(self) -> FaceDetector:
        """The detector stage's FaceDetector."""
        return self.detector_stage.detector

    @property
    def classifier(self) -> AffectClassifier:
        """The classifier stage's AffectClassifier."""
        return self.classifier_stage.classifier

    @property
    def tracker(self) -> FaceTracker | None:
        """The classifier stage's FaceTracker, or None with tracking off."""
        return self.classifier_stage.tracker

    @property
    def emotion_labels(self) -> tuple[str, ...]:
        """Labels of FaceResult.emotion_scores (the configured label set)."""
        return self.classifier_stage.emotion_labels

    @property
    def gender_labels(self) -> tuple[str, ...]:
        """Labels of FaceResult.gender_scores."""
        return self.classifier_stage.gender_labels

    @property
    def age_values(self) -> tuple[float, ...]:
        """Age in years of each class of FaceResult.age_scores; () with age off."""
        return self.classifier_stage.age_values

    @property
    def gender_min_confidence(self) -> float:
        """The gender abstention threshold in force (configured, else the model's own)."""
        return self.classifier_stage.gender_min_confidence

    def face_crops(
        self, task: str, image: np.ndarray, detections: Sequence[Detection]
    ) -> list[np.ndarray]:
        """What the ``task`` model ("emotion", "gender", "age") sees for each detection."""
        return self.classifier_stage.face_crops(task, image, detections)

    @property
    def model_names(self) -> tuple[str, str, str]:
        """(detector, emotion, gender) model names from their manifests."""
        return (self.detector_stage.model_name, *self.classifier_stage.model_names)

    def providers_in_use(self) -> dict[str, str]:
        """{model name: execution provider that runs it} of every model of both stages.

        For the nodes' diagnostics and start-up log: ``core.providers.summarize`` makes one
        line of it ("cpu", or "cuda (...); cpu (...)" when models differ).
        """
        return {
            **self.detector_stage.providers_in_use(),
            **self.classifier_stage.providers_in_use(),
        }

    def reconfigure(self, config: PipelineConfig) -> frozenset[str]:
        """Switch to `config`: in place where possible, new sessions only where needed.

        Returns the stages whose sessions were rebuilt (as :func:`stages_to_rebuild` decides);
        face tracks continue either way. On a ModelError that stage keeps its configuration.
        """
        rebuilt = set()
        if self.detector_stage.reconfigure(config):
            rebuilt.add(DETECTOR)
        if self.classifier_stage.reconfigure(config):
            rebuilt.add(CLASSIFIER)
        self.config = config
        return frozenset(rebuilt)

    def adopt_tracks(self, previous: FaceAffectPipeline) -> None:
        """Continue `previous`'s face tracks (a pipeline built anew keeps the ids)."""
        self.classifier_stage.adopt_tracks(previous.classifier_stage)

    def process(self, image: np.ndarray) -> FrameResult:
        """Detect and classify every face of a uint8 mono, BGR or BGRA frame.

        Raises:
            ValueError: the image has the wrong type, dtype or shape, or is empty.
        """
        t0 = time.perf_counter()
        image = check_image(image)
        detections = self.detector_stage.detect(image)
        return self.classifier_stage.classify(image, detections, t0, time.perf_counter())

    def emotion_crop(self, image: np.ndarray, detection: Detection) -> np.ndarray:
        """Return the gray crop the emotion model sees for `detection` (before resizing)."""
        return self.classifier_stage.emotion_crop(image, detection)

    def detect(self, image: np.ndarray) -> list[Detection]:
        """Only the detector stage (the split layout's detector_node)."""
        return self.detector_stage.detect(image)

    def classify(self, image: np.ndarray, detections: Sequence[Detection]) -> FrameResult:
        """Only the classifier stage, on detections made earlier on this same frame.

        Given the detections `process` would find, it returns what `process` returns.
        """
        return self.classifier_stage.classify(image, detections)
