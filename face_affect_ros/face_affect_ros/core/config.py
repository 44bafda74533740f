"""PipelineConfig: every pipeline parameter, validated, and which changes need new sessions.

The decision "does this change need new onnxruntime sessions?" lives here, next to the fields it
is about: :data:`DETECTOR_SESSION_FIELDS` and :data:`CLASSIFIER_SESSION_FIELDS` name the fields a
stage's sessions (or the buffers planned for them) are built from, and
:func:`stages_to_rebuild` compares two configurations. Every other field is applied to the
running stage objects between two frames (:meth:`FaceAffectPipeline.reconfigure`), which costs
microseconds instead of the tens of milliseconds of new sessions plus re-hashing model files.
"""

from __future__ import annotations

import math
import os
from dataclasses import dataclass, fields
from pathlib import Path

import cv2

from face_affect_ros.core.detector import (
    DEFAULT_INPUT_SIZE,
    DEFAULT_MAX_FACES,
    DEFAULT_NMS_THRESHOLD,
    DEFAULT_SCORE_THRESHOLD,
    validate_detector_params,
)
from face_affect_ros.core.labels import DEFAULT_GENDER_MIN_CONFIDENCE, LABEL_SETS
from face_affect_ros.core.manifest import parse_manifest
from face_affect_ros.core.paths import model_manifest_path
from face_affect_ros.core.providers import ProviderRequest
from face_affect_ros.core.verify import DEFAULT_VERIFY_MODEL, DEFAULT_VERIFY_THRESHOLD

__all__ = [
    "BORDER_MODES",
    "CLASSIFIER",
    "CLASSIFIER_SESSION_FIELDS",
    "DEFAULT_EMOTION_MARGIN",
    "DEFAULT_GENDER_MARGIN",
    "DEFAULT_GENDER_MODEL",
    "DETECTOR",
    "DETECTOR_SESSION_FIELDS",
    "MARGIN_RANGE",
    "SESSION_FIELDS",
    "PipelineConfig",
    "changed_fields",
    "session_kwargs",
    "stages_to_rebuild",
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

#: Gender model used when none is named, chosen by measurement (bench/bench_gender_models.py;
#: README "Gender and age"): on 161 by-eye labelled real faces dlib-models' gender-v1 on an
#: aligned RGB chip is right on 96 % by argmax (seed mini-Xception 91 %) and, at each model's
#: calibrated threshold, decides 78 % of them with 99 % right (seed: 78 %, 94 % right).
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
    #: Estimate apparent age (off by default: ~2-4 ms per face more, and a soft biometric that
    #: a deployment should opt in to).
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
    verify_faces: bool = True
    verify_model: str = DEFAULT_VERIFY_MODEL
    verify_threshold: float = DEFAULT_VERIFY_THRESHOLD
    intra_op_threads: int = 1
    #: onnxruntime execution provider of every model: one of
    #: :data:`~face_affect_ros.core.providers.EXECUTION_PROVIDERS`, with the fallback chain of
    #: :data:`~face_affect_ros.core.providers.FALLBACK` ("auto": CUDA if installed, else CPU).
    execution_provider: str = "auto"
    #: Device of the provider ("" = its default; a GPU index for cuda / tensorrt, an OpenVINO
    #: device name such as "GPU" for openvino).
    provider_device: str = ""
    #: Half precision on TensorRT (fp16 engines) and OpenVINO (FP16), off by default.
    provider_fp16: bool = False
    #: TensorRT engine / OpenVINO model cache directory ("" = ~/.cache/face_affect_ros/onnxruntime).
    provider_cache_dir: str = ""
    verify_sha256: bool = True

    def __post_init__(self) -> None:
        for name in (
            "detector_model",
            "emotion_model",
            "gender_model",
            "verify_model",
            "age_model",
        ):
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
        for name in ("detector_input_size", "emotion_margin", "gender_margin"):
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
        if not _is_number(self.verify_threshold) or not 0.0 <= self.verify_threshold <= 1.0:
            raise ValueError(f"verify_threshold must be in [0, 1], got {self.verify_threshold!r}")
        for name in ("flip_tta", "tracking", "antialias", "verify_sha256", "verify_faces", "age"):
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
        # Validates the provider name, device, fp16 and cache directory (ValueError).
        self.providers  # noqa: B018

    @property
    def providers(self) -> ProviderRequest:
        """The execution provider request every model of this configuration is opened with.

        What the model classes take as ``providers`` (:func:`session_kwargs` passes it).
        """
        return ProviderRequest(
            self.execution_provider,
            self.provider_device,
            self.provider_fp16,
            self.provider_cache_dir,
        )

    def resolved_gender_min_confidence(self) -> float:
        """The gender abstention threshold in force (set, else the model's, else the default).

        :attr:`gender_min_confidence` if set, else the gender model's calibrated threshold (its
        manifest's ``decision.min_confidence``), else DEFAULT_GENDER_MIN_CONFIDENCE. One rule
        for the classifier stage and anyone who needs to know the threshold (tests, tools).

        Raises:
            ModelError: the gender manifest cannot be read.
        """
        if self.gender_min_confidence is not None:
            return float(self.gender_min_confidence)
        manifest = parse_manifest(self.manifest_path(self.gender_model))
        decision = manifest.extra.get("decision")
        value = decision.get("min_confidence") if isinstance(decision, dict) else None
        if _is_number(value) and 0.5 <= value <= 1.0:
            return float(value)
        return DEFAULT_GENDER_MIN_CONFIDENCE

    def manifest_path(self, model: str) -> str:
        """Resolve a model name or manifest path against :attr:`models_dir`."""
        if self.models_dir is None:
            return str(model_manifest_path(model))
        path = Path(model)
        if path.is_absolute() or len(path.parts) > 1:
            return model
        return os.path.join(self.models_dir, model if model.endswith(".json") else model + ".json")


#: Fields every onnxruntime session is opened with (:func:`session_kwargs`): a change of any of
#: them means new sessions for every model.
SESSION_FIELDS: frozenset[str] = frozenset(
    {
        "intra_op_threads",
        "execution_provider",
        "provider_device",
        "provider_fp16",
        "provider_cache_dir",
        "verify_sha256",
    }
)


def session_kwargs(config: PipelineConfig) -> dict[str, object]:
    """The session arguments every model class takes, from `config`.

    ``FaceDetector(path, ..., **session_kwargs(config))`` and the same for AffectClassifier,
    WindowDetector and FaceVerifier: the threads, the execution provider request (with its
    fallback chain) and the sha256 check, written once.
    """
    return {
        "intra_op_threads": config.intra_op_threads,
        "providers": config.providers,
        "verify_sha256": config.verify_sha256,
    }


#: Fields the detector stage's session and per-shape buffers are built from; a change of any of
#: them means a new FaceDetector (new session, model file hashed again, plans rebuilt).
DETECTOR_SESSION_FIELDS: frozenset[str] = SESSION_FIELDS | frozenset(
    {
        "models_dir",
        "detector_model",
        "verify_model",
        "verify_faces",
        "detector_input_size",
    }
)

#: Fields the classifier stage's sessions (emotion, gender, optional age) and their resize
#: buffers are built from.
CLASSIFIER_SESSION_FIELDS: frozenset[str] = SESSION_FIELDS | frozenset(
    {
        "models_dir",
        "emotion_model",
        "gender_model",
        "age_model",
        "age",
        "antialias",
    }
)

#: Stage names returned by :func:`stages_to_rebuild`.
DETECTOR, CLASSIFIER = "detector", "classifier"


def changed_fields(old: PipelineConfig, new: PipelineConfig) -> frozenset[str]:
    """Names of the fields whose values differ between two configurations."""
    return frozenset(
        f.name for f in fields(PipelineConfig) if getattr(old, f.name) != getattr(new, f.name)
    )


def stages_to_rebuild(old: PipelineConfig, new: PipelineConfig) -> frozenset[str]:
    """Which stages (``"detector"``, ``"classifier"``) need new sessions to go from old to new.

    An empty set means every change applies in place to the running stages.
    """
    changed = changed_fields(old, new)
    out = set()
    if changed & DETECTOR_SESSION_FIELDS:
        out.add(DETECTOR)
    if changed & CLASSIFIER_SESSION_FIELDS:
        out.add(CLASSIFIER)
    return frozenset(out)
