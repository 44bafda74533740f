"""WindowDetector.find_many: several track windows through YuNet in one run, same detections.

Real faces only: the astronaut and the cameraman (scikit-image) pasted at several sizes into one
640x480 frame, plus windows on empty background and half outside the frame.
"""

from __future__ import annotations

import cv2
import numpy as np
import pytest
from face_affect_ros.core.paths import model_manifest_path
from face_affect_ros.core.window import WindowDetector, box_centre
from skimage import data


@pytest.fixture(scope="module")
def scene() -> tuple[np.ndarray, list[tuple[tuple[float, float], float, float]]]:
    """A frame with four real faces and the windows a tracker would ask for around them."""
    frame = np.full((480, 640, 3), 90, dtype=np.uint8)
    astronaut = cv2.cvtColor(data.astronaut(), cv2.COLOR_RGB2BGR)[0:260, 120:360]
    cameraman = cv2.cvtColor(data.camera(), cv2.COLOR_GRAY2BGR)[20:230, 180:350]
    windows = []
    for (x, y), src, width in (
        ((20, 30), astronaut, 200),
        ((330, 40), cameraman, 120),
        ((480, 300), astronaut, 90),
        ((200, 330), cameraman, 60),
    ):
        h = round(src.shape[0] * width / src.shape[1])
        frame[y : y + h, x : x + width] = cv2.resize(src, (width, h), interpolation=cv2.INTER_AREA)
    for det in _scan(frame):
        windows.append((box_centre(det.box), det.box[2], 1.0))
    assert len(windows) >= 3, "the scan must find the pasted faces"
    # Shifted, widened, off-frame and empty windows: the tracker asks for these too.
    cx, cy = windows[0][0]
    windows += [
        ((cx + 15.0, cy - 10.0), windows[0][1], 1.0),
        ((cx, cy), windows[0][1], 2.0),
        ((630.0, 470.0), 60.0, 1.0),
        ((600.0, 100.0), 40.0, 1.0),
        ((-200.0, -200.0), 50.0, 1.0),
    ]
    return frame, windows


def _scan(frame: np.ndarray):
    from face_affect_ros.core.detector import FaceDetector

    return FaceDetector(model_manifest_path("yunet_n_dynamic"), input_size=(640, 480)).detect(frame)


@pytest.mark.parametrize("model", ["yunet_n_dynamic", "yunet_s_dynamic"])
def test_find_many_equals_find_one_by_one(scene, model) -> None:
    frame, windows = scene
    finder = WindowDetector(model_manifest_path(model), score_threshold=0.3)
    one_by_one = [finder.find(frame, c, w, widen) for c, w, widen in windows]
    batched = finder.find_many(frame, windows)
    assert len(batched) == len(windows)
    assert sum(len(found) > 0 for found in one_by_one) >= 3
    for single, many in zip(one_by_one, batched, strict=True):
        assert len(single) == len(many)
        for a, b in zip(single, many, strict=True):
            # Same session, same input values: bit-identical outputs, so identical detections.
            assert a == b
    # Reusing the (grown) batch buffer with fewer windows gives the same again.
    assert finder.find_many(frame, windows[:2]) == one_by_one[:2]
    assert finder.find_many(frame, []) == []


def test_find_many_on_gray_and_bgra_frames(scene) -> None:
    frame, windows = scene
    finder = WindowDetector(model_manifest_path("yunet_n_dynamic"))
    for image in (cv2.cvtColor(frame, cv2.COLOR_BGR2GRAY), cv2.cvtColor(frame, cv2.COLOR_BGR2BGRA)):
        assert finder.find_many(image, windows) == [
            finder.find(image, c, w, widen) for c, w, widen in windows
        ]


def test_verifier_batched_decisions_equal_one_by_one(scene) -> None:
    from face_affect_ros.core.detector import Detection, FaceDetector
    from face_affect_ros.core.verify import FaceVerifier

    frame, _ = scene
    # A recall-pushed scan: real faces plus weak candidates for the verifier to refuse.
    pushed = FaceDetector(
        model_manifest_path("yunet_n_dynamic"), input_size=(320, 240), score_threshold=0.1
    )
    candidates = pushed.detect(frame)
    candidates.append(Detection((560.0, 380.0, 40.0, 40.0), 0.5, ((570.0, 390.0),) * 5))
    assert len(candidates) >= 5
    single = FaceVerifier(model_manifest_path("yunet_s_dynamic"))
    batched = FaceVerifier(model_manifest_path("yunet_s_dynamic"))
    one_by_one = [single.accept(frame, d) for d in candidates]
    assert batched.accept_many(frame, candidates) == one_by_one
    assert batched.scores(frame, candidates) == [single.score(frame, d) for d in candidates]
    assert (batched.checked, batched.refused) == (single.checked, single.refused)
    assert True in one_by_one and False in one_by_one
    assert batched.filter(frame, candidates) == [
        d for d, ok in zip(candidates, one_by_one, strict=True) if ok
    ]


def test_a_confident_first_look_skips_the_second_look_in_per_frame_mode() -> None:
    """filter: a detection scoring >= CONFIDENT_FIRST_LOOK is kept without a second look (no
    non-face measured scored above 0.80: verify.py); below it, or with confident=None, the
    second look decides (here: a blank patch, refused)."""
    from face_affect_ros.core.detector import Detection
    from face_affect_ros.core.verify import CONFIDENT_FIRST_LOOK, FaceVerifier

    blank = np.full((480, 640, 3), 90, np.uint8)
    sure = Detection((100.0, 100.0, 60.0, 60.0), CONFIDENT_FIRST_LOOK, ((120.0, 120.0),) * 5)
    unsure = Detection((400.0, 100.0, 60.0, 60.0), 0.85, ((420.0, 120.0),) * 5)
    verifier = FaceVerifier(model_manifest_path("yunet_s_dynamic"))
    assert verifier.filter(blank, [sure, unsure]) == [sure]
    assert (verifier.checked, verifier.refused) == (1, 1)
    assert verifier.filter(blank, [sure, unsure], confident=None) == []
