"""classifier_node: the split layout's affect stage (loads only the classifier models).

Keeps camera_node's recent frames in a bounded cache keyed by stamp; for each FaceDetectionArray
it takes the frame of exactly that stamp (a missing one is counted as `error_stamp_miss`). With
``tracking`` on (the default) it runs the affect half of the perception loop (core/affect.py)
on detector_node's tracks: each track is classified at ``classify_rate`` (not on every
detection), its emotion smoothed and its gender / age evidence accumulated under its id, exactly
as in face_affect_node. With tracking off (or detections without ids) every face is classified.
Publishes FaceAffectArray on `face_affect` with the image's header, empty arrays included.
Parts: frames + detections subscriptions (the stamp cache, executor thread only) -> Worker (owns
the ClassifierStage and the AffectLoop) -> ResultPublishers(affect, debug, saliency).
"""

from __future__ import annotations

import time
from collections.abc import Mapping
from typing import Any

from rclpy.qos import QoSProfile, ReliabilityPolicy
from sensor_msgs.msg import Image

from face_affect_msgs.msg import FaceDetectionArray
from face_affect_ros.core.affect import AffectLoop
from face_affect_ros.core.frames import StampCache
from face_affect_ros.core.providers import summarize
from face_affect_ros.core.stages import ClassifierStage
from face_affect_ros.nodes.diagnostics import provider_values
from face_affect_ros.nodes.lifecycle import ManagedNode, config_error, run
from face_affect_ros.nodes.messages import (
    frame_stamp,
    pose_fields_of,
    stamp_ns,
    tracked_faces_from_msg,
)
from face_affect_ros.nodes.publishers import RESULT_QOS, ResultPublishers, configure_saliency
from face_affect_ros.nodes.worker import Worker
from face_affect_ros.schema.params import PIXEL_LIMIT, pipeline_config, temporal_config

EXECUTABLE = "classifier_node"
FRAMES_TOPIC = "face_affect/frames"
# Every frame may be asked for later, so frames arrive reliably (camera_node keeps depth 1).
FRAMES_QOS = QoSProfile(depth=5, reliability=ReliabilityPolicy.RELIABLE)


class ClassifierRole:
    """Emotion and gender for detections from detector_node, paired with their frames."""

    def __init__(self, node: ManagedNode) -> None:
        self.node = node
        self.stage: ClassifierStage | None = None  # used by the worker only
        self.affect: AffectLoop | None = None  # likewise; None with tracking off
        self.outputs: ResultPublishers | None = None
        self.worker = Worker(
            f"{node.get_name()}_worker", self._process, node.stats, node.get_logger()
        )
        self._subs: list = []
        self._cache: StampCache | None = None

    def configure(self) -> None:
        """Load and verify the emotion and gender models (only those), create publishers."""
        params = self.node.params
        self.stage = ClassifierStage(pipeline_config(params))
        self.affect = (
            AffectLoop(self.stage, temporal_config(params)) if self.stage.config.tracking else None
        )
        if self.affect is not None:
            self.affect.warm_up()
        emo, gen = self.stage.model_names
        self.node.get_logger().info(
            f"models loaded: emotion={emo} gender={gen}; execution provider: "
            + summarize(self.stage.providers_in_use())
        )
        self.outputs = ResultPublishers(self.node, affect=True, detections=False, debug=True)
        configure_saliency(self.node, self.outputs)

    def activate(self) -> None:
        """Start the worker, then subscribe to frames and detections."""
        self.worker.start()
        self._cache = StampCache(self.node.params["image_cache_size"])
        self._subs = [
            self.node.create_subscription(Image, FRAMES_TOPIC, self._on_frame, FRAMES_QOS),
            self.node.create_subscription(
                FaceDetectionArray, "face_affect/detections", self._on_detections, RESULT_QOS
            ),
        ]

    def deactivate(self) -> None:
        """Unsubscribe, then stop the worker."""
        for sub in self._subs:
            self.node.destroy_subscription(sub)
        self._subs = []
        self.worker.stop()

    def cleanup(self) -> None:
        """Drop the models and the publishers."""
        if self.outputs is not None:
            self.outputs.destroy()
        self.outputs = None
        self.stage = None
        self.affect = None

    def validate(self, params: Mapping[str, Any]) -> str | None:
        """A change is valid iff the core accepts the classifier and the loop configuration."""
        return config_error(params, temporal_config)

    def apply(self, params: Mapping[str, Any], changed: frozenset[str]) -> None:
        """Margins, labels, thresholds, loop parameters and saliency rate, on the worker.

        The tracks' estimates continue across a change (new constants apply from then on).
        """
        stage, outputs = self.stage, self.outputs
        if stage is None or outputs is None:
            return
        config = pipeline_config(params)
        temporal = temporal_config(params)
        rate = params["saliency_rate"]

        def change() -> None:
            stage.reconfigure(config)  # in place; new sessions only for read-only fields
            if not config.tracking:
                self.affect = None
            elif self.affect is None:
                self.affect = AffectLoop(stage, temporal)
            else:
                self.affect.configure(temporal)
            outputs.saliency_limiter.max_rate = rate

        self.worker.call_soon(change)

    def diagnostic_values(self) -> dict[str, str]:
        """Models loaded, label set, and the frame cache's fill and evictions."""
        stage = self.stage
        values = {"models_loaded": ", ".join(stage.model_names) if stage is not None else "none"}
        if stage is not None:
            values.update(provider_values(stage.config.providers, stage.providers_in_use()))
        values["label_set"] = self.node.params["label_set"]
        affect = self.affect
        if affect is not None:
            values["tracks"] = str(affect.track_count)
            values["classifications"] = str(affect.counters.classified)
            values["gender_looks"] = str(affect.counters.evidence_looks)
        if self._cache is not None:
            values["image_cache"] = f"{len(self._cache)}/{self._cache.capacity}"
            values["image_cache_evicted"] = str(self._cache.evicted)
        return values

    def _on_frame(self, msg: Image) -> None:
        self._cache.put(stamp_ns(msg.header), (msg, time.monotonic()))

    def _on_detections(self, msg: FaceDetectionArray) -> None:
        self.node.stats.count("received")
        entry = self._cache.pop(stamp_ns(msg.header))
        if entry is None:
            self.node.stats.count("error_stamp_miss")
            self.node.get_logger().warning(
                "no frame with the stamp of a detection message (cache too small or frames "
                "lost); detection skipped",
                throttle_duration_sec=5.0,
            )
            return
        frame, received = entry
        self.worker.submit((msg, frame, received))

    def _process(self, item: tuple[FaceDetectionArray, Image, float]) -> None:
        detections_msg, frame, received = item
        image = self.node.decoder.decode(frame, PIXEL_LIMIT, FRAMES_TOPIC)
        if image is None:
            return
        faces = tracked_faces_from_msg(detections_msg)
        if self.affect is not None and all(f.track_id for f in faces):
            stamp = frame_stamp(detections_msg.header, received)
            result = self.affect.step(image, stamp, faces)
        else:
            if self.affect is not None:
                self.node.stats.count("untracked_detections")
                self.node.get_logger().warning(
                    "detections without track ids (detector_node with tracking off?): classified "
                    "frame by frame; set tracking the same on both nodes",
                    throttle_duration_sec=10.0,
                )
            result = self.stage.classify(image, [f.detection for f in faces])
        # The 3D fields come from the localising node (detector_node), unchanged.
        poses = {d.id: pose_fields_of(d) for d in detections_msg.detections if d.id}
        self.outputs.publish(detections_msg.header, image, result, self.stage.emotion_crop, poses)
        stats = self.node.stats
        stats.count("processed")
        stats.count("faces", len(result.faces))
        stats.record_latency(time.monotonic() - received)


def make_node(**kwargs: Any) -> ManagedNode:
    """The node, unconfigured (kwargs go to rclpy's Node, e.g. parameter_overrides)."""
    return ManagedNode(EXECUTABLE, ClassifierRole, **kwargs)


def main(args: list[str] | None = None) -> None:
    """Entry point of `ros2 run face_affect_ros classifier_node`."""
    run(make_node, args)


if __name__ == "__main__":
    main()
