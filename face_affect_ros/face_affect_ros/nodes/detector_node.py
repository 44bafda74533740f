"""detector_node: the split layout's detection stage (loads only the face detector).

Takes frames from camera_node (newest wins), finds faces and publishes a FaceDetectionArray
with the frame's header on `face_affect/detections`, for every processed frame (empty arrays
included), so classifier_node can pair each detection message with its image by stamp.
Parts: frames subscription -> Worker (owns the DetectorStage) -> ResultPublishers(detections).
"""

from __future__ import annotations

import time
from collections.abc import Mapping
from typing import Any

from rclpy.qos import qos_profile_sensor_data
from sensor_msgs.msg import Image

from face_affect_ros.core.stages import DetectorStage
from face_affect_ros.nodes.lifecycle import ManagedNode, config_error, run
from face_affect_ros.nodes.publishers import ResultPublishers
from face_affect_ros.nodes.worker import Worker
from face_affect_ros.schema.params import PIXEL_LIMIT, pipeline_config

EXECUTABLE = "detector_node"
FRAMES_TOPIC = "face_affect/frames"


class DetectorRole:
    """Face detection on camera_node's frames."""

    def __init__(self, node: ManagedNode) -> None:
        self.node = node
        self.stage: DetectorStage | None = None  # used by the worker only
        self.outputs: ResultPublishers | None = None
        self.worker = Worker(
            f"{node.get_name()}_worker", self._process, node.stats, node.get_logger()
        )
        self._sub = None

    def configure(self) -> None:
        """Load and verify the detector model (only it), create the detections publisher."""
        self.stage = DetectorStage(pipeline_config(self.node.params))
        self.node.get_logger().info(f"models loaded: detector={self.stage.model_name}")
        self.outputs = ResultPublishers(self.node, affect=False, detections=True, debug=False)

    def activate(self) -> None:
        """Start the worker and subscribe to the frames (best effort, newest only)."""
        self.worker.start()
        self._sub = self.node.create_subscription(
            Image, FRAMES_TOPIC, self._on_frame, qos_profile_sensor_data
        )

    def deactivate(self) -> None:
        """Unsubscribe, then stop the worker."""
        if self._sub is not None:
            self.node.destroy_subscription(self._sub)
            self._sub = None
        self.worker.stop()

    def cleanup(self) -> None:
        """Drop the model and the publisher."""
        if self.outputs is not None:
            self.outputs.destroy()
        self.outputs = None
        self.stage = None

    def validate(self, params: Mapping[str, Any]) -> str | None:
        """A change is valid iff the core accepts the resulting configuration."""
        return config_error(params)

    def apply(self, params: Mapping[str, Any], changed: frozenset[str]) -> None:
        """Thresholds and limits, applied on the worker before its next frame."""
        stage = self.stage
        if stage is None:
            return
        config = pipeline_config(params)
        self.worker.call_soon(lambda: stage.reconfigure(config))

    def diagnostic_values(self) -> dict[str, str]:
        """The model loaded."""
        stage = self.stage
        return {"models_loaded": stage.model_name if stage is not None else "none"}

    def _on_frame(self, msg: Image) -> None:
        self.node.stats.count("received")
        # Decoding waits for the worker: a frame replaced before it is taken costs nothing.
        self.worker.submit((msg, time.monotonic()))

    def _process(self, item: tuple[Image, float]) -> None:
        msg, received = item
        image = self.node.decoder.decode(msg, PIXEL_LIMIT, FRAMES_TOPIC)
        if image is None:
            return
        detections = self.stage.detect(image)
        h, w = image.shape[:2]
        self.outputs.publish_detections(msg.header, w, h, detections)
        stats = self.node.stats
        stats.count("processed")
        stats.count("faces", len(detections))
        stats.record_latency(time.monotonic() - received)


def make_node(**kwargs: Any) -> ManagedNode:
    """The node, unconfigured (kwargs go to rclpy's Node, e.g. parameter_overrides)."""
    return ManagedNode(EXECUTABLE, DetectorRole, **kwargs)


def main(args: list[str] | None = None) -> None:
    """Entry point of `ros2 run face_affect_ros detector_node`."""
    run(make_node, args)


if __name__ == "__main__":
    main()
