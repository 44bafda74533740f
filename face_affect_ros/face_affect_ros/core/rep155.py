"""REP-155 (ROS4HRI) frames of a face: ``face_<id>`` and ``gaze_<id>`` as plain transforms.

Why here and not in a node: the axis conventions are the contract a ROS4HRI consumer relies on
(hri_engagement, pyhri/libhri, hri_rviz), so they are computed and tested without ROS; a node
only pours these numbers into ``geometry_msgs/TransformStamped`` with the image's stamp.

Conventions (REP-155, https://www.ros.org/reps/rep-0155.html, "Coordinate frames"; matched
against ros4hri/hri_face_detect 1.5.3 ``scripts/detect`` ``compute_6d_pose``, which publishes
both frames from one solvePnP):

- ``face_<id>``: parent = the image's ``frame_id`` (the camera's optical frame); origin at the
  **sellion** (the deepest point of the nasal bridge, between the eyes); **x** points out of the
  face (forward, where the person faces: towards the camera when they face it), **y** to the
  person's left, **z** up (from chin to forehead). This is REP-103's body convention (x forward,
  y left, z up) attached to the head.
- ``gaze_<id>``: parent = ``face_<id>``, same origin, rotated into the **optical** convention:
  **z** along the gaze (= face x), **x** to the person's right (= -face y), **y** down
  (= -face z). hri_face_detect publishes it as the fixed rotation
  ``quaternion_from_euler(-pi/2, 0, -pi/2)`` of face_<id>, which is :data:`GAZE_IN_FACE`.

Quaternions are (x, y, z, w), as geometry_msgs/Quaternion orders them; translations in metres.
A transform's rotation is the child frame's axes expressed in the parent frame: its columns are
the child's x, y, z unit vectors in parent coordinates (TF's "parent -> child" transform, so a
point p_child maps to p_parent = R @ p_child + t).
"""

from __future__ import annotations

import math
import re
from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np

#: Frame name prefixes of REP-155.
FACE_FRAME_PREFIX = "face_"
GAZE_FRAME_PREFIX = "gaze_"

#: Rotation of gaze_<id> in face_<id> (columns: gaze x = -face y, gaze y = -face z, gaze z =
#: face x), equal to hri_face_detect's quaternion_from_euler(-pi/2, 0, -pi/2).
GAZE_IN_FACE = np.array([[0.0, 0.0, 1.0], [-1.0, 0.0, 0.0], [0.0, -1.0, 0.0]])

#: Rotation of face_<id> in the camera's optical frame when the person looks straight into the
#: camera, upright: face x = -optical z (towards the camera), face y (their left, which the
#: camera sees on the image's right) = +optical x, face z (up) = -optical y.
FACE_TOWARDS_CAMERA = np.array([[0.0, 1.0, 0.0], [0.0, 0.0, -1.0], [-1.0, 0.0, 0.0]])

_EYE3 = np.eye(3)


@dataclass(frozen=True)
class Transform:
    """One TF edge: `child` expressed in `parent`; translation (m) and quaternion (x, y, z, w)."""

    parent: str
    child: str
    translation: tuple[float, float, float]
    rotation: tuple[float, float, float, float]

    def matrix(self) -> np.ndarray:
        """The 4x4 homogeneous matrix mapping child coordinates to parent coordinates."""
        out = np.eye(4)
        out[:3, :3] = rotation_matrix(self.rotation)
        out[:3, 3] = self.translation
        return out


def face_frame(track_id: str) -> str:
    """REP-155 name of the face frame of track `track_id` (``face_<id>``)."""
    return FACE_FRAME_PREFIX + _checked_id(track_id)


def gaze_frame(track_id: str) -> str:
    """REP-155 name of the gaze frame of track `track_id` (``gaze_<id>``)."""
    return GAZE_FRAME_PREFIX + _checked_id(track_id)


def face_transform(
    track_id: str, optical_frame: str, position: Sequence[float], rotation: np.ndarray
) -> Transform:
    """``face_<id>`` in the optical frame: sellion `position` (m), face axes `rotation` (3x3)."""
    if not optical_frame:
        raise ValueError("the face frame's parent (the image's frame_id) must not be empty")
    t = _vector3(position, "position")
    return Transform(optical_frame, face_frame(track_id), t, quaternion_from_matrix(rotation))


def gaze_transform(track_id: str) -> Transform:
    """``gaze_<id>`` in ``face_<id>``: same origin, optical convention (z along the gaze)."""
    return Transform(face_frame(track_id), gaze_frame(track_id), (0.0, 0.0, 0.0), _GAZE_Q)


def gaze_rotation_in_optical(face_rotation: np.ndarray) -> np.ndarray:
    """Axes of ``gaze_<id>`` in the optical frame, given those of ``face_<id>`` (3x3)."""
    return np.asarray(face_rotation, dtype=np.float64) @ GAZE_IN_FACE


def quaternion_from_matrix(rotation: np.ndarray) -> tuple[float, float, float, float]:
    """Unit quaternion (x, y, z, w), w >= 0, of a 3x3 rotation matrix (ValueError if not one)."""
    m = np.asarray(rotation, dtype=np.float64)
    if m.shape != (3, 3) or not np.isfinite(m).all():
        raise ValueError(f"rotation must be a finite 3x3 matrix, got shape {m.shape}")
    (a, b, c), (d, e, f), (g, h, i) = m.tolist()
    det = a * (e * i - f * h) - b * (d * i - f * g) + c * (d * h - e * g)
    if float(np.abs(m @ m.T - _EYE3).max()) > 1e-6 or det < 0.0:
        raise ValueError("rotation is not a proper rotation matrix (orthonormal, det +1)")
    # Shepperd's method: divide by the largest of the four squared components.
    tr = m[0, 0] + m[1, 1] + m[2, 2]
    if tr > 0.0:
        s = 2.0 * math.sqrt(tr + 1.0)
        q = ((m[2, 1] - m[1, 2]) / s, (m[0, 2] - m[2, 0]) / s, (m[1, 0] - m[0, 1]) / s, s / 4)
    elif m[0, 0] > m[1, 1] and m[0, 0] > m[2, 2]:
        s = 2.0 * math.sqrt(1.0 + m[0, 0] - m[1, 1] - m[2, 2])
        q = (s / 4, (m[0, 1] + m[1, 0]) / s, (m[0, 2] + m[2, 0]) / s, (m[2, 1] - m[1, 2]) / s)
    elif m[1, 1] > m[2, 2]:
        s = 2.0 * math.sqrt(1.0 + m[1, 1] - m[0, 0] - m[2, 2])
        q = ((m[0, 1] + m[1, 0]) / s, s / 4, (m[1, 2] + m[2, 1]) / s, (m[0, 2] - m[2, 0]) / s)
    else:
        s = 2.0 * math.sqrt(1.0 + m[2, 2] - m[0, 0] - m[1, 1])
        q = ((m[0, 2] + m[2, 0]) / s, (m[1, 2] + m[2, 1]) / s, s / 4, (m[1, 0] - m[0, 1]) / s)
    arr = np.asarray(q)
    arr /= np.linalg.norm(arr)
    if arr[3] < 0.0:
        arr = -arr
    return (float(arr[0]), float(arr[1]), float(arr[2]), float(arr[3]))


def rotation_matrix(quaternion: Sequence[float]) -> np.ndarray:
    """3x3 rotation matrix of a quaternion (x, y, z, w); normalised, ValueError if zero."""
    q = np.asarray(quaternion, dtype=np.float64).ravel()
    if q.size != 4 or not np.isfinite(q).all():
        raise ValueError(f"quaternion must be 4 finite numbers (x, y, z, w), got {q.tolist()}")
    n = np.linalg.norm(q)
    if n < 1e-12:
        raise ValueError("quaternion has zero length")
    x, y, z, w = q / n
    return np.array(
        [
            [1 - 2 * (y * y + z * z), 2 * (x * y - z * w), 2 * (x * z + y * w)],
            [2 * (x * y + z * w), 1 - 2 * (x * x + z * z), 2 * (y * z - x * w)],
            [2 * (x * z - y * w), 2 * (y * z + x * w), 1 - 2 * (x * x + y * y)],
        ]
    )


def rotation_angle_deg(a: np.ndarray, b: np.ndarray) -> float:
    """Angle (degrees) of the rotation taking orientation `a` to `b` (both 3x3)."""
    r = np.asarray(a, dtype=np.float64).T @ np.asarray(b, dtype=np.float64)
    c = (np.trace(r) - 1.0) / 2.0
    return math.degrees(math.acos(max(-1.0, min(1.0, c))))


def _vector3(values: Sequence[float], name: str) -> tuple[float, float, float]:
    v = np.asarray(values, dtype=np.float64).ravel()
    if v.size != 3 or not np.isfinite(v).all():
        raise ValueError(f"{name} must be 3 finite numbers (metres), got {v.tolist()}")
    return (float(v[0]), float(v[1]), float(v[2]))


_ID = re.compile(r"[A-Za-z][A-Za-z0-9_]*")


def _checked_id(track_id: str) -> str:
    if not isinstance(track_id, str) or not track_id:
        raise ValueError(f"track id must be a non-empty string, got {track_id!r}")
    if _ID.fullmatch(track_id) is None:
        raise ValueError(
            f"track id {track_id!r} cannot name a TF frame / ROS topic: it must start with a "
            "letter and hold only letters, digits and '_'"
        )
    return track_id


#: GAZE_IN_FACE as a quaternion (x, y, z, w): (-0.5, 0.5, -0.5, 0.5).
_GAZE_Q = quaternion_from_matrix(GAZE_IN_FACE)
