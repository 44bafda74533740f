"""FaceAffectPipeline end to end with the shipped models on real photographs."""

from __future__ import annotations

import dataclasses

import cv2
import numpy as np
import pytest
from face_affect_ros.core import (
    UNKNOWN,
    FaceAffectPipeline,
    FrameResult,
    PipelineConfig,
    crop_face,
    draw_results,
)
from face_affect_ros.core.manifest import ModelError
from skimage import data

FER7 = ("angry", "disgust", "fear", "happy", "sad", "surprise", "neutral")


@pytest.fixture(scope="module")
def pipeline() -> FaceAffectPipeline:
    return FaceAffectPipeline()


@pytest.fixture(scope="module")
def astronaut() -> np.ndarray:
    return cv2.cvtColor(data.astronaut(), cv2.COLOR_RGB2BGR)


def test_astronaut_is_one_happy_woman(pipeline: FaceAffectPipeline, astronaut: np.ndarray) -> None:
    result = pipeline.process(astronaut)
    assert isinstance(result, FrameResult)
    assert (result.width, result.height) == (512, 512)
    assert result.emotion_labels == FER7
    assert result.gender_labels == ("woman", "man")
    (face,) = result.faces
    assert face.emotion == "happy" and face.emotion_confidence > 0.9
    assert face.gender == "woman" and face.gender_confidence >= 0.7
    assert face.emotion_scores[FER7.index("happy")] == face.emotion_confidence
    assert sum(face.emotion_scores) == pytest.approx(1.0, abs=1e-5)
    assert sum(face.gender_scores) == pytest.approx(1.0, abs=1e-5)
    t = result.timings
    assert 0 < t.detect_ms <= t.total_ms and t.classify_ms > 0
    assert t.detect_ms + t.crop_ms + t.classify_ms <= t.total_ms + 1e-6


def test_cameraman_is_a_man(pipeline: FaceAffectPipeline) -> None:
    (face,) = pipeline.process(data.camera()).faces
    assert face.gender == "man"


def test_result_is_frozen(pipeline: FaceAffectPipeline, astronaut: np.ndarray) -> None:
    result = pipeline.process(astronaut)
    with pytest.raises(dataclasses.FrozenInstanceError):
        result.faces = ()  # type: ignore[misc]
    with pytest.raises(dataclasses.FrozenInstanceError):
        result.faces[0].emotion = "sad"  # type: ignore[misc]


def test_no_face(pipeline: FaceAffectPipeline) -> None:
    result = pipeline.process(cv2.cvtColor(data.rocket(), cv2.COLOR_RGB2BGR))
    assert result.faces == ()
    assert result.emotion_labels == FER7
    assert result.timings.classify_ms == 0.0


def test_gray_and_bgra_give_the_same_answer(
    pipeline: FaceAffectPipeline, astronaut: np.ndarray
) -> None:
    bgr = pipeline.process(astronaut).faces[0]
    bgra = pipeline.process(cv2.cvtColor(astronaut, cv2.COLOR_BGR2BGRA)).faces[0]
    assert bgra == bgr
    mono = pipeline.process(cv2.cvtColor(astronaut, cv2.COLOR_BGR2GRAY)).faces[0]
    assert (mono.emotion, mono.gender) == (bgr.emotion, bgr.gender)


def test_many_faces_in_one_frame(pipeline: FaceAffectPipeline, astronaut: np.ndarray) -> None:
    frame = cv2.resize(cv2.cvtColor(data.coffee(), cv2.COLOR_RGB2BGR), (640, 480))
    head = cv2.resize(astronaut[20:260, 120:340], (165, 180), interpolation=cv2.INTER_AREA)
    lfw = (data.lfw_subset()[:100] * 255).round().astype(np.uint8)
    frame[10:190, 10:175] = head
    frame[10:190, 460:625] = head[:, ::-1]
    for k, index in enumerate((1, 11, 31)):
        x = 20 + 210 * k
        frame[270:420, x : x + 150] = cv2.resize(
            lfw[index], (150, 150), interpolation=cv2.INTER_CUBIC
        )[:, :, None]
    result = pipeline.process(frame)
    assert len(result.faces) == 5
    heads = [f for f in result.faces if f.detection.box[1] < 200]
    assert len(heads) == 2 and all(f.emotion == "happy" for f in heads)
    # batched results equal one face at a time (same crops, one classifier call per face)
    single = [pipeline.classify(frame, [f.detection]).faces[0] for f in result.faces]
    for a, b in zip(result.faces, single, strict=True):
        np.testing.assert_allclose(a.emotion_scores, b.emotion_scores, atol=1e-5)
        np.testing.assert_allclose(a.gender_scores, b.gender_scores, atol=1e-5)


def test_detect_then_classify_equals_process(
    pipeline: FaceAffectPipeline, astronaut: np.ndarray
) -> None:
    whole = pipeline.process(astronaut)
    split = pipeline.classify(astronaut, pipeline.detect(astronaut))
    assert split.faces == whole.faces


@pytest.mark.parametrize("shape", [(8, 8, 3), (1, 1), (3, 3, 4), (1, 5000, 3), (4000, 2)])
def test_tiny_and_degenerate_images(pipeline: FaceAffectPipeline, shape) -> None:
    image = np.random.default_rng(0).integers(0, 255, shape, dtype=np.uint8)
    result = pipeline.process(image)
    assert (result.width, result.height, result.faces) == (shape[1], shape[0], ())


def test_huge_image(pipeline: FaceAffectPipeline, astronaut: np.ndarray) -> None:
    canvas = np.zeros((3000, 4000, 3), np.uint8)
    canvas[100:2900, 600:3400] = cv2.resize(astronaut, (2800, 2800), interpolation=cv2.INTER_CUBIC)
    result = pipeline.process(canvas)
    (face,) = result.faces
    assert (result.width, result.height) == (4000, 3000)
    assert face.detection.box[2] > 400
    assert face.emotion == "happy"
    assert face.gender == "woman"  # needs the anti-aliased shrink of the ~600 px crop


def test_face_cut_by_the_border(pipeline: FaceAffectPipeline, astronaut: np.ndarray) -> None:
    cut = np.ascontiguousarray(astronaut[:, 178 + 20 :])  # ~20 % of the face is outside
    (face,) = pipeline.process(cut).faces
    assert face.detection.box[0] < 3
    assert face.emotion == "happy"


def test_crop_face_inside_is_a_view() -> None:
    gray = np.arange(100 * 100, dtype=np.uint32).reshape(100, 100).astype(np.uint8)
    crop = crop_face(gray, (20.0, 30.0, 40.0, 20.0), (0.25, 0.5))
    assert crop.shape == (40, 60)
    assert np.shares_memory(crop, gray)
    np.testing.assert_array_equal(crop, gray[20:60, 10:70])


@pytest.mark.parametrize(
    "mode", [cv2.BORDER_REFLECT_101, cv2.BORDER_REPLICATE, cv2.BORDER_CONSTANT]
)
def test_crop_face_pads_outside_the_image(mode: int) -> None:
    gray = np.random.default_rng(1).integers(1, 255, (50, 60), dtype=np.uint8)
    crop = crop_face(gray, (-10.0, -5.0, 30.0, 20.0), (0.0, 0.0), mode)
    assert crop.shape == (20, 30)  # the crop keeps the box size: the face is not stretched
    np.testing.assert_array_equal(crop[5:, 10:], gray[0:15, 0:20])
    if mode == cv2.BORDER_CONSTANT:
        assert np.all(crop[:5] == 0) and np.all(crop[:, :10] == 0)
    elif mode == cv2.BORDER_REPLICATE:
        np.testing.assert_array_equal(crop[:5, 10:], np.repeat(gray[:1, :20], 5, axis=0))
    else:
        np.testing.assert_array_equal(crop[4, 10:], gray[1, :20])  # mirrored about row 0


def test_crop_face_entirely_outside_is_still_defined() -> None:
    gray = np.full((20, 20), 9, np.uint8)
    crop = crop_face(gray, (40.0, 40.0, 10.0, 10.0), (0.1, 0.1))
    assert crop.shape == (12, 12) and np.all(crop == 9)


@pytest.mark.parametrize(
    "mode", [cv2.BORDER_REFLECT_101, cv2.BORDER_REPLICATE, cv2.BORDER_CONSTANT]
)
@pytest.mark.parametrize("channels", [3, 4, 1])
def test_grey_crops_cut_in_colour_equal_crops_of_the_grey_frame(
    pipeline: FaceAffectPipeline, mode: int, channels: int
) -> None:
    """The classifiers' grey crops are converted crop by crop, not frame by frame: same pixels."""
    from face_affect_ros.core.detector import Detection

    rng = np.random.default_rng(channels)
    shape = (120, 160) if channels == 1 else (120, 160, channels)
    image = rng.integers(0, 256, shape, dtype=np.uint8)
    grey = (
        image
        if channels == 1
        else cv2.cvtColor(image, cv2.COLOR_BGR2GRAY if channels == 3 else cv2.COLOR_BGRA2GRAY)
    )
    stage = pipeline.classifier_stage
    margin = pipeline.config.emotion_margin
    boxes = [(40.0, 30.0, 50.0, 60.0), (-12.0, -9.0, 40.0, 44.0), (140.0, 100.0, 40.0, 40.0)]
    boxes.append((300.0, 300.0, 20.0, 20.0))  # entirely outside
    where = ((0.3, 0.4), (0.7, 0.4), (0.5, 0.6), (0.35, 0.8), (0.65, 0.8))  # eyes, nose, mouth
    detections = [
        Detection(
            box=b, score=0.9, landmarks=tuple((b[0] + u * b[2], b[1] + v * b[3]) for u, v in where)
        )
        for b in boxes
    ]
    for box in boxes:
        expected = crop_face(grey, box, margin, mode)
        colour = crop_face(image, box, margin, mode)
        got = (
            colour
            if channels == 1
            else cv2.cvtColor(colour, cv2.COLOR_BGR2GRAY if channels == 3 else cv2.COLOR_BGRA2GRAY)
        )
        np.testing.assert_array_equal(got, expected)
    if mode == stage.border:
        crops = stage.task_crops(image, detections)["emotion"]
        for crop, box in zip(crops, boxes, strict=True):
            np.testing.assert_array_equal(crop, crop_face(grey, box, margin, mode))


def test_label_set_from_config(astronaut: np.ndarray) -> None:
    p = FaceAffectPipeline(PipelineConfig(emotion_label_set="hierarchical3"))
    result = p.process(astronaut)
    assert result.emotion_labels == ("happy", "sad", "other")
    (face,) = result.faces
    assert face.emotion == "happy"
    assert sum(face.emotion_scores) == pytest.approx(1.0, abs=1e-5)


def test_gender_abstains_when_threshold_is_one(astronaut: np.ndarray) -> None:
    p = FaceAffectPipeline(PipelineConfig(gender_min_confidence=1.0))
    (face,) = p.process(astronaut).faces
    assert face.gender == UNKNOWN
    assert face.gender_confidence == max(face.gender_scores)


def test_flip_tta_in_the_pipeline_is_symmetric(astronaut: np.ndarray) -> None:
    p = FaceAffectPipeline(PipelineConfig(flip_tta=True))
    a = p.process(astronaut).faces[0]
    b = p.process(np.ascontiguousarray(astronaut[:, ::-1])).faces[0]
    assert a.emotion == b.emotion and a.gender == b.gender
    np.testing.assert_allclose(a.emotion_scores, b.emotion_scores, atol=0.05)


def test_bad_input_raises(pipeline: FaceAffectPipeline) -> None:
    with pytest.raises(ValueError, match="dtype must be uint8, got float64"):
        pipeline.process(np.zeros((10, 10, 3)))
    with pytest.raises(ValueError, match="empty"):
        pipeline.process(np.zeros((0, 0, 3), np.uint8))
    with pytest.raises(ValueError, match="shape"):
        pipeline.process(np.zeros((4, 4, 5), np.uint8))


def test_missing_model_raises_model_error(tmp_path) -> None:
    with pytest.raises(ModelError, match=r"nothing\.json"):
        FaceAffectPipeline(PipelineConfig(models_dir=str(tmp_path), detector_model="nothing"))


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        ({"emotion_margin": (0.1,)}, "emotion_margin must be"),
        ({"gender_margin": (3.0, 0.0)}, "gender_margin fractions"),
        ({"emotion_label_set": "fer8"}, "emotion_label_set"),
        ({"gender_min_confidence": 0.3}, "gender_min_confidence"),
        ({"score_threshold": float("nan")}, "score_threshold"),
        ({"detector_input_size": (320, 10)}, "at least 32x32"),
        ({"max_faces": 0}, "max_faces"),
        ({"border_mode": "wrap"}, "border_mode"),
        ({"flip_tta": 1}, "flip_tta must be a bool"),
        ({"intra_op_threads": -1}, "intra_op_threads"),
        ({"execution_provider": "gpu"}, "execution_provider must be one of"),
        ({"execution_provider": "CUDAExecutionProvider"}, "execution_provider must be one of"),
        ({"execution_provider": "cuda", "provider_device": "cuda:0"}, "GPU index"),
        ({"execution_provider": "openvino", "provider_device": "gpu"}, "OpenVINO device"),
        ({"execution_provider": "cpu", "provider_device": "0"}, "provider_device must be empty"),
        ({"provider_fp16": 1}, "provider_fp16 must be a bool"),
        ({"detector_model": ""}, "detector_model"),
    ],
)
def test_config_validation(kwargs: dict, message: str) -> None:
    with pytest.raises(ValueError, match=message):
        PipelineConfig(**kwargs)


def test_config_accepts_lists_and_stays_hashable() -> None:
    config = dataclasses.replace(
        PipelineConfig(), emotion_margin=[0.1, 0.0], detector_input_size=[256, 192]
    )
    assert config.emotion_margin == (0.1, 0.0)
    assert config.detector_input_size == (256, 192)
    hash(config)


def test_draw_results_on_a_copy(pipeline: FaceAffectPipeline, astronaut: np.ndarray) -> None:
    result = pipeline.process(astronaut)
    before = astronaut.copy()
    out = draw_results(astronaut, result)
    np.testing.assert_array_equal(astronaut, before)
    assert out.shape == astronaut.shape and out.dtype == np.uint8
    x, y, w, h = (round(v) for v in result.faces[0].detection.box)
    changed = np.any(out != astronaut, axis=2)
    assert changed[y : y + h + 1, x : x + w + 1].any()
    assert not changed[400:, :].any()  # nothing drawn far from the face
    gray_out = draw_results(cv2.cvtColor(astronaut, cv2.COLOR_BGR2GRAY), result)
    assert gray_out.shape == astronaut.shape
