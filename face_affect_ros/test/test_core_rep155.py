"""REP-155 face_<id> / gaze_<id> axes, checked against hri_face_detect's and the REP's."""

from __future__ import annotations

import math

import numpy as np
import pytest
from face_affect_ros.core.rep155 import (
    FACE_TOWARDS_CAMERA,
    GAZE_IN_FACE,
    face_transform,
    gaze_rotation_in_optical,
    gaze_transform,
    quaternion_from_matrix,
    rotation_matrix,
)


def euler_sxyz(roll: float, pitch: float, yaw: float) -> np.ndarray:
    """tf.transformations.quaternion_from_euler(roll, pitch, yaw) (static x, y, z) as a matrix."""
    cx, sx = math.cos(roll), math.sin(roll)
    cy, sy = math.cos(pitch), math.sin(pitch)
    cz, sz = math.cos(yaw), math.sin(yaw)
    rx = np.array([[1, 0, 0], [0, cx, -sx], [0, sx, cx]])
    ry = np.array([[cy, 0, sy], [0, 1, 0], [-sy, 0, cy]])
    rz = np.array([[cz, -sz, 0], [sz, cz, 0], [0, 0, 1]])
    return rz @ ry @ rx


def test_face_looking_at_the_camera_points_its_x_to_optical_minus_z() -> None:
    tf = face_transform("f1", "cam_optical", (0.0, 0.0, 1.5), FACE_TOWARDS_CAMERA)
    r = tf.matrix()[:3, :3]
    np.testing.assert_allclose(r[:, 0], [0, 0, -1], atol=1e-12)  # x out of the face, at the camera
    np.testing.assert_allclose(r[:, 2], [0, -1, 0], atol=1e-12)  # z up = optical -y
    np.testing.assert_allclose(r[:, 1], [1, 0, 0], atol=1e-12)  # person's left = image right
    assert tf.parent == "cam_optical" and tf.child == "face_f1"
    assert tf.translation == (0.0, 0.0, 1.5)


def test_gaze_frame_is_hri_face_detects_fixed_rotation_of_the_face_frame() -> None:
    np.testing.assert_allclose(GAZE_IN_FACE, euler_sxyz(-math.pi / 2, 0, -math.pi / 2), atol=1e-12)
    tf = gaze_transform("f1")
    assert (tf.parent, tf.child, tf.translation) == ("face_f1", "gaze_f1", (0.0, 0.0, 0.0))
    np.testing.assert_allclose(rotation_matrix(tf.rotation), GAZE_IN_FACE, atol=1e-12)


def test_gaze_of_a_face_looking_at_the_camera_is_optical_minus_z_with_y_down() -> None:
    g = gaze_rotation_in_optical(FACE_TOWARDS_CAMERA)
    np.testing.assert_allclose(g[:, 2], [0, 0, -1], atol=1e-12)  # z along the gaze, at the camera
    np.testing.assert_allclose(g[:, 1], [0, 1, 0], atol=1e-12)  # y down, like the image's
    np.testing.assert_allclose(g[:, 0], [-1, 0, 0], atol=1e-12)  # x = person's right


@pytest.mark.parametrize("seed", range(5))
def test_quaternion_round_trip_and_xyzw_order(seed: int) -> None:
    rng = np.random.default_rng(seed)
    q = rng.normal(size=4)
    q /= np.linalg.norm(q)
    back = np.array(quaternion_from_matrix(rotation_matrix(q)))
    assert np.allclose(back, q, atol=1e-9) or np.allclose(back, -q, atol=1e-9)
    # 90 deg about z: (x, y, z, w) = (0, 0, sin 45, cos 45).
    rz = np.array([[0.0, -1.0, 0.0], [1.0, 0.0, 0.0], [0.0, 0.0, 1.0]])
    np.testing.assert_allclose(quaternion_from_matrix(rz), [0, 0, 0.5**0.5, 0.5**0.5], atol=1e-12)


def test_bad_ids_frames_and_rotations_are_refused() -> None:
    with pytest.raises(ValueError, match="start with a letter"):
        face_transform("1", "cam", (0, 0, 1), np.eye(3))
    with pytest.raises(ValueError, match="start with a letter"):
        gaze_transform("a-b")
    with pytest.raises(ValueError, match="parent"):
        face_transform("f1", "", (0, 0, 1), np.eye(3))
    with pytest.raises(ValueError, match="rotation"):
        quaternion_from_matrix(np.diag([1.0, 1.0, -1.0]))
