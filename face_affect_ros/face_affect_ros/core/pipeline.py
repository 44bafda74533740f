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
"""

from __future__ import annotations

import math
import os
import time
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path

import cv2
import numpy as np

from face_affect_ros.core.align import ChipAligner
from face_affect_ros.core.classifier import AffectClassifier, ModelInput
from face_affect_ros.core.detector import (
    DEFAULT_INPUT_SIZE,
    DEFAULT_MAX_FACES,
    DEFAULT_NMS_THRESHOLD,
    DEFAULT_SCORE_THRESHOLD,
    Detection,
    FaceDetector,
    check_image,
    validate_detector_params,
)
from face_affect_ros.core.evidence import age_summary
from face_affect_ros.core.labels import (
    DEFAULT_GENDER_MIN_CONFIDENCE,
    LABEL_SETS,
    decide_gender,
    merge_matrix,
)
from face_affect_ros.core.paths import model_manifest_path
from face_affect_ros.core.tracking import FaceTracker

__all__ = [
    "BORDER_MODES",
    "DEFAULT_EMOTION_MARGIN",
    "DEFAULT_GENDER_MARGIN",
    "Detection",
    "FaceAffectPipeline",
    "FaceResult",
    "FrameResult",
    "PipelineConfig",
    "StageTimings",
    "crop_face",
]

#: Emotion crop margin (x, y), fractions of the YuNet box added on each side. FER-2013 faces
#: are tight Viola-Jones style crops; a pasted lfw patch (the same framing) is the YuNet box plus
#: 0.09 / 0.22 of its width left / right and ~0 of its height top / bottom. Over a grid of
#: margins, (0.15, 0.0) reproduces the emotion model's output on that tight reference crop best:
#: mean total-variation distance 0.174 (0.23 at (0, 0), 0.35 at (0.5, 0.2)), top-1 agreement
#: 77 % on 99 faces (bench/margin_sweep.py, measurement 2). The astronaut stays happy
#: (p = 0.997). Upstream's (20, 40) px on a 150 px Haar box is about (0.3, 0.25) of a YuNet
#: box (a Haar box frames like an lfw patch), where agreement drops to 53 % (TV 0.38).
DEFAULT_EMOTION_MARGIN = (0.15, 0.0)

#: Gender crop margin (x, y). The gender model was trained on wide IMDB crops and is far from
#: them on tight crops (it calls 69 of the 100 mostly male lfw patches "woman"). On real photos
#: with context (astronaut = woman, cameraman = man, 6 face sizes each), (0.15, 0.25) has the
#: best mean p(correct) over its 3x3 margin neighbourhood (0.941; 0.952 at the point itself,
#: worst view 0.92), where (0, 0) gives 0.62 and (0.4, 0.4) 0.59; on the lfw patches (by-eye
#: labels, no context past the patch) it raises agreement from 0.33 at (0, 0) to 0.73
#: (balanced accuracy 0.80). Only two real identities have context, so treat this as a
#: reasoned default, not a tuned optimum.
DEFAULT_GENDER_MARGIN = (0.15, 0.25)

#: Gender model used when none is named: chosen by measurement (bench/bench_gender_models.py,
#: see README "Gender and age").
DEFAULT_GENDER_MODEL = "gender_dlib_v1"

#: How crop pixels outside the image are filled, by config name. "reflect" mirrors the visible
#: part (OpenCV BORDER_REFLECT_101): see PipelineConfig.border_mode for the measurement.
BORDER_MODES = {
    "reflect": cv2.BORDER_REFLECT_101,
    "replicate": cv2.BORDER_REPLICATE,
    "constant": cv2.BORDER_CONSTANT,
}

#: Margins outside this range are rejected: below -0.25 the crop loses the face's eyes / mouth,
#: above 2.0 the face is less than a fifth of the crop.
MARGIN_RANGE = (-0.25, 2.0)


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


def _is_number(value: object) -> bool:
    return isinstance(value, (int, float)) and not isinstance(value, bool) and math.isfinite(value)


def _check_margin(name: str, margin: object) -> None:
    if (
        not isinstance(margin, (tuple, list))
        or len(margin) != 2
        or not all(_is_number(v) for v in margin)
    ):
        raise ValueError(f"{name} must be (x, y) numbers, got {margin!r}")
    lo, hi = MARGIN_RANGE
    if not all(lo <= v <= hi for v in margin):
        raise ValueError(f"{name} fractions must be in [{lo}, {hi}], got {tuple(margin)}")


@dataclass(frozen=True)
class PipelineConfig:
    """All pipeline parameters, validated on construction.

    A ROS node checks a runtime parameter change by building a new config
    (``dataclasses.replace``) and catching ``ValueError``.

    ``border_mode`` fills the part of a crop that lies outside the image. Default "reflect"
    (mirror the visible part): faces are nearly left/right symmetric, so a mirrored half is a
    plausible stand-in, and it continues texture instead of smearing the edge row. For faces
    cut by 10-40 % on each side, mean total-variation distance to the uncut face's output
    (bench/margin_sweep.py, measurement 4, 111 faces): emotion reflect 0.202, replicate 0.246,
    constant 0.248; gender reflect 0.123, replicate 0.114, constant 0.167. Constant (black)
    is worst for both: a hard dark edge reads as hair or shadow.

    Models are named by manifest name (looked up in ``models_dir``, or the default models
    directory of :mod:`face_affect_ros.core.paths` when it is None) or by manifest path.
    """

    models_dir: str | None = None
    detector_model: str = "yunet_n_dynamic"
    emotion_model: str = "emotion_mini_xception"
    gender_model: str = DEFAULT_GENDER_MODEL
    age_model: str = "age_dlib_v1"
    #: Estimate apparent age (off by default: ~3 ms per face more, and a soft biometric that a
    #: deployment should opt in to).
    age: bool = False
    detector_input_size: tuple[int, int] = DEFAULT_INPUT_SIZE
    score_threshold: float = DEFAULT_SCORE_THRESHOLD
    nms_threshold: float = DEFAULT_NMS_THRESHOLD
    min_face_size: float = 0.0
    max_faces: int = DEFAULT_MAX_FACES
    emotion_margin: tuple[float, float] = DEFAULT_EMOTION_MARGIN
    gender_margin: tuple[float, float] = DEFAULT_GENDER_MARGIN
    border_mode: str = "reflect"
    emotion_label_set: str = "fer7"
    #: None = the gender model's calibrated threshold (its manifest's ``decision``), or
    #: DEFAULT_GENDER_MIN_CONFIDENCE for a manifest without one.
    gender_min_confidence: float | None = None
    flip_tta: bool = False
    tracking: bool = True
    emotion_smoothing: float = 0.0
    antialias: bool = True
    intra_op_threads: int = 1
    providers: tuple[str, ...] = ("CPUExecutionProvider",)
    verify_sha256: bool = True

    def __post_init__(self) -> None:
        for name in ("detector_model", "emotion_model", "gender_model", "age_model"):
            value = getattr(self, name)
            if not isinstance(value, str) or not value:
                raise ValueError(f"{name} must be a non-empty string, got {value!r}")
        if self.models_dir is not None and (
            not isinstance(self.models_dir, str) or not self.models_dir
        ):
            raise ValueError(
                f"models_dir must be None or a non-empty string, got {self.models_dir!r}"
            )
        for name in ("score_threshold", "nms_threshold", "min_face_size"):
            if not _is_number(getattr(self, name)):
                raise ValueError(f"{name} must be a finite number, got {getattr(self, name)!r}")
        # Tuples from ROS parameters arrive as lists; store tuples so the config stays hashable.
        for name in ("detector_input_size", "emotion_margin", "gender_margin", "providers"):
            value = getattr(self, name)
            if isinstance(value, list):
                object.__setattr__(self, name, tuple(value))
        validate_detector_params(
            self.detector_input_size,
            self.score_threshold,
            self.nms_threshold,
            self.min_face_size,
            self.max_faces,
        )
        _check_margin("emotion_margin", self.emotion_margin)
        _check_margin("gender_margin", self.gender_margin)
        if self.border_mode not in BORDER_MODES:
            raise ValueError(
                f"border_mode must be one of {sorted(BORDER_MODES)}, got {self.border_mode!r}"
            )
        if self.emotion_label_set not in LABEL_SETS:
            raise ValueError(
                f"emotion_label_set must be one of {sorted(LABEL_SETS)}, "
                f"got {self.emotion_label_set!r}"
            )
        if self.gender_min_confidence is not None and (
            not _is_number(self.gender_min_confidence)
            or not 0.5 <= self.gender_min_confidence <= 1.0
        ):
            raise ValueError(
                "gender_min_confidence must be in [0.5, 1] (below 0.5 it never "
                f"abstains on two classes), got {self.gender_min_confidence!r}"
            )
        if not _is_number(self.emotion_smoothing) or not 0.0 <= self.emotion_smoothing <= 0.95:
            raise ValueError(
                f"emotion_smoothing must be in [0, 0.95] (0 = off), got {self.emotion_smoothing!r}"
            )
        if self.emotion_smoothing > 0 and not self.tracking:
            raise ValueError("emotion_smoothing needs tracking (it averages along a track)")
        for name in ("flip_tta", "tracking", "antialias", "verify_sha256", "age"):
            if not isinstance(getattr(self, name), bool):
                raise ValueError(f"{name} must be a bool, got {getattr(self, name)!r}")
        if (
            isinstance(self.intra_op_threads, bool)
            or not isinstance(self.intra_op_threads, int)
            or not 0 <= self.intra_op_threads <= 64
        ):
            raise ValueError(
                f"intra_op_threads must be an int in [0, 64] (0 = onnxruntime "
                f"default), got {self.intra_op_threads!r}"
            )
        if not self.providers or not all(isinstance(p, str) and p for p in self.providers):
            raise ValueError(f"providers must be non-empty provider names, got {self.providers!r}")

    def manifest_path(self, model: str) -> str:
        """Resolve a model name or manifest path against :attr:`models_dir`."""
        if self.models_dir is None:
            return str(model_manifest_path(model))
        path = Path(model)
        if path.is_absolute() or len(path.parts) > 1:
            return model
        return os.path.join(self.models_dir, model if model.endswith(".json") else model + ".json")


def crop_face(
    gray: np.ndarray,
    box: Sequence[float],
    margin: tuple[float, float],
    border: int = cv2.BORDER_REFLECT_101,
) -> np.ndarray:
    """Cut the box enlarged by ``margin`` (fractions of w, h on each side) out of ``gray``.

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
        return np.full((y1 - y0, x1 - x0), fill, dtype=gray.dtype)
    return cv2.copyMakeBorder(
        gray[cy0:cy1, cx0:cx1], cy0 - y0, y1 - cy1, cx0 - x0, x1 - cx1, border, value=0
    )


@dataclass
class _GrayBuffer:
    """Reused destination of the per-frame gray conversion."""

    array: np.ndarray = field(default_factory=lambda: np.empty((0, 0), dtype=np.uint8))

    def convert(self, image: np.ndarray) -> np.ndarray:
        if image.ndim == 2:
            return image
        if self.array.shape != image.shape[:2]:
            self.array = np.empty(image.shape[:2], dtype=np.uint8)
        code = cv2.COLOR_BGR2GRAY if image.shape[2] == 3 else cv2.COLOR_BGRA2GRAY
        return cv2.cvtColor(image, code, dst=self.array)


class FaceAffectPipeline:
    """Detector + classifier + label rules. One instance per processing thread.

    Raises:
        ModelError: a model or manifest is missing, corrupt or inconsistent.
    """

    def __init__(self, config: PipelineConfig | None = None) -> None:
        self.config = config if config is not None else PipelineConfig()
        cfg = self.config
        self.detector = FaceDetector(
            cfg.manifest_path(cfg.detector_model),
            input_size=cfg.detector_input_size,
            score_threshold=cfg.score_threshold,
            nms_threshold=cfg.nms_threshold,
            min_face_size=cfg.min_face_size,
            max_faces=cfg.max_faces,
            intra_op_threads=cfg.intra_op_threads,
            providers=cfg.providers,
            verify_sha256=cfg.verify_sha256,
        )
        self.classifier = AffectClassifier(
            cfg.manifest_path(cfg.emotion_model),
            cfg.manifest_path(cfg.gender_model),
            intra_op_threads=cfg.intra_op_threads,
            flip_tta=cfg.flip_tta,
            providers=cfg.providers,
            verify_sha256=cfg.verify_sha256,
            antialias=cfg.antialias,
            age_manifest=cfg.manifest_path(cfg.age_model) if cfg.age else None,
        )
        self.emotion_labels = LABEL_SETS[cfg.emotion_label_set]
        self.gender_labels = self.classifier.gender_labels
        self.age_values = self.classifier.age_values
        #: The abstention threshold in force: the configured one, else the model's calibrated.
        self.gender_min_confidence = (
            cfg.gender_min_confidence
            if cfg.gender_min_confidence is not None
            else self.classifier.gender_min_confidence or DEFAULT_GENDER_MIN_CONFIDENCE
        )
        tasks = ("emotion", "gender", "age") if cfg.age else ("emotion", "gender")
        self._inputs = {task: self.classifier.input_spec(task) for task in tasks}
        self._aligners = {
            task: ChipAligner(spec.size, border=BORDER_MODES[cfg.border_mode])
            for task, spec in self._inputs.items()
            if spec.crop == "aligned"
        }
        self._merge = merge_matrix(cfg.emotion_label_set, self.classifier.emotion_labels)
        self._border = BORDER_MODES[cfg.border_mode]
        self._gray = _GrayBuffer()
        self.tracker = FaceTracker(smoothing=cfg.emotion_smoothing) if cfg.tracking else None

    def adopt_tracks(self, previous: FaceAffectPipeline) -> None:
        """Continue `previous`'s face tracks (a runtime parameter change keeps the ids)."""
        if self.tracker is not None and previous.tracker is not None:
            previous.tracker.smoothing = self.tracker.smoothing
            self.tracker = previous.tracker

    @property
    def model_names(self) -> tuple[str, str, str]:
        """(detector, emotion, gender) model names from their manifests."""
        emotion, gender = self.classifier.manifests
        return self.detector.manifest.name, emotion.name, gender.name

    def face_crops(
        self, task: str, image: np.ndarray, detections: Sequence[Detection]
    ) -> list[np.ndarray]:
        """What the ``task`` model sees for each detection, before resizing to its input.

        Box models get the detector box with the task's margins (gray or colour as the
        manifest says); aligned models a landmark-aligned chip at their input size
        (core/align.py). Both fill pixels outside the image with ``border_mode``.
        """
        return self._crops(task, check_image(image), None, list(detections))

    def _crops(
        self,
        task: str,
        image: np.ndarray,
        gray: np.ndarray | None,
        detections: list[Detection],
    ) -> list[np.ndarray]:
        spec: ModelInput = self._inputs[task]
        if spec.crop == "aligned":
            aligner = self._aligners[task]
            src = image if image.ndim == 2 or image.shape[2] == 3 else image[:, :, :3]
            return [_to_color(aligner.chip(src, d.landmarks), spec.color) for d in detections]
        margin = self.config.emotion_margin if task == "emotion" else self.config.gender_margin
        if spec.color == "gray":
            src = gray if gray is not None else self._gray.convert(image)
            return [crop_face(src, d.box, margin, self._border) for d in detections]
        src = image if image.ndim == 3 and image.shape[2] == 3 else _to_bgr(image)
        return [
            _to_color(crop_face(src, d.box, margin, self._border), spec.color) for d in detections
        ]

    def process(self, image: np.ndarray) -> FrameResult:
        """Detect and classify every face of a uint8 mono, BGR or BGRA frame.

        Raises:
            ValueError: the image has the wrong type, dtype or shape, or is empty.
        """
        t0 = time.perf_counter()
        image = check_image(image)
        detections = self.detector.detect(image)
        return self._classify(image, detections, t0, time.perf_counter())

    def emotion_crop(self, image: np.ndarray, detection: Detection) -> np.ndarray:
        """Return the gray crop the emotion model sees for `detection` (before resizing).

        A copy: the pipeline reuses its gray buffer for the next frame.
        """
        gray = self._gray.convert(check_image(image))
        return crop_face(gray, detection.box, self.config.emotion_margin, self._border).copy()

    def detect(self, image: np.ndarray) -> list[Detection]:
        """Only the detector stage (the split layout's detector_node)."""
        return self.detector.detect(check_image(image))

    def classify(self, image: np.ndarray, detections: Sequence[Detection]) -> FrameResult:
        """Only the classifier stage, on detections made earlier on this same frame.

        The split layout's classifier_node uses it with detections from detector_node; given
        the detections `process` would find, it returns what `process` returns.
        """
        t0 = time.perf_counter()
        return self._classify(check_image(image), list(detections), t0, t0)

    def _classify(
        self, image: np.ndarray, detections: list[Detection], t0: float, t1: float
    ) -> FrameResult:
        faces: tuple[FaceResult, ...] = ()
        t2 = t3 = t1
        if detections:
            gray = self._gray.convert(image)
            crops = {task: self._crops(task, image, gray, detections) for task in self._inputs}
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
