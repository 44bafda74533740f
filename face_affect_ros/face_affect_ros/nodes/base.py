"""What every face_affect_ros node shares: lifecycle, parameters, counters, diagnostics, main().

The nodes are managed (lifecycle) nodes because loading three ONNX models is the step that can
fail on a robot (wrong path, corrupt file): `configure` loads and validates them and fails with a
clear log line, `activate` starts the subscriptions, `deactivate` stops them, `cleanup` frees the
sessions. With `autostart` (default true) a node walks itself to active at start-up, so `ros2 run`
and plain launch files work without a lifecycle manager; a manager sets autostart:=false.
"""

from __future__ import annotations

import statistics
import threading
import time
from collections import Counter, deque
from collections.abc import Callable, Mapping
from typing import Any

import numpy as np
import rclpy
from diagnostic_msgs.msg import DiagnosticArray, DiagnosticStatus, KeyValue
from rcl_interfaces.msg import SetParametersResult
from rclpy.executors import ExternalShutdownException, SingleThreadedExecutor
from rclpy.impl.implementation_singleton import rclpy_implementation as _rclpy
from rclpy.lifecycle import Node as LifecycleNode
from rclpy.lifecycle import State, TransitionCallbackReturn
from rclpy.parameter import Parameter
from rclpy.qos import QoSProfile, ReliabilityPolicy, qos_profile_sensor_data
from rclpy.signals import SignalHandlerOptions, install_signal_handlers
from sensor_msgs.msg import CompressedImage, Image

from face_affect_ros.core.image_io import ImageDecodeError, UnsupportedEncodingError
from face_affect_ros.entry import DeferredSignals
from face_affect_ros.nodes import params as P  # noqa: N812
from face_affect_ros.nodes.convert import image_from_msg

# Latency samples kept for the diagnostics median: a few seconds of frames at camera rates.
LATENCY_WINDOW = 300


def camera_qos(reliability: str) -> QoSProfile:
    """Sensor-data QoS (keep last 5, volatile) with the configured reliability.

    The callbacks only hand the message to a newest-frame-wins slot (which counts what it
    replaces), so the middleware's short queue drains at once and no frame is dropped unseen.
    """
    qos = QoSProfile(
        history=qos_profile_sensor_data.history,
        depth=qos_profile_sensor_data.depth,
        reliability=ReliabilityPolicy.RELIABLE
        if reliability == "reliable"
        else ReliabilityPolicy.BEST_EFFORT,
        durability=qos_profile_sensor_data.durability,
    )
    return qos


class StageNode(LifecycleNode):
    """Base of the four nodes. Subclasses set EXECUTABLE and implement the *_stage hooks."""

    EXECUTABLE = ""

    def __init__(self, node_name: str | None = None, **kwargs: Any) -> None:
        super().__init__(node_name or self.EXECUTABLE, **kwargs)
        self.params: dict[str, Any] = P.declare(self, P.specs_for(self.EXECUTABLE))
        self.counters: Counter[str] = Counter()
        self._latencies: deque[float] = deque(maxlen=LATENCY_WINDOW)
        self._lock = threading.Lock()
        self._warned: set[str] = set()
        self._diag_pub = None
        self._diag_timer = None
        self._last_diag: tuple[float, Counter[str]] = (time.monotonic(), Counter())
        self.add_on_set_parameters_callback(self._on_set_parameters)
        autostart = self.params["autostart"]
        if autostart and self.trigger_configure() == TransitionCallbackReturn.SUCCESS:
            self.trigger_activate()

    # ---- hooks for subclasses -------------------------------------------------------------
    def configure_stage(self) -> None:
        """Load models, create publishers. Raise (ValueError, OSError, ...) to fail configure."""

    def activate_stage(self) -> None:
        """Create subscriptions and start processing."""

    def deactivate_stage(self) -> None:
        """Stop subscriptions and processing."""

    def cleanup_stage(self) -> None:
        """Free what configure_stage created."""

    def validate_params(self, new: Mapping[str, Any]) -> str | None:
        """Return why the whole parameter set `new` is invalid, or None to accept it."""
        return None

    def apply_params(self, new: Mapping[str, Any], changed: set[str]) -> None:
        """Apply an accepted parameter set; `changed` names the parameters that changed."""

    def diagnostic_values(self) -> dict[str, str]:
        """Stage-specific key/values for /diagnostics (models loaded, cache sizes, ...)."""
        return {}

    # ---- lifecycle ------------------------------------------------------------------------
    def on_configure(self, state: State) -> TransitionCallbackReturn:
        """Load models; a failure is logged with its reason and leaves the node unconfigured."""
        try:
            self.configure_stage()
        except Exception as exc:
            self.get_logger().error(f"configure failed: {exc}")
            self.cleanup_stage()
            return TransitionCallbackReturn.FAILURE
        self._diag_pub = self.create_publisher(DiagnosticArray, "/diagnostics", 10)
        self.get_logger().info("configured")
        return TransitionCallbackReturn.SUCCESS

    def on_activate(self, state: State) -> TransitionCallbackReturn:
        """Start subscriptions and the diagnostics timer."""
        self.activate_stage()
        self._diag_timer = self.create_timer(self.params["diagnostics_period"], self._publish_diag)
        self.get_logger().info("active")
        return super().on_activate(state)

    def on_deactivate(self, state: State) -> TransitionCallbackReturn:
        """Stop subscriptions; publishers stay so a later activate is cheap."""
        self.deactivate_stage()
        if self._diag_timer is not None:
            self.destroy_timer(self._diag_timer)
            self._diag_timer = None
        return super().on_deactivate(state)

    def on_cleanup(self, state: State) -> TransitionCallbackReturn:
        """Free the models and publishers."""
        self.cleanup_stage()
        if self._diag_pub is not None:
            self.destroy_publisher(self._diag_pub)
            self._diag_pub = None
        return TransitionCallbackReturn.SUCCESS

    def on_shutdown(self, state: State) -> TransitionCallbackReturn:
        """Stop everything, from whatever state."""
        self.deactivate_stage()
        self.cleanup_stage()
        return TransitionCallbackReturn.SUCCESS

    def shutdown(self) -> None:
        """Explicit teardown used by main() (never __del__): stop threads, free models."""
        self.deactivate_stage()
        self.cleanup_stage()

    # ---- parameters -----------------------------------------------------------------------
    def _on_set_parameters(self, changes: list[Parameter]) -> SetParametersResult:
        updates = {p.name: p.value for p in changes}
        for name, value in updates.items():
            reason = P.check_choice(name, value)
            if reason:
                return SetParametersResult(successful=False, reason=reason)
        new = P.merged(self.params, updates)
        reason = self.validate_params(new)
        if reason:
            self.get_logger().warning(f"rejected parameter change {updates}: {reason}")
            return SetParametersResult(successful=False, reason=reason)
        changed = {k for k, v in updates.items() if self.params.get(k) != v}
        self.params = new
        if changed:
            self.apply_params(new, changed)
            self.get_logger().info(f"parameters changed: {sorted(changed)}")
        return SetParametersResult(successful=True)

    # ---- accounting -----------------------------------------------------------------------
    def count(self, key: str, n: int = 1) -> None:
        """Add to a named counter (shown in /diagnostics)."""
        with self._lock:
            self.counters[key] += n

    def record_latency(self, seconds: float) -> None:
        """Record one frame's latency from image stamp (or receipt) to publish."""
        with self._lock:
            self._latencies.append(seconds)

    def decode_frame(
        self, msg: Image | CompressedImage, max_pixels: int, where: str
    ) -> np.ndarray | None:
        """The frame as BGR or mono, or None after counting and logging why it is unusable.

        An unsupported encoding is logged once per encoding (it will not fix itself); other bad
        frames are logged, throttled, every time. `where` (a topic) prefixes the log line.
        """
        try:
            return image_from_msg(msg, max_pixels)
        except UnsupportedEncodingError as exc:
            self.count("error_unsupported_encoding")
            self.warn_once(f"encoding:{getattr(msg, 'encoding', '')}", f"{where}: {exc}")
        except ImageDecodeError as exc:
            self.count("error_bad_image")
            self.get_logger().warning(f"{where}: dropped frame: {exc}", throttle_duration_sec=1.0)
        return None

    def warn_once(self, key: str, message: str) -> None:
        """Log `message` as a warning the first time `key` is seen (e.g. once per bad encoding)."""
        if key not in self._warned:
            self._warned.add(key)
            self.get_logger().warning(message + " (further occurrences are only counted)")

    def _publish_diag(self) -> None:
        if self._diag_pub is None:
            return
        now = time.monotonic()
        with self._lock:
            counters = Counter(self.counters)
            lat = list(self._latencies)
        t0, before = self._last_diag
        self._last_diag = (now, counters)
        dt = max(now - t0, 1e-6)
        values = {
            "input_rate_hz": f"{(counters['received'] - before['received']) / dt:.2f}",
            "processed_rate_hz": f"{(counters['processed'] - before['processed']) / dt:.2f}",
        }
        median_ms = statistics.median(lat) * 1000 if lat else 0.0
        values["latency_median_ms"] = f"{median_ms:.2f}"
        if lat:
            values["latency_max_ms"] = f"{max(lat) * 1000:.2f}"
        values.update({k: str(v) for k, v in sorted(counters.items())})
        values.update(self.diagnostic_values())
        level, message = DiagnosticStatus.OK, "ok"
        errors = sum(v for k, v in counters.items() if k.startswith("error_"))
        new_errors = errors - sum(v for k, v in before.items() if k.startswith("error_"))
        if median_ms > self.params["latency_warn_ms"]:
            level = DiagnosticStatus.WARN
            message = f"median latency {median_ms:.1f} ms > {self.params['latency_warn_ms']} ms"
        if new_errors:
            level = DiagnosticStatus.WARN
            message = f"{new_errors} bad input frame(s) in the last period"
        status = DiagnosticStatus(
            level=level,
            name=f"{self.get_fully_qualified_name()}: face_affect",
            message=message,
            hardware_id="",
            values=[KeyValue(key=k, value=v) for k, v in values.items()],
        )
        msg = DiagnosticArray(status=[status])
        msg.header.stamp = self.get_clock().now().to_msg()
        self._diag_pub.publish(msg)


def run(make_node: Callable[[], StageNode], args: list[str] | None = None) -> None:
    """Spin a node until SIGINT or SIGTERM, then tear it down; a signal at any moment is clean.

    A signal is recorded, never raised, while the node is built and configured
    (entry.DeferredSignals), and the node stops at the next safe point: so a stop during the
    model load neither logs "configure failed: context is invalid" nor leaves a half-built
    Executor whose __del__ prints a traceback. Only once the node is up are rclpy's own handlers
    installed; they wake the executor and shut the context down, so spinning ends with
    ExternalShutdownException (or, if the signal lands while rclpy builds its wait set, RCLError
    on a shut-down context): both a normal exit. Exit status 0.
    """
    signals = DeferredSignals()
    rclpy.init(args=args, signal_handler_options=SignalHandlerOptions.NO)
    node = None
    try:
        if signals.received is None:
            node = make_node()
        if signals.received is None:
            install_signal_handlers(SignalHandlerOptions.ALL)  # chains to `signals`
            executor = SingleThreadedExecutor()
            executor.add_node(node)
            if signals.received is None:
                executor.spin()
    except (KeyboardInterrupt, ExternalShutdownException):
        pass
    except _rclpy.RCLError:
        if rclpy.ok():
            raise  # a real middleware error, not the shutdown race
    finally:
        if node is not None:
            node.shutdown()
            node.destroy_node()
        rclpy.try_shutdown()
        signals.restore()
