"""One-euro filter (Casiez, Roussel, Vogel, CHI 2012) for head positions and orientations.

Why this filter: a head estimated from 5 noisy landmarks jitters by centimetres and degrees at
rest, and a plain low-pass that removes the jitter lags behind a person who moves. The one-euro
filter is a first-order low-pass whose cutoff rises with the signal's speed: at rest it smooths
hard (``min_cutoff``), when the head moves the cutoff grows by ``beta`` per unit of speed so the
estimate keeps up. It is what ros4hri/hri_face_detect uses for its face frames.

Parameters, with units (all rates in Hz, times in seconds, stamps in seconds):

- ``min_cutoff`` (Hz): cutoff at rest. Lower = less jitter, more lag at low speed.
- ``beta`` (Hz per unit of speed: per m/s for positions, per rad/s for orientations): how fast the
  cutoff rises with speed. Higher = less lag when moving.
- ``d_cutoff`` (Hz): cutoff of the low-pass on the speed estimate itself.

The smoothing factor for a step of ``dt`` seconds is alpha = 1 / (1 + tau / dt), tau = 1 / (2 pi
cutoff), so the result depends on the stamps, not on the frame rate. A stamp that does not advance
returns the previous estimate; one that goes backwards (a replayed bag, a clock reset) restarts
the filter.

Frame: filter in a frame that does not move with the head, the camera's optical frame: the
filtered quantity is then the head's motion relative to the camera (a robot turning its camera
makes every head appear to move, which the filter follows at its moving cutoff).

Vectors are filtered as a whole: the speed that sets the cutoff is the norm of the vector's
velocity, so x, y and z are smoothed alike and a head moving along one axis is not smoothed
differently along another. Orientations (:class:`OrientationFilter`) filter two of the face's
axes (forward x and up z) as vectors, with the angular speed taken from the change of those unit
vectors, and re-orthonormalise the result (Gram-Schmidt: forward kept, up made perpendicular,
left = up x forward); unlike averaging Euler angles this has no wrap-around or gimbal lock, and
unlike component-wise quaternion filtering it does not care about the quaternion's sign.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np

#: Defaults, chosen by a sweep (min_cutoff 0.3-2 Hz x beta 0.3-4) on synthetic heads at 2 m seen
#: at 15 Hz with YuNet's measured landmark noise (``bench/bench_head_pose.py --sweep``; numbers
#: in bench/results/head_pose.txt): median position error 8.9 cm raw -> 4.7 cm at rest and
#: 8.4 -> 6.2 cm walking 0.5 m/s across; rotation error 9.2 -> 5.2 deg at rest, 7.3 -> 4.0 deg
#: walking. The sweep is flat near the optimum (within 0.1-0.3 cm and deg of the best cell),
#: so the values are round.
#: Position (metres): 0.5 Hz at rest; at 0.5 m/s the cutoff is 0.5 + 2 * 0.5 = 1.5 Hz.
DEFAULT_POSITION_MIN_CUTOFF = 0.5
DEFAULT_POSITION_BETA = 2.0
DEFAULT_POSITION_D_CUTOFF = 1.0
#: Orientation: 0.5 Hz at rest, +1 Hz per rad/s of head rotation.
DEFAULT_ORIENTATION_MIN_CUTOFF = 0.5
DEFAULT_ORIENTATION_BETA = 1.0
DEFAULT_ORIENTATION_D_CUTOFF = 1.0


@dataclass(frozen=True)
class OneEuroParams:
    """Parameters of one filter: cutoffs in Hz, beta in Hz per unit of speed."""

    min_cutoff: float
    beta: float
    d_cutoff: float

    def __post_init__(self) -> None:
        for name in ("min_cutoff", "d_cutoff"):
            value = getattr(self, name)
            if not (math.isfinite(value) and value > 0.0):
                raise ValueError(f"{name} must be a finite frequency > 0 Hz, got {value!r}")
        if not (math.isfinite(self.beta) and self.beta >= 0.0):
            raise ValueError(f"beta must be finite and >= 0 (Hz per unit speed), got {self.beta!r}")


POSITION_PARAMS = OneEuroParams(
    DEFAULT_POSITION_MIN_CUTOFF, DEFAULT_POSITION_BETA, DEFAULT_POSITION_D_CUTOFF
)
ORIENTATION_PARAMS = OneEuroParams(
    DEFAULT_ORIENTATION_MIN_CUTOFF, DEFAULT_ORIENTATION_BETA, DEFAULT_ORIENTATION_D_CUTOFF
)


def _alpha(cutoff: float, dt: float) -> float:
    tau = 1.0 / (2.0 * math.pi * cutoff)
    return 1.0 / (1.0 + tau / dt)


class VectorFilter:
    """One-euro filter of a vector (any length) over time stamps in seconds."""

    def __init__(self, params: OneEuroParams = POSITION_PARAMS) -> None:
        self.params = params
        self.value: np.ndarray | None = None
        self._speed: np.ndarray | None = None
        self._stamp = 0.0

    def reset(self) -> None:
        """Forget the history: the next sample is taken as it is."""
        self.value = None
        self._speed = None

    def update(self, x: np.ndarray, stamp: float) -> np.ndarray:
        """Fold in sample `x` taken at `stamp` (s); returns the filtered vector (a copy)."""
        x = np.asarray(x, dtype=np.float64)
        if not np.isfinite(x).all() or not math.isfinite(stamp):
            raise ValueError(f"sample and stamp must be finite, got {x.tolist()} at {stamp!r}")
        if self.value is not None and self.value.shape != x.shape:
            raise ValueError(f"sample shape {x.shape} differs from {self.value.shape}")
        if self.value is None or stamp < self._stamp:
            self.value, self._speed, self._stamp = x.copy(), np.zeros_like(x), stamp
            return self.value.copy()
        dt = stamp - self._stamp
        if dt == 0.0:
            return self.value.copy()
        p = self.params
        raw_speed = (x - self.value) / dt
        self._speed = self._speed + _alpha(p.d_cutoff, dt) * (raw_speed - self._speed)
        cutoff = p.min_cutoff + p.beta * math.sqrt(float(self._speed @ self._speed))
        self.value = self.value + _alpha(cutoff, dt) * (x - self.value)
        self._stamp = stamp
        return self.value.copy()


class OrientationFilter:
    """One-euro filter of a rotation (3x3, columns = axes) through its x and z axes."""

    def __init__(self, params: OneEuroParams = ORIENTATION_PARAMS) -> None:
        self._axes = VectorFilter(params)

    def reset(self) -> None:
        """Forget the history."""
        self._axes.reset()

    def update(self, rotation: np.ndarray, stamp: float) -> np.ndarray:
        """Fold in `rotation` at `stamp` (s); returns the filtered rotation matrix."""
        r = np.asarray(rotation, dtype=np.float64)
        if r.shape != (3, 3):
            raise ValueError(f"rotation must be 3x3, got {r.shape}")
        # x and z stacked: their speed norm is ~ sqrt(2) x the angular speed (rad/s) for a turn
        # about an axis perpendicular to both, and ~1 x for one about either.
        out = self._axes.update(np.concatenate([r[:, 0], r[:, 2]]), stamp)
        return orthonormalise(out[:3], out[3:])


def orthonormalise(forward: np.ndarray, up: np.ndarray) -> np.ndarray:
    """Rotation whose x is `forward` (normalised) and z is `up` made perpendicular to it.

    ValueError when the two are (nearly) parallel or zero: no orientation is defined then.
    """
    x = np.asarray(forward, dtype=np.float64)
    nx = float(np.linalg.norm(x))
    if nx < 1e-9:
        raise ValueError("forward vector has zero length")
    x = x / nx
    z = np.asarray(up, dtype=np.float64)
    z = z - float(np.dot(z, x)) * x
    nz = float(np.linalg.norm(z))
    if nz < 1e-9:
        raise ValueError("up vector is parallel to forward")
    z = z / nz
    y = np.array([z[1] * x[2] - z[2] * x[1], z[2] * x[0] - z[0] * x[2], z[0] * x[1] - z[1] * x[0]])
    return np.column_stack([x, y, z])
