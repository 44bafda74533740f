"""Visual social engagement (Webb & Lemaignan) and the REP-155 levels with hysteresis."""

from __future__ import annotations

import math

import numpy as np
import pytest
from face_affect_ros.core.engagement import (
    EngagementConfig,
    EngagementLevel,
    EngagementTracker,
    visual_social_engagement,
)
from face_affect_ros.core.rep155 import FACE_TOWARDS_CAMERA, gaze_rotation_in_optical


def face_turned(yaw_deg: float) -> np.ndarray:
    """Face axes (optical frame) of a face turned `yaw_deg` to its left from facing the camera."""
    a = math.radians(yaw_deg)
    rz = np.array([[math.cos(a), -math.sin(a), 0], [math.sin(a), math.cos(a), 0], [0, 0, 1]])
    return FACE_TOWARDS_CAMERA @ rz


def score(yaw_deg: float, position=(0.0, 0.0, 1.0), **kw) -> float:
    gaze = gaze_rotation_in_optical(face_turned(yaw_deg))
    return visual_social_engagement(gaze, np.asarray(position), EngagementConfig(**kw))


def test_mutual_gaze_up_close_scores_high_and_falls_with_distance() -> None:
    near, mid, far = score(0, (0, 0, 0.5)), score(0, (0, 0, 2.0)), score(0, (0, 0, 3.9))
    assert near > 0.9
    assert near > mid > far > 0.0
    assert score(0, (0, 0, 4.5)) == 0.0  # beyond max_distance_m


def test_field_of_view_is_the_full_cone_angle() -> None:
    # A face turned 29 deg away is inside a 60 deg cone (half-angle 30), 31 deg is outside.
    assert score(29, field_of_view_deg=60.0) > 0.0
    assert score(31, field_of_view_deg=60.0) == 0.0
    # hri_engagement's tan(60 deg) cone is the default 120 deg full angle here.
    assert score(59) > 0.0 and score(61) == 0.0


def test_a_person_off_the_robots_axis_scores_less() -> None:
    # Facing the camera from 40 deg off its axis (the robot sees them at the image border).
    x = math.tan(math.radians(40))
    r = face_turned(-40)  # turned towards the camera
    gaze = gaze_rotation_in_optical(r)
    off = visual_social_engagement(gaze, np.array([x, 0.0, 1.0]) / math.hypot(x, 1.0))
    assert 0.0 < off < score(0)


def test_looking_away_scores_zero() -> None:
    assert score(90) == 0.0
    assert score(180) == 0.0


def run(tracker: EngagementTracker, scores, t0: float, rate: float = 10.0):
    levels = []
    for i, s in enumerate(scores):
        levels.append(tracker.update(t0 + i / rate, s))
    return levels, t0 + len(scores) / rate


def test_levels_of_a_face_turning_towards_and_away_from_the_camera() -> None:
    tr = EngagementTracker(EngagementConfig(observation_window_s=2.0))
    looking = [score(0)] * 40
    away = [score(90)] * 40
    levels, t = run(tr, away, 0.0)
    assert levels[0] == EngagementLevel.UNKNOWN  # until half a window of samples
    assert levels[-1] == EngagementLevel.DISENGAGED
    levels, t = run(tr, looking, t)
    assert EngagementLevel.ENGAGING in levels
    assert levels[-1] == EngagementLevel.ENGAGED
    assert levels.index(EngagementLevel.ENGAGING) < levels.index(EngagementLevel.ENGAGED)
    levels, t = run(tr, away, t)
    assert EngagementLevel.DISENGAGING in levels
    assert levels[-1] == EngagementLevel.DISENGAGED


def test_hysteresis_ignores_a_short_glance_away() -> None:
    tr = EngagementTracker(EngagementConfig(observation_window_s=2.0))
    levels, t = run(tr, [1.0] * 40, 0.0)
    assert levels[-1] == EngagementLevel.ENGAGED
    levels, t = run(tr, [0.0] * 2 + [1.0] * 10, t)  # 0.2 s away
    assert set(levels) == {EngagementLevel.ENGAGED}


def test_window_is_in_seconds_whatever_the_rate() -> None:
    def frames_to_engaged(rate: float) -> float:
        tr = EngagementTracker(EngagementConfig(observation_window_s=2.0))
        run(tr, [0.0] * int(3 * rate), 0.0, rate)
        for i in range(int(10 * rate)):
            if tr.update(3.0 + i / rate, 1.0) == EngagementLevel.ENGAGED:
                return i / rate
        return math.inf

    assert frames_to_engaged(10.0) == pytest.approx(frames_to_engaged(30.0), abs=0.15)


def test_no_gaze_for_a_whole_window_returns_to_unknown() -> None:
    tr = EngagementTracker(EngagementConfig(observation_window_s=2.0))
    run(tr, [1.0] * 40, 0.0)
    assert tr.update(4.5, None) == EngagementLevel.ENGAGED  # last sample 0.6 s ago
    assert tr.update(6.5, None) == EngagementLevel.UNKNOWN


def test_deterministic_given_stamps_and_a_stamp_going_back_resets() -> None:
    seq = list(np.random.default_rng(3).random(100))
    a = run(EngagementTracker(), seq, 0.0)[0]
    b = run(EngagementTracker(), seq, 0.0)[0]
    assert a == b
    tr = EngagementTracker()
    run(tr, [1.0] * 40, 10.0)
    assert tr.update(1.0, 1.0) == EngagementLevel.UNKNOWN


@pytest.mark.parametrize(
    ("kw", "match"),
    [
        ({"field_of_view_deg": 180.0}, "full cone"),
        ({"max_distance_m": 0.0}, "max_distance_m"),
        ({"threshold": 1.0}, "threshold"),
        ({"observation_window_s": -1.0}, "observation_window_s"),
    ],
)
def test_parameters_are_validated(kw: dict, match: str) -> None:
    with pytest.raises(ValueError, match=match):
        EngagementConfig(**kw)


def test_a_robot_frame_off_the_camera_is_engaged_when_looked_at() -> None:
    # The robot's eyes 0.6 m right of the camera (same orientation); the person 2 m in front.
    robot_r, robot_t = np.eye(3), np.array([0.6, 0.0, 0.0])
    person = np.array([0.0, 0.0, 2.0])
    at_robot = math.degrees(math.atan2(0.6, 2.0))  # turn to their left (image right) this much
    gaze_at_camera = gaze_rotation_in_optical(face_turned(0))
    gaze_at_robot = gaze_rotation_in_optical(face_turned(at_robot))
    cfg = EngagementConfig(field_of_view_deg=60.0)
    cam_a = visual_social_engagement(gaze_at_camera, person, cfg)
    cam_b = visual_social_engagement(gaze_at_robot, person, cfg)
    rob_a = visual_social_engagement(gaze_at_camera, person, cfg, robot_r, robot_t)
    rob_b = visual_social_engagement(gaze_at_robot, person, cfg, robot_r, robot_t)
    assert cam_a > cam_b
    assert rob_b > rob_a
