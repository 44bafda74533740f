"""Log lines that cannot flood: a per-key throttle with a bounded key set, no ROS imports.

Why not rclpy's `throttle_duration_sec` / `once`: both key on the call site, so one call site
that logs an untrusted string (an encoding, a format, a decoder message) either floods (one line
per frame) or, keyed on the string as `warn_once` did, keeps a set that grows with every distinct
garbage string a hostile publisher sends. Here the caller names a key (e.g. "encoding:16UC1"),
each key logs at most once per `period` seconds with the number of suppressed repeats, at most
`max_keys` keys are remembered (idle ones are forgotten first), and keys beyond that share one
overflow key: so whatever arrives, the lines per period are at most max_keys, and each line
is bounded because untrusted text goes through `core.image_io.printable`.
"""

from __future__ import annotations

import threading
import time
from collections import OrderedDict
from collections.abc import Callable

from face_affect_ros.core.image_io import printable

# Defaults shared by every node and tool: a persistent fault (a camera in 16UC1) is reported every
# 10 s with a count; 32 distinct faults are tracked at once.
DEFAULT_PERIOD_S = 10.0
DEFAULT_MAX_KEYS = 32
OVERFLOW_KEY = "<other>"

__all__ = ["DEFAULT_MAX_KEYS", "DEFAULT_PERIOD_S", "OVERFLOW_KEY", "LogThrottle", "printable"]


class LogThrottle:
    """Decide whether a keyed message is logged now; count the ones that are not.

    `emit(key, message)` calls `sink(text)` at most once per `period` per key; `text` is the
    message, plus "(N similar suppressed in the last T s)" when repeats were held back. Thread-safe
    (camera callbacks and worker threads share one).
    """

    def __init__(
        self,
        sink: Callable[[str], None],
        period: float = DEFAULT_PERIOD_S,
        max_keys: int = DEFAULT_MAX_KEYS,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        if not period > 0 or max_keys < 2:
            raise ValueError(
                f"LogThrottle needs period > 0 and max_keys >= 2: {period}, {max_keys}"
            )
        self._sink = sink
        self._period = period
        self._max_keys = max_keys
        self._clock = clock
        self._lock = threading.Lock()
        # key -> [time of the last emitted line, repeats suppressed since]
        self._keys: OrderedDict[str, list[float]] = OrderedDict()
        self.emitted = 0
        self.suppressed = 0

    def __len__(self) -> int:
        return len(self._keys)

    def emit(self, key: str, message: str, sink: Callable[[str], None] | None = None) -> bool:
        """Log `message` under `key` unless that key logged less than `period` ago.

        `sink` overrides the constructor's for this line (e.g. a logger's error instead of its
        warning), so one throttle (one key budget) serves every severity of a node.
        """
        now = self._clock()
        with self._lock:
            key = printable(key, 80)
            entry = self._keys.get(key)
            if entry is None:
                key, entry = self._admit(key, now)
            if entry is not None and now - entry[0] < self._period:
                entry[1] += 1
                self.suppressed += 1
                return False
            held = 0 if entry is None else int(entry[1])
            since = 0.0 if entry is None else now - entry[0]
            self._keys[key] = [now, 0]
            self._keys.move_to_end(key)
            self.emitted += 1
        if held:
            message += f" ({held} similar suppressed in the last {since:.0f} s)"
        (sink or self._sink)(message)
        return True

    def _admit(self, key: str, now: float) -> tuple[str, list[float] | None]:
        """Make room for a new key: forget the oldest idle key, else use the overflow key."""
        named = len(self._keys) - (OVERFLOW_KEY in self._keys)
        if named < self._max_keys - 1:  # one place is kept for the overflow key
            return key, None
        for old_key, (last, _) in self._keys.items():  # ordered by the time of their last line
            if old_key == OVERFLOW_KEY:
                continue
            if now - last >= self._period:
                del self._keys[old_key]
                return key, None
            break
        return OVERFLOW_KEY, self._keys.get(OVERFLOW_KEY)
