"""classifier_node: the split layout's emotion and gender stage.

Keeps camera_node's recent frames in a bounded cache keyed by stamp; for each FaceDetectionArray
it takes the frame of exactly that stamp (a missing one is counted as `error_stamp_miss`),
classifies every face in one batched call per model and publishes FaceAffectArray on
`face_affect` with the image's header, empty arrays included.
"""

from __future__ import annotations

import time
from typing import Any

from rclpy.qos import QoSProfile, ReliabilityPolicy
from sensor_msgs.msg import Image

from face_affect_msgs.msg import FaceDetectionArray
from face_affect_ros.core.frames import StampCache
from face_affect_ros.nodes import params as P  # noqa: N812
from face_affect_ros.nodes.base import run
from face_affect_ros.nodes.convert import detections_from_msg, stamp_ns
from face_affect_ros.nodes.processing import RESULT_QOS, ProcessingNode

# Every frame may be asked for later, so frames arrive reliably (camera_node keeps depth 1).
FRAMES_QOS = QoSProfile(depth=5, reliability=ReliabilityPolicy.RELIABLE)


class ClassifierNode(ProcessingNode):
    """Emotion and gender for detections from detector_node, paired with their frames."""

    EXECUTABLE = "classifier_node"

    def __init__(self, node_name: str | None = None, **kwargs: Any) -> None:
        self._subs: list = []
        self._cache: StampCache | None = None
        super().__init__(node_name, **kwargs)

    def activate_stage(self) -> None:
        """Start the worker, then subscribe to frames and detections."""
        super().activate_stage()
        self._cache = StampCache(self.params["image_cache_size"])
        self._subs = [
            self.create_subscription(Image, "face_affect/frames", self._on_frame, FRAMES_QOS),
            self.create_subscription(
                FaceDetectionArray, "face_affect/detections", self._on_detections, RESULT_QOS
            ),
        ]

    def deactivate_stage(self) -> None:
        """Unsubscribe, then stop the worker."""
        for sub in self._subs:
            self.destroy_subscription(sub)
        self._subs = []
        super().deactivate_stage()

    def _on_frame(self, msg: Image) -> None:
        self._cache.put(stamp_ns(msg.header), (msg, time.monotonic()))

    def _on_detections(self, msg: FaceDetectionArray) -> None:
        self.count("received")
        entry = self._cache.pop(stamp_ns(msg.header))
        if entry is None:
            self.count("error_stamp_miss")
            self.get_logger().warning(
                "no frame with the stamp of a detection message (cache too small or frames "
                "lost); detection skipped",
                throttle_duration_sec=5.0,
            )
            return
        frame, received = entry
        self.submit(msg, frame, received)

    def process(self, item: Any) -> None:
        """Classify the faces of one detection message on its frame and publish."""
        detections_msg, frame, received = item
        image = self.decode_frame(frame, P.PIXEL_LIMIT, "face_affect/frames")
        if image is None:
            return
        result = self.pipeline.classify(image, detections_from_msg(detections_msg))
        self.publish_result(detections_msg.header, image, result, received)

    def diagnostic_values(self) -> dict[str, str]:
        """Also the frame cache's fill and evictions."""
        values = super().diagnostic_values()
        if self._cache is not None:
            values["image_cache"] = f"{len(self._cache)}/{self._cache.capacity}"
            values["image_cache_evicted"] = str(self._cache.evicted)
        return values


def main(args: list[str] | None = None) -> None:
    """Entry point of `ros2 run face_affect_ros classifier_node`."""
    run(ClassifierNode, args)


if __name__ == "__main__":
    main()
