"""The one node class, composed of a role and shared parts; main() constructs, then autostarts.

Why composition: the five executables differ in what they run (camera input, detector,
classifier, all three, the REP-155 output), not in how they are managed. :class:`ManagedNode`
owns what every node has (its parameters, :class:`~face_affect_ros.nodes.diagnostics.Stats`, the
:class:`~face_affect_ros.nodes.diagnostics.DiagnosticsReporter`, the frame decoder) and forwards
the lifecycle and parameter changes to a *role* object (:class:`Role`) that each executable's
module builds from parts (CameraInput, Worker, ResultPublishers). No hook methods, no class flags,
no inheritance past rclpy's LifecycleNode.

The nodes are lifecycle nodes because loading the models is the step that can fail on a robot
(wrong path, corrupt file): `configure` loads and verifies them (a failure leaves the node up,
unconfigured, and /diagnostics says ERROR and why), `activate` starts the subscriptions,
`deactivate` stops them, `cleanup` frees the sessions. The constructor fires no transition:
:func:`run` builds the node, then :func:`autostart` walks it to active when `autostart` is true
(the default, so `ros2 run` works without a lifecycle manager).

Parameters: the on-set callback only validates (the role's rules, by building the core config);
the post-set callback applies the accepted values. A role hands a change of what its worker
thread uses to that thread (Worker.call_soon), so nothing the worker reads is mutated under it.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from typing import Any, Protocol

import numpy as np
import rclpy
from rcl_interfaces.msg import SetParametersResult
from rclpy.executors import ExternalShutdownException, SingleThreadedExecutor
from rclpy.impl.implementation_singleton import rclpy_implementation as _rclpy
from rclpy.lifecycle import Node as LifecycleNode
from rclpy.lifecycle import State, TransitionCallbackReturn
from rclpy.parameter import Parameter
from rclpy.signals import SignalHandlerOptions, install_signal_handlers
from sensor_msgs.msg import CompressedImage, Image

from face_affect_ros.core.image_io import ImageDecodeError, printable
from face_affect_ros.core.logs import LogThrottle
from face_affect_ros.entry import DeferredSignals
from face_affect_ros.nodes import params as rcl_params
from face_affect_ros.nodes.diagnostics import DiagnosticsReporter, Stats
from face_affect_ros.nodes.heap import keep_large_buffers
from face_affect_ros.nodes.messages import image_from_msg
from face_affect_ros.schema import params as P  # noqa: N812


class Role(Protocol):
    """What an executable runs; built by its module, driven by ManagedNode."""

    def configure(self) -> None:
        """Load models, create publishers. Raise (ModelError, ValueError, OSError...) to fail."""

    def activate(self) -> None:
        """Start workers, then subscriptions."""

    def deactivate(self) -> None:
        """Stop subscriptions, then workers."""

    def cleanup(self) -> None:
        """Free what configure created (also after a failed configure)."""

    def validate(self, params: Mapping[str, Any]) -> str | None:
        """Why the whole parameter set `params` is invalid, or None to accept it."""

    def apply(self, params: Mapping[str, Any], changed: frozenset[str]) -> None:
        """Apply an accepted parameter set; `changed` names the changed parameters."""

    def diagnostic_values(self) -> dict[str, str]:
        """Role-specific key/values for /diagnostics (models loaded, cache fill...)."""


class FrameDecoder:
    """Message -> BGR / mono array, counting every refusal by reason, logging without flooding.

    Counters: `error_<reason>` for each refusal (`error_unsupported_encoding`, `error_too_large`,
    `error_corrupt`, `error_bad_image`, see core.image_io.ImageDecodeError.reason) and
    `decoder_warnings` for frames kept although their decoder complained (camera padding).
    Log lines go through the node's LogThrottle, keyed by reason (and encoding / format for
    unsupported ones), so whatever a publisher sends, the lines per period are bounded.
    """

    def __init__(self, node: LifecycleNode, stats: Stats, log: LogThrottle) -> None:
        self._logger = node.get_logger()
        self._stats = stats
        self._log = log

    def decode(
        self, msg: Image | CompressedImage, max_pixels: int, where: str
    ) -> np.ndarray | None:
        """The frame, or None after counting and logging why it is unusable.

        `where` (a topic) prefixes the log line.
        """
        warnings: list[str] = []
        try:
            image = image_from_msg(msg, max_pixels, warnings)
        except ImageDecodeError as exc:
            self._stats.count(f"error_{exc.reason}")
            kind = getattr(msg, "encoding", None) or getattr(msg, "format", "")
            key = (
                f"{exc.reason}:{printable(kind, 32)}"
                if exc.reason.startswith("unsup")
                else exc.reason
            )
            self._log.emit(key, f"{where}: dropped frame ({exc.reason}): {exc}")
            return None
        if warnings:
            self._stats.count("decoder_warnings")
            self._log.emit("decoder_warning", f"{where}: frame kept, decoder said: {warnings[0]}")
        return image


class ManagedNode(LifecycleNode):
    """A lifecycle node running the role its executable's module composes.

    `make_role(node)` is called once, in the constructor, after the parameters are declared; it
    must not start anything (that is activate's job).
    """

    def __init__(
        self, executable: str, make_role: Callable[[ManagedNode], Role], **kwargs: Any
    ) -> None:
        super().__init__(kwargs.pop("node_name", None) or executable, **kwargs)
        self.executable = executable
        self.params: dict[str, Any] = rcl_params.declare(self, P.specs_for(executable))
        self.stats = Stats()
        # One budget of log lines for everything a sender controls (frames, parameter values).
        self.log = LogThrottle(self.get_logger().warning)
        self.decoder = FrameDecoder(self, self.stats, self.log)
        self.configure_error: str | None = None
        self.role = make_role(self)
        self.diagnostics = DiagnosticsReporter(self, self.stats, self._diagnostic_values)
        self.add_on_set_parameters_callback(self._validate_parameters)
        self.add_post_set_parameters_callback(self._apply_parameters)

    def _diagnostic_values(self) -> dict[str, str]:
        return self.role.diagnostic_values()

    # ---- lifecycle ------------------------------------------------------------------------
    def on_configure(self, state: State) -> TransitionCallbackReturn:
        """Load models; a failure is logged and reported, the node stays up unconfigured."""
        try:
            self.role.configure()
        except Exception as exc:
            self.configure_error = f"configure failed: {exc}"
            self.get_logger().error(self.configure_error)
            self.role.cleanup()
            return TransitionCallbackReturn.FAILURE
        self.configure_error = None
        self.get_logger().info("configured")
        return TransitionCallbackReturn.SUCCESS

    def on_activate(self, state: State) -> TransitionCallbackReturn:
        """Start the role (workers, then subscriptions)."""
        self.role.activate()
        self.diagnostics.active = True
        self.get_logger().info("active")
        return super().on_activate(state)

    def on_deactivate(self, state: State) -> TransitionCallbackReturn:
        """Stop subscriptions and workers; publishers stay so a later activate is cheap."""
        self.diagnostics.active = False
        self.role.deactivate()
        return super().on_deactivate(state)

    def on_cleanup(self, state: State) -> TransitionCallbackReturn:
        """Free the models and publishers."""
        self.role.cleanup()
        return TransitionCallbackReturn.SUCCESS

    def on_shutdown(self, state: State) -> TransitionCallbackReturn:
        """Stop everything, from whatever state."""
        self.shutdown()
        return TransitionCallbackReturn.SUCCESS

    def shutdown(self) -> None:
        """Explicit teardown used by run() (never __del__): stop threads, free models."""
        self.diagnostics.active = False
        self.role.deactivate()
        self.role.cleanup()

    # ---- parameters -----------------------------------------------------------------------
    def _validate_parameters(self, changes: list[Parameter]) -> SetParametersResult:
        """On-set: accept or reject the whole change; no side effects."""
        updates = {p.name: p.value for p in changes}
        reason = None
        for name, value in updates.items():
            reason = reason or P.check_choice(name, value)
        reason = reason or self.role.validate(P.merged(self.params, updates))
        if reason:
            # Values come from whoever calls the service: bounded and escaped in reply and log.
            reason = printable(reason, 300)
            shown = ", ".join(
                f"{printable(k, 40)}={printable(repr(v), 60)}" for k, v in updates.items()
            )
            # Keyed by parameter: the names are the declared ones (rclpy refuses others first).
            key = "parameter:" + ",".join(sorted(updates))
            self.log.emit(key, f"rejected parameter change {shown}: {reason}")
            return SetParametersResult(successful=False, reason=reason)
        return SetParametersResult(successful=True)

    def _apply_parameters(self, changes: list[Parameter]) -> None:
        """Post-set: the values are set; store them and let the role apply what changed."""
        updates = {p.name: p.value for p in changes if p.name in self.params}
        changed = frozenset(k for k, v in updates.items() if self.params.get(k) != v)
        if not changed:
            return
        self.params = P.merged(self.params, updates)
        self.role.apply(self.params, changed)
        self.get_logger().info(f"parameters changed: {sorted(changed)}")


def config_error(
    params: Mapping[str, Any], *more: Callable[[Mapping[str, Any]], object]
) -> str | None:
    """Why the core rejects the configuration of `params`, or None (on-set rule).

    The pipeline's configuration always; `more` builders (e.g. the loop's, the 3D part's) for
    the parts a node runs, each raising ValueError on what it rejects.
    """
    try:
        P.pipeline_config(params)
        for build in more:
            build(params)
    except ValueError as exc:
        return str(exc)
    return None


def autostart(node: ManagedNode) -> None:
    """Configure and activate `node` if its `autostart` parameter is true."""
    if node.params["autostart"] and node.trigger_configure() == TransitionCallbackReturn.SUCCESS:
        node.trigger_activate()


#: How often the spinning main thread returns to Python to look for a recorded stop signal.
#: Each return rebuilds rclpy's wait set over the node's services and timers (~0.5 ms of CPU);
#: at 4 per second that was a fifth of the executor thread's CPU on a camera-rate node.
SPIN_CHECK_S = 1.0


def run(make_node: Callable[[], ManagedNode], args: list[str] | None = None) -> None:
    """Build a node, autostart it, spin until SIGINT / SIGTERM; a signal at any moment is clean.

    A signal is recorded, never raised, while the node is built and configured
    (entry.DeferredSignals), and the node stops at the next safe point: so a stop during the
    model load neither logs "configure failed: context is invalid" nor leaves a half-built
    Executor whose __del__ prints a traceback (both measured, issue 13). Only once the node is up
    are rclpy's own handlers installed; they wake the executor and shut the context down, so
    spinning ends with ExternalShutdownException (or, if the signal lands while rclpy builds its
    wait set, RCLError on a shut-down context): both a normal exit. Exit status 0. Signals
    before this function runs are face_affect_ros.entry's (the console scripts).
    """
    heap_tuned = keep_large_buffers()  # camera frames reuse freed heap (nodes/heap.py)
    signals = DeferredSignals()
    rclpy.init(args=args, signal_handler_options=SignalHandlerOptions.NO)
    node = None
    try:
        if signals.received is None:
            node = make_node()
            if not heap_tuned:
                node.get_logger().info("not glibc: frame buffers are allocated per frame")
        if signals.received is None:
            autostart(node)
        if signals.received is None:
            install_signal_handlers(SignalHandlerOptions.ALL)  # chains to `signals`
            executor = SingleThreadedExecutor()
            executor.add_node(node)
            # spin_once with a timeout, not spin(): a stop that reached `signals` but not rclpy's
            # handler (seen: 1 in ~3 runs of test_bringup's split layout, the node spun on with
            # SIGINT delivered) still ends the loop within SPIN_CHECK_S.
            while signals.received is None and rclpy.ok():
                executor.spin_once(timeout_sec=SPIN_CHECK_S)
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
