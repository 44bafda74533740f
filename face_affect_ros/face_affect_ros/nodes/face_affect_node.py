"""face_affect_node: camera -> detector -> classifiers -> /face_affect in one process.

The lowest-latency layout: a frame is decoded once and passed between the stages as an array.
Frames are taken at the processing rate: the camera subscription is not in the executor; the
worker thread takes the newest frame itself when it is ready (nodes/frame_taker.py), so a frame
the node skips (busy, or over ``max_rate``) costs only the middleware, and is counted.
Parts: TakenCamera -> Worker (owns the FaceAffectPipeline and the PerceptionLoop) ->
ResultPublishers.

With ``tracking`` on (the default) each frame goes through the perception loop over time
(core/temporal.py: faces re-found in small windows, a 640x480 scan every ``scan_period``,
verification before a track is published, per-track emotion and gender estimates); with it off
every frame is independent (``FaceAffectPipeline.process``, verified).
"""

from __future__ import annotations

import time
from collections.abc import Mapping
from typing import Any

from face_affect_ros.core.anonymise import sightings
from face_affect_ros.core.config import DETECTOR
from face_affect_ros.core.localise import TrackedFace
from face_affect_ros.core.pipeline import FaceAffectPipeline
from face_affect_ros.core.providers import summarize
from face_affect_ros.core.temporal import PerceptionLoop
from face_affect_ros.nodes.anonymised_output import AnonymisedOutput
from face_affect_ros.nodes.diagnostics import merge_warnings, provider_values
from face_affect_ros.nodes.frame_taker import TakenCamera
from face_affect_ros.nodes.lifecycle import ManagedNode, config_error, run
from face_affect_ros.nodes.messages import frame_stamp
from face_affect_ros.nodes.people_output import ENGAGEMENT_PARAMS, PeopleOutput, people_config
from face_affect_ros.nodes.publishers import ResultPublishers, configure_saliency
from face_affect_ros.nodes.worker import Worker
from face_affect_ros.schema.params import (
    LOCALISATION_PARAMS,
    LOOP_PARAMS,
    pipeline_config,
    temporal_config,
)

EXECUTABLE = "face_affect_node"


class FaceAffectRole:
    """All three stages in one node; same parameters and topics as the split layout."""

    def __init__(self, node: ManagedNode) -> None:
        self.node = node
        self.pipeline: FaceAffectPipeline | None = None  # used by the worker only
        self.loop: PerceptionLoop | None = None  # likewise
        self.outputs: ResultPublishers | None = None
        self.camera = TakenCamera(node)
        self.people = PeopleOutput(node)
        self.anonymised = AnonymisedOutput(node)
        self.worker = Worker(
            f"{node.get_name()}_worker",
            self._process,
            node.stats,
            node.get_logger(),
            source=self.camera.take,
            wake=self.camera.wake,
        )

    def configure(self) -> None:
        """Load and verify all three models, create the publishers (and saliency if set)."""
        self.pipeline = FaceAffectPipeline(pipeline_config(self.node.params))
        self.loop = PerceptionLoop(
            pipeline=self.pipeline, temporal=temporal_config(self.node.params)
        )
        self.loop.warm_up()
        self.people.configure(self.node.params)
        self.anonymised.configure(self.node.params)
        det, emo, gen = self.pipeline.model_names
        self.node.get_logger().info(
            f"models loaded: detector={det} emotion={emo} gender={gen}; execution provider: "
            + summarize(self._providers_in_use())
        )
        self.outputs = ResultPublishers(self.node, affect=True, detections=True, debug=True)
        configure_saliency(self.node, self.outputs)

    def activate(self) -> None:
        """Create the camera (and camera_info) subscriptions, then start the worker."""
        self.people.activate()
        self.camera.start()
        self.worker.start()

    def deactivate(self) -> None:
        """Wake and stop the worker, then destroy the camera subscription."""
        self.worker.stop()
        self.camera.stop()
        self.people.deactivate()
        self.anonymised.drop_held()

    def cleanup(self) -> None:
        """Drop the models and the publishers."""
        if self.outputs is not None:
            self.outputs.destroy()
        self.outputs = None
        self.pipeline = None
        self.loop = None
        self.people.cleanup()
        self.anonymised.cleanup()

    def validate(self, params: Mapping[str, Any]) -> str | None:
        """A change is valid iff the core accepts the pipeline and the loop configuration."""
        return config_error(params, temporal_config, people_config)

    def apply(self, params: Mapping[str, Any], changed: frozenset[str]) -> None:
        """Rate cap here; pipeline and saliency rate on the worker, before its next frame."""
        self.camera.apply(params, changed)
        pipeline, outputs = self.pipeline, self.outputs
        if pipeline is None or outputs is None:
            return  # not configured: configure reads the new values
        config = pipeline_config(params)
        temporal = temporal_config(params)
        rate = params["saliency_rate"]

        def change() -> None:
            rebuilt = pipeline.reconfigure(config)  # in place; new sessions for read-only fields
            old = self.loop
            if old is not None and (
                DETECTOR in rebuilt or changed & (LOCALISATION_PARAMS | LOOP_PARAMS)
            ):
                # The loop's scan and window detectors follow the detector; tracks continue.
                loop = PerceptionLoop(pipeline=pipeline, temporal=temporal)
                loop.adopt(old)
                self.loop = loop
            outputs.saliency_limiter.max_rate = rate
            if changed & ENGAGEMENT_PARAMS:
                self.people.apply(params)
            self.anonymised.apply(params)

        self.worker.call_soon(change)

    def _providers_in_use(self) -> dict[str, str]:
        pipeline, loop = self.pipeline, self.loop
        out = pipeline.providers_in_use() if pipeline is not None else {}
        if loop is not None and loop.localisation is not None:
            out.update(loop.localisation.providers_in_use())
        return out

    def diagnostic_values(self) -> dict[str, str]:
        """Models loaded, the label set and the execution providers in use."""
        pipeline = self.pipeline
        if pipeline is None:
            return {"models_loaded": "none"}
        values = {
            "models_loaded": ", ".join(pipeline.model_names),
            "label_set": self.node.params["label_set"],
        }
        values.update(provider_values(pipeline.config.providers, self._providers_in_use()))
        loop = self.loop
        if loop is not None and loop.localisation is not None:
            # What the loop's look schedule costs, and the follow confidence in force (0 while
            # the anonymised stream is on, whatever the parameter says).
            values["track_follow_confidence"] = f"{loop.temporal.track_follow_confidence:g}"
            values["detector_looks"] = str(loop.counters.window_looks)
            values["template_follows"] = str(loop.counters.follows)
        values.update(self.anonymised.diagnostic_values())
        return merge_warnings(values, self.people.diagnostic_values())

    def _process(self, item: tuple[Any, float]) -> None:
        msg, received = item
        image = self.camera.decode(msg)
        if image is None:
            self.anonymised.withheld()
            return
        stamp = frame_stamp(msg.header, received)
        try:
            result = self.loop.step(image, stamp)
        except Exception:
            self.anonymised.publish(msg.header, image, None, stamp)  # fail closed, then count it
            raise
        poses = self.people.step(
            msg.header,
            stamp,
            (result.width, result.height),
            [TrackedFace.of(f) for f in result.faces],
        )
        self.outputs.publish(msg.header, image, result, self.pipeline.emotion_crop, poses)
        # After the results: behaviours wait for those, a viewer of this copy does not.
        local = self.loop.localisation
        self.anonymised.publish(
            msg.header,
            image,
            local.mask_boxes() if local is not None else [f.detection.box for f in result.faces],
            stamp,
            sightings(result.faces),
        )
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
