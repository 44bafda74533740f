"""core.logs.LogThrottle: per-key throttling, a bounded key set, bounded lines."""

from __future__ import annotations

import pytest
from face_affect_ros.core.image_io import printable
from face_affect_ros.core.logs import OVERFLOW_KEY, LogThrottle


class Clock:
    def __init__(self) -> None:
        self.t = 0.0

    def __call__(self) -> float:
        return self.t


def test_one_line_per_key_per_period_with_the_suppressed_count() -> None:
    lines: list[str] = []
    clock = Clock()
    log = LogThrottle(lines.append, period=10.0, clock=clock)
    for _ in range(100):
        log.emit("encoding:16UC1", "unsupported 16UC1")
    assert lines == ["unsupported 16UC1"]
    clock.t = 10.0
    log.emit("encoding:16UC1", "unsupported 16UC1")
    assert lines[1] == "unsupported 16UC1 (99 similar suppressed in the last 10 s)"
    assert (log.emitted, log.suppressed) == (2, 99)


def test_distinct_garbage_keys_cannot_grow_the_set_or_flood() -> None:
    # The flood: 1,198 distinct garbage encodings, each its own "once" warning.
    lines: list[str] = []
    clock = Clock()
    log = LogThrottle(lines.append, period=10.0, max_keys=8, clock=clock)
    for i in range(10_000):
        log.emit(f"encoding:garbage{i}", f"unsupported garbage{i}")
    assert len(log) <= 8
    assert len(lines) == 8  # 7 keys + the shared overflow key, once each
    clock.t = 10.5  # idle keys are forgotten first: new keys get their own line again
    log.emit("encoding:mono16", "unsupported mono16")
    assert lines[-1] == "unsupported mono16" and len(log) <= 8


def test_overflow_key_is_throttled_too() -> None:
    lines: list[str] = []
    log = LogThrottle(lines.append, period=10.0, max_keys=2, clock=Clock())
    log.emit("a", "a")
    for i in range(50):
        log.emit(f"k{i}", f"k{i}")
    assert lines == ["a", "k0"]
    assert OVERFLOW_KEY in log._keys


def test_untrusted_text_is_escaped_and_bounded() -> None:
    hostile = "x\n[ERROR] fake line\x1b[2J" + "A" * 100_000
    out = printable(hostile, 64)
    assert "\n" not in out and "\x1b" not in out
    assert len(out) < 100 and out.endswith("chars)")
    lines: list[str] = []
    log = LogThrottle(lines.append)
    log.emit(hostile, "m")
    assert all(len(k) < 120 for k in log._keys)


def test_rejects_nonsense_settings() -> None:
    with pytest.raises(ValueError, match="period"):
        LogThrottle(print, period=0.0)
