"""Camera frames taken at the processing rate: a subscription outside the executor.

Why: a 640x480 frame received through an rclpy executor callback costs ~4.5 ms of CPU (the
executor's wait-set rebuild, task machinery and message conversion, measured in issue 12), even
when the node then throws the frame away because it is busy or over ``max_rate``. A frame the
node never takes costs ~0.35 ms in the middleware. So the camera subscription here is not
registered with the node (the executor never waits on it): the worker thread waits on a wait set
of its own and takes the newest message itself when it is ready for one. With a history depth of
1 the middleware keeps only the newest frame, so the latest frame wins and the ones it replaced
were never converted to Python at all.

rclpy API relied on, the same in Jazzy (rclpy 7.1.x, ``rclpy/src/rclpy/subscription.cpp``,
``wait_set.cpp``) and Kilted (rclpy 9.x): ``_rclpy`` =
``rclpy.impl.implementation_singleton.rclpy_implementation`` with

* ``_rclpy.Subscription(node.handle, msg_type, topic, qos.get_c_qos_profile())`` (what
  ``Node.create_subscription`` calls; Kilted adds an optional content-filter argument), with
  ``take_message(msg_type, raw) -> (msg, info) | None`` (``info`` a dict with
  ``publication_sequence_number``, None where the RMW does not support it),
  ``get_topic_name()``, ``get_publisher_count()``, ``destroy_when_not_in_use()``;
* ``_rclpy.WaitSet(subs, guards, timers, clients, services, events, context.handle)`` with
  ``clear_entities``, ``add_subscription``, ``add_guard_condition``, ``wait(timeout_ns)``,
  ``is_ready(kind, index)`` (what ``rclpy.wait_for_message`` uses);
* ``rclpy.guard_condition.GuardCondition`` (public) to wake the worker on shutdown.

Frames the worker never took are counted from gaps in the publisher's sequence numbers (one
camera publisher; a gap is not counted when the RMW gives no sequence numbers).
"""

from __future__ import annotations

import threading
import time
from collections.abc import Mapping
from typing import Any

import numpy as np
from rclpy.guard_condition import GuardCondition
from rclpy.impl.implementation_singleton import rclpy_implementation as _rclpy
from rclpy.node import Node
from rclpy.qos import QoSProfile
from rclpy.type_support import check_is_valid_msg_type
from sensor_msgs.msg import CompressedImage, Image

from face_affect_ros.core.frames import RateLimiter
from face_affect_ros.nodes.camera_input import camera_qos


class TakenSubscription:
    """A subscription whose messages a worker thread takes itself, newest first.

    Use from one thread (the worker): `take_newest`. `wake` may be called from any thread to
    make a waiting `take_newest` return None (shutdown); `destroy` after the worker stopped.
    """

    def __init__(
        self, node: Node, msg_type: type, topic: str, qos: QoSProfile, raw: bool = False
    ) -> None:
        check_is_valid_msg_type(msg_type)
        self._msg_type = msg_type
        self._raw = bool(raw)
        self._context = node.context
        with node.handle:
            self._handle = _rclpy.Subscription(
                node.handle, msg_type, topic, qos.get_c_qos_profile()
            )
        self._guard = GuardCondition(None, None, self._context)
        self._wait_set = _rclpy.WaitSet(1, 1, 0, 0, 0, 0, self._context.handle)
        self._woken = False
        self._woken_event = threading.Event()
        self._last_seq: int | None = None
        #: Messages taken, and messages the publisher sent that were never taken (seq gaps).
        self.taken = 0
        self.skipped = 0

    @property
    def topic_name(self) -> str:
        """The resolved (remapped) topic name."""
        with self._handle:
            return self._handle.get_topic_name()

    def publisher_count(self) -> int:
        """Publishers matched to this subscription."""
        with self._handle:
            return self._handle.get_publisher_count()

    def wake(self) -> None:
        """Make the current and every later `take_newest` return None (shutdown)."""
        self._woken = True
        self._woken_event.set()
        self._guard.trigger()

    def sleep(self, seconds: float) -> bool:
        """Sleep up to `seconds`; return False at once if `wake` was called."""
        return not self._woken_event.wait(seconds)

    def take_newest(self, timeout: float) -> tuple[Any, dict] | None:
        """Wait up to `timeout` s for a message; take the newest one (older ones are dropped).

        Returns (message, message info) or None (timeout, or `wake` was called).
        """
        if self._woken:
            return None
        ws = self._wait_set
        with self._handle, self._guard.handle, ws:
            ws.clear_entities()
            sub_index = ws.add_subscription(self._handle)
            guard_index = ws.add_guard_condition(self._guard.handle)
            ws.wait(max(0, int(timeout * 1e9)))
            if self._woken or ws.is_ready("guard_condition", guard_index):
                return None
            if not ws.is_ready("subscription", sub_index):
                return None
            return self._drain()

    def take_now(self) -> tuple[Any, dict] | None:
        """The newest message if one is waiting, else None, without waiting (no wait set).

        For inputs polled once per processed frame (camera_info, depth): a wait set costs ~0.07 ms
        per poll, a take that finds nothing a few microseconds.
        """
        if self._woken:
            return None
        with self._handle:
            return self._drain()

    def _drain(self) -> tuple[Any, dict] | None:
        """Take every waiting message, keep the newest (the caller holds the handle)."""
        newest = None
        # Depth 1 leaves at most one message; drain anyway in case a driver's QoS is deeper.
        while True:
            taken = self._handle.take_message(self._msg_type, self._raw)
            if taken is None:
                break
            if newest is not None and not self._sequenced(newest[1]):
                self.skipped += 1  # replaced, and no sequence number counts it
            newest = taken
            self._count_gap(taken[1])
        if newest is not None:
            self.taken += 1
        return newest

    @staticmethod
    def _sequenced(info: object) -> bool:
        return isinstance(info, dict) and info.get("publication_sequence_number") is not None

    def _count_gap(self, info: dict) -> None:
        if not self._sequenced(info):
            return
        seq = info["publication_sequence_number"]
        if self._last_seq is not None and seq > self._last_seq + 1:
            self.skipped += seq - self._last_seq - 1
        self._last_seq = seq

    def destroy(self) -> None:
        """Release the subscription, wait set and guard condition (after the worker stopped)."""
        self.wake()
        self._wait_set.destroy_when_not_in_use()
        self._handle.destroy_when_not_in_use()
        self._guard.destroy()


class TakenCamera:
    """face_affect_node's camera input: the worker takes the newest frame when it is ready.

    Same topics, encodings, refusal counters and rate cap as :class:`CameraInput`, but the frames
    are not received through the executor: ``take`` (called by the worker) waits for the rate cap,
    then for a frame, and takes the newest. Counters: ``received`` counts every frame the camera
    published to this node (taken or not, from sequence numbers); frames never taken are counted
    as ``dropped_rate`` while ``max_rate`` is set, else as ``dropped_stale`` (they arrived while
    the worker was busy).
    """

    def __init__(self, node: Any) -> None:
        self._node = node  # the ManagedNode: its params, stats and decoder are used
        self._sub: TakenSubscription | None = None
        self._topic = ""
        self.limiter = RateLimiter(node.params["max_rate"])

    def apply(self, params: Mapping[str, Any], changed: frozenset[str]) -> None:
        """Apply a runtime change of the rate cap (read by the worker between two takes)."""
        if "max_rate" in changed:
            self.limiter.max_rate = params["max_rate"]

    @property
    def topic(self) -> str:
        """Resolved name of the subscribed topic (the last one, once started)."""
        return self._topic

    def start(self) -> None:
        """Create the subscription (on activate), depth 1: the middleware keeps the newest."""
        compressed = self._node.params["input_transport"] == "compressed"
        msg_type, topic = (CompressedImage, "image/compressed") if compressed else (Image, "image")
        qos = camera_qos(self._node.params["input_reliability"])
        qos.depth = 1
        self._sub = TakenSubscription(self._node, msg_type, topic, qos)
        self._topic = self._sub.topic_name

    def wake(self) -> None:
        """Make a waiting `take` return None (before the worker is joined)."""
        if self._sub is not None:
            self._sub.wake()

    def stop(self) -> None:
        """Destroy the subscription (on deactivate, after the worker stopped)."""
        if self._sub is not None:
            self._sub.destroy()
            self._sub = None

    def take(self, timeout: float) -> tuple[Image | CompressedImage, float] | None:
        """The newest frame and its monotonic receipt time, or None (timeout / stopping)."""
        sub = self._sub
        if sub is None:
            return None
        wait = self.limiter.wait_time(time.monotonic())
        if wait > 0 and not sub.sleep(min(wait, timeout)):
            return None
        if self.limiter.wait_time(time.monotonic()) > 0:
            return None  # still capped (timeout shorter than the wait): the caller loops
        before = sub.skipped
        taken = sub.take_newest(timeout)
        skipped = sub.skipped - before
        stats = self._node.stats
        if skipped:
            stats.count("received", skipped)
            stats.count("dropped_rate" if self.limiter.max_rate > 0 else "dropped_stale", skipped)
        if taken is None:
            return None
        received = time.monotonic()
        stats.count("received")
        self.limiter.allow(received)
        return taken[0], received

    def decode(self, msg: Image | CompressedImage) -> np.ndarray | None:
        """The frame as BGR or mono, or None (counted and logged by the node's decoder)."""
        return self._node.decoder.decode(msg, self._node.params["max_image_pixels"], self.topic)
