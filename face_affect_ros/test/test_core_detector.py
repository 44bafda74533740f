"""FaceDetector with the shipped YuNet model on real photographs (scikit-image)."""

from __future__ import annotations

from pathlib import Path

import cv2
import numpy as np
import pytest
from face_affect_ros.core.detector import Detection, FaceDetector, check_image, nms
from face_affect_ros.core.tracking import box_iou as iou
from skimage import data

MODELS = Path(__file__).resolve().parents[1] / "models"
# The astronaut's face in the original 512x512 image (YuNet at full size), x, y, w, h.
ASTRONAUT_FACE = (178.0, 66.0, 96.0, 113.0)


@pytest.fixture(scope="module")
def detector() -> FaceDetector:
    return FaceDetector(MODELS / "yunet_n_dynamic.json")


@pytest.fixture(scope="module")
def astronaut() -> np.ndarray:
    return cv2.cvtColor(data.astronaut(), cv2.COLOR_RGB2BGR)


def test_astronaut_has_one_face(detector: FaceDetector, astronaut: np.ndarray) -> None:
    (face,) = detector.detect(astronaut)
    assert isinstance(face, Detection)
    assert iou(face.box, ASTRONAUT_FACE) > 0.8
    assert face.score > 0.8
    lm = face.landmarks_array()
    assert lm.shape == (5, 2)
    x, y, w, h = face.box
    assert np.all((lm[:, 0] > x) & (lm[:, 0] < x + w) & (lm[:, 1] > y) & (lm[:, 1] < y + h))
    right_eye, left_eye, nose, mouth_r, mouth_l = lm
    assert right_eye[0] < left_eye[0]  # subject's right eye is on the image's left
    assert max(right_eye[1], left_eye[1]) < nose[1] < min(mouth_r[1], mouth_l[1])


def test_detection_is_frozen(detector: FaceDetector, astronaut: np.ndarray) -> None:
    face = detector.detect(astronaut)[0]
    with pytest.raises(AttributeError):
        face.score = 0.0  # type: ignore[misc]


@pytest.mark.parametrize("name", ["coffee", "rocket", "brick", "text", "moon"])
def test_no_face_in_photos_without_people(detector: FaceDetector, name: str) -> None:
    img = getattr(data, name)()
    result = detector.detect(img if img.ndim == 2 else img[:, :, ::-1].copy())
    assert result == []


def test_lfw_non_face_patches_give_no_faces(detector: FaceDetector) -> None:
    patches = (data.lfw_subset()[100:] * 255).round().astype(np.uint8)
    canvas = np.full((480, 640), 128, np.uint8)
    for i, patch in enumerate(patches[:48]):
        x, y = 10 + (i % 8) * 78, 10 + (i // 8) * 78
        canvas[y : y + 72, x : x + 72] = cv2.resize(patch, (72, 72), interpolation=cv2.INTER_CUBIC)
    assert detector.detect(canvas) == []


def _many_faces() -> tuple[np.ndarray, list[tuple[float, float, float, float]]]:
    """A 1280x720 frame with the astronaut's head at four sizes and four lfw faces."""
    canvas = cv2.resize(cv2.cvtColor(data.coffee(), cv2.COLOR_RGB2BGR), (1280, 720))
    astro = cv2.cvtColor(data.astronaut(), cv2.COLOR_RGB2BGR)
    head = astro[20:260, 120:340]  # head and hair around ASTRONAUT_FACE
    fx, fy, fw, fh = ASTRONAUT_FACE
    boxes = []
    x = 20
    for scale in (0.6, 0.9, 1.2, 1.6):
        h, w = round(head.shape[0] * scale), round(head.shape[1] * scale)
        canvas[20 : 20 + h, x : x + w] = cv2.resize(head, (w, h), interpolation=cv2.INTER_AREA)
        boxes.append((x + (fx - 120) * scale, 20 + (fy - 20) * scale, fw * scale, fh * scale))
        x += w + 20
    lfw = (data.lfw_subset()[:100] * 255).round().astype(np.uint8)
    for k, index in enumerate((1, 11, 31, 52)):
        px, py = 40 + k * 300, 480
        canvas[py : py + 200, px : px + 200] = cv2.resize(
            lfw[index], (200, 200), interpolation=cv2.INTER_CUBIC
        )[:, :, None]
        boxes.append((px + 20.0, py, 160.0, 200.0))
    return canvas, boxes


def test_many_faces_all_found(detector: FaceDetector) -> None:
    frame, truth = _many_faces()
    wide = FaceDetector(MODELS / "yunet_n_dynamic.json", input_size=(640, 360))
    found = wide.detect(frame)
    assert len(found) == len(truth)
    for box in truth:
        assert max(iou(box, d.box) for d in found) > 0.4
    scores = [d.score for d in found]
    assert scores == sorted(scores, reverse=True)


def test_max_faces_keeps_the_highest_scores() -> None:
    frame, _ = _many_faces()
    every = FaceDetector(MODELS / "yunet_n_dynamic.json", input_size=(640, 360)).detect(frame)
    top3 = FaceDetector(MODELS / "yunet_n_dynamic.json", input_size=(640, 360), max_faces=3).detect(
        frame
    )
    assert top3 == every[:3]


def test_min_face_size_is_in_original_pixels() -> None:
    frame, truth = _many_faces()
    limit = 150.0
    big = FaceDetector(
        MODELS / "yunet_n_dynamic.json", input_size=(640, 360), min_face_size=limit
    ).detect(frame)
    assert big
    assert all(min(d.box[2], d.box[3]) >= limit for d in big)
    expected = [b for b in truth if min(b[2], b[3]) >= limit + 15]
    for box in expected:
        assert max(iou(box, d.box) for d in big) > 0.4


def test_score_threshold_only_removes(detector: FaceDetector) -> None:
    frame, _ = _many_faces()
    low = FaceDetector(
        MODELS / "yunet_n_dynamic.json", input_size=(640, 360), score_threshold=0.5
    ).detect(frame)
    high = FaceDetector(
        MODELS / "yunet_n_dynamic.json", input_size=(640, 360), score_threshold=0.9
    ).detect(frame)
    assert len(high) <= len(low)
    assert all(d in low for d in high)


def test_tiny_image_gives_no_face(detector: FaceDetector) -> None:
    tiny = np.random.default_rng(0).integers(0, 255, (8, 8, 3), dtype=np.uint8)
    assert detector.detect(tiny) == []


def test_huge_image_maps_back_to_original_pixels(
    detector: FaceDetector, astronaut: np.ndarray
) -> None:
    canvas = np.zeros((3000, 4000, 3), np.uint8)
    big = cv2.resize(astronaut, (2800, 2800), interpolation=cv2.INTER_CUBIC)
    canvas[100:2900, 600:3400] = big
    (face,) = detector.detect(canvas)
    s = 2800 / 512
    expected = (
        600 + ASTRONAUT_FACE[0] * s,
        100 + ASTRONAUT_FACE[1] * s,
        ASTRONAUT_FACE[2] * s,
        ASTRONAUT_FACE[3] * s,
    )
    assert iou(face.box, expected) > 0.75


def test_gray_and_bgra_inputs_match_bgr(detector: FaceDetector, astronaut: np.ndarray) -> None:
    (bgr,) = detector.detect(astronaut)
    (bgra,) = detector.detect(cv2.cvtColor(astronaut, cv2.COLOR_BGR2BGRA))
    assert bgra == bgr  # alpha is ignored: identical blob
    gray = cv2.cvtColor(astronaut, cv2.COLOR_BGR2GRAY)
    (mono,) = detector.detect(gray)
    (mono3,) = detector.detect(gray[:, :, None])
    assert mono3 == mono
    assert iou(mono.box, bgr.box) > 0.9


def test_face_cut_by_the_border_is_found(detector: FaceDetector, astronaut: np.ndarray) -> None:
    cut = round(ASTRONAUT_FACE[0] + 0.3 * ASTRONAUT_FACE[2])  # 30 % of the face is cut off
    (face,) = detector.detect(np.ascontiguousarray(astronaut[:, cut:]))
    x, y, w, _ = face.box
    assert x < 3  # the box starts at the border
    assert abs(y - ASTRONAUT_FACE[1]) < 15 and x + w == pytest.approx(
        ASTRONAUT_FACE[0] + ASTRONAUT_FACE[2] - cut, abs=12
    )


def test_alternating_frame_shapes_use_their_own_plans(
    detector: FaceDetector, astronaut: np.ndarray
) -> None:
    small = cv2.resize(astronaut, (256, 256), interpolation=cv2.INTER_AREA)
    wide = np.zeros((480, 900, 3), np.uint8)
    wide[:, 200:680] = cv2.resize(astronaut, (480, 480), interpolation=cv2.INTER_AREA)
    first = [detector.detect(img) for img in (astronaut, small, wide)]
    second = [detector.detect(img) for img in (wide, small, astronaut)][::-1]
    assert first == second
    assert iou(first[1][0].box, tuple(v / 2 for v in first[0][0].box)) > 0.85


@pytest.mark.parametrize(
    ("image", "message"),
    [
        (np.zeros((10, 10, 3), np.float32), "dtype must be uint8, got float32"),
        (np.zeros((10, 10, 3), np.uint16), "dtype must be uint8, got uint16"),
        (np.zeros((10, 10, 2), np.uint8), r"shape must be .*got \(10, 10, 2\)"),
        (np.zeros((1, 10, 10, 3), np.uint8), r"got \(1, 10, 10, 3\)"),
        (np.zeros((0, 10, 3), np.uint8), r"empty, got shape \(0, 10, 3\)"),
        (np.zeros((10, 0), np.uint8), r"empty, got shape \(10, 0\)"),
        ([[0, 1], [2, 3]], "numpy.ndarray, got list"),
        (None, "numpy.ndarray, got NoneType"),
    ],
)
def test_bad_images_raise_value_error(detector: FaceDetector, image, message: str) -> None:
    with pytest.raises(ValueError, match=message):
        detector.detect(image)
    with pytest.raises(ValueError, match=message):
        check_image(image)


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        ({"input_size": (16, 240)}, "at least 32x32"),
        ({"input_size": (320.0, 240)}, "ints"),
        ({"score_threshold": 1.5}, "score_threshold"),
        ({"nms_threshold": -0.1}, "nms_threshold"),
        ({"min_face_size": -1}, "min_face_size"),
        ({"max_faces": 0}, "max_faces"),
    ],
)
def test_bad_parameters_raise_value_error(kwargs: dict, message: str) -> None:
    with pytest.raises(ValueError, match=message):
        FaceDetector(MODELS / "yunet_n_dynamic.json", **kwargs)


def test_classifier_manifest_is_not_a_detector() -> None:
    from face_affect_ros.core.manifest import ModelError

    with pytest.raises(ModelError, match="face_detection"):
        FaceDetector(MODELS / "emotion_mini_xception.json")


def test_nms_suppresses_overlaps_and_keeps_order() -> None:
    boxes = np.array([[0, 0, 10, 10], [1, 1, 10, 10], [50, 50, 10, 10], [0, 0, 10, 10]], float)
    scores = np.array([0.8, 0.9, 0.7, 0.1])
    keep = nms(boxes, scores, 0.3)
    assert keep.tolist() == [1, 2]
    assert nms(boxes, scores, 1.0).tolist() == [1, 0, 2, 3]


def test_small_variant_also_finds_the_astronaut(astronaut: np.ndarray) -> None:
    (face,) = FaceDetector(MODELS / "yunet_s_dynamic.json").detect(astronaut)
    assert iou(face.box, ASTRONAUT_FACE) > 0.75


@pytest.mark.skipif(not hasattr(cv2, "FaceDetectorYN"), reason="OpenCV without FaceDetectorYN")
def test_decoder_matches_opencv_face_detector_yn() -> None:
    """Same model, same padded input: our decoding equals OpenCV's FaceDetectorYN."""
    frame, _ = _many_faces()
    frame = cv2.resize(frame, (640, 360), interpolation=cv2.INTER_AREA)
    ours = FaceDetector(
        MODELS / "yunet_n_dynamic.json",
        input_size=(640, 360),
        score_threshold=0.5,
        nms_threshold=0.3,
    ).detect(frame)
    reference = cv2.FaceDetectorYN.create(
        str(MODELS / "yunet_n_dynamic.onnx"), "", (640, 360), 0.5, 0.3, 5000
    )
    _, faces = reference.detect(frame)
    assert faces is not None and len(ours) == len(faces) >= 6
    faces = faces[np.argsort(-faces[:, 14])]
    for det, ref in zip(ours, faces, strict=True):
        np.testing.assert_allclose(det.box, ref[0:4], atol=0.05)
        np.testing.assert_allclose(det.landmarks_array().ravel(), ref[4:14], atol=0.05)
        assert det.score == pytest.approx(float(ref[14]), abs=1e-4)
