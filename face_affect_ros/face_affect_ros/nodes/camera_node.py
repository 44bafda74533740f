"""camera_node: the split layout's camera stage.

Subscribes to the robot's camera (raw or compressed, sensor-data QoS), refuses frames the
pipeline cannot use (with a warning per encoding and a counter), applies the rate cap, and
republishes accepted frames on `face_affect/frames` for detector_node and classifier_node.
bgr8 and mono8 frames are passed on as the very message received (no copy); other encodings and
compressed frames are converted to bgr8 once here, so the later stages never decode JPEG again.
"""

from __future__ import annotations

import time
from typing import Any

import numpy as np
from rclpy.qos import QoSProfile, ReliabilityPolicy
from sensor_msgs.msg import Image

from face_affect_ros.nodes.base import StageNode, run
from face_affect_ros.nodes.camera_input import CameraInput
from face_affect_ros.nodes.convert import image_to_msg

# Reliable with depth 1: the classifier (reliable) and detector (best effort) both match it,
# and a slow subscriber still gets only the newest frame, never a backlog.
FRAMES_QOS = QoSProfile(depth=1, reliability=ReliabilityPolicy.RELIABLE)
PASS_THROUGH = ("bgr8", "mono8")


class CameraNode(StageNode):
    """Validated, rate-capped frames from the robot's camera to the pipeline's stages."""

    EXECUTABLE = "camera_node"

    def __init__(self, node_name: str | None = None, **kwargs: Any) -> None:
        self.camera: CameraInput | None = None
        self._pub = None
        super().__init__(node_name, **kwargs)

    def configure_stage(self) -> None:
        """Create the frames publisher."""
        self._pub = self.create_publisher(Image, "face_affect/frames", FRAMES_QOS)
        self.camera = CameraInput(self, self._forward)

    def activate_stage(self) -> None:
        """Subscribe to the camera."""
        self.camera.start()

    def deactivate_stage(self) -> None:
        """Unsubscribe from the camera."""
        if self.camera is not None:
            self.camera.stop()

    def cleanup_stage(self) -> None:
        """Drop the publisher."""
        if self._pub is not None:
            self.destroy_publisher(self._pub)
            self._pub = None

    def apply_params(self, new, changed) -> None:
        """The rate cap is the only runtime parameter of this stage."""
        if self.camera is not None:
            self.camera.apply_params(new, changed)

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
        self.count("processed")
        self.record_latency(time.monotonic() - received)


def main(args: list[str] | None = None) -> None:
    """Entry point of `ros2 run face_affect_ros camera_node`."""
    run(CameraNode, args)


if __name__ == "__main__":
    main()
