"""6-DoF head pose from YuNet's 5 landmarks and the camera's intrinsics, and distance from depth.

Why: a behaviour acts on where a head is and where it faces, in metres and in the robot's
frames, not on pixels. YuNet gives five points per face (right eye centre, left eye centre,
nose tip, right and left mouth corners; the person's own sides); with a 3D model of those five
points on an average adult face, ``cv2.solvePnP`` recovers the rotation and the translation
(hence the distance, from the assumed face size) in the camera's optical frame.

The 3D reference (:data:`REFERENCE_POINTS_MM`, millimetres, in the REP-155 face frame: origin at
the sellion, x out of the face, y to the person's left, z up) is taken from MediaPipe's
canonical face model (google/mediapipe,
``mediapipe/modules/face_geometry/data/canonical_face_model.obj``, Apache-2.0: an average adult
face in centimetres; vertex indices of its 468-point face mesh, 0-based):

- eye centre = mean of the 16 vertices of the eye's contour (right eye 33, 7, 163, 144, 145,
  153, 154, 155, 133, 173, 157, 158, 159, 160, 161, 246; the left eye mirrored). YuNet learnt
  its landmarks from WIDER FACE's 5-point annotations made for RetinaFace (Deng et al., CVPR
  2020: eye centres, nose tip, mouth corners), so the model needs eye centres: eye **corners**
  are 89 mm apart (outer, vertices 33 / 263) or 37 mm (inner, 133 / 362) against 63 mm between
  the centres, and pairing eye centres in the image with a corner model biases every distance
  (outer corners: +13 % here, where the unchanged nose and mouth pull against the eyes; x1.4 if
  the eyes alone set the scale; test_core_head_pose.py checks it). The model's 63.2 mm
  interpupillary distance matches the adult mean of 63 mm (SD about 3.8 mm) of N. A. Dodgson,
  "Variation and extrema of human interpupillary distance", Proc. SPIE 5291, 2004 (from the
  ANSUR 1988 survey). ros4hri/hri_face_detect 1.5.3's model has the eyes 131 mm apart: fitted
  with its 4 points (eyes, nose, stomion) to projections of this model, it places a frontal
  face 32 % too far (1.32 m for 1 m, 2.63 m for 2 m).
- nose tip = vertex 4 (pronasale, the most anterior point of the mesh);
- mouth corners = vertices 61 / 291 (cheilion; 49 mm apart);
- sellion = vertex 168 (the deepest midline point between the eyes, the face frame's origin).

The distance from landmarks is only as right as the assumed face size: a face whose features are
k times the model's is placed k times too near or far. With Dodgson's SD of 3.8 mm on 63 mm,
about 68 % of adults are within +-6 % (+-12 % for 95 %); children's faces are smaller and are
placed too far. A registered depth image removes that error (see :func:`depth_at_face`).

Solver: chosen by ``bench/bench_head_pose.py`` (synthetic heads at 0.5-5 m, yaw +-60 deg, pitch
+-30 deg, landmark noise proportional to face size as measured on YuNet, and 1-3 px, 640x480
camera); see :data:`DEFAULT_SOLVER` for the numbers. ``SOLVEPNP_UPNP`` is not offered: OpenCV
runs EPnP for it. P3P / AP3P take exactly 4 points and IPPE needs a planar model, which the 5
points are not (the nose tip stands 24 mm out of the eyes' plane).

Frames and units: positions in metres in the camera's optical frame (z forward, x right, y down;
the image's ``frame_id``), rotations as 3x3 matrices whose columns are the face frame's axes in
that frame (:mod:`face_affect_ros.core.rep155`).
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import cv2
import numpy as np

from face_affect_ros.core.camera_model import CameraModel
from face_affect_ros.core.rep155 import FACE_TOWARDS_CAMERA

#: The 5 YuNet landmarks on an average adult face, millimetres, REP-155 face frame (origin at
#: the sellion; x out of the face, y to the person's left, z up); rows in YuNet's order. Derived
#: from MediaPipe's canonical face model as the module docstring says (its x = our y, its y =
#: our z, its z = our x, minus the sellion vertex 168).
REFERENCE_POINTS_MM = np.array(
    [
        [-16.10, -31.60, -6.28],  # right eye centre (person's right)
        [-16.10, 31.60, -6.28],  # left eye centre
        [23.51, 0.00, -37.34],  # nose tip (pronasale)
        [-9.52, -24.56, -76.14],  # right mouth corner (cheilion)
        [-9.52, 24.56, -76.14],  # left mouth corner
    ],
    dtype=np.float64,
)

#: Mean adult interpupillary distance (mm), Dodgson 2004; the model's eye centres are this far
#: apart (63.2 mm).
MEAN_INTERPUPILLARY_MM = 63.0

#: Solvers :class:`HeadPoseEstimator` offers (bench/bench_head_pose.py compares them):
#: "iterative": SOLVEPNP_ITERATIVE (Levenberg-Marquardt) from a frontal start at the distance the
#:   eye pair implies (what hri_face_detect does, with a better start);
#: "iterative_noguess": SOLVEPNP_ITERATIVE with OpenCV's own start (DLT; can fail on 5 points);
#: "epnp": SOLVEPNP_EPNP (closed form, no refinement);
#: "epnp_lm": EPnP then Levenberg-Marquardt refinement (cv2.solvePnPRefineLM);
#: "epnp_vvs": EPnP then virtual visual servoing refinement (cv2.solvePnPRefineVVS, a
#:   Gauss-Newton on the same reprojection error; cheaper per call than RefineLM in OpenCV);
#: "sqpnp": SOLVEPNP_SQPNP (globally optimal for the algebraic error).
SOLVERS = ("iterative", "iterative_noguess", "epnp", "epnp_lm", "epnp_vvs", "sqpnp")

#: Solver used by default, chosen with bench/bench_head_pose.py (400 heads per distance band,
#: gate off; bench/results/head_pose.txt). Median / 90th percentile distance error (%) and
#: rotation error (deg), 3.5-5 m band (noise: 7 % of the eye distance, as YuNet's, or 2 px),
#: and time per face (2-core EPYC, shared):
#:
#:   noise      iterative          epnp               epnp_lm / epnp_vvs  sqpnp
#:   YuNet 7 %  3.9/9.5  7.7/13.5  6.7/23.5 14.7/36   3.6/8.5  7.7/13.4   3.8/8.9  7.8/13.8
#:   2 px       13.5/79  24.2/50   14.8/51  34.0/62   11.0/26  24.3/50    16.9/32  26.9/55
#:   us / face  ~180               ~70                ~200 / ~130         ~140
#:
#: EPnP refined on the reprojection error is the most accurate or tied everywhere (0.5-1 m,
#: 1 px: 1.1 % / 2.0 deg for all refined solvers), needs no starting guess (ITERATIVE from a
#: frontal start falls into the mirror minimum of a far, turned face: its p90 of 79 % above),
#: and the fewest of its fits fail the reprojection gate. OpenCV's VVS refinement gives the same
#: numbers as its Levenberg-Marquardt one at ~70 us less per face; where VVS diverges (0.5-3 %
#: of far faces at 2-3 px of noise) LM takes over from the same EPnP start. SQPnP ties up to
#: YuNet's noise but is 50 % worse beyond 3.5 m at 2 px. EPnP alone is 2-3 x worse at the tail.
DEFAULT_SOLVER = "epnp_vvs"

#: Poses whose RMS reprojection error exceeds this fraction of the eye distance in pixels are
#: invalid: the 5 points do not fit any view of an average face (a mis-detection, a face cut by
#: the border, a profile view whose far-side landmarks were guessed).
DEFAULT_MAX_REPROJECTION = 0.25

#: Sources of a pose's distance.
SOURCE_LANDMARKS = "landmarks"
SOURCE_DEPTH = "depth"

#: Inner part of the face box where depth is read: the central fraction of its width and height
#: (eyes, nose, cheeks; the box's edges hold hair, ears and background).
DEPTH_BOX_FRACTION = 0.5
#: Fewest valid depth pixels in that region, absolute and as a fraction of its pixels, below
#: which the depth is not trusted (the caller keeps the landmark distance and says why).
MIN_DEPTH_PIXELS = 9
MIN_DEPTH_VALID_FRACTION = 0.2
#: Depth readings outside this range (m) are invalid (sensor minimum, far background).
DEPTH_RANGE_M = (0.1, 20.0)


@dataclass(frozen=True)
class HeadPose:
    """One head's pose in the camera's optical frame.

    ``position``: the sellion (origin of REP-155's face_<id>) in metres. ``rotation``: 3x3,
    columns = the face frame's x (out of the face), y (person's left), z (up) in the optical
    frame. ``source``: what set the distance, "landmarks" (assumed face size) or "depth".
    ``valid`` False means the numbers must not be used; ``reason`` says why (empty when valid).
    ``distance_landmarks`` / ``distance_depth``: the sellion's distance (m) by each method
    (NaN when not computed), so the two can be compared. ``depth_note``: why depth was given but
    not used (empty otherwise). ``reprojection_px``: RMS reprojection error of the fit (pixels).
    """

    position: tuple[float, float, float]
    rotation: tuple[tuple[float, float, float], ...]
    source: str
    valid: bool
    reason: str = ""
    distance_landmarks: float = math.nan
    distance_depth: float = math.nan
    depth_note: str = ""
    reprojection_px: float = math.nan

    @property
    def distance(self) -> float:
        """Euclidean distance (m) from the camera's optical centre to the sellion."""
        return float(np.linalg.norm(self.position))

    @property
    def rotation_matrix(self) -> np.ndarray:
        """``rotation`` as a 3x3 array."""
        return np.asarray(self.rotation, dtype=np.float64)

    @staticmethod
    def invalid(reason: str) -> HeadPose:
        """A pose that must not be used, and why."""
        return HeadPose(
            position=(math.nan, math.nan, math.nan),
            rotation=tuple(tuple(row) for row in np.eye(3).tolist()),
            source="",
            valid=False,
            reason=reason,
        )


class HeadPoseEstimator:
    """Head pose of 5 landmarks with a camera model (stateless: one call per face and frame)."""

    def __init__(
        self,
        solver: str = DEFAULT_SOLVER,
        reference_mm: np.ndarray = REFERENCE_POINTS_MM,
        max_reprojection: float = DEFAULT_MAX_REPROJECTION,
    ) -> None:
        if solver not in SOLVERS:
            raise ValueError(f"solver must be one of {', '.join(SOLVERS)}, got {solver!r}")
        ref = np.asarray(reference_mm, dtype=np.float64)
        if ref.shape != (5, 3) or not np.isfinite(ref).all():
            raise ValueError(f"reference_mm must be 5x3 finite millimetres, got {ref.shape}")
        if not max_reprojection > 0.0:
            raise ValueError(f"max_reprojection must be > 0, got {max_reprojection!r}")
        self.solver = solver
        self.reference_m = ref / 1000.0
        self.max_reprojection = float(max_reprojection)
        eyes = ref[1] - ref[0]
        self._eye_distance_m = float(np.linalg.norm(eyes)) / 1000.0

    def estimate(
        self,
        landmarks: np.ndarray,
        camera: CameraModel,
        depth: np.ndarray | None = None,
        box: tuple[float, float, float, float] | None = None,
    ) -> HeadPose:
        """Pose of the face with 5x2 `landmarks` (pixels, YuNet order) seen by `camera`.

        With a registered `depth` image (same size as the camera's image; uint16 millimetres
        = 16UC1, or float metres = 32FC1; 0, NaN and inf are "no reading") and the face `box`
        (x, y, w, h pixels), the distance comes from the depth at the face
        (:func:`depth_at_face`) and the landmark translation is rescaled along its ray; when the
        depth is unusable the landmark distance is kept and ``depth_note`` says why.
        """
        pts = np.asarray(landmarks, dtype=np.float64)
        if pts.shape != (5, 2):
            raise ValueError(f"landmarks must be 5x2 pixels, got shape {pts.shape}")
        if not np.isfinite(pts).all():
            return HeadPose.invalid("landmarks are not finite")
        undist = camera.undistort(pts) if camera.distortion else pts
        fit = self._solve(undist, camera)
        if fit is None:
            return HeadPose.invalid(f"solvePnP ({self.solver}) found no pose")
        rot, t = fit
        cam_pts = self.reference_m @ rot.T + t
        if cam_pts[:, 2].min() <= 0.0:
            return HeadPose.invalid("solvePnP placed the face behind the camera")
        proj = cam_pts[:, :2] / cam_pts[:, 2:]
        proj[:, 0] = proj[:, 0] * camera.fx + camera.cx
        proj[:, 1] = proj[:, 1] * camera.fy + camera.cy
        diff = proj - undist
        rms = math.sqrt(float((diff * diff).sum()) / len(diff))
        ex, ey = (undist[1] - undist[0]).tolist()
        eye_px = math.hypot(ex, ey)
        tx, ty, tz = t.tolist()
        common = {
            "rotation": tuple(map(tuple, rot.tolist())),
            "distance_landmarks": math.sqrt(tx * tx + ty * ty + tz * tz),
            "reprojection_px": rms,
        }
        if eye_px <= 0.0 or rms > self.max_reprojection * eye_px:
            return HeadPose(
                position=(tx, ty, tz),
                source=SOURCE_LANDMARKS,
                valid=False,
                reason=(
                    f"landmarks do not fit a face: reprojection {rms:.1f} px > "
                    f"{self.max_reprojection:g} x eye distance {eye_px:.1f} px"
                ),
                **common,
            )
        if depth is None:
            return HeadPose(position=(tx, ty, tz), source=SOURCE_LANDMARKS, valid=True, **common)
        if box is None:
            raise ValueError("a depth image needs the face box to read depth in")
        z, note = depth_at_face(depth, box, camera)
        if z is None:
            return HeadPose(
                position=(tx, ty, tz),
                source=SOURCE_LANDMARKS,
                valid=True,
                depth_note=note,
                **common,
            )
        # The depth image holds each pixel's z (along the optical axis, REP-118), read over the
        # inner face: the surface around the landmarks. Scale the translation along the
        # sellion's ray so that the landmarks' centroid lies at that z.
        offset_z = float(np.mean(self.reference_m @ rot.T, axis=0)[2])
        scale = (z - offset_z) / float(t[2])
        if not scale > 0.0:
            return HeadPose(
                position=(tx, ty, tz),
                source=SOURCE_LANDMARKS,
                valid=True,
                depth_note=f"depth {z:.3f} m is inconsistent with the face's orientation",
                **common,
            )
        t_depth = t * scale
        return HeadPose(
            position=tuple(float(v) for v in t_depth),
            source=SOURCE_DEPTH,
            valid=True,
            distance_depth=float(np.linalg.norm(t_depth)),
            **common,
        )

    def _solve(
        self, undist: np.ndarray, camera: CameraModel
    ) -> tuple[np.ndarray, np.ndarray] | None:
        """(R, t) of the face frame in the optical frame (t in metres), or None on failure."""
        obj = self.reference_m.reshape(-1, 1, 3)
        img = undist.reshape(-1, 1, 2)
        k = camera.matrix
        try:
            if self.solver == "iterative":
                rvec, tvec = self._frontal_guess(undist, camera)
                ok, rvec, tvec = cv2.solvePnP(
                    obj, img, k, None, rvec, tvec, True, cv2.SOLVEPNP_ITERATIVE
                )
            elif self.solver == "iterative_noguess":
                ok, rvec, tvec = cv2.solvePnP(obj, img, k, None, flags=cv2.SOLVEPNP_ITERATIVE)
            elif self.solver == "epnp":
                ok, rvec, tvec = cv2.solvePnP(obj, img, k, None, flags=cv2.SOLVEPNP_EPNP)
            elif self.solver == "epnp_lm":
                ok, rvec, tvec = cv2.solvePnP(obj, img, k, None, flags=cv2.SOLVEPNP_EPNP)
                if ok:
                    rvec, tvec = cv2.solvePnPRefineLM(obj, img, k, None, rvec, tvec)
            elif self.solver == "epnp_vvs":
                ok, rvec0, tvec0 = cv2.solvePnP(obj, img, k, None, flags=cv2.SOLVEPNP_EPNP)
                if ok:
                    rvec, tvec = cv2.solvePnPRefineVVS(
                        obj, img, k, None, rvec0.copy(), tvec0.copy()
                    )
                    if not (np.isfinite(rvec).all() and np.isfinite(tvec).all() and tvec[2] > 0):
                        # VVS diverged (seen on 0.5-3 % of far faces with 2-3 px of noise):
                        # Levenberg-Marquardt from the same start.
                        rvec, tvec = cv2.solvePnPRefineLM(obj, img, k, None, rvec0, tvec0)
            else:
                ok, rvec, tvec = cv2.solvePnP(obj, img, k, None, flags=cv2.SOLVEPNP_SQPNP)
        except cv2.error:
            return None
        if not ok or not np.isfinite(rvec).all() or not np.isfinite(tvec).all():
            return None
        rot, _ = cv2.Rodrigues(rvec)
        return rot, tvec.reshape(3)

    def _frontal_guess(
        self, undist: np.ndarray, camera: CameraModel
    ) -> tuple[np.ndarray, np.ndarray]:
        """Start for the iterative solver: facing the camera, at the eye pair's distance."""
        eye_px = max(float(np.linalg.norm(undist[1] - undist[0])), 1.0)
        dist = camera.fx * self._eye_distance_m / eye_px
        mid = (undist[0] + undist[1]) / 2.0
        ray = np.array([(mid[0] - camera.cx) / camera.fx, (mid[1] - camera.cy) / camera.fy, 1.0])
        # The sellion is ~6 mm above the eye line and ~16 mm in front of it: close enough.
        tvec = (ray / np.linalg.norm(ray) * dist).reshape(3, 1)
        rvec, _ = cv2.Rodrigues(FACE_TOWARDS_CAMERA)
        return rvec.astype(np.float64), tvec.astype(np.float64)


def depth_at_face(
    depth: np.ndarray, box: tuple[float, float, float, float], camera: CameraModel
) -> tuple[float | None, str]:
    """Median depth (m, along the optical axis) over the inner face box, or (None, why not).

    `depth`: a registered depth image of the camera's size, uint16 in millimetres (16UC1) or
    float in metres (32FC1). Zero, NaN, inf and readings outside :data:`DEPTH_RANGE_M` are no
    reading. The median over the central :data:`DEPTH_BOX_FRACTION` of the box ignores the
    background and hair that the box's border holds, and stays on the face when up to half the
    region is something else; at least :data:`MIN_DEPTH_PIXELS` and
    :data:`MIN_DEPTH_VALID_FRACTION` of the region must be valid.
    """
    d = np.asarray(depth)
    if d.ndim != 2:
        return None, f"depth image must be single-channel (HxW), got shape {d.shape}"
    h, w = d.shape
    if not camera.fits(w, h):
        return None, (
            f"depth image is {w}x{h} but the camera is {camera.width}x{camera.height}: "
            "it must be registered to the colour image"
        )
    if d.dtype == np.uint16:
        scale = 0.001
    elif d.dtype in (np.float32, np.float64):
        scale = 1.0
    else:
        return None, f"depth image dtype {d.dtype} is neither uint16 (mm) nor float (m)"
    x, y, bw, bh = (float(v) for v in box)
    if not (bw > 0 and bh > 0):
        return None, f"face box has no area: {box}"
    mx, my = bw * (1 - DEPTH_BOX_FRACTION) / 2, bh * (1 - DEPTH_BOX_FRACTION) / 2
    x0, x1 = max(0, round(x + mx)), min(w, round(x + bw - mx))
    y0, y1 = max(0, round(y + my)), min(h, round(y + bh - my))
    if x1 <= x0 or y1 <= y0:
        return None, "the face's inner box lies outside the depth image"
    region = d[y0:y1, x0:x1].astype(np.float64) * scale
    valid = region[
        np.isfinite(region) & (region >= DEPTH_RANGE_M[0]) & (region <= DEPTH_RANGE_M[1])
    ]
    need = max(MIN_DEPTH_PIXELS, math.ceil(MIN_DEPTH_VALID_FRACTION * region.size))
    if valid.size < need:
        return None, f"depth: {valid.size} of {region.size} pixels valid at the face, need {need}"
    return float(np.median(valid)), ""
