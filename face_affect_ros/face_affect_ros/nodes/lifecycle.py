"""The one node class, composed of a role and shared parts; main() constructs, then autostarts.

Why composition: the four executables differ in what they run (camera input, detector,
classifier, all three), not in how they are managed. :class:`ManagedNode` owns what every node
has (its parameters, :class:`~face_affect_ros.nodes.diagnostics.Stats`, the
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
from sensor_msgs.msg import CompressedImage, Image

from face_affect_ros.core.image_io import ImageDecodeError, UnsupportedEncodingError
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
    """Message -> BGR / mono array, counting and logging every refusal (never flooding)."""

    def __init__(self, node: LifecycleNode, stats: Stats) -> None:
        self._logger = node.get_logger()
        self._stats = stats
        self._warned: set[str] = set()

    def decode(
        self, msg: Image | CompressedImage, max_pixels: int, where: str
    ) -> np.ndarray | None:
        """The frame, or None after counting and logging why it is unusable.

        An unsupported encoding is logged once per encoding (it will not fix itself); other bad
        frames are logged, throttled, every time. `where` (a topic) prefixes the log line.
        """
        try:
            return image_from_msg(msg, max_pixels)
        except UnsupportedEncodingError as exc:
            self._stats.count("error_unsupported_encoding")
            self.warn_once(f"encoding:{getattr(msg, 'encoding', '')}", f"{where}: {exc}")
        except ImageDecodeError as exc:
            self._stats.count("error_bad_image")
            self._logger.warning(f"{where}: dropped frame: {exc}", throttle_duration_sec=1.0)
        return None

    def warn_once(self, key: str, message: str) -> None:
        """Log `message` as a warning the first time `key` is seen."""
        if key not in self._warned:
            self._warned.add(key)
            self._logger.warning(message + " (further occurrences are only counted)")


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
        self.decoder = FrameDecoder(self, self.stats)
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
        for name, value in updates.items():
            reason = P.check_choice(name, value)
            if reason:
                return SetParametersResult(successful=False, reason=reason)
        reason = self.role.validate(P.merged(self.params, updates))
        if reason:
            self.get_logger().warning(f"rejected parameter change {updates}: {reason}")
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


def config_error(params: Mapping[str, Any]) -> str | None:
    """Why the core rejects the pipeline configuration of `params`, or None (on-set rule)."""
    try:
        P.pipeline_config(params)
    except ValueError as exc:
        return str(exc)
    return None


def autostart(node: ManagedNode) -> None:
    """Configure and activate `node` if its `autostart` parameter is true."""
    if node.params["autostart"] and node.trigger_configure() == TransitionCallbackReturn.SUCCESS:
        node.trigger_activate()


def run(make_node: Callable[[], ManagedNode], args: list[str] | None = None) -> None:
    """Build a node, autostart it, spin until Ctrl-C or SIGTERM, tear down without a traceback.

    rclpy.init installs handlers for SIGINT and SIGTERM that shut the context down; spinning then
    ends with ExternalShutdownException (or KeyboardInterrupt), both of which are a normal exit.
    A signal that lands while the executor is building its wait set makes rclpy raise RCLError
    ("the given context is not valid") instead: also a normal exit once the context is shut down.
    """
    rclpy.init(args=args)
    node = None
    try:
        heap_tuned = keep_large_buffers()  # camera frames reuse freed heap (nodes/heap.py)
        node = make_node()
        if not heap_tuned:
            node.get_logger().info("not glibc: frame buffers are allocated per frame")
        autostart(node)
        executor = SingleThreadedExecutor()
        executor.add_node(node)
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
