"""Soft-biometric read-outs (age summary) and evidence accumulated over a face's observations.

Age models output a probability per age class (``age_dlib_v1``: 81 classes, 0.25, 1, ..., 80
years). A behaviour rarely wants 81 numbers; it wants an expected age, how spread the estimate
is, and above all how likely the person is a minor (a robot should not, say, offer alcohol or
collect data from a child). :func:`age_summary` derives those three from the class vector.

Gender and age do not change while a face stays in view, so evidence from several frames of
one track should be combined. :class:`ProbabilityAccumulator` is the generic piece: a weighted
running mean of probability vectors (one per observation). A mean, not a product of
likelihoods: consecutive frames of one face are far from independent (same pose, same light),
so multiplying them would turn ten views of one mistake into certainty. :class:`TrackEvidence`
keeps one accumulator per track id and forgets tracks that are gone. The per-track temporal
module (issue "perception over time") owns when to update and publish; it only needs
``TrackEvidence.update(track_id, probs, weight)`` per face and frame and ``prune(live_ids)``
per frame, for gender and age vectors alike.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence

import numpy as np

#: Age of majority used for ``minor_probability`` (years): most jurisdictions use 18.
MINOR_AGE = 18.0


def age_summary(
    probs: Sequence[float] | np.ndarray, values: Sequence[float], minor_age: float = MINOR_AGE
) -> tuple[float, float, float]:
    """(expected age, standard deviation, P(age < minor_age)) of one age-class vector.

    ``values`` is the age in years of each class (the manifest's ``values``). The vector is
    renormalised, so an accumulated or slightly off-sum vector is fine.

    Raises:
        ValueError: lengths differ, or the vector has no positive mass.
    """
    p = np.asarray(probs, dtype=np.float64)
    v = np.asarray(values, dtype=np.float64)
    if p.ndim != 1 or p.shape != v.shape:
        raise ValueError(f"expected {v.shape[0]} age probabilities, got shape {p.shape}")
    total = p.sum()
    if not total > 0.0:
        raise ValueError("age probabilities have no positive mass")
    p = p / total
    mean = float(p @ v)
    spread = float(np.sqrt(max(0.0, p @ (v - mean) ** 2)))
    minor = float(p[v < minor_age].sum())
    return mean, spread, minor


class ProbabilityAccumulator:
    """Weighted running mean of probability vectors of one face (gender, age, ...).

    Args:
        max_weight: once the summed weight passes this, older observations are discounted so
            the mean follows a slow change (a different person taking the same track, a
            hat taken off) instead of freezing. None = plain mean over everything.
    """

    def __init__(self, max_weight: float | None = 30.0) -> None:
        if max_weight is not None and not max_weight > 0:
            raise ValueError(f"max_weight must be > 0 or None, got {max_weight!r}")
        self.max_weight = max_weight
        self._sum: np.ndarray | None = None
        self._weight = 0.0
        self.count = 0

    def update(self, probs: Sequence[float] | np.ndarray, weight: float = 1.0) -> np.ndarray:
        """Add one observation (weight >= 0, e.g. the detection score); returns the mean."""
        p = np.asarray(probs, dtype=np.float64)
        if p.ndim != 1 or not np.isfinite(p).all() or (p < 0).any():
            raise ValueError(f"probabilities must be a finite non-negative vector, got {p!r}")
        if not (np.isfinite(weight) and weight >= 0):
            raise ValueError(f"weight must be a finite number >= 0, got {weight!r}")
        if self._sum is None:
            self._sum = np.zeros_like(p)
        elif self._sum.shape != p.shape:
            raise ValueError(f"expected {self._sum.shape[0]} probabilities, got {p.shape[0]}")
        if self.max_weight is not None and self._weight + weight > self.max_weight > 0:
            keep = max(0.0, (self.max_weight - weight) / self._weight) if self._weight else 0.0
            self._sum *= keep
            self._weight *= keep
        self._sum += weight * p
        self._weight += weight
        self.count += 1
        return self.mean

    @property
    def mean(self) -> np.ndarray:
        """The weighted mean so far (a copy); empty before the first observation."""
        if self._sum is None or self._weight <= 0.0:
            return np.zeros(0 if self._sum is None else self._sum.shape, dtype=np.float64)
        return self._sum / self._weight

    @property
    def weight(self) -> float:
        """Summed weight currently in the mean."""
        return self._weight


class TrackEvidence:
    """One :class:`ProbabilityAccumulator` per track id."""

    def __init__(self, max_weight: float | None = 30.0) -> None:
        self.max_weight = max_weight
        self._tracks: dict[str, ProbabilityAccumulator] = {}

    def update(
        self, track_id: str, probs: Sequence[float] | np.ndarray, weight: float = 1.0
    ) -> np.ndarray:
        """Add an observation of ``track_id``; returns that track's mean."""
        acc = self._tracks.get(track_id)
        if acc is None:
            acc = self._tracks[track_id] = ProbabilityAccumulator(self.max_weight)
        return acc.update(probs, weight)

    def get(self, track_id: str) -> ProbabilityAccumulator | None:
        """The accumulator of a track, or None if it has no observation."""
        return self._tracks.get(track_id)

    def prune(self, live_ids: Iterable[str]) -> None:
        """Forget every track not in ``live_ids`` (call with the tracker's current ids)."""
        live = set(live_ids)
        for track_id in [t for t in self._tracks if t not in live]:
            del self._tracks[track_id]

    def __len__(self) -> int:
        return len(self._tracks)
