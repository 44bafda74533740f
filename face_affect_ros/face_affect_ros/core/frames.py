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
