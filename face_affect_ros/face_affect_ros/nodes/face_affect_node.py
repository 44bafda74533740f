"""face_affect_node: camera -> detector -> classifiers -> /face_affect in one process.

The lowest-latency layout: a frame is decoded once and passed between the stages as an array.
Frames are taken at the processing rate: the camera subscription is not in the executor; the
worker thread takes the newest frame itself when it is ready (nodes/frame_taker.py), so a frame
the node skips (busy, or over ``max_rate``) costs only the middleware, and is counted.

With ``tracking`` on (the default) each frame goes through the perception loop over time
(core/temporal.py: faces re-found in small windows, a 640x480 scan every ``scan_period``,
verification before a track is published, per-track emotion and gender estimates); with it off
every frame is independent (``FaceAffectPipeline.process``).
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from face_affect_ros.core.temporal import PerceptionLoop
from face_affect_ros.nodes import params as P  # noqa: N812
from face_affect_ros.nodes.base import run
from face_affect_ros.nodes.frame_taker import TakenCamera
from face_affect_ros.nodes.processing import WORKER_POLL_S, ProcessingNode

_TEMPORAL_PARAMS = frozenset(s.name for s in P.SPECS if s.stage == P.TEMPORAL)


class FaceAffectNode(ProcessingNode):
    """All three stages in one node; same parameters and topics as the split layout."""

    EXECUTABLE = "face_affect_node"
    PUBLISH_DETECTIONS = True

    def __init__(self, node_name: str | None = None, **kwargs: Any) -> None:
        self.loop: PerceptionLoop | None = None
        self.camera: TakenCamera | None = None
        super().__init__(node_name, **kwargs)

    def configure_stage(self) -> None:
        """Load all models and create the output publishers."""
        super().configure_stage()
        self.loop = PerceptionLoop(pipeline=self.pipeline, temporal=P.temporal_config(self.params))
        self.camera = TakenCamera(self)

    def activate_stage(self) -> None:
        """Create the camera subscription, then start the worker that takes from it."""
        self.camera.start()
        super().activate_stage()

    def deactivate_stage(self) -> None:
        """Wake and stop the worker, then destroy the camera subscription."""
        if self.camera is not None:
            self.camera.wake()
        super().deactivate_stage()
        if self.camera is not None:
            self.camera.stop()

    def cleanup_stage(self) -> None:
        """Drop the perception loop with the models."""
        super().cleanup_stage()
        self.loop = None
        self.camera = None

    def validate_params(self, new: Mapping[str, Any]) -> str | None:
        """Valid iff the core accepts both the pipeline and the perception-loop configuration."""
        reason = super().validate_params(new)
        if reason is not None:
            return reason
        try:
            P.temporal_config(new)
        except ValueError as exc:
            return str(exc)
        return None

    def apply_params(self, new: Mapping[str, Any], changed: set[str]) -> None:
        """Apply pipeline and loop changes (tracks and their estimates are kept) and the cap."""
        super().apply_params(new, changed)
        old = self.loop
        if old is not None and (old.pipeline is not self.pipeline or changed & _TEMPORAL_PARAMS):
            loop = PerceptionLoop(pipeline=self.pipeline, temporal=P.temporal_config(new))
            loop.adopt(old)
            self.loop = loop
        if self.camera is not None:
            self.camera.apply_params(new, changed)

    def _loop(self) -> None:
        slot, camera = self._slot, self.camera
        while slot is not None and camera is not None and not slot.closed:
            taken = camera.take(WORKER_POLL_S)
            if taken is not None:
                self.run_item((taken[0], None, taken[1]))

    def process(self, item) -> None:
        """Decode, detect, classify and publish one frame."""
        msg, _, received = item
        image = self.camera.decode(msg)
        if image is None:
            return
        stamp = msg.header.stamp.sec + msg.header.stamp.nanosec * 1e-9
        # A driver without stamps: the receipt time keeps the loop's clock moving forward.
        result = self.loop.step(image, stamp if stamp > 0 else received)
        self.publish_result(msg.header, image, result, received)


def main(args: list[str] | None = None) -> None:
    """Entry point of `ros2 run face_affect_ros face_affect_node`."""
    run(FaceAffectNode, args)


if __name__ == "__main__":
    main()
