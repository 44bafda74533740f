"""Head pose from 5 landmarks: synthetic projections of the 3D reference with known poses."""

from __future__ import annotations

import math

import numpy as np
import pytest
from face_affect_ros.core.camera_model import CameraModel
from face_affect_ros.core.head_pose import (
    REFERENCE_POINTS_MM,
    SOLVERS,
    HeadPoseEstimator,
    depth_at_face,
)
from face_affect_ros.core.rep155 import FACE_TOWARDS_CAMERA, rotation_angle_deg

CAMERA = CameraModel.ideal(640, 480, 60.0)


def head(yaw: float = 0.0, pitch: float = 0.0, roll: float = 0.0) -> np.ndarray:
    """Face axes in the optical frame: facing the camera, then yaw/pitch/roll in degrees."""
    y, p, r = (math.radians(v) for v in (yaw, pitch, roll))
    rz = np.array([[math.cos(y), -math.sin(y), 0], [math.sin(y), math.cos(y), 0], [0, 0, 1]])
    ry = np.array([[math.cos(p), 0, math.sin(p)], [0, 1, 0], [-math.sin(p), 0, math.cos(p)]])
    rx = np.array([[1, 0, 0], [0, math.cos(r), -math.sin(r)], [0, math.sin(r), math.cos(r)]])
    return FACE_TOWARDS_CAMERA @ rz @ ry @ rx


def landmarks(rot: np.ndarray, t, camera: CameraModel = CAMERA, scale: float = 1.0) -> np.ndarray:
    return camera.project((REFERENCE_POINTS_MM * scale / 1000.0) @ rot.T + np.asarray(t))


def yaw_of(rot: np.ndarray) -> float:
    """Yaw (deg) of a face rotation relative to facing the camera, about the face's up axis."""
    rel = FACE_TOWARDS_CAMERA.T @ rot
    return math.degrees(math.atan2(rel[1, 0], rel[0, 0]))


@pytest.mark.parametrize("solver", [s for s in SOLVERS if s != "iterative_noguess"])
@pytest.mark.parametrize(
    ("yaw", "pitch", "t"),
    [(0, 0, (0.0, 0.0, 1.0)), (40, -20, (0.3, -0.2, 2.0)), (-55, 25, (-0.5, 0.3, 3.0))],
)
def test_exact_landmarks_recover_the_pose(solver: str, yaw: float, pitch: float, t) -> None:
    rot = head(yaw, pitch)
    pose = HeadPoseEstimator(solver).estimate(landmarks(rot, t), CAMERA)
    assert pose.valid, pose.reason
    assert pose.source == "landmarks"
    np.testing.assert_allclose(pose.position, t, atol=1e-4)
    assert rotation_angle_deg(pose.rotation_matrix, rot) < 0.1


def test_iterative_without_a_start_fails_on_five_points() -> None:
    # OpenCV's DLT start needs 6 non-coplanar points: why the default solver starts frontal.
    pose = HeadPoseEstimator("iterative_noguess").estimate(landmarks(head(), (0, 0, 1)), CAMERA)
    assert not pose.valid
    assert "solvePnP" in pose.reason


def test_error_grows_with_landmark_noise_and_stays_small_at_one_pixel() -> None:
    rng = np.random.default_rng(0)
    est = HeadPoseEstimator()
    errors = {}
    for sigma in (0.5, 3.0):
        d_err, a_err = [], []
        for _ in range(200):
            rot = head(rng.uniform(-45, 45), rng.uniform(-20, 20))
            t = np.array([rng.uniform(-0.3, 0.3), rng.uniform(-0.2, 0.2), rng.uniform(0.8, 1.5)])
            noisy = landmarks(rot, t) + rng.normal(0, sigma, (5, 2))
            pose = est.estimate(noisy, CAMERA)
            if pose.valid:
                d_err.append(abs(pose.distance - np.linalg.norm(t)) / np.linalg.norm(t))
                a_err.append(rotation_angle_deg(pose.rotation_matrix, rot))
        errors[sigma] = (np.median(d_err), np.median(a_err))
    assert errors[0.5][0] < 0.02 and errors[0.5][1] < 3.0, errors
    assert errors[3.0][0] > errors[0.5][0] and errors[3.0][1] > errors[0.5][1], errors


def test_a_face_image_scaled_by_k_is_k_times_nearer() -> None:
    rot = head(20, -10)
    pts = landmarks(rot, (0.1, 0.05, 2.0))
    centre = np.array([CAMERA.cx, CAMERA.cy])
    est = HeadPoseEstimator()
    base = est.estimate(pts, CAMERA)
    for k in (0.5, 2.0):
        scaled = est.estimate(centre + (pts - centre) * k, CAMERA)
        # Exact under weak perspective only: the face's 10 cm of depth seen from 1 m instead of
        # 2 m change the perspective, 1 % of distance at k = 2.
        assert scaled.distance == pytest.approx(base.distance / k, rel=0.02)
        # ... and its perspective cues move the rotation by 2-4 deg.
        assert rotation_angle_deg(scaled.rotation_matrix, base.rotation_matrix) < 5.0


def test_a_mirrored_face_flips_yaw() -> None:
    pts = landmarks(head(35, 10), (0.2, 0.0, 1.5))
    mirrored = pts.copy()
    mirrored[:, 0] = 2 * CAMERA.cx - pts[:, 0]
    mirrored = mirrored[[1, 0, 2, 4, 3]]  # the mirror swaps the person's right and left
    est = HeadPoseEstimator()
    a, b = est.estimate(pts, CAMERA), est.estimate(mirrored, CAMERA)
    assert yaw_of(a.rotation_matrix) == pytest.approx(35.0, abs=0.1)
    assert yaw_of(b.rotation_matrix) == pytest.approx(-35.0, abs=0.1)
    assert b.position[0] == pytest.approx(-a.position[0], abs=1e-4)


def test_a_face_looking_to_its_left_turns_its_forward_axis_to_the_image_right() -> None:
    # Person's left is the camera's +x: a face turned to its left points face x towards +x.
    pose = HeadPoseEstimator().estimate(landmarks(head(30), (0, 0, 1.5)), CAMERA)
    forward = pose.rotation_matrix[:, 0]
    assert forward[0] > 0.4 and forward[2] < 0


def test_eye_corner_model_would_place_the_face_too_far() -> None:
    # The reason the model uses eye centres: a model with the eyes 40 % wider apart (outer
    # corners) puts a face seen with eye-centre landmarks 13 % farther away (the nose and mouth,
    # which did not change, pull against the eyes).
    corners = REFERENCE_POINTS_MM.copy()
    corners[0:2, 1] *= 89.0 / 63.2
    pts = landmarks(head(), (0, 0, 1.0))
    right = HeadPoseEstimator().estimate(pts, CAMERA).distance
    wrong = HeadPoseEstimator(reference_mm=corners).estimate(pts, CAMERA).distance
    assert right == pytest.approx(1.0, rel=1e-3)
    assert wrong > 1.1


def test_distorted_camera_landmarks_are_undistorted_first() -> None:
    k = [500.0, 0, 320, 0, 500.0, 240, 0, 0, 1]
    d = [-0.3, 0.1, 0.001, -0.001, 0.0]
    p = [500.0, 0, 320, 0, 0, 500.0, 240, 0, 0, 0, 1, 0]
    eye = [1.0, 0, 0, 0, 1.0, 0, 0, 0, 1.0]
    cam = CameraModel.from_camera_info(640, 480, "plumb_bob", d, k, eye, p, "cam")
    t = (0.4, 0.3, 1.2)  # near a corner, where the distortion is strong
    pts = landmarks(head(10), t, camera=cam)
    pose = HeadPoseEstimator().estimate(pts, cam)
    np.testing.assert_allclose(pose.position, t, atol=2e-3)
    ideal = CameraModel.from_camera_info(640, 480, "plumb_bob", [], k, eye, p, "cam")
    ignored = HeadPoseEstimator().estimate(pts, ideal)
    assert np.linalg.norm(np.subtract(ignored.position, t)) > 0.02


def test_landmarks_that_fit_no_face_are_invalid() -> None:
    pts = np.array([[300, 200], [340, 200], [320, 300], [300, 210], [340, 210]], float)
    pose = HeadPoseEstimator().estimate(pts, CAMERA)
    assert not pose.valid
    assert "reprojection" in pose.reason


def test_non_finite_landmarks_are_invalid_and_wrong_shapes_raise() -> None:
    pts = landmarks(head(), (0, 0, 1))
    pts[2, 0] = np.nan
    assert not HeadPoseEstimator().estimate(pts, CAMERA).valid
    with pytest.raises(ValueError, match="5x2"):
        HeadPoseEstimator().estimate(np.zeros((4, 2)), CAMERA)
    with pytest.raises(ValueError, match="solver"):
        HeadPoseEstimator("upnp")


# ----------------------------------------------------------------------------- depth
def face_box(pts: np.ndarray) -> tuple[float, float, float, float]:
    x0, y0 = pts.min(0)
    x1, y1 = pts.max(0)
    w, h = x1 - x0, y1 - y0
    return (x0 - 0.25 * w, y0 - 0.5 * h, 1.5 * w, 1.8 * h)


@pytest.mark.parametrize("dtype", [np.float32, np.uint16])
def test_a_synthetic_depth_plane_gives_its_distance(dtype) -> None:
    rot = head(15, 5)
    t = np.array([0.1, -0.05, 2.0])
    # The face is 5 % larger than the model: landmarks alone place it 5 % too near.
    pts = landmarks(rot, t, scale=1.05)
    plane_z = float(np.mean((REFERENCE_POINTS_MM * 1.05 / 1000.0) @ rot.T + t, axis=0)[2])
    depth = np.full((480, 640), plane_z, np.float64)
    depth = (depth * 1000).astype(np.uint16) if dtype == np.uint16 else depth.astype(dtype)
    est = HeadPoseEstimator()
    lm = est.estimate(pts, CAMERA)
    dp = est.estimate(pts, CAMERA, depth, face_box(pts))
    assert lm.source == "landmarks" and dp.source == "depth"
    assert abs(lm.distance - np.linalg.norm(t)) / np.linalg.norm(t) > 0.03
    assert dp.distance == pytest.approx(np.linalg.norm(t), rel=0.01)
    assert dp.distance_landmarks == pytest.approx(lm.distance)
    assert dp.distance_depth == pytest.approx(dp.distance)


def test_depth_ignores_invalid_pixels_and_says_when_too_few_are_left() -> None:
    rot, t = head(), np.array([0.0, 0.0, 1.5])
    pts = landmarks(rot, t)
    rng = np.random.default_rng(1)
    depth = np.full((480, 640), 1.48, np.float32)
    holes = rng.random(depth.shape)
    depth[holes < 0.3] = 0.0
    depth[(holes >= 0.3) & (holes < 0.4)] = np.nan
    depth[(holes >= 0.4) & (holes < 0.45)] = np.inf
    z, note = depth_at_face(depth, face_box(pts), CAMERA)
    assert z == pytest.approx(1.48) and note == ""
    depth[holes < 0.9] = np.nan
    pose = HeadPoseEstimator().estimate(pts, CAMERA, depth, face_box(pts))
    assert pose.valid and pose.source == "landmarks"
    assert "valid" in pose.depth_note


def test_depth_of_another_size_is_not_used_and_says_why() -> None:
    pts = landmarks(head(), (0, 0, 1.5))
    pose = HeadPoseEstimator().estimate(
        pts, CAMERA, np.full((240, 320), 1.5, np.float32), face_box(pts)
    )
    assert pose.source == "landmarks"
    assert "320x240" in pose.depth_note and "registered" in pose.depth_note


# ----------------------------------------------------------------------------- a real face
def test_a_real_face_and_its_mirror_image_have_opposite_yaw() -> None:
    cv2 = pytest.importorskip("cv2")
    data = pytest.importorskip("skimage.data")
    from face_affect_ros.core.detector import FaceDetector
    from face_affect_ros.core.paths import model_manifest_path

    detector = FaceDetector(model_manifest_path("yunet_n_dynamic"), input_size=(512, 512))
    image = cv2.cvtColor(data.astronaut(), cv2.COLOR_RGB2BGR)
    camera = CameraModel.ideal(512, 512, 50.0)
    est = HeadPoseEstimator()
    poses = []
    for im in (image, np.ascontiguousarray(image[:, ::-1])):
        (face,) = detector.detect(im)
        poses.append(est.estimate(np.asarray(face.landmarks), camera))
    a, b = poses
    assert a.valid and b.valid, (a.reason, b.reason)
    # The astronaut faces the camera (a few degrees of yaw) at arm's length.
    assert abs(yaw_of(a.rotation_matrix)) < 15.0
    assert 0.4 < a.distance < 1.5
    # YuNet's landmarks of the mirrored image are not exactly the mirrored landmarks: 2 deg, 1 cm.
    assert yaw_of(b.rotation_matrix) == pytest.approx(-yaw_of(a.rotation_matrix), abs=2.0)
    assert b.position[0] == pytest.approx(-a.position[0], abs=0.01)
    assert b.distance == pytest.approx(a.distance, rel=0.02)
