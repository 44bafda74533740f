"""Visual social engagement (Webb & Lemaignan) and REP-155's engagement levels, per track.

Why: "is this person engaging with the robot" is what a service robot's behaviour acts on
(greet, approach, ignore), and ROS4HRI consumers expect it as ``hri_msgs/EngagementLevel``.
This follows ros4hri/hri_engagement 2.0.1 (``engagement_node.py``), itself an implementation of
K. Webb and S. Lemaignan, "Measuring Visual Social Engagement from Proxemics and Gaze", IEEE
RO-MAN 2022 (doi:10.1109/RO-MAN53752.2022.9900801), without its two slips:

- its ``field_of_view`` parameter (60 deg, documented as "the field of view of humans and
  robot") enters ``tan(fov)`` where the cone's half-angle belongs: a gaze 59 deg off-axis
  still scores. Here ``field_of_view_deg`` is the FULL apex angle of the attention cone and the
  code uses ``tan(field_of_view_deg / 2)``; the default, 120 deg, keeps hri_engagement's
  effective cone (half-angle 60 deg), so states agree with a ROS4HRI robot's.
- its README filters over "a 2 s window" while the node's default ``observation_window`` is
  10 s. Here the window is ``observation_window_s`` (default 2 s) in stamp time, documented and
  coded once.

The metric, for the person A (their ``gaze_<id>`` frame: z along the gaze) and the robot B (a
frame in the same optical convention: z where the robot looks; default the camera's optical
frame), at distance d between their origins:

    gaze_AB = max(0, 1 - |B's offset from A's gaze axis| / (tan(fov/2) * B's depth along it))
    gaze_BA = the same with the roles swapped (0 when the other is behind)
    S_AB = min(1, gaze_AB * gaze_BA * log(max_distance - d + 1) / log(max_distance + 1))

so S_AB is 1 for two frames looking straight at each other at zero distance, falls with the
angle off either axis (reaching 0 at half the field of view) and with distance (0 at
``max_distance``); beyond ``max_distance`` it is 0.

Levels (REP-155 / hri_msgs/EngagementLevel numbering): each frame with a valid gaze adds a
sample, +1 when S_AB > ``threshold`` else -1; the level follows the mean m of the samples of the
last ``observation_window_s`` seconds with hri_engagement's hysteresis:
UNKNOWN -> DISENGAGED once the samples span half the window;
DISENGAGED -> ENGAGING when m > -0.4; ENGAGING -> DISENGAGED when m < -0.6, -> ENGAGED when
m > 0.5; ENGAGED -> DISENGAGING when m < 0.4; DISENGAGING -> ENGAGED when m > 0.6,
-> DISENGAGED when m < -0.5. A track without a valid gaze for a whole window returns to UNKNOWN.
Deterministic given the stamps.
"""

from __future__ import annotations

import math
from collections import deque
from dataclasses import dataclass
from enum import IntEnum

import numpy as np


class EngagementLevel(IntEnum):
    """hri_msgs/EngagementLevel constants (REP-155)."""

    UNKNOWN = 0
    DISENGAGED = 1
    ENGAGING = 2
    ENGAGED = 3
    DISENGAGING = 4


#: Full apex angle (deg) of the attention cone of person and robot: hri_engagement's effective
#: cone (its 60 deg used as a half-angle).
DEFAULT_FIELD_OF_VIEW_DEG = 120.0
#: People farther than this (m) score 0 (hri_engagement's default).
DEFAULT_MAX_DISTANCE_M = 4.0
#: S_AB above this counts as an engaged sample (hri_engagement's default).
DEFAULT_THRESHOLD = 0.5
#: Seconds of samples the level is decided on (hri_engagement's documented 2 s).
DEFAULT_OBSERVATION_WINDOW_S = 2.0


@dataclass(frozen=True)
class EngagementConfig:
    """Parameters of the engagement metric and levels (units in the names)."""

    field_of_view_deg: float = DEFAULT_FIELD_OF_VIEW_DEG
    max_distance_m: float = DEFAULT_MAX_DISTANCE_M
    threshold: float = DEFAULT_THRESHOLD
    observation_window_s: float = DEFAULT_OBSERVATION_WINDOW_S

    def __post_init__(self) -> None:
        if not 0.0 < self.field_of_view_deg < 180.0:
            raise ValueError(
                f"field_of_view_deg (full cone angle) must be in (0, 180), got "
                f"{self.field_of_view_deg!r}"
            )
        if not (math.isfinite(self.max_distance_m) and self.max_distance_m > 0.0):
            raise ValueError(f"max_distance_m must be > 0 m, got {self.max_distance_m!r}")
        if not 0.0 <= self.threshold < 1.0:
            raise ValueError(f"threshold must be in [0, 1), got {self.threshold!r}")
        if not (math.isfinite(self.observation_window_s) and self.observation_window_s > 0.0):
            raise ValueError(
                f"observation_window_s must be > 0 s, got {self.observation_window_s!r}"
            )


def _cone(p: np.ndarray, tan_half: float) -> float:
    """How close point p (in a frame looking along +z) is to that frame's axis, in [0, 1]."""
    x, y, z = p.tolist()
    if z <= 0.0:
        return 0.0
    return max(0.0, 1.0 - math.hypot(x, y) / (tan_half * z))


def visual_social_engagement(
    gaze_rotation: np.ndarray,
    gaze_position: np.ndarray,
    config: EngagementConfig = EngagementConfig(),
    robot_rotation: np.ndarray | None = None,
    robot_position: np.ndarray | None = None,
) -> float:
    """S_AB in [0, 1] of a person's gaze frame and the robot's frame, both in one frame.

    `gaze_rotation` (3x3, columns = gaze_<id>'s axes) and `gaze_position` (m) are the person's
    gaze frame in the camera's optical frame; `robot_rotation` / `robot_position` the robot's
    looking frame (optical convention, z forward) in the same frame, default the camera itself.
    """
    r_a = np.asarray(gaze_rotation, dtype=np.float64)
    t_a = np.asarray(gaze_position, dtype=np.float64)
    ab = -t_a if robot_position is None else np.asarray(robot_position, dtype=np.float64) - t_a
    d = math.sqrt(float(ab @ ab))
    if d >= config.max_distance_m:
        return 0.0
    tan_half = math.tan(math.radians(config.field_of_view_deg) / 2.0)
    gaze_ab = _cone(r_a.T @ ab, tan_half)  # the robot, seen from the person's gaze
    # The person, seen from the robot (the camera itself when no robot frame is given).
    ba = -ab if robot_rotation is None else np.asarray(robot_rotation, dtype=np.float64).T @ -ab
    gaze_ba = _cone(ba, tan_half)
    m = config.max_distance_m
    factor = math.log(m - d + 1.0) / math.log(m + 1.0)
    return min(1.0, gaze_ab * gaze_ba * factor)


class EngagementTracker:
    """Engagement level of one track over time (samples in stamp seconds)."""

    def __init__(self, config: EngagementConfig = EngagementConfig()) -> None:
        self.config = config
        self.level = EngagementLevel.UNKNOWN
        self._samples: deque[tuple[float, int]] = deque()
        self._sum = 0
        self._last_stamp: float | None = None

    @property
    def mean(self) -> float:
        """Mean of the window's +-1 samples (NaN when there are none)."""
        if not self._samples:
            return math.nan
        return self._sum / len(self._samples)

    def reset(self) -> None:
        """Back to UNKNOWN with no samples."""
        self.level = EngagementLevel.UNKNOWN
        self._samples.clear()
        self._sum = 0
        self._last_stamp = None

    def update(self, stamp: float, score: float | None) -> EngagementLevel:
        """Add this frame's S_AB (`score`; None when the gaze is unknown) at `stamp` (s)."""
        if self._last_stamp is not None and stamp < self._last_stamp:
            self.reset()
        self._last_stamp = stamp
        window = self.config.observation_window_s
        while self._samples and self._samples[0][0] <= stamp - window:
            self._sum -= self._samples.popleft()[1]
        if score is None:
            if not self._samples:
                self.level = EngagementLevel.UNKNOWN
            return self.level
        sample = 1 if score > self.config.threshold else -1
        self._samples.append((stamp, sample))
        self._sum += sample
        if stamp - self._samples[0][0] < window / 2.0:
            return self.level
        self.level = _next_level(self.level, self.mean)
        return self.level


def _next_level(level: EngagementLevel, m: float) -> EngagementLevel:
    """hri_engagement's hysteresis on the window mean `m` in [-1, 1]."""
    e = EngagementLevel
    if level == e.UNKNOWN:
        return e.DISENGAGED
    if level == e.DISENGAGED:
        return e.ENGAGING if m > -0.4 else level
    if level == e.ENGAGING:
        if m < -0.6:
            return e.DISENGAGED
        return e.ENGAGED if m > 0.5 else level
    if level == e.ENGAGED:
        return e.DISENGAGING if m < 0.4 else level
    if m > 0.6:
        return e.ENGAGED
    return e.DISENGAGED if m < -0.5 else level
