"""Per-track estimates over time: emotion smoothed in seconds, categorical evidence accumulated.

Why two different rules: an emotion changes (a smile starts, ends) and must follow the face
within a fraction of a second, so its estimate is an exponential moving average with a time
constant in seconds (independent of the camera or classification rate). A person's gender (or an
age band) does not change while they stay in view, so each look is evidence added to what is
known: the estimate becomes more certain, and abstains less, the longer the face is seen.

Evidence accumulation treats the classifier's probability vector p as a likelihood and adds
log p (naive Bayes over looks). Consecutive frames of one face are not independent, so a look
only counts in proportion to the time since the previous one, up to one full look per
``interval`` seconds: classifying 30 times a second does not make the answer 30 times as sure.
The total weight is capped at ``max_looks`` (the sum is rescaled, keeping its direction), so a
track that was wrong (say, two people swapped places) can still be corrected in about as many
looks. The posterior is softmax(sum of w * log p): for a model that says 0.6 on every look it is
0.6 after the first look, 0.77 after 1 s (3 looks at the default 0.5 s), 0.98 after 5 s
(saturated). Nothing here is specific to two classes, so an age head accumulates the same way.
"""

from __future__ import annotations

import math
from collections.abc import Sequence

import numpy as np

#: Emotion time constant (s): the estimate covers 63 % of a step change in this time.
DEFAULT_EMOTION_TIME_CONSTANT = 0.3
#: Seconds per independent look of evidence.
DEFAULT_EVIDENCE_INTERVAL = 0.5
#: Cap on the accumulated weight (looks).
DEFAULT_EVIDENCE_MAX_LOOKS = 10.0

_FLOOR = 1e-4  # smallest probability taken as evidence: one look can never veto forever


class EmotionFilter:
    """Exponential moving average of a probability vector with a time constant in seconds."""

    def __init__(self, time_constant: float = DEFAULT_EMOTION_TIME_CONSTANT) -> None:
        if not time_constant >= 0.0 or not math.isfinite(time_constant):
            raise ValueError(f"time_constant must be >= 0 seconds, got {time_constant!r}")
        self.time_constant = float(time_constant)
        self.estimate: np.ndarray | None = None
        self._stamp = 0.0

    def update(self, probs: Sequence[float] | np.ndarray, stamp: float) -> np.ndarray:
        """Fold in the probabilities classified at `stamp` (seconds); returns the estimate."""
        probs = np.asarray(probs, dtype=np.float64)
        if self.estimate is None or self.estimate.shape != probs.shape:
            self.estimate = probs.copy()
        else:
            dt = max(0.0, stamp - self._stamp)
            alpha = 1.0 if self.time_constant == 0.0 else 1.0 - math.exp(-dt / self.time_constant)
            self.estimate += alpha * (probs - self.estimate)
        self._stamp = stamp
        return self.estimate


class EvidenceAccumulator:
    """Accumulated categorical evidence (gender, an age band, ...) of one track."""

    def __init__(
        self,
        interval: float = DEFAULT_EVIDENCE_INTERVAL,
        max_looks: float = DEFAULT_EVIDENCE_MAX_LOOKS,
    ) -> None:
        if not interval > 0.0 or not math.isfinite(interval):
            raise ValueError(f"interval must be > 0 seconds, got {interval!r}")
        if not max_looks >= 1.0 or not math.isfinite(max_looks):
            raise ValueError(f"max_looks must be >= 1, got {max_looks!r}")
        self.interval = float(interval)
        self.max_looks = float(max_looks)
        self.looks = 0.0
        self._log: np.ndarray | None = None
        self._stamp = 0.0

    def update(self, probs: Sequence[float] | np.ndarray, stamp: float) -> np.ndarray:
        """Add the probabilities classified at `stamp` (seconds); returns the posterior."""
        logp = np.log(np.clip(np.asarray(probs, dtype=np.float64), _FLOOR, 1.0))
        if self._log is None or self._log.shape != logp.shape:
            self._log, self.looks = logp, 1.0
        else:
            weight = min(1.0, max(0.0, stamp - self._stamp) / self.interval)
            self._log = self._log + weight * logp
            self.looks += weight
            if self.looks > self.max_looks:
                self._log *= self.max_looks / self.looks
                self.looks = self.max_looks
        self._stamp = stamp
        return self.posterior()

    def posterior(self) -> np.ndarray:
        """Softmax of the accumulated log-evidence (uniform before the first look)."""
        if self._log is None:
            raise ValueError("no evidence yet")
        z = self._log - self._log.max()
        e = np.exp(z)
        return e / e.sum()
