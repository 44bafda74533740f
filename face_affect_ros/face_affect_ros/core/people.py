"""People in the camera's 3D world, per track and frame: pose, TF frames, engagement.

Why one object per image stream: the head pose of a frame is computed from that frame alone, but
smoothing and engagement live over time and per track, and the tracks come and go. A node (or the
bag tool) owns one :class:`People`, feeds it each processed frame's tracks with the frame's stamp,
the latest camera model and, if any, the registered depth image, and publishes what it returns:
``FaceAffect``'s pose / distance / engagement fields and the REP-155 ``face_<id>`` / ``gaze_<id>``
transforms (stamped with the image's stamp).

Nothing here guesses: without a camera model (no camera_info received yet), or with one whose
size is not the image's, every result is invalid and says why; a pose whose landmarks do not fit
a face is invalid; when depth is given but cannot be read at a face, the distance comes from the
landmarks and ``depth_note`` says why (never silently).

Frames: positions in metres in the camera's optical frame (the image's frame_id), rotations as the
face frame's axes in that frame; smoothing happens there too (:mod:`.one_euro`), a frame that does
not move with the head.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass, field, replace

import numpy as np

from face_affect_ros.core.camera_model import CameraModel
from face_affect_ros.core.engagement import (
    EngagementConfig,
    EngagementLevel,
    EngagementTracker,
    visual_social_engagement,
)
from face_affect_ros.core.head_pose import DEFAULT_SOLVER, HeadPose, HeadPoseEstimator
from face_affect_ros.core.one_euro import (
    ORIENTATION_PARAMS,
    POSITION_PARAMS,
    OneEuroParams,
    OrientationFilter,
    VectorFilter,
)
from face_affect_ros.core.rep155 import (
    Transform,
    face_frame,
    face_transform,
    gaze_rotation_in_optical,
    gaze_transform,
)

#: Reason of every result while no camera_info has arrived.
NO_CAMERA_INFO = "no camera_info yet"


@dataclass(frozen=True)
class FaceInput:
    """One tracked face of a frame: its id, box (x, y, w, h) and 5x2 landmarks (pixels)."""

    track_id: str
    box: tuple[float, float, float, float]
    landmarks: np.ndarray

    def __post_init__(self) -> None:
        face_frame(self.track_id)  # ValueError unless it can name a TF frame and a topic
        if len(self.box) != 4:
            raise ValueError(f"box must be (x, y, w, h) pixels, got {self.box!r}")
        lm = np.asarray(self.landmarks, dtype=np.float64)
        if lm.shape != (5, 2):
            raise ValueError(f"landmarks must be 5x2 pixels, got shape {lm.shape}")


@dataclass(frozen=True)
class PeopleConfig:
    """Settings of :class:`People` (units in the names or in the referenced modules)."""

    solver: str = DEFAULT_SOLVER
    #: One-euro parameters of the position (m) and orientation filters; ``smoothing`` False
    #: publishes each frame's raw estimate.
    smoothing: bool = True
    position_filter: OneEuroParams = POSITION_PARAMS
    orientation_filter: OneEuroParams = ORIENTATION_PARAMS
    engagement: EngagementConfig = field(default_factory=EngagementConfig)
    #: The robot's looking frame (optical convention: z forward) in the camera's optical frame:
    #: rotation (3x3) and position (m). None = the camera itself (hri_engagement's default is a
    #: sellion-like robot frame; a node can pass the one TF gives).
    robot_rotation: tuple[tuple[float, float, float], ...] | None = None
    robot_position: tuple[float, float, float] | None = None
    #: Depth image unit for uint16 images is millimetres, float images metres (REP-118).

    def __post_init__(self) -> None:
        HeadPoseEstimator(self.solver)  # validates the solver name
        if (self.robot_rotation is None) != (self.robot_position is None):
            raise ValueError("robot_rotation and robot_position go together (or both None)")
        if self.robot_rotation is not None:
            r = np.asarray(self.robot_rotation, dtype=np.float64)
            if r.shape != (3, 3) or not np.allclose(r @ r.T, np.eye(3), atol=1e-6):
                raise ValueError("robot_rotation must be a 3x3 rotation matrix")
            if np.asarray(self.robot_position, dtype=np.float64).shape != (3,):
                raise ValueError("robot_position must be 3 numbers (m)")


@dataclass(frozen=True)
class Person:
    """What :meth:`People.step` returns for one track in one frame.

    ``pose``: smoothed head pose in the optical frame (:class:`HeadPose`: position of the
    sellion in m, face axes, ``source`` "landmarks" / "depth", ``depth_note``); ``valid`` False
    means no 3D field may be used and ``reason`` says why. ``face`` / ``gaze``: the REP-155
    transforms (None when invalid). ``engagement``: this frame's S_AB in [0, 1] (NaN when
    invalid); ``engagement_level``: the track's level (UNKNOWN until half a window of samples).
    """

    track_id: str
    pose: HeadPose
    valid: bool
    reason: str
    face: Transform | None
    gaze: Transform | None
    engagement: float
    engagement_level: EngagementLevel

    @property
    def source(self) -> str:
        """Where the distance came from: "landmarks", "depth", or "" when invalid."""
        return self.pose.source if self.valid else ""

    @property
    def distance(self) -> float:
        """Distance (m) from the camera to the sellion; NaN when invalid."""
        return self.pose.distance if self.valid else math.nan


class _Track:
    def __init__(self, config: PeopleConfig) -> None:
        self.position = VectorFilter(config.position_filter)
        self.orientation = OrientationFilter(config.orientation_filter)
        self.engagement = EngagementTracker(config.engagement)


class People:
    """Per-stream 3D state of the tracked faces: call :meth:`step` once per processed frame."""

    def __init__(self, config: PeopleConfig | None = None) -> None:
        self.config = config or PeopleConfig()
        self.estimator = HeadPoseEstimator(self.config.solver)
        self._tracks: dict[str, _Track] = {}
        self._stamp: float | None = None
        c = self.config
        self._robot_r = None if c.robot_rotation is None else np.asarray(c.robot_rotation)
        self._robot_t = None if c.robot_position is None else np.asarray(c.robot_position)

    @property
    def track_ids(self) -> list[str]:
        """Ids of the tracks that have state (seen in the last step)."""
        return list(self._tracks)

    def reset(self) -> None:
        """Forget every track (filters and engagement)."""
        self._tracks.clear()
        self._stamp = None

    def step(
        self,
        stamp: float,
        faces: Sequence[FaceInput],
        camera: CameraModel | None,
        depth: np.ndarray | None = None,
        image_size: tuple[int, int] | None = None,
        frame_id: str | None = None,
    ) -> list[Person]:
        """Results for `faces` (one per face, same order) of the frame taken at `stamp` (s).

        `camera`: the stream's latest camera model (None before the first camera_info).
        `depth`: a registered depth image of this frame (uint16 mm or float m), or None.
        `image_size`: (width, height) of the image the faces were found in; when given it must
        match the camera model. `frame_id`: the image's frame_id, parent of the face frames
        (default: the camera_info's). Tracks not in `faces` are forgotten; a stamp that goes
        backwards forgets all of them.
        """
        if not math.isfinite(stamp):
            raise ValueError(f"stamp must be finite seconds, got {stamp!r}")
        if self._stamp is not None and stamp < self._stamp:
            self._tracks.clear()
        self._stamp = stamp
        ids = [f.track_id for f in faces]
        if len(set(ids)) != len(ids):
            raise ValueError(f"track ids must be unique within a frame, got {ids}")
        for gone in set(self._tracks) - set(ids):
            del self._tracks[gone]
        reason = self._camera_problem(camera, image_size)
        parent = frame_id or (camera.frame_id if camera is not None else "")
        if not reason and not parent:
            reason = "the image has no frame_id: the face frames would have no parent"
        out = []
        for face in faces:
            track = self._tracks.get(face.track_id)
            if track is None:
                track = self._tracks[face.track_id] = _Track(self.config)
            if reason:
                out.append(self._invalid(face.track_id, HeadPose.invalid(reason), track, stamp))
                continue
            pose = self.estimator.estimate(face.landmarks, camera, depth, face.box)
            if not pose.valid:
                out.append(self._invalid(face.track_id, pose, track, stamp))
                continue
            out.append(self._valid(face.track_id, pose, track, stamp, parent))
        return out

    @staticmethod
    def _camera_problem(camera: CameraModel | None, image_size: tuple[int, int] | None) -> str:
        if camera is None:
            return NO_CAMERA_INFO
        if image_size is not None and not camera.fits(*image_size):
            w, h = image_size
            return f"camera_info is for {camera.width}x{camera.height} but the image is {w}x{h}"
        return ""

    def _invalid(self, track_id: str, pose: HeadPose, track: _Track, stamp: float) -> Person:
        level = track.engagement.update(stamp, None)
        return Person(track_id, pose, False, pose.reason, None, None, math.nan, level)

    def _valid(
        self, track_id: str, pose: HeadPose, track: _Track, stamp: float, parent: str
    ) -> Person:
        position = np.asarray(pose.position)
        rotation = pose.rotation_matrix
        if self.config.smoothing:
            position = track.position.update(position, stamp)
            rotation = track.orientation.update(rotation, stamp)
            pose = replace(
                pose,
                position=tuple(position.tolist()),
                rotation=tuple(map(tuple, rotation.tolist())),
            )
        score = visual_social_engagement(
            gaze_rotation_in_optical(rotation),
            position,
            self.config.engagement,
            self._robot_r,
            self._robot_t,
        )
        level = track.engagement.update(stamp, score)
        return Person(
            track_id=track_id,
            pose=pose,
            valid=True,
            reason="",
            face=face_transform(track_id, parent, position, rotation),
            gaze=gaze_transform(track_id),
            engagement=score,
            engagement_level=level,
        )
