"""One-euro filter: seconds and Hz, not frames; jitter removed at rest, motion followed."""

from __future__ import annotations

import math

import numpy as np
import pytest
from face_affect_ros.core.one_euro import (
    OneEuroParams,
    OrientationFilter,
    VectorFilter,
    orthonormalise,
)


def rot_z(deg: float) -> np.ndarray:
    a = math.radians(deg)
    return np.array([[math.cos(a), -math.sin(a), 0], [math.sin(a), math.cos(a), 0], [0, 0, 1]])


def test_jitter_at_rest_is_reduced() -> None:
    rng = np.random.default_rng(0)
    f = VectorFilter()
    raw, out = [], []
    for i in range(300):
        x = np.array([0.1, 0.0, 1.5]) + rng.normal(0, 0.01, 3)
        raw.append(x)
        out.append(f.update(x, i / 30.0))
    assert np.std(np.array(out[30:]), axis=0).max() < 0.4 * np.std(np.array(raw), axis=0).min()


def test_a_moving_head_is_followed_with_little_lag() -> None:
    f = VectorFilter()
    for i in range(61):  # 1 m/s along x for 2 s at 30 Hz
        t = i / 30.0
        y = f.update(np.array([t, 0.0, 2.0]), t)
    assert y[0] == pytest.approx(2.0, abs=0.1)  # the cutoff rose with the speed
    slow = VectorFilter(OneEuroParams(min_cutoff=1.0, beta=0.0, d_cutoff=1.0))
    for i in range(61):
        t = i / 30.0
        z = slow.update(np.array([t, 0.0, 2.0]), t)
    assert 2.0 - z[0] > 2 * (2.0 - y[0])  # without beta it lags more


def test_result_depends_on_stamps_not_on_the_frame_rate() -> None:
    def run(rate: float) -> float:
        f = VectorFilter(OneEuroParams(1.0, 0.0, 1.0))
        f.update(np.zeros(1), 0.0)
        out = 0.0
        for i in range(1, int(rate) + 1):  # a step to 1 held for 1 s
            out = float(f.update(np.ones(1), i / rate)[0])
        return out

    # alpha = 1 / (1 + tau / dt) is a first-order approximation: 15 vs 60 Hz agree to ~2 %.
    assert run(15.0) == pytest.approx(run(60.0), abs=0.03)


def test_same_stamp_returns_the_estimate_and_going_back_restarts() -> None:
    f = VectorFilter()
    f.update(np.array([0.0]), 1.0)
    a = f.update(np.array([1.0]), 1.1)
    assert f.update(np.array([5.0]), 1.1)[0] == pytest.approx(a[0])
    assert f.update(np.array([7.0]), 0.5)[0] == 7.0


def test_orientation_filter_stays_a_rotation_and_removes_angular_jitter() -> None:
    rng = np.random.default_rng(1)
    f = OrientationFilter()
    angles = []
    for i in range(200):
        r = rot_z(30 + rng.normal(0, 3))
        out = f.update(r, i / 30.0)
        np.testing.assert_allclose(out @ out.T, np.eye(3), atol=1e-9)
        assert np.linalg.det(out) == pytest.approx(1.0)
        angles.append(math.degrees(math.atan2(out[1, 0], out[0, 0])))
    assert np.std(angles[30:]) < 1.5
    assert np.mean(angles[30:]) == pytest.approx(30.0, abs=1.0)


def test_orthonormalise_keeps_forward_and_makes_up_perpendicular() -> None:
    r = orthonormalise(np.array([2.0, 0, 0]), np.array([0.3, 0, 1.0]))
    np.testing.assert_allclose(r, np.eye(3), atol=1e-12)
    with pytest.raises(ValueError, match="parallel"):
        orthonormalise(np.array([1.0, 0, 0]), np.array([2.0, 0, 0]))


@pytest.mark.parametrize(
    ("kw", "match"),
    [
        ({"min_cutoff": 0.0}, "min_cutoff"),
        ({"beta": -1.0}, "beta"),
        ({"d_cutoff": math.inf}, "d_cutoff"),
    ],
)
def test_parameters_are_validated(kw: dict, match: str) -> None:
    args = {"min_cutoff": 1.0, "beta": 0.0, "d_cutoff": 1.0, **kw}
    with pytest.raises(ValueError, match=match):
        OneEuroParams(**args)
