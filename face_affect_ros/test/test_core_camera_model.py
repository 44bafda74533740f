"""CameraModel: camera_info's numbers read as REP-104 / image_pipeline do, validated."""

from __future__ import annotations

import numpy as np
import pytest
from face_affect_ros.core.camera_model import CameraModel

K = [500.0, 0.0, 320.0, 0.0, 505.0, 240.0, 0.0, 0.0, 1.0]
# P of the rectified image differs from K (image_proc's new optimal camera matrix).
P = [480.0, 0.0, 318.0, 0.0, 0.0, 482.0, 236.0, 0.0, 0.0, 0.0, 1.0, 0.0]
R = [1.0, 0.0, 0.0, 0.0, 1.0, 0.0, 0.0, 0.0, 1.0]
D = [-0.25, 0.08, 0.0005, -0.0003, 0.0]


def model(**kw) -> CameraModel:
    args = {
        "width": 640,
        "height": 480,
        "distortion_model": "plumb_bob",
        "d": D,
        "k": K,
        "r": R,
        "p": P,
        "frame_id": "cam_optical",
    }
    args.update(kw)
    return CameraModel.from_camera_info(**args)


def test_raw_image_uses_k_and_distortion() -> None:
    cam = model()
    assert (cam.fx, cam.fy, cam.cx, cam.cy) == (500.0, 505.0, 320.0, 240.0)
    assert cam.distortion == tuple(D)
    assert not cam.rectified and cam.frame_id == "cam_optical"


def test_rectified_image_uses_p_and_no_distortion() -> None:
    cam = model(rectified=True)
    assert (cam.fx, cam.fy, cam.cx, cam.cy) == (480.0, 482.0, 318.0, 236.0)
    assert cam.distortion == ()


def test_all_zero_k_is_rejected_with_the_reason() -> None:
    with pytest.raises(ValueError, match="K is all zeros"):
        model(k=[0.0] * 9)
    with pytest.raises(ValueError, match="P is all zeros"):
        model(p=[0.0] * 12, rectified=True)


@pytest.mark.parametrize(
    ("kw", "match"),
    [
        ({"width": 0}, "not calibrated"),
        ({"k": K[:8]}, "9 values"),
        ({"p": [*P, 1.0]}, "12 values"),
        ({"k": [*K[:8], float("nan")]}, "non-finite"),
        ({"k": [-500.0, *K[1:]]}, "focal"),
        ({"k": [*K[:8], 2.0]}, r"\[2\]\[2\]"),
        ({"distortion_model": "weird_model"}, "not supported"),
    ],
)
def test_invalid_camera_info_says_what_is_wrong(kw: dict, match: str) -> None:
    with pytest.raises(ValueError, match=match):
        model(**kw)


def test_project_then_normalise_round_trips_through_distortion() -> None:
    cam = model()
    pts = np.array([[0.3, -0.2, 1.5], [-0.5, 0.4, 2.0], [0.0, 0.0, 1.0]])
    px = cam.project(pts)
    # Distortion moved the off-axis points (the optical centre stays).
    assert np.linalg.norm(px[0] - [cam.cx + 500 * 0.2, cam.cy - 505 * 0.2 / 1.5]) > 1.0
    np.testing.assert_allclose(px[2], [cam.cx, cam.cy], atol=1e-9)
    np.testing.assert_allclose(cam.normalise(px), pts[:, :2] / pts[:, 2:], atol=1e-5)
    rays = cam.rays(px)
    np.testing.assert_allclose(rays, pts / np.linalg.norm(pts, axis=1, keepdims=True), atol=1e-5)


def test_project_refuses_points_behind_the_camera() -> None:
    with pytest.raises(ValueError, match="behind"):
        model().project(np.array([[0.0, 0.0, -1.0]]))


def test_equidistant_model_round_trips() -> None:
    cam = model(distortion_model="equidistant", d=[0.1, -0.02, 0.003, -0.001])
    pts = np.array([[0.4, 0.3, 1.0]])
    np.testing.assert_allclose(cam.normalise(cam.project(pts)), [[0.4, 0.3]], atol=1e-5)


def test_ideal_camera_has_the_asked_field_of_view() -> None:
    cam = CameraModel.ideal(640, 480, 90.0)
    assert cam.fx == pytest.approx(320.0)
    assert cam.fits(640, 480) and not cam.fits(1280, 720)
