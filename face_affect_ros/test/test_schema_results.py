"""The one result JSON schema: what every tool writes round-trips to the same FrameResult."""

from __future__ import annotations

import json

import cv2
import pytest
from face_affect_ros.core.pipeline import FaceAffectPipeline, PipelineConfig
from face_affect_ros.core.results import clamped_roi
from face_affect_ros.schema.results import SCHEMA, frame_from_dict, frame_to_dict
from skimage import data


@pytest.fixture(scope="module")
def result():
    image = cv2.cvtColor(data.astronaut(), cv2.COLOR_RGB2BGR)
    return FaceAffectPipeline(PipelineConfig(emotion_label_set="iot4")).process(image)


def test_round_trip_keeps_every_value_to_the_schemas_rounding(result) -> None:
    record = json.loads(json.dumps(frame_to_dict(result, image="astronaut.png")))
    assert record["schema"] == SCHEMA and record["image"] == "astronaut.png"
    back = frame_from_dict(record)
    assert (back.width, back.height) == (result.width, result.height)
    assert back.emotion_labels == result.emotion_labels == ("neutral", "angry", "surprise", "happy")
    assert back.gender_labels == result.gender_labels
    (got,), (want,) = back.faces, result.faces
    assert got.track_id == want.track_id == "face_1"
    assert got.emotion == want.emotion and got.gender == want.gender
    assert got.detection.box == pytest.approx(want.detection.box, abs=5e-4)
    assert got.emotion_scores == pytest.approx(want.emotion_scores, abs=5e-7)
    assert got.gender_scores == pytest.approx(want.gender_scores, abs=5e-7)
    face = record["faces"][0]
    assert face["roi"] == list(clamped_roi(want.detection.box, result.width, result.height))
    assert list(face["emotion_scores"]) == list(result.emotion_labels)


def test_unknown_envelope_keys_and_other_schemas_are_refused(result) -> None:
    with pytest.raises(ValueError, match="envelope"):
        frame_to_dict(result, imgae="typo.png")
    record = frame_to_dict(result)
    with pytest.raises(ValueError, match=SCHEMA):
        frame_from_dict({**record, "schema": "face_affect/v0"})
    broken = {**record, "faces": [{"box": [0, 0, 1, 1]}]}
    with pytest.raises(ValueError, match="missing"):
        frame_from_dict(broken)
