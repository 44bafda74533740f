"""An anonymised copy of the camera stream for a remote operator or a dashboard, fail closed.

Why in the node that localises faces (face_affect_node, or detector_node in the split layout):
it has the frame and the current tracks, so masking costs only the masks and the encoding, not
another detector. With ``anonymise`` on it publishes ``face_affect/anonymised`` (sensor_msgs/
Image, bgr8 or mono8 like the input) and ``face_affect/anonymised/compressed`` (JPEG), each
computed only while someone subscribes to it.

What is masked (:mod:`face_affect_ros.core.anonymise`): every live track, at its box in this
frame or, when it was missed in this frame, at its predicted box, grown by the mask margin.
Fail closed: before the loop has scanned a frame (no tracks can be trusted yet), and for a frame
whose processing failed, the whole frame is masked (``anonymised_full`` counter); a frame that
could not even be decoded is not published (``anonymised_withheld``). A face no detector finds
is not masked: see the README's privacy section for what this can and cannot promise.

With ``anonymise_delay`` > 0 the stream is held back that long (:class:`~face_affect_ros.core.
anonymise.LookBack`): a face is then masked also in the frames before the loop first found it,
as the bag tool pads; frames still held when the node stops are never published.
"""

from __future__ import annotations

import math
import time
from collections.abc import Mapping, Sequence
from typing import Any

import cv2
import numpy as np
from rclpy.qos import qos_profile_sensor_data
from sensor_msgs.msg import CompressedImage, Image
from std_msgs.msg import Header

from face_affect_ros.core.anonymise import Box, LookBack, mask_all, mask_faces
from face_affect_ros.nodes.messages import image_to_msg
from face_affect_ros.nodes.publishers import listened

#: Topics (relative: they follow the node's namespace).
RAW_TOPIC = "face_affect/anonymised"
COMPRESSED_TOPIC = "face_affect/anonymised/compressed"


class AnonymisedOutput:
    """Publishers of the anonymised stream; :meth:`publish` runs on the worker."""

    def __init__(self, node: Any) -> None:
        self.node = node
        self._raw = None
        self._jpeg = None
        self._settings: dict[str, Any] = {}
        self._ms: list[float] = []
        self._lookback: LookBack | None = None

    @property
    def enabled(self) -> bool:
        """True when ``anonymise`` is on (the publishers exist)."""
        return self._raw is not None

    def configure(self, params: Mapping[str, Any]) -> None:
        """Create the publishers (sensor-data QoS, like a camera) when ``anonymise`` is on."""
        self.apply(params)
        if not params["anonymise"]:
            return
        delay = float(params["anonymise_delay"])
        # Held frames are bounded (a camera whose stamps stop advancing): up to 120 Hz x delay.
        self._lookback = LookBack(delay, max_held=math.ceil(120 * delay)) if delay > 0 else None
        self._raw = self.node.create_publisher(Image, RAW_TOPIC, qos_profile_sensor_data)
        self._jpeg = self.node.create_publisher(
            CompressedImage, COMPRESSED_TOPIC, qos_profile_sensor_data
        )

    def apply(self, params: Mapping[str, Any]) -> None:
        """Mask mode, shape, margin and JPEG quality (validated by the parameter table)."""
        self._settings = {
            "mode": params["anonymise_mode"],
            "shape": params["anonymise_shape"],
            "margin": float(params["anonymise_margin"]),
            "quality": int(params["anonymise_jpeg_quality"]),
        }

    def cleanup(self) -> None:
        """Destroy the publishers; frames still held back are dropped (counted), not published."""
        self.drop_held()
        self._lookback = None
        for pub in (self._raw, self._jpeg):
            if pub is not None:
                self.node.destroy_publisher(pub)
        self._raw = self._jpeg = None

    def wanted(self) -> bool:
        """True if someone subscribes to either topic (else nothing is computed)."""
        return listened(self._raw) or listened(self._jpeg)

    def drop_held(self) -> None:
        """Drop the frames held back (deactivate, nobody listening): counted, never published."""
        if self._lookback is not None and self._lookback.held:
            self.node.stats.count("anonymised_withheld", len(self._lookback.drain()))

    def publish(
        self,
        header: Header,
        image: np.ndarray,
        boxes: Sequence[Sequence[float]] | None,
        stamp: float,
        sightings: Sequence[tuple[str, Box]] = (),
    ) -> None:
        """Publish `image` with `boxes` masked; `boxes` None: mask the whole frame (fail closed).

        With ``anonymise_delay`` the frame is held back and the frames now due are published
        instead (`stamp`: the frame's time in s, the loop's clock (``frame_stamp``); `sightings`:
        the (track id, box) of the faces found in it). Never raises and never publishes an
        unmasked frame: if masking fails, the frame is replaced by a solid one of its size.
        """
        if not self.enabled:
            return
        if not self.wanted():
            self.drop_held()
            return
        lookback = self._lookback
        if lookback is None:
            self._emit(header, image, boxes)
            return
        # A copy: the frame may be a view of the message's buffer, which is not held.
        for (held_header, held_image), held_boxes in lookback.push(
            stamp, (header, image.copy()), boxes, sightings
        ):
            self._emit(held_header, held_image, held_boxes)

    def _emit(
        self, header: Header, image: np.ndarray, boxes: Sequence[Sequence[float]] | None
    ) -> None:
        t0 = time.perf_counter()
        s = self._settings
        stats = self.node.stats
        try:
            if boxes is None:
                stats.count("anonymised_full")
                out = mask_all(image, s["mode"])
            else:
                out = mask_faces(image, boxes, s["mode"], s["shape"], s["margin"])
        except Exception as exc:
            stats.count("anonymised_full")
            self.node.get_logger().error(
                f"anonymising failed ({exc}); frame published fully masked",
                throttle_duration_sec=10.0,
            )
            out = np.zeros_like(image)
        if listened(self._raw):
            self._raw.publish(image_to_msg(header, out))
        if listened(self._jpeg):
            ok, data = cv2.imencode(".jpg", out, [cv2.IMWRITE_JPEG_QUALITY, s["quality"]])
            if ok:
                msg = CompressedImage(header=header, format="bgr8; jpeg compressed bgr8")
                msg.data = data.tobytes()
                self._jpeg.publish(msg)
            else:
                stats.count("anonymised_withheld")
        stats.count("anonymised")
        self._ms.append((time.perf_counter() - t0) * 1e3)
        del self._ms[:-100]

    def withheld(self) -> None:
        """A frame that could not be decoded: nothing to mask, so nothing is published."""
        if self.enabled and self.wanted():
            self.node.stats.count("anonymised_withheld")

    def diagnostic_values(self) -> dict[str, str]:
        """Whether it is on, and the median cost of the last 100 anonymised frames."""
        if not self.enabled:
            return {"anonymise": "off"}
        ms = sorted(self._ms)
        lookback = self._lookback
        return {
            "anonymise": f"{self._settings['mode']} {self._settings['shape']}",
            "anonymise_ms_median": f"{ms[len(ms) // 2]:.2f}" if ms else "-",
            "anonymise_delay_s": f"{lookback.delay_s:g}" if lookback else "0",
            "anonymise_held": str(lookback.held if lookback else 0),
            "anonymise_released_early": str(lookback.released_early if lookback else 0),
        }
