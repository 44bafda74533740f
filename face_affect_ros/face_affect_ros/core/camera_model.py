"""A pinhole camera from a sensor_msgs/CameraInfo's numbers, as REP-104 / image_pipeline read it.

Why its own module: every 3D quantity the package publishes (head pose, distance, TF frames,
engagement) depends on the intrinsics, and publishing a pose without them is not acceptable. A
`CameraModel` is built only from a complete, plausible camera_info; until one exists the callers
mark their 3D fields invalid with a reason instead of guessing a focal length.

Which matrix (REP-104, image_pipeline's ``image_geometry.PinholeCameraModel``):

- a **raw** image (``image_raw``, what the driver publishes, still distorted) is described by
  ``K`` (3x3 intrinsics) and ``D`` (distortion coefficients of ``distortion_model``): pixel
  points are undistorted with K and D before any geometry (``rectified=False``, the default,
  because face_affect_ros is usually fed the driver's image).
- a **rectified** image (``image_rect``, ``image_rect_color``: the output of image_proc) has
  no distortion left and is described by the left 3x3 of ``P`` (the projection matrix of the
  rectified image; for a monocular camera ``R`` is the identity and P's fourth column is 0):
  ``rectified=True`` uses P[:, :3] and no distortion. For a stereo pair's right camera P's
  fourth column holds -fx * baseline; it is a translation between the two cameras, not part of
  this camera's intrinsics, and is ignored here (the pose stays in this camera's optical frame).

Choose ``rectified`` by the topic you remap ``camera_topic`` to: ``*image_rect*`` -> True.
Using K/D on a rectified image (or P on a raw one) shifts and scales every ray by the
difference between the two matrices, a few percent of distance at the image border.

Frames: every 3D point here is in the camera's **optical frame** (``frame_id``; REP-103's
optical convention: z forward along the optical axis, x right, y down in the image), in metres
unless a function says otherwise. Pixel coordinates are (u, v) in the image's pixels, (0, 0) at
the centre of the top-left pixel as in OpenCV and camera_info.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass
from functools import cached_property

import cv2
import numpy as np

#: Distortion models camera_info uses (sensor_msgs/distortion_models.hpp) that OpenCV applies
#: with cv2.undistortPoints / projectPoints, and the number of coefficients each may carry.
#: "plumb_bob" and "rational_polynomial" are OpenCV's own 5 / 8 (up to 14) coefficient models.
#: "equidistant" (fisheye) needs cv2.fisheye and is handled separately.
SUPPORTED_DISTORTION_MODELS = ("plumb_bob", "rational_polynomial", "equidistant")

#: Smallest image side (pixels) accepted: a camera_info of 0x0 means "uncalibrated / unset".
MIN_IMAGE_SIDE = 1


@dataclass(frozen=True)
class CameraModel:
    """Pinhole intrinsics (and distortion) of one camera, in pixels; validated on construction.

    Build it with :func:`CameraModel.from_camera_info`, which takes camera_info's fields as plain
    numbers. ``matrix`` is the 3x3 used for geometry (K for a raw image, P[:, :3] for a
    rectified one), ``distortion`` the coefficients applied to raw pixels (empty when
    rectified or when the camera has none), ``frame_id`` the optical frame every 3D result is
    expressed in.
    """

    width: int
    height: int
    fx: float
    fy: float
    cx: float
    cy: float
    distortion_model: str
    distortion: tuple[float, ...]
    frame_id: str
    rectified: bool

    @staticmethod
    def from_camera_info(
        width: int,
        height: int,
        distortion_model: str,
        d: Sequence[float],
        k: Sequence[float],
        r: Sequence[float],
        p: Sequence[float],
        frame_id: str,
        rectified: bool = False,
    ) -> CameraModel:
        """The model of a camera_info (its fields as numbers); ValueError says what is wrong.

        `k` is the row-major 3x3 K (9 values), `p` the row-major 3x4 P (12 values), `r` the 3x3
        rectification rotation (9 values; only its shape is checked: it relates the raw camera
        to the rectified one of a stereo pair and does not change this camera's rays' frame
        for a monocular camera). `rectified` chooses P (True) or K and D (False), see the
        module docstring.
        """
        width, height = int(width), int(height)
        if width < MIN_IMAGE_SIDE or height < MIN_IMAGE_SIDE:
            raise ValueError(
                f"camera_info has image size {width}x{height}: the camera is not calibrated"
            )
        k_arr = _finite_array(k, 9, "k")
        p_arr = _finite_array(p, 12, "p")
        _finite_array(r, 9, "r")
        if rectified:
            if not np.any(p_arr):
                raise ValueError(
                    "camera_info's P is all zeros (uncalibrated camera): a rectified image "
                    "needs P; calibrate the camera or use rectified=False with K"
                )
            m = p_arr.reshape(3, 4)[:, :3]
            coeffs: tuple[float, ...] = ()
            model = distortion_model
        else:
            if not np.any(k_arr):
                raise ValueError(
                    "camera_info's K is all zeros (uncalibrated camera): no 3D estimate is "
                    "possible without intrinsics"
                )
            m = k_arr.reshape(3, 3)
            coeffs = tuple(float(v) for v in _finite_array(d, None, "d"))
            model = distortion_model
            if any(coeffs) and model not in SUPPORTED_DISTORTION_MODELS:
                raise ValueError(
                    f"distortion_model {model!r} is not supported "
                    f"(one of {', '.join(SUPPORTED_DISTORTION_MODELS)}); rectify the image "
                    "with image_proc and use rectified=True"
                )
            if model == "equidistant" and any(coeffs) and len(coeffs) != 4:
                raise ValueError(f"equidistant distortion needs 4 coefficients, got {len(coeffs)}")
            if not any(coeffs):
                coeffs = ()
        if abs(m[0, 1]) > 1e-9 or np.any(np.abs(m[1:, 0]) > 1e-9) or abs(m[2, 1]) > 1e-9:
            raise ValueError(f"intrinsic matrix is not upper-triangular pinhole: {m.tolist()}")
        if abs(m[2, 2] - 1.0) > 1e-9:
            raise ValueError(f"intrinsic matrix's [2][2] must be 1, got {m[2, 2]}")
        fx, fy, cx, cy = float(m[0, 0]), float(m[1, 1]), float(m[0, 2]), float(m[1, 2])
        if not (fx > 0.0 and fy > 0.0):
            raise ValueError(f"focal lengths must be > 0 pixels, got fx={fx}, fy={fy}")
        return CameraModel(
            width=width,
            height=height,
            fx=fx,
            fy=fy,
            cx=cx,
            cy=cy,
            distortion_model=str(model),
            distortion=coeffs,
            frame_id=str(frame_id),
            rectified=bool(rectified),
        )

    @staticmethod
    def ideal(
        width: int, height: int, hfov_deg: float, frame_id: str = "camera_optical_frame"
    ) -> CameraModel:
        """A distortion-free camera of horizontal field of view `hfov_deg` (tests, benchmarks)."""
        if not 0.0 < hfov_deg < 180.0:
            raise ValueError(f"hfov_deg must be in (0, 180) degrees, got {hfov_deg!r}")
        f = (width / 2.0) / math.tan(math.radians(hfov_deg) / 2.0)
        k = [f, 0.0, (width - 1) / 2.0, 0.0, f, (height - 1) / 2.0, 0.0, 0.0, 1.0]
        p = [*k[0:3], 0.0, *k[3:6], 0.0, *k[6:9], 0.0]
        eye = [1.0, 0.0, 0.0, 0.0, 1.0, 0.0, 0.0, 0.0, 1.0]
        return CameraModel.from_camera_info(width, height, "plumb_bob", [], k, eye, p, frame_id)

    @cached_property
    def matrix(self) -> np.ndarray:
        """The 3x3 intrinsic matrix used for geometry (pixels; read-only)."""
        m = np.array(
            [[self.fx, 0.0, self.cx], [0.0, self.fy, self.cy], [0.0, 0.0, 1.0]], dtype=np.float64
        )
        m.flags.writeable = False
        return m

    @cached_property
    def dist_coeffs(self) -> np.ndarray:
        """Distortion coefficients as OpenCV takes them (empty array when none; read-only)."""
        d = np.asarray(self.distortion, dtype=np.float64)
        d.flags.writeable = False
        return d

    def fits(self, width: int, height: int) -> bool:
        """True when an image of `width` x `height` pixels is the one this model describes."""
        return int(width) == self.width and int(height) == self.height

    def normalise(self, pixels: np.ndarray) -> np.ndarray:
        """Undistorted normalised image coordinates (x/z, y/z) of Nx2 pixel points.

        The result is the direction of each pixel's ray in the optical frame: ray = (x, y, 1).
        """
        pts = _points2(pixels)
        if not len(pts):
            return pts
        src = pts.reshape(-1, 1, 2)
        if self.distortion and self.distortion_model == "equidistant":
            out = cv2.fisheye.undistortPoints(src, self.matrix, self.dist_coeffs)
        elif self.distortion:
            out = cv2.undistortPoints(src, self.matrix, self.dist_coeffs)
        else:
            out = np.empty_like(src)
            out[..., 0] = (src[..., 0] - self.cx) / self.fx
            out[..., 1] = (src[..., 1] - self.cy) / self.fy
        return out.reshape(-1, 2).astype(np.float64)

    def undistort(self, pixels: np.ndarray) -> np.ndarray:
        """Nx2 pixel points moved to where a distortion-free camera with `matrix` sees them."""
        n = self.normalise(pixels)
        return np.column_stack([n[:, 0] * self.fx + self.cx, n[:, 1] * self.fy + self.cy])

    def rays(self, pixels: np.ndarray) -> np.ndarray:
        """Unit direction vectors (Nx3, optical frame) of the rays through Nx2 pixel points."""
        n = self.normalise(pixels)
        v = np.column_stack([n, np.ones(len(n))])
        return v / np.linalg.norm(v, axis=1, keepdims=True)

    def project(self, points: np.ndarray) -> np.ndarray:
        """Pixels (Nx2) of Nx3 points in the optical frame (any unit), distortion applied.

        Points at or behind the camera (z <= 0) have no image: ValueError.
        """
        pts = np.asarray(points, dtype=np.float64).reshape(-1, 3)
        if len(pts) and not np.all(pts[:, 2] > 0.0):
            raise ValueError("cannot project points at or behind the camera (z <= 0)")
        if not len(pts):
            return np.zeros((0, 2))
        zero = np.zeros(3)
        if self.distortion and self.distortion_model == "equidistant":
            out, _ = cv2.fisheye.projectPoints(
                pts.reshape(-1, 1, 3), zero, zero, self.matrix, self.dist_coeffs
            )
        elif self.distortion:
            out, _ = cv2.projectPoints(pts, zero, zero, self.matrix, self.dist_coeffs)
        else:
            return np.column_stack(
                [
                    pts[:, 0] / pts[:, 2] * self.fx + self.cx,
                    pts[:, 1] / pts[:, 2] * self.fy + self.cy,
                ]
            )
        return out.reshape(-1, 2)


def _finite_array(values: Sequence[float], size: int | None, name: str) -> np.ndarray:
    try:
        arr = np.asarray(list(values), dtype=np.float64).ravel()
    except (TypeError, ValueError) as exc:
        raise ValueError(f"camera_info's {name} is not a list of numbers: {exc}") from None
    if size is not None and arr.size != size:
        raise ValueError(f"camera_info's {name} must have {size} values, got {arr.size}")
    if not np.isfinite(arr).all():
        raise ValueError(f"camera_info's {name} has a non-finite value: {arr.tolist()}")
    return arr


def _points2(pixels: np.ndarray) -> np.ndarray:
    pts = np.asarray(pixels, dtype=np.float64)
    if pts.size == 0:
        return np.zeros((0, 2))
    if pts.ndim != 2 or pts.shape[1] != 2:
        pts = pts.reshape(-1, 2)
    return pts
