"""The camera end of a node: subscribe raw or compressed, refuse bad frames, cap the rate.

Shared by camera_node and face_affect_node so both accept exactly the same inputs. Frames are
decoded by core.image_io; this class only counts and logs what it refuses, so nothing is dropped
silently: `error_*` counters for bad frames, `dropped_rate` for the rate cap, and
`dropped_middleware` for frames the middleware replaced before the node could take them.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Mapping
from typing import Any

import numpy as np
from rclpy.event_handler import SubscriptionEventCallbacks
from sensor_msgs.msg import CompressedImage, Image

from face_affect_ros.core.frames import RateLimiter
from face_affect_ros.nodes.base import StageNode, camera_qos

# handler(message, monotonic receipt time); the handler decodes with CameraInput.decode when
# (and if) it processes the frame, so a frame that is replaced before then costs no decoding.
FrameHandler = Callable[[Image | CompressedImage, float], None]


class CameraInput:
    """Subscription to `image` or `image/compressed` feeding decoded frames to a handler."""

    def __init__(self, node: StageNode, handler: FrameHandler) -> None:
        self._node = node
        self._handler = handler
        self._sub = None
        self.limiter = RateLimiter(node.params["max_rate"])

    def apply_params(self, new: Mapping[str, Any], changed: set[str]) -> None:
        """Apply a runtime change of the rate cap (the only runtime parameter of this stage)."""
        if "max_rate" in changed:
            self.limiter.max_rate = new["max_rate"]

    @property
    def topic(self) -> str | None:
        """Resolved name of the subscribed topic, or None while inactive."""
        return self._sub.topic_name if self._sub is not None else None

    def start(self) -> None:
        """Create the subscription (on activate)."""
        compressed = self._node.params["input_transport"] == "compressed"
        msg_type, topic = (CompressedImage, "image/compressed") if compressed else (Image, "image")
        events = SubscriptionEventCallbacks(message_lost=self._on_lost)
        self._sub = self._node.create_subscription(
            msg_type,
            topic,
            self._on_image,
            camera_qos(self._node.params["input_reliability"]),
            event_callbacks=events,
        )

    def stop(self) -> None:
        """Destroy the subscription (on deactivate)."""
        if self._sub is not None:
            self._node.destroy_subscription(self._sub)
            self._sub = None

    def _on_lost(self, info) -> None:
        self._node.count("dropped_middleware", int(info.total_count_change))

    def _on_image(self, msg: Image | CompressedImage) -> None:
        received = time.monotonic()
        node = self._node
        node.count("received")
        if not self.limiter.allow(received):
            node.count("dropped_rate")
            return
        self._handler(msg, received)

    def decode(self, msg: Image | CompressedImage) -> np.ndarray | None:
        """The frame as BGR or mono, or None (counted and logged by the node)."""
        return self._node.decode_frame(msg, self._node.params["max_image_pixels"], self.topic)
