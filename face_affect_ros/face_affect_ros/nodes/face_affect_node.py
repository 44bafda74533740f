"""face_affect_node: camera -> detector -> classifiers -> /face_affect in one process.

The lowest-latency layout: a frame is decoded once and passed between the stages as an array.
The subscription callback only stores the newest frame; a worker thread processes frames at its
own pace, so a slow frame makes the node skip (and count) frames instead of queueing them.
Parts: CameraInput -> Worker (owns the FaceAffectPipeline) -> ResultPublishers.
"""

from __future__ import annotations

import time
from collections.abc import Mapping
from typing import Any

from face_affect_ros.core.pipeline import FaceAffectPipeline
from face_affect_ros.nodes.camera_input import CameraInput
from face_affect_ros.nodes.lifecycle import ManagedNode, config_error, run
from face_affect_ros.nodes.publishers import ResultPublishers, configure_saliency
from face_affect_ros.nodes.worker import Worker
from face_affect_ros.schema.params import pipeline_config

EXECUTABLE = "face_affect_node"


class FaceAffectRole:
    """All three stages in one node; same parameters and topics as the split layout."""

    def __init__(self, node: ManagedNode) -> None:
        self.node = node
        self.pipeline: FaceAffectPipeline | None = None  # used by the worker only
        self.outputs: ResultPublishers | None = None
        self.worker = Worker(
            f"{node.get_name()}_worker", self._process, node.stats, node.get_logger()
        )
        self.camera = CameraInput(node, lambda msg, received: self.worker.submit((msg, received)))

    def configure(self) -> None:
        """Load and verify all three models, create the publishers (and saliency if set)."""
        self.pipeline = FaceAffectPipeline(pipeline_config(self.node.params))
        det, emo, gen = self.pipeline.model_names
        self.node.get_logger().info(f"models loaded: detector={det} emotion={emo} gender={gen}")
        self.outputs = ResultPublishers(self.node, affect=True, detections=True, debug=True)
        configure_saliency(self.node, self.outputs)

    def activate(self) -> None:
        """Start the worker, then the camera subscription."""
        self.worker.start()
        self.camera.start()

    def deactivate(self) -> None:
        """Stop the camera subscription, then the worker."""
        self.camera.stop()
        self.worker.stop()

    def cleanup(self) -> None:
        """Drop the models and the publishers."""
        if self.outputs is not None:
            self.outputs.destroy()
        self.outputs = None
        self.pipeline = None

    def validate(self, params: Mapping[str, Any]) -> str | None:
        """A change is valid iff the core accepts the resulting configuration."""
        return config_error(params)

    def apply(self, params: Mapping[str, Any], changed: frozenset[str]) -> None:
        """Rate cap here; pipeline and saliency rate on the worker, before its next frame."""
        self.camera.apply(params, changed)
        pipeline, outputs = self.pipeline, self.outputs
        if pipeline is None or outputs is None:
            return  # not configured: configure reads the new values
        config = pipeline_config(params)
        rate = params["saliency_rate"]

        def change() -> None:
            pipeline.reconfigure(config)  # in place; new sessions only for read-only fields
            outputs.saliency_limiter.max_rate = rate

        self.worker.call_soon(change)

    def diagnostic_values(self) -> dict[str, str]:
        """Models loaded and the label set."""
        pipeline = self.pipeline
        if pipeline is None:
            return {"models_loaded": "none"}
        return {
            "models_loaded": ", ".join(pipeline.model_names),
            "label_set": self.node.params["label_set"],
        }

    def _process(self, item: tuple[Any, float]) -> None:
        msg, received = item
        image = self.camera.decode(msg)
        if image is None:
            return
        result = self.pipeline.process(image)
        self.outputs.publish(msg.header, image, result, self.pipeline.emotion_crop)
        stats = self.node.stats
        stats.count("processed")
        stats.count("faces", len(result.faces))
        stats.record_latency(time.monotonic() - received)


def make_node(**kwargs: Any) -> ManagedNode:
    """The node, unconfigured (kwargs go to rclpy's Node, e.g. parameter_overrides)."""
    return ManagedNode(EXECUTABLE, FaceAffectRole, **kwargs)


def main(args: list[str] | None = None) -> None:
    """Entry point of `ros2 run face_affect_ros face_affect_node`."""
    run(make_node, args)


if __name__ == "__main__":
    main()
