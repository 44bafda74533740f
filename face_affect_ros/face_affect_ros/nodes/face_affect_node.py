"""face_affect_node: camera -> detector -> classifiers -> /face_affect in one process.

The lowest-latency layout: a frame is decoded once and passed between the stages as an array.
The subscription callback only stores the newest frame; a worker thread processes frames at its
own pace, so a slow frame makes the node skip (and count) frames instead of queueing them.
"""

from __future__ import annotations

from face_affect_ros.nodes.base import run
from face_affect_ros.nodes.camera_input import CameraInput
from face_affect_ros.nodes.processing import ProcessingNode


class FaceAffectNode(ProcessingNode):
    """All three stages in one node; same parameters and topics as the split layout."""

    EXECUTABLE = "face_affect_node"
    PUBLISH_DETECTIONS = True

    def configure_stage(self) -> None:
        """Load all models and create the output publishers."""
        super().configure_stage()
        self.camera = CameraInput(self, lambda msg, received: self.submit(msg, None, received))

    def activate_stage(self) -> None:
        """Start the worker, then the camera subscription."""
        super().activate_stage()
        self.camera.start()

    def deactivate_stage(self) -> None:
        """Stop the camera subscription, then the worker."""
        if getattr(self, "camera", None) is not None:
            self.camera.stop()
        super().deactivate_stage()

    def apply_params(self, new, changed) -> None:
        """Apply pipeline changes and the rate cap."""
        super().apply_params(new, changed)
        if getattr(self, "camera", None) is not None:
            self.camera.apply_params(new, changed)

    def process(self, item) -> None:
        """Decode, detect, classify and publish one frame."""
        msg, _, received = item
        image = self.camera.decode(msg)
        if image is None:
            return
        result = self.pipeline.process(image)
        self.publish_result(msg.header, image, result, received)


def main(args: list[str] | None = None) -> None:
    """Entry point of `ros2 run face_affect_ros face_affect_node`."""
    run(FaceAffectNode, args)


if __name__ == "__main__":
    main()
