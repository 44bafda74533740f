"""Frame scheduling for real-time processing, without ROS: newest frame wins, rate cap, stamp cache.

Why: a robot's camera publishes faster than a busy CPU may process. Queueing frames would make the
published faces ever later; instead every stage keeps only the newest frame and counts what it
dropped, so latency stays bounded by one processing time and nothing is dropped silently.
"""

from __future__ import annotations

import threading
from collections import OrderedDict
from typing import Generic, TypeVar

T = TypeVar("T")


class LatestFrame(Generic[T]):
    """A one-slot mailbox between a subscription callback and a processing thread.

    `put` replaces an unprocessed frame (counting it in `dropped`); `take` waits for the next one.
    """

    def __init__(self) -> None:
        self._cond = threading.Condition()
        self._item: T | None = None
        self._closed = False
        self.received = 0
        self.dropped = 0

    def put(self, item: T) -> bool:
        """Store `item` as the newest frame; return True if it replaced one never taken."""
        with self._cond:
            replaced = self._item is not None
            self._item = item
            self.received += 1
            if replaced:
                self.dropped += 1
            self._cond.notify()
            return replaced

    def take(self, timeout: float | None = None) -> T | None:
        """Return the newest frame, waiting up to `timeout` s; None on timeout or after close()."""
        with self._cond:
            if self._item is None and not self._closed:
                self._cond.wait(timeout)
            item, self._item = self._item, None
            return item

    def close(self) -> None:
        """Wake every waiting `take` so a worker thread can exit."""
        with self._cond:
            self._closed = True
            self._cond.notify_all()

    @property
    def closed(self) -> bool:
        """True once close() was called."""
        return self._closed


class RateLimiter:
    """Accept at most `max_rate` events per second (0 = unlimited), by event timestamps.

    Works on the timestamps it is given (seconds, monotonic or message time), so it is exact in
    tests and in bag replay at any speed.
    """

    def __init__(self, max_rate: float = 0.0) -> None:
        self.max_rate = max_rate
        self._next = float("-inf")

    @property
    def max_rate(self) -> float:
        """Events per second; 0 disables the cap."""
        return self._max_rate

    @max_rate.setter
    def max_rate(self, value: float) -> None:
        if value < 0:
            raise ValueError(f"max_rate must be >= 0, got {value}")
        self._max_rate = value
        self._next = float("-inf")

    def wait_time(self, now: float) -> float:
        """Seconds until an event would be allowed (0 if it would be now)."""
        if self._max_rate <= 0:
            return 0.0
        return max(0.0, self._next - now)

    def allow(self, now: float) -> bool:
        """Return True if an event at time `now` is within the rate, and count it as taken."""
        if self._max_rate <= 0:
            return True
        if now < self._next:
            return False
        period = 1.0 / self._max_rate
        # Keep a steady cadence, but do not let a long pause build up a burst of credit.
        self._next = max(self._next + period, now + 0.5 * period)
        return True


class StampCache(Generic[T]):
    """Bounded map from a message stamp (nanoseconds) to an item, oldest evicted first.

    The split layout's classifier keeps recent images here until the detection of the same stamp
    arrives; `misses` counts detections whose image was already gone (or never came).
    """

    def __init__(self, capacity: int) -> None:
        if capacity < 1:
            raise ValueError(f"capacity must be >= 1, got {capacity}")
        self.capacity = capacity
        self._items: OrderedDict[int, T] = OrderedDict()
        self._lock = threading.Lock()
        self.misses = 0
        self.evicted = 0

    def put(self, stamp_ns: int, item: T) -> None:
        """Store `item` under `stamp_ns`, evicting the oldest entries beyond capacity."""
        with self._lock:
            self._items[stamp_ns] = item
            self._items.move_to_end(stamp_ns)
            while len(self._items) > self.capacity:
                self._items.popitem(last=False)
                self.evicted += 1

    def pop(self, stamp_ns: int) -> T | None:
        """Remove and return the item of `stamp_ns`, or None (counted as a miss)."""
        with self._lock:
            item = self._items.pop(stamp_ns, None)
            if item is None:
                self.misses += 1
            return item

    def __len__(self) -> int:
        return len(self._items)


# Stamp gaps longer than this are a paused or restarted camera, not lost frames.
GAP_MAX_S = 2.0
# A gap counts as lost frames when it exceeds the camera's period by this factor (jitter margin).
GAP_FACTOR = 1.5
# Stamp intervals kept to estimate the camera's period (their median): ~1 s at 30 Hz.
GAP_WINDOW = 31
# Gaps are only counted while the stamps are steady: interquartile range of the intervals at most
# this fraction of their median (a 30 Hz camera with +-2 ms jitter: about 0.08).
GAP_MAX_SPREAD = 0.25
# A gap longer than this many periods is a paused stream or a new rate, not lost frames (1 s at
# 30 Hz: the node's queue would have to stall that long).
GAP_MAX_PERIODS = 30
# Intervals seen before any gap is counted.
GAP_MIN_INTERVALS = 9
# This many consecutive gaps of one size are a new camera rate, not losses (2 s at 30 Hz). An
# overload in which the node takes exactly every k-th frame for that long looks the same from
# stamps alone and is then taken back too: the estimate errs towards counting less.
GAP_RATE_RUN = 60


class StampGapCounter:
    """Estimate frames a camera stamped but this node never received, from header stamp gaps.

    Why: under a flood the middleware's keep-last history replaces frames before the node takes
    them, and DDS reports no event for that (only transport losses reach message_lost). A camera
    stamps frames at a steady period, so a gap of k periods between two received stamps means
    about k - 1 frames went missing on the way, wherever they were lost. The period is the median
    of the last GAP_WINDOW intervals that were not gaps, learnt while the stamps are steady
    (GAP_MAX_SPREAD); gaps do not teach it, so a flood in which the node sees one frame in six
    is still measured against the camera's real period. A run of GAP_RATE_RUN gaps of one size
    is a new camera rate (30 -> 15 Hz): it becomes the period and what the run counted is taken
    back. A stamp that goes backwards (bag loop, clock reset) or jumps by more than GAP_MAX_S or
    GAP_MAX_PERIODS periods restarts the estimate. An estimate, not a count: frames the camera
    itself skipped are included, frames lost at the very end of a stream are not seen.
    """

    def __init__(self) -> None:
        self._last: int | None = None
        self._intervals: list[int] = []
        self._run: list[tuple[int, int]] = []  # consecutive gaps: (interval, frames counted)
        self.missing = 0
        self.restarts = 0

    def _restart(self) -> None:
        self.restarts += 1
        self._intervals.clear()
        self._run.clear()

    def _period(self) -> int | None:
        """The camera's period while its stamps are steady, else None."""
        if len(self._intervals) < GAP_MIN_INTERVALS:
            return None
        ordered = sorted(self._intervals)
        n = len(ordered)
        period = ordered[n // 2]
        if ordered[(3 * n) // 4] - ordered[n // 4] > GAP_MAX_SPREAD * period:
            return None
        return period

    def _learn(self, delta: int) -> None:
        self._intervals.append(delta)
        if len(self._intervals) > GAP_WINDOW:
            del self._intervals[0]

    def observe(self, stamp_ns: int) -> int:
        """Account for a received frame's stamp; return the frames estimated missing before it."""
        last, self._last = self._last, stamp_ns
        if last is None:
            return 0
        delta = stamp_ns - last
        if delta <= 0 or delta > GAP_MAX_S * 1e9:
            if delta != 0:
                self._restart()
            return 0
        period = self._period()
        if period is None:
            self._learn(delta)
            return 0
        if delta > GAP_MAX_PERIODS * period:  # a pause or a new rate, not lost frames
            self._restart()
            return 0
        if delta <= GAP_FACTOR * period:
            self._run.clear()
            self._learn(delta)
            return 0
        missing = max(0, round(delta / period) - 1)
        self.missing += missing
        self._run.append((delta, missing))
        if len(self._run) >= GAP_RATE_RUN:
            sizes = sorted(d for d, _ in self._run)
            median = sizes[len(sizes) // 2]
            if sizes[-1] - sizes[0] <= GAP_MAX_SPREAD * median:  # all alike: a new rate
                self.missing -= sum(m for _, m in self._run)
                self._intervals = [d for d, _ in self._run]
                self._run.clear()
                return 0
            del self._run[0]
        return missing
