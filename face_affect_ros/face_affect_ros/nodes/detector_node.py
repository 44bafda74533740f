"""detector_node: the split layout's detection stage.

Takes frames from camera_node (newest wins), finds faces and publishes a FaceDetectionArray
with the frame's header on `face_affect/detections`, for every processed frame (empty arrays
included), so classifier_node can pair each detection message with its image by stamp.
"""

from __future__ import annotations

import time
from typing import Any

from rclpy.qos import qos_profile_sensor_data
from sensor_msgs.msg import Image

from face_affect_ros.nodes import params as P  # noqa: N812
from face_affect_ros.nodes.base import run
from face_affect_ros.nodes.convert import detections_to_msg
from face_affect_ros.nodes.processing import ProcessingNode


class DetectorNode(ProcessingNode):
    """Face detection on camera_node's frames."""

    EXECUTABLE = "detector_node"
    PUBLISH_AFFECT = False
    PUBLISH_DETECTIONS = True

    def __init__(self, node_name: str | None = None, **kwargs: Any) -> None:
        self._sub = None
        super().__init__(node_name, **kwargs)

    def activate_stage(self) -> None:
        """Start the worker and subscribe to the frames (best effort, newest only)."""
        super().activate_stage()
        self._sub = self.create_subscription(
            Image, "face_affect/frames", self._on_frame, qos_profile_sensor_data
        )

    def deactivate_stage(self) -> None:
        """Unsubscribe, then stop the worker."""
        if self._sub is not None:
            self.destroy_subscription(self._sub)
            self._sub = None
        super().deactivate_stage()

    def _on_frame(self, msg: Image) -> None:
        self.count("received")
        # Decoding waits for the worker: a frame replaced before it is taken costs nothing.
        self.submit(msg, None, time.monotonic())

    def process(self, item: Any) -> None:
        """Decode and detect one frame, publish its detections."""
        msg, _, received = item
        image = self.decode_frame(msg, P.PIXEL_LIMIT, "face_affect/frames")
        if image is None:
            return
        detections = self.pipeline.detect(image)
        h, w = image.shape[:2]
        self._det_pub.publish(detections_to_msg(msg.header, w, h, detections))
        self.count("processed")
        self.count("faces", len(detections))
        self.record_latency(time.monotonic() - received)


def main(args: list[str] | None = None) -> None:
    """Entry point of `ros2 run face_affect_ros detector_node`."""
    run(DetectorNode, args)


if __name__ == "__main__":
    main()
