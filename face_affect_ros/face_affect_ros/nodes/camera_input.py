"""The camera end of a node: subscribe raw or compressed, refuse bad frames, cap the rate.

Shared by camera_node and face_affect_node so both accept exactly the same inputs. Frames are
decoded by core.image_io (through the node's FrameDecoder); this part only counts and logs what it
refuses, so nothing is dropped silently: `error_*` counters for bad frames, `dropped_rate` for the
rate cap, and `dropped_middleware` for frames the middleware replaced before the node took them.
The rate limiter is used on the executor thread only (subscription and parameter callbacks).
"""

from __future__ import annotations

import time
from collections.abc import Callable, Mapping
from typing import Any

import numpy as np
from rclpy.event_handler import SubscriptionEventCallbacks
from rclpy.qos import QoSProfile, ReliabilityPolicy, qos_profile_sensor_data
from sensor_msgs.msg import CompressedImage, Image

from face_affect_ros.core.frames import RateLimiter

# handler(message, monotonic receipt time); the handler decodes with CameraInput.decode when
# (and if) it processes the frame, so a frame that is replaced before then costs no decoding.
FrameHandler = Callable[[Image | CompressedImage, float], None]


def camera_qos(reliability: str) -> QoSProfile:
    """Sensor-data QoS (keep last 5, volatile) with the configured reliability.

    The callbacks only hand the message to a newest-frame-wins slot (which counts what it
    replaces), so the middleware's short queue drains at once and no frame is dropped unseen.
    """
    return QoSProfile(
        history=qos_profile_sensor_data.history,
        depth=qos_profile_sensor_data.depth,
        reliability=ReliabilityPolicy.RELIABLE
        if reliability == "reliable"
        else ReliabilityPolicy.BEST_EFFORT,
        durability=qos_profile_sensor_data.durability,
    )


class CameraInput:
    """Subscription to `image` or `image/compressed` feeding frames to a handler.

    `node` is the ManagedNode (its params, stats and decoder are used).
    """

    def __init__(self, node: Any, handler: FrameHandler) -> None:
        self._node = node
        self._handler = handler
        self._sub = None
        self._topic = ""
        self.limiter = RateLimiter(node.params["max_rate"])

    def apply(self, params: Mapping[str, Any], changed: frozenset[str]) -> None:
        """Apply a runtime change of the rate cap (the only runtime parameter of this part)."""
        if "max_rate" in changed:
            self.limiter.max_rate = params["max_rate"]

    @property
    def topic(self) -> str:
        """Resolved name of the subscribed topic (the last one, once started)."""
        return self._topic

    def start(self) -> None:
        """Create the subscription (on activate)."""
        params = self._node.params
        compressed = params["input_transport"] == "compressed"
        msg_type, topic = (CompressedImage, "image/compressed") if compressed else (Image, "image")
        events = SubscriptionEventCallbacks(message_lost=self._on_lost)
        self._sub = self._node.create_subscription(
            msg_type,
            topic,
            self._on_image,
            camera_qos(params["input_reliability"]),
            event_callbacks=events,
        )
        self._topic = self._sub.topic_name

    def stop(self) -> None:
        """Destroy the subscription (on deactivate)."""
        if self._sub is not None:
            self._node.destroy_subscription(self._sub)
            self._sub = None

    def _on_lost(self, info) -> None:
        self._node.stats.count("dropped_middleware", int(info.total_count_change))

    def _on_image(self, msg: Image | CompressedImage) -> None:
        received = time.monotonic()
        stats = self._node.stats
        stats.count("received")
        if not self.limiter.allow(received):
            stats.count("dropped_rate")
            return
        self._handler(msg, received)

    def decode(self, msg: Image | CompressedImage) -> np.ndarray | None:
        """The frame as BGR or mono, or None (counted and logged by the node's decoder)."""
        return self._node.decoder.decode(msg, self._node.params["max_image_pixels"], self.topic)
