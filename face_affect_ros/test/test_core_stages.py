"""The pipeline's two stages: each loads only its models, cheap changes apply in place.

Every PipelineConfig field is either a session field (new onnxruntime sessions, decided by
core.config) or applied in place by the running stages; these tests check both halves against a
pipeline built from scratch with the new configuration, so a field that is added without being
applied in place (or applied wrongly) fails here.
"""

from __future__ import annotations

import dataclasses

import cv2
import numpy as np
import pytest
from face_affect_ros.core.config import (
    CLASSIFIER,
    CLASSIFIER_SESSION_FIELDS,
    DETECTOR,
    DETECTOR_SESSION_FIELDS,
    PipelineConfig,
    stages_to_rebuild,
)
from face_affect_ros.core.manifest import ModelError
from face_affect_ros.core.pipeline import FaceAffectPipeline
from face_affect_ros.core.stages import ClassifierStage, DetectorStage
from skimage import data

#: A changed value for every field that must apply in place (no new sessions).
IN_PLACE_CHANGES = {
    "score_threshold": 0.95,
    "nms_threshold": 0.2,
    "min_face_size": 40.0,
    "max_faces": 1,
    "emotion_margin": (0.3, 0.1),
    "gender_margin": (0.0, 0.0),
    "border_mode": "constant",
    "emotion_label_set": "hierarchical3",
    "gender_min_confidence": 0.99,
    "flip_tta": True,
    "tracking": False,
    "emotion_smoothing": 0.5,
    "verify_threshold": 0.95,
}


@pytest.fixture(scope="module")
def frame() -> np.ndarray:
    """Two faces: the astronaut and the cameraman side by side."""
    astro = cv2.cvtColor(data.astronaut(), cv2.COLOR_RGB2BGR)
    camera = cv2.cvtColor(cv2.resize(data.camera(), (512, 512)), cv2.COLOR_GRAY2BGR)
    return np.hstack([astro, camera])


def _faces(result) -> list[tuple]:
    return [
        (
            tuple(round(v, 3) for v in f.detection.box),
            f.emotion,
            tuple(round(p, 5) for p in f.emotion_scores),
            f.gender,
            tuple(round(p, 5) for p in f.gender_scores),
        )
        for f in result.faces
    ]


def test_every_field_is_a_session_field_or_applied_in_place() -> None:
    fields = {f.name for f in dataclasses.fields(PipelineConfig)}
    sessions = DETECTOR_SESSION_FIELDS | CLASSIFIER_SESSION_FIELDS
    assert sessions <= fields
    assert fields - sessions == set(IN_PLACE_CHANGES), "classify the new field"


@pytest.mark.parametrize("name", sorted(IN_PLACE_CHANGES))
def test_in_place_change_equals_a_new_pipeline(name: str, frame: np.ndarray) -> None:
    base = PipelineConfig()
    if name == "emotion_smoothing":  # smoothing needs tracking
        base = dataclasses.replace(base, tracking=True)
    new = dataclasses.replace(base, **{name: IN_PLACE_CHANGES[name]})
    assert new != base
    assert stages_to_rebuild(base, new) == frozenset()
    pipeline = FaceAffectPipeline(base)
    det_session = pipeline.detector._session
    classifier = pipeline.classifier
    pipeline.process(frame)
    assert pipeline.reconfigure(new) == frozenset()
    assert pipeline.detector._session is det_session, "detector session rebuilt"
    assert pipeline.classifier is classifier, "classifier sessions rebuilt"
    assert pipeline.config == new
    got = pipeline.process(frame)
    want = FaceAffectPipeline(new).process(frame)
    if name != "emotion_smoothing":  # the fresh pipeline has no history to smooth with
        assert _faces(got) == _faces(want)
    assert got.emotion_labels == want.emotion_labels
    assert [f.track_id for f in got.faces] == [f.track_id for f in want.faces]


def test_tracks_continue_across_an_in_place_change(frame: np.ndarray) -> None:
    pipeline = FaceAffectPipeline(PipelineConfig())
    ids = [f.track_id for f in pipeline.process(frame).faces]
    assert ids == ["face_1", "face_2"]
    pipeline.reconfigure(PipelineConfig(emotion_label_set="iot4", emotion_smoothing=0.5))
    assert [f.track_id for f in pipeline.process(frame).faces] == ids


@pytest.mark.parametrize(
    ("change", "rebuilt"),
    [
        ({"detector_input_size": (320, 240)}, {DETECTOR}),
        ({"antialias": False}, {CLASSIFIER}),
        ({"intra_op_threads": 2}, {DETECTOR, CLASSIFIER}),
    ],
)
def test_session_fields_rebuild_only_their_stage(change, rebuilt, frame) -> None:
    pipeline = FaceAffectPipeline(PipelineConfig())
    pipeline.process(frame)
    det, clf = pipeline.detector, pipeline.classifier
    new = PipelineConfig(**change)
    assert pipeline.reconfigure(new) == rebuilt
    assert (pipeline.detector is not det) == (DETECTOR in rebuilt)
    assert (pipeline.classifier is not clf) == (CLASSIFIER in rebuilt)
    assert _faces(pipeline.process(frame)) == _faces(FaceAffectPipeline(new).process(frame))
    # Rebuilt or not, the face tracks continue.
    assert [f.track_id for f in pipeline.process(frame).faces] == ["face_1", "face_2"]


def test_stage_reconfigure_failure_leaves_the_stage_as_it_was(tmp_path, frame) -> None:
    stage = ClassifierStage(PipelineConfig())
    before = stage.classify(frame, DetectorStage(PipelineConfig()).detect(frame))
    missing = str(tmp_path / "missing.json")
    with pytest.raises(ModelError, match=r"missing\.json"):
        stage.reconfigure(PipelineConfig(emotion_model=missing, emotion_label_set="iot4"))
    assert stage.config == PipelineConfig()
    after = stage.classify(frame, DetectorStage(PipelineConfig()).detect(frame))
    assert after.emotion_labels == before.emotion_labels
    assert _faces(after) == _faces(before)


def test_stage_apply_refuses_a_session_change() -> None:
    stage = DetectorStage(PipelineConfig())
    with pytest.raises(ValueError, match="detector_input_size"):
        stage.apply(PipelineConfig(detector_input_size=(320, 240)))
    stage = ClassifierStage(PipelineConfig())
    with pytest.raises(ValueError, match="emotion_model"):
        stage.apply(PipelineConfig(emotion_model="emotion_other"))


def test_each_stage_loads_only_its_models(tmp_path) -> None:
    missing = str(tmp_path / "missing.json")
    # A split node's stage never opens the other stage's models: a missing one is no error.
    detector = DetectorStage(PipelineConfig(emotion_model=missing, gender_model=missing))
    classifier = ClassifierStage(PipelineConfig(detector_model=missing))
    assert detector.model_name == "yunet_n_dynamic"
    assert classifier.model_names == ("emotion_mini_xception", "gender_dlib_v1")
    assert not hasattr(detector, "classifier") and not hasattr(classifier, "detector")


def test_split_stages_give_what_the_pipeline_gives(frame: np.ndarray) -> None:
    config = PipelineConfig()
    detections = DetectorStage(config).detect(frame)
    split = ClassifierStage(config).classify(frame, detections)
    assert _faces(split) == _faces(FaceAffectPipeline(config).process(frame))
    assert [f.track_id for f in split.faces] == ["face_1", "face_2"]
