"""Inference core: NumPy frames in, frozen dataclasses out. Never imports rclpy.

Typical use::

    from face_affect_ros.core import FaceAffectPipeline, PipelineConfig
    result = FaceAffectPipeline(PipelineConfig()).process(bgr_frame)
"""

from face_affect_ros.core.classifier import AffectClassifier
from face_affect_ros.core.detector import LANDMARK_NAMES, Detection, FaceDetector, check_image
from face_affect_ros.core.draw import draw_results
from face_affect_ros.core.labels import (
    FER7,
    HIERARCHICAL3,
    IOT4,
    LABEL_SETS,
    UNKNOWN,
    decide_gender,
    derive_emotions,
)
from face_affect_ros.core.manifest import (
    ModelError,
    ModelManifest,
    create_session,
    load_manifest,
    load_model,
)
from face_affect_ros.core.paths import MODELS_DIR_ENV, model_manifest_path, models_dir
from face_affect_ros.core.pipeline import (
    FaceAffectPipeline,
    FaceResult,
    FrameResult,
    PipelineConfig,
    StageTimings,
    crop_face,
)

__all__ = [
    "FER7",
    "HIERARCHICAL3",
    "IOT4",
    "LABEL_SETS",
    "LANDMARK_NAMES",
    "MODELS_DIR_ENV",
    "UNKNOWN",
    "AffectClassifier",
    "Detection",
    "FaceAffectPipeline",
    "FaceDetector",
    "FaceResult",
    "FrameResult",
    "ModelError",
    "ModelManifest",
    "PipelineConfig",
    "StageTimings",
    "check_image",
    "create_session",
    "crop_face",
    "decide_gender",
    "derive_emotions",
    "draw_results",
    "load_manifest",
    "load_model",
    "model_manifest_path",
    "models_dir",
]
