"""Counters, latencies and the /diagnostics they are reported on.

Why the levels are what they are: /diagnostics is what an operator (or a robot's monitor) reads
to know whether perception works. A node that could not load its models is up but useless:
ERROR, with the reason, every period. An active node that receives no frames for
`no_input_warn_s` is not failing but sees nothing: WARN. Bad frames in the last period and a
median latency over `latency_warn_ms` are WARN too. Latency statistics cover only the last
:data:`LATENCY_WINDOW_S` seconds, so they go away when frames stop instead of repeating a stale
median forever.
"""

from __future__ import annotations

import statistics
import threading
import time
from collections import Counter, deque
from collections.abc import Callable, Mapping
from typing import Any

from diagnostic_msgs.msg import DiagnosticArray, DiagnosticStatus, KeyValue

from face_affect_ros.core import providers
from face_affect_ros.core.providers import ProviderRequest

#: Seconds of latency samples behind the reported median and maximum.
LATENCY_WINDOW_S = 5.0
#: At most this many samples are kept (a few seconds of frames at camera rates).
LATENCY_SAMPLES = 600


class Stats:
    """Thread-safe counters and latency samples; written by callbacks and workers."""

    def __init__(self, clock: Callable[[], float] = time.monotonic) -> None:
        self._clock = clock
        self._lock = threading.Lock()
        self._counters: Counter[str] = Counter()
        self._latencies: deque[tuple[float, float]] = deque(maxlen=LATENCY_SAMPLES)
        self.last_received: float | None = None

    def count(self, key: str, n: int = 1) -> None:
        """Add to a named counter (shown in /diagnostics); `received` also marks the time."""
        with self._lock:
            self._counters[key] += n
            if key == "received":
                self.last_received = self._clock()

    def record_latency(self, seconds: float) -> None:
        """Record one frame's latency from receipt to publish."""
        with self._lock:
            self._latencies.append((self._clock(), seconds))

    def counters(self) -> Counter[str]:
        """A copy of the counters."""
        with self._lock:
            return Counter(self._counters)

    def recent_latencies(self, window_s: float = LATENCY_WINDOW_S) -> list[float]:
        """Latencies recorded in the last `window_s` seconds (older ones are dropped)."""
        now = self._clock()
        with self._lock:
            while self._latencies and self._latencies[0][0] < now - window_s:
                self._latencies.popleft()
            return [lat for _, lat in self._latencies]


def _errors(counters: Counter[str]) -> int:
    return sum(v for k, v in counters.items() if k.startswith("error_"))


class DiagnosticsReporter:
    """Publishes one DiagnosticStatus per period, from construction on (configured or not).

    `node` must have `params` (diagnostics_period, latency_warn_ms, no_input_warn_s) and
    `configure_error` (None, or why configure failed).
    """

    def __init__(
        self, node: Any, stats: Stats, values: Callable[[], dict[str, str]] | None = None
    ) -> None:
        self._node = node
        self._stats = stats
        self._values = values or dict
        self.active = False
        self._pub = node.create_publisher(DiagnosticArray, "/diagnostics", 10)
        self._last: tuple[float, Counter[str]] = (time.monotonic(), Counter())
        self._active_since: float | None = None
        self._timer = node.create_timer(node.params["diagnostics_period"], self.publish)

    def status(self) -> DiagnosticStatus:
        """The status for the period since the last call."""
        node, now = self._node, time.monotonic()
        counters = self._stats.counters()
        lat = self._stats.recent_latencies()
        t0, before = self._last
        self._last = (now, counters)
        dt = max(now - t0, 1e-6)
        values = {
            "state": "active" if self.active else "inactive",
            "input_rate_hz": f"{(counters['received'] - before['received']) / dt:.2f}",
            "processed_rate_hz": f"{(counters['processed'] - before['processed']) / dt:.2f}",
            "latency_samples": str(len(lat)),
        }
        median_ms = statistics.median(lat) * 1000 if lat else 0.0
        if lat:
            values["latency_median_ms"] = f"{median_ms:.2f}"
            values["latency_max_ms"] = f"{max(lat) * 1000:.2f}"
        values.update({k: str(v) for k, v in sorted(counters.items())})
        values.update(self._values())
        # A role's own reason to warn (e.g. a model not on the requested execution provider).
        role_warning = values.pop("warning", "")
        level, message = DiagnosticStatus.OK, "ok" if self.active else "inactive"
        if self.active:
            if self._active_since is None:
                self._active_since = now
            level, message = self._active_level(now, counters, before, median_ms, lat)
            if level == DiagnosticStatus.OK and role_warning:
                level, message = DiagnosticStatus.WARN, role_warning
        else:
            self._active_since = None
        if node.configure_error:
            level, message = DiagnosticStatus.ERROR, node.configure_error
        return DiagnosticStatus(
            level=level,
            name=f"{node.get_fully_qualified_name()}: face_affect",
            message=message,
            hardware_id="",
            values=[KeyValue(key=k, value=v) for k, v in values.items()],
        )

    def _active_level(
        self,
        now: float,
        counters: Counter[str],
        before: Counter[str],
        median_ms: float,
        lat: list[float],
    ) -> tuple[bytes, str]:
        params = self._node.params
        new_errors = _errors(counters) - _errors(before)
        if new_errors:
            return DiagnosticStatus.WARN, f"{new_errors} bad input frame(s) in the last period"
        if lat and median_ms > params["latency_warn_ms"]:
            return (
                DiagnosticStatus.WARN,
                f"median latency {median_ms:.1f} ms > {params['latency_warn_ms']} ms",
            )
        timeout = params.get("no_input_warn_s", 0.0)
        last = self._stats.last_received
        since = last if last is not None and last > self._active_since else self._active_since
        if timeout > 0 and now - since > timeout:
            return DiagnosticStatus.WARN, f"no input frame for {now - since:.0f} s"
        return DiagnosticStatus.OK, "ok"

    def publish(self) -> None:
        """Publish the current status on /diagnostics."""
        msg = DiagnosticArray(status=[self.status()])
        msg.header.stamp = self._node.get_clock().now().to_msg()
        self._pub.publish(msg)


def provider_values(request: ProviderRequest, in_use: Mapping[str, str]) -> dict[str, str]:
    """Diagnostics key / values of the execution providers, with a ``warning`` on a fallback.

    Why a warning and not only the start-up log line: a robot whose models silently fell back
    from the GPU to the CPU is late on every frame; the operator's monitor should show it.
    """
    ok, values = providers.diagnostics(request, in_use)
    if not ok:
        values["warning"] = (
            f"not every model runs on execution_provider {request.name}: "
            f"{providers.summarize(in_use)}"
        )
    return values


def merge_warnings(values: dict[str, str], more: Mapping[str, str]) -> dict[str, str]:
    """`values` updated with `more`, their ``warning`` entries joined (each part may warn)."""
    warnings = [w for w in (values.get("warning", ""), more.get("warning", "")) if w]
    values.update(more)
    if warnings:
        values["warning"] = "; ".join(warnings)
    return values
