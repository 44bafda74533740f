"""People: per-stream pose, REP-155 transforms and engagement over time, per track."""

from __future__ import annotations

import math

import numpy as np
import pytest
from face_affect_ros.core.camera_model import CameraModel
from face_affect_ros.core.engagement import EngagementLevel
from face_affect_ros.core.head_pose import REFERENCE_POINTS_MM
from face_affect_ros.core.people import NO_CAMERA_INFO, FaceInput, People, PeopleConfig
from face_affect_ros.core.rep155 import FACE_TOWARDS_CAMERA, rotation_angle_deg, rotation_matrix

CAMERA = CameraModel.ideal(640, 480, 60.0, frame_id="cam_optical")


def turned(yaw: float) -> np.ndarray:
    a = math.radians(yaw)
    rz = np.array([[math.cos(a), -math.sin(a), 0], [math.sin(a), math.cos(a), 0], [0, 0, 1]])
    return FACE_TOWARDS_CAMERA @ rz


def face(track_id: str, rot: np.ndarray, t, noise: np.ndarray | None = None) -> FaceInput:
    pts = CAMERA.project(REFERENCE_POINTS_MM / 1000.0 @ rot.T + np.asarray(t))
    if noise is not None:
        pts = pts + noise
    x0, y0 = pts.min(0)
    x1, y1 = pts.max(0)
    w, h = x1 - x0, y1 - y0
    return FaceInput(track_id, (x0 - 0.25 * w, y0 - 0.5 * h, 1.5 * w, 1.8 * h), pts)


def test_without_camera_info_everything_is_invalid_and_says_why() -> None:
    out = People().step(0.0, [face("a1", turned(0), (0, 0, 1))], None)
    assert len(out) == 1
    p = out[0]
    assert not p.valid and p.reason == NO_CAMERA_INFO
    assert p.face is None and p.gaze is None and math.isnan(p.distance)
    assert p.engagement_level == EngagementLevel.UNKNOWN and p.source == ""


def test_camera_info_of_another_size_is_refused() -> None:
    out = People().step(0.0, [face("a1", turned(0), (0, 0, 1))], CAMERA, image_size=(1280, 720))
    assert not out[0].valid and "640x480" in out[0].reason and "1280x720" in out[0].reason


def test_a_face_gets_its_pose_and_rep155_transforms() -> None:
    t = (0.2, -0.1, 1.5)
    p = People().step(12.5, [face("a1", turned(20), t)], CAMERA)[0]
    assert p.valid and p.reason == "" and p.source == "landmarks"
    np.testing.assert_allclose(p.pose.position, t, atol=1e-4)
    assert p.distance == pytest.approx(float(np.linalg.norm(t)), abs=1e-4)
    assert (p.face.parent, p.face.child) == ("cam_optical", "face_a1")
    assert (p.gaze.parent, p.gaze.child) == ("face_a1", "gaze_a1")
    np.testing.assert_allclose(p.face.translation, t, atol=1e-4)
    assert rotation_angle_deg(rotation_matrix(p.face.rotation), turned(20)) < 0.1
    assert 0.0 < p.engagement <= 1.0


def test_the_images_frame_id_is_the_parent_when_given() -> None:
    p = People().step(0.0, [face("a1", turned(0), (0, 0, 1))], CAMERA, frame_id="img_frame")[0]
    assert p.face.parent == "img_frame"


def test_depth_sets_the_source() -> None:
    t = np.array([0.0, 0.0, 2.0])
    f = face("a1", turned(0), t)
    z = float(np.mean(REFERENCE_POINTS_MM / 1000.0 @ turned(0).T + t, axis=0)[2])
    depth = np.full((480, 640), round(z * 1000), np.uint16)
    p = People().step(0.0, [f], CAMERA, depth=depth)[0]
    assert p.source == "depth"
    assert p.distance == pytest.approx(2.0, abs=0.005)


def test_smoothing_is_per_track_and_in_the_camera_frame() -> None:
    rng = np.random.default_rng(0)
    people = People()
    raw, smooth = [], []
    for i in range(90):
        noise = rng.normal(0, 1.0, (5, 2))
        p = people.step(i / 30.0, [face("a1", turned(0), (0, 0, 1.5), noise)], CAMERA)[0]
        smooth.append(p.pose.position)
        raw.append(p.pose.distance_landmarks)
    assert np.std(np.array(smooth)[30:, 2]) < 0.5 * np.std(raw[30:])
    off = People(PeopleConfig(smoothing=False))
    p = off.step(0.0, [face("a1", turned(0), (0, 0, 1.5), np.full((5, 2), 0.5))], CAMERA)[0]
    assert p.pose.distance == pytest.approx(p.pose.distance_landmarks)


def test_tracks_that_disappear_are_forgotten() -> None:
    people = People()
    people.step(0.0, [face("a1", turned(0), (0, 0, 1)), face("b2", turned(0), (0.3, 0, 2))], CAMERA)
    assert sorted(people.track_ids) == ["a1", "b2"]
    people.step(0.1, [face("b2", turned(0), (0.3, 0, 2))], CAMERA)
    assert people.track_ids == ["b2"]


def test_engagement_level_of_a_person_facing_the_camera_rises_over_the_window() -> None:
    people = People()
    levels = [
        people.step(i / 10.0, [face("a1", turned(0), (0, 0, 1.2))], CAMERA)[0].engagement_level
        for i in range(40)
    ]
    assert levels[0] == EngagementLevel.UNKNOWN
    assert levels[-1] == EngagementLevel.ENGAGED


def test_inputs_are_validated() -> None:
    with pytest.raises(ValueError, match="unique"):
        f = face("a1", turned(0), (0, 0, 1))
        People().step(0.0, [f, f], CAMERA)
    with pytest.raises(ValueError, match="start with a letter"):
        FaceInput("7", (0, 0, 10, 10), np.zeros((5, 2)))
    with pytest.raises(ValueError, match="5x2"):
        FaceInput("a1", (0, 0, 10, 10), np.zeros((4, 2)))
