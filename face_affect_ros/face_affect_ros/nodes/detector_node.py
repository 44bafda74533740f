"""detector_node: the split layout's localisation stage (loads only the face detector models).

Takes frames from camera_node (newest wins) and, with ``tracking`` on (the default), runs the
localisation half of the perception loop (core/localise.py: scans on a schedule and at cuts,
track windows, template follows, verification, track ids), exactly as face_affect_node does;
with it off, detects every frame independently. Publishes a FaceDetectionArray with the frame's
header on `face_affect/detections` for every processed frame (empty arrays included), each
face with its track id, so classifier_node can pair it with its image by stamp and keep each
track's estimate.
Parts: frames subscription -> Worker (owns the DetectorStage and the LocalisationLoop) ->
ResultPublishers(detections).
"""

from __future__ import annotations

import time
from collections.abc import Mapping
from typing import Any

from rclpy.qos import qos_profile_sensor_data
from sensor_msgs.msg import Image

from face_affect_ros.core.anonymise import sightings
from face_affect_ros.core.localise import LocalisationLoop
from face_affect_ros.core.providers import summarize
from face_affect_ros.core.stages import DetectorStage
from face_affect_ros.nodes.anonymised_output import AnonymisedOutput
from face_affect_ros.nodes.diagnostics import merge_warnings, provider_values
from face_affect_ros.nodes.lifecycle import ManagedNode, config_error, run
from face_affect_ros.nodes.messages import frame_stamp
from face_affect_ros.nodes.people_output import ENGAGEMENT_PARAMS, PeopleOutput, people_config
from face_affect_ros.nodes.publishers import ResultPublishers
from face_affect_ros.nodes.worker import Worker
from face_affect_ros.schema.params import (
    LOCALISATION_PARAMS,
    PIXEL_LIMIT,
    pipeline_config,
    temporal_config,
)

EXECUTABLE = "detector_node"
FRAMES_TOPIC = "face_affect/frames"


class DetectorRole:
    """Face detection on camera_node's frames."""

    def __init__(self, node: ManagedNode) -> None:
        self.node = node
        self.stage: DetectorStage | None = None  # used by the worker only
        self.loop: LocalisationLoop | None = None  # likewise; None with tracking off
        self.outputs: ResultPublishers | None = None
        self.worker = Worker(
            f"{node.get_name()}_worker", self._process, node.stats, node.get_logger()
        )
        self._sub = None
        self.people = PeopleOutput(node)
        self.anonymised = AnonymisedOutput(node)

    def configure(self) -> None:
        """Load and verify the detector models (only those), create the detections publisher."""
        params = self.node.params
        self.stage = DetectorStage(pipeline_config(params))
        self.loop = self._make_loop(self.stage, params)
        if self.loop is not None:
            self.loop.warm_up()
        self.people.configure(params)
        self.anonymised.configure(params)
        self.node.get_logger().info(
            f"models loaded: detector={self.stage.model_name}; execution provider: "
            + summarize(self._providers_in_use())
        )
        self.outputs = ResultPublishers(self.node, affect=False, detections=True, debug=False)

    def activate(self) -> None:
        """Start the worker, subscribe to camera_info and the frames (best effort, newest)."""
        self.people.activate()
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
        self.people.deactivate()
        self.anonymised.drop_held()

    def cleanup(self) -> None:
        """Drop the model and the publisher."""
        if self.outputs is not None:
            self.outputs.destroy()
        self.outputs = None
        self.stage = None
        self.loop = None
        self.people.cleanup()
        self.anonymised.cleanup()

    @staticmethod
    def _make_loop(stage: DetectorStage, params: Mapping[str, Any]) -> LocalisationLoop | None:
        if not stage.config.tracking:
            return None
        return LocalisationLoop(
            stage.config, temporal_config(params), verifier=lambda: stage.verifier
        )

    def validate(self, params: Mapping[str, Any]) -> str | None:
        """A change is valid iff the core accepts the detector and the loop configuration."""
        return config_error(params, temporal_config, people_config)

    def apply(self, params: Mapping[str, Any], changed: frozenset[str]) -> None:
        """Thresholds, limits and loop parameters, applied on the worker before its next frame.

        A change of the detector's or the loop's parameters builds a new localisation half
        (its scan and window detectors follow them) that continues the old one's tracks.
        """
        stage = self.stage
        if stage is None:
            return
        config = pipeline_config(params)

        def change() -> None:
            stage.reconfigure(config)
            if changed & LOCALISATION_PARAMS:
                old, self.loop = self.loop, self._make_loop(stage, params)
                if old is not None and self.loop is not None:
                    self.loop.adopt(old)
            if changed & ENGAGEMENT_PARAMS:
                self.people.apply(params)
            self.anonymised.apply(params)

        self.worker.call_soon(change)

    def _providers_in_use(self) -> dict[str, str]:
        stage, loop = self.stage, self.loop
        out = stage.providers_in_use() if stage is not None else {}
        if loop is not None:
            out.update(loop.providers_in_use())
        return out

    def diagnostic_values(self) -> dict[str, str]:
        """The model loaded and, with tracking on, what the localisation half is doing."""
        stage, loop = self.stage, self.loop
        values = {"models_loaded": stage.model_name if stage is not None else "none"}
        if stage is not None:
            values.update(provider_values(stage.config.providers, self._providers_in_use()))
        if loop is not None:
            c = loop.counters
            values.update(
                tracks=str(loop.track_count),
                scans=str(c.scans),
                scans_at_cuts=str(c.cuts),
                region_scans=str(c.region_scans),
                tile_scans=str(c.tile_scans),
                candidates_refused=f"{c.refused}/{c.candidates}",
                tracks_started=str(c.tracks_started),
            )
        values.update(self.anonymised.diagnostic_values())
        return merge_warnings(values, self.people.diagnostic_values())

    def _on_frame(self, msg: Image) -> None:
        self.node.stats.count("received")
        # Decoding waits for the worker: a frame replaced before it is taken costs nothing.
        self.worker.submit((msg, time.monotonic()))

    def _process(self, item: tuple[Image, float]) -> None:
        msg, received = item
        image = self.node.decoder.decode(msg, PIXEL_LIMIT, FRAMES_TOPIC)
        if image is None:
            self.anonymised.withheld()
            return
        h, w = image.shape[:2]
        poses = None
        stamp = frame_stamp(msg.header, received)
        try:
            if self.loop is None:
                detections = self.stage.detect(image)
                boxes = [d.box for d in detections]
                seen = [("", d.box) for d in detections]
            else:
                detections = self.loop.step(image, stamp).faces
                boxes = self.loop.mask_boxes()
                seen = sightings(detections)
        except Exception:
            self.anonymised.publish(msg.header, image, None, stamp)  # fail closed, then count it
            raise
        if self.loop is not None:
            poses = self.people.step(msg.header, stamp, (w, h), detections)
        self.outputs.publish_detections(msg.header, w, h, detections, poses)
        # After the results: the classifier waits for those, a viewer of this copy does not.
        self.anonymised.publish(msg.header, image, boxes, stamp, seen)
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
