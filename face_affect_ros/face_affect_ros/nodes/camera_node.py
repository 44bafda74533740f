"""camera_node: the split layout's camera stage (no models).

Subscribes to the robot's camera (raw or compressed, sensor-data QoS), refuses frames the
pipeline cannot use (with a warning per encoding and a counter), applies the rate cap, and
republishes accepted frames on `face_affect/frames` for detector_node and classifier_node.
bgr8 and mono8 frames are passed on as the very message received (no copy); other encodings and
compressed frames are converted to bgr8 once here, so the later stages never decode JPEG again.
Parts: CameraInput -> frames publisher (on the executor thread: no worker).
"""

from __future__ import annotations

import time
from collections.abc import Mapping
from typing import Any

import numpy as np
from rclpy.qos import QoSProfile, ReliabilityPolicy
from sensor_msgs.msg import Image

from face_affect_ros.nodes.camera_input import CameraInput
from face_affect_ros.nodes.lifecycle import ManagedNode, run
from face_affect_ros.nodes.messages import image_to_msg

EXECUTABLE = "camera_node"
# Reliable with depth 1: the classifier (reliable) and detector (best effort) both match it,
# and a slow subscriber still gets only the newest frame, never a backlog.
FRAMES_QOS = QoSProfile(depth=1, reliability=ReliabilityPolicy.RELIABLE)
PASS_THROUGH = ("bgr8", "mono8")


class CameraRole:
    """Validated, rate-capped frames from the robot's camera to the pipeline's stages."""

    def __init__(self, node: ManagedNode) -> None:
        self.node = node
        self.camera = CameraInput(node, self._forward)
        self._pub = None

    def configure(self) -> None:
        """Create the frames publisher."""
        self._pub = self.node.create_publisher(Image, "face_affect/frames", FRAMES_QOS)

    def activate(self) -> None:
        """Subscribe to the camera."""
        self.camera.start()

    def deactivate(self) -> None:
        """Unsubscribe from the camera."""
        self.camera.stop()

    def cleanup(self) -> None:
        """Drop the publisher."""
        if self._pub is not None:
            self.node.destroy_publisher(self._pub)
            self._pub = None

    def validate(self, params: Mapping[str, Any]) -> str | None:
        """Ranges and choices are all this stage's parameters need (checked by the node)."""
        return None

    def apply(self, params: Mapping[str, Any], changed: frozenset[str]) -> None:
        """The rate cap is the only runtime parameter of this stage."""
        self.camera.apply(params, changed)

    def diagnostic_values(self) -> dict[str, str]:
        """Nothing beyond the counters."""
        return {}

    def _forward(self, msg: Any, received: float) -> None:
        image = self.camera.decode(msg)
        if image is None:
            return
        if isinstance(msg, Image) and msg.encoding in PASS_THROUGH:
            out = msg
        else:
            bgr = image if image.ndim == 3 else np.dstack([image] * 3)
            out = image_to_msg(msg.header, bgr)
        self._pub.publish(out)
        self.node.stats.count("processed")
        self.node.stats.record_latency(time.monotonic() - received)


def make_node(**kwargs: Any) -> ManagedNode:
    """The node, unconfigured (kwargs go to rclpy's Node, e.g. parameter_overrides)."""
    return ManagedNode(EXECUTABLE, CameraRole, **kwargs)


def main(args: list[str] | None = None) -> None:
    """Entry point of `ros2 run face_affect_ros camera_node`."""
    run(make_node, args)


if __name__ == "__main__":
    main()
