"""The output end of a node: results, detections, debug image and optional saliency.

A node composes the publishers it needs (``ResultPublishers(node, affect=..., detections=...)``)
instead of setting class flags. Debug and saliency images are drawn only while someone
subscribes, so they cost nothing by default.

Saliency is optional and needs PyTorch: it sits behind the :class:`Explainer` interface, and the
implementation (:class:`face_affect_ros.tools.explain.SaliencyExplainer`) is imported by
:func:`load_explainer` only when `saliency_model` is set, never when this module is imported.
"""

from __future__ import annotations

import importlib
import time
from collections.abc import Callable, Iterable, Mapping
from typing import Any, Protocol

import numpy as np
from rclpy.node import Node
from rclpy.qos import QoSProfile, ReliabilityPolicy
from sensor_msgs.msg import Image
from std_msgs.msg import Header

from face_affect_msgs.msg import FaceAffectArray, FaceDetectionArray
from face_affect_ros.core.detector import Detection
from face_affect_ros.core.draw import draw_results
from face_affect_ros.core.frames import RateLimiter
from face_affect_ros.core.localise import TrackedFace
from face_affect_ros.core.results import FrameResult
from face_affect_ros.nodes.messages import detections_to_msg, frame_result_to_msg, image_to_msg

# Results are small and every one matters to a behaviour: reliable, a short history.
RESULT_QOS = QoSProfile(depth=10, reliability=ReliabilityPolicy.RELIABLE)
# Debug images are for people watching: newest only, best effort.
DEBUG_QOS = QoSProfile(depth=1, reliability=ReliabilityPolicy.BEST_EFFORT)

#: Module and class implementing Explainer with PyTorch (the `tools` extra).
EXPLAINER = ("face_affect_ros.tools.explain", "SaliencyExplainer")


class Explainer(Protocol):
    """Makes the saliency image of one face crop (gray uint8) for an emotion label."""

    def image(self, crop: np.ndarray, emotion: str) -> np.ndarray:
        """A BGR uint8 image to publish."""


def load_explainer(weights: str) -> Explainer:
    """The PyTorch explainer of `weights`; RuntimeError says how to install torch if missing."""
    module, name = EXPLAINER
    try:
        cls = getattr(importlib.import_module(module), name)
    except ImportError as exc:
        raise RuntimeError(
            f"saliency_model needs PyTorch (pip install 'face_affect_ros[tools]'): {exc}"
        ) from exc
    return cls(weights)


def listened(publisher: Any) -> bool:
    """True if `publisher` exists and has a subscriber now.

    Why: building and publishing a frame's result messages cost ~0.25 ms each of a 30 Hz
    frame's CPU (issue 20, measured in the node); face_affect_node's detections topic usually
    has no subscriber. The topics are volatile, so a subscriber that joins later would not have
    received earlier messages anyway: skipping them changes nothing anyone can observe.
    """
    return publisher is not None and publisher.get_subscription_count() > 0


class ResultPublishers:
    """Publishers of one node's outputs; `publish` sends a frame's result on all of them."""

    def __init__(
        self,
        node: Node,
        *,
        affect: bool = True,
        detections: bool = False,
        debug: bool = True,
    ) -> None:
        self._node = node
        self.affect = (
            node.create_publisher(FaceAffectArray, "face_affect", RESULT_QOS) if affect else None
        )
        self.detections = (
            node.create_publisher(FaceDetectionArray, "face_affect/detections", RESULT_QOS)
            if detections
            else None
        )
        self.debug = (
            node.create_publisher(Image, "face_affect/debug_image", DEBUG_QOS) if debug else None
        )
        self.saliency = None
        self._explainer: Explainer | None = None
        self.saliency_limiter = RateLimiter(0.0)

    def enable_saliency(self, explainer: Explainer, rate: float) -> None:
        """Publish the largest face's saliency on face_affect/saliency, at most `rate` per s."""
        self._explainer = explainer
        self.saliency_limiter = RateLimiter(rate)
        self.saliency = self._node.create_publisher(Image, "face_affect/saliency", DEBUG_QOS)

    def publish_detections(
        self,
        header: Header,
        width: int,
        height: int,
        detections: Iterable[Detection | TrackedFace],
        poses: Mapping[str, Mapping[str, Any]] | None = None,
    ) -> None:
        """FaceDetectionArray of one frame (empty arrays too), with the tracks' 3D fields.

        Built only while someone subscribes (see :func:`listened`).
        """
        if listened(self.detections):
            self.detections.publish(detections_to_msg(header, width, height, detections, poses))

    def publish(
        self,
        header: Header,
        image: np.ndarray,
        result: FrameResult,
        emotion_crop: Callable[[np.ndarray, Detection], np.ndarray] | None = None,
        poses: Mapping[str, Mapping[str, Any]] | None = None,
    ) -> None:
        """Send a frame's FaceAffectArray, detections, debug and saliency images.

        `poses`: each track's 3D fields by track id (none: not localised in 3D).
        """
        if listened(self.affect):
            self.affect.publish(frame_result_to_msg(header, result, poses))
        self.publish_detections(
            header,
            result.width,
            result.height,
            (TrackedFace.of(f) for f in result.faces),  # built only if published
            poses,
        )
        if listened(self.debug):
            self.debug.publish(image_to_msg(header, draw_results(image, result)))
        if emotion_crop is not None:
            self._publish_saliency(header, image, result, emotion_crop)

    def _publish_saliency(
        self,
        header: Header,
        image: np.ndarray,
        result: FrameResult,
        emotion_crop: Callable[[np.ndarray, Detection], np.ndarray],
    ) -> None:
        pub, explainer = self.saliency, self._explainer
        if pub is None or explainer is None or not result.faces:
            return
        if not listened(pub) or not self.saliency_limiter.allow(time.monotonic()):
            return
        face = max(result.faces, key=lambda f: f.detection.box[2] * f.detection.box[3])
        crop = emotion_crop(image, face.detection)
        pub.publish(image_to_msg(header, explainer.image(crop, face.emotion)))

    def destroy(self) -> None:
        """Destroy every publisher (on cleanup)."""
        for pub in (self.affect, self.detections, self.debug, self.saliency):
            if pub is not None:
                self._node.destroy_publisher(pub)
        self.affect = self.detections = self.debug = self.saliency = None


def configure_saliency(node: Any, publishers: ResultPublishers) -> None:
    """Enable saliency if the node's `saliency_model` is set (imports PyTorch only then)."""
    weights = node.params.get("saliency_model")
    if not weights:
        return
    publishers.enable_saliency(load_explainer(weights), node.params["saliency_rate"])
    node.get_logger().info(f"saliency of the largest face on face_affect/saliency from {weights}")
