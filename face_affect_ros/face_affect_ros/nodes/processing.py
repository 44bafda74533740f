"""Base of the nodes that run models: a worker thread fed by a newest-frame-wins slot.

Why a worker thread: onnxruntime releases the GIL while it computes, so the executor thread
keeps taking camera frames (and parameter and lifecycle requests) while a frame is processed,
and the worker always starts on the newest frame. Frames replaced before the worker took them
are counted as `dropped_stale`.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Mapping
from typing import Any

import cv2
import numpy as np
from rclpy.qos import QoSProfile, ReliabilityPolicy
from sensor_msgs.msg import Image
from std_msgs.msg import Header

from face_affect_msgs.msg import FaceAffectArray, FaceDetectionArray
from face_affect_ros.core.draw import draw_results
from face_affect_ros.core.frames import LatestFrame, RateLimiter
from face_affect_ros.core.pipeline import FaceAffectPipeline, FrameResult
from face_affect_ros.nodes import params as P  # noqa: N812
from face_affect_ros.nodes.base import StageNode
from face_affect_ros.nodes.convert import detections_to_msg, frame_result_to_msg, image_to_msg

# Results are small and every one matters to a behaviour: reliable, a short history.
RESULT_QOS = QoSProfile(depth=10, reliability=ReliabilityPolicy.RELIABLE)
# Debug images are for people watching: newest only, best effort.
DEBUG_QOS = QoSProfile(depth=1, reliability=ReliabilityPolicy.BEST_EFFORT)


class Saliency:
    """Guided back-propagation of the emotion model, for the optional face_affect/saliency topic.

    PyTorch is imported here and only here, when the user sets `saliency_model`: the default
    node never loads it. A missing torch or a bad weights file fails configure with the reason.
    """

    def __init__(self, weights: str, rate: float) -> None:
        try:
            from face_affect_ros.tools import explain, models
        except ImportError as exc:
            raise RuntimeError(
                f"saliency_model needs PyTorch (pip install 'face_affect_ros[tools]'): {exc}"
            ) from exc
        self._explain = explain
        self._loaded = models.load_classifier(weights)
        if self._loaded.task != "emotion":
            raise ValueError(
                f"saliency_model {weights} is a {self._loaded.task} model, not an emotion model"
            )
        self.limiter = RateLimiter(rate)

    def image(self, crop: np.ndarray, emotion: str) -> np.ndarray:
        """BGR image: the face crop (left) beside its saliency for `emotion` (right), 64 px."""
        labels = self._loaded.labels
        model = self._loaded.model
        if emotion in labels:
            target = labels.index(emotion)
        else:  # a grouped label set: explain the 7-class model's own top class
            import torch

            with torch.no_grad():
                logits = model(self._explain.crop_to_input(crop, self._loaded.input_size))
            target = int(logits.argmax())
        size = self._loaded.input_size
        face = cv2.resize(crop, (size, size), interpolation=cv2.INTER_AREA)
        sal = self._explain.saliency_to_uint8(
            self._explain.saliency_for_crop(model, crop, target, size)
        )
        return cv2.cvtColor(np.hstack([face, sal]), cv2.COLOR_GRAY2BGR)


# How long the worker waits for a frame before checking whether it should stop.
WORKER_POLL_S = 0.2


class ProcessingNode(StageNode):
    """A StageNode with a FaceAffectPipeline and a worker thread; subclasses define process()."""

    PUBLISH_AFFECT = True
    PUBLISH_DETECTIONS = False

    def __init__(self, node_name: str | None = None, **kwargs: Any) -> None:
        self.pipeline: FaceAffectPipeline | None = None
        self._slot: LatestFrame | None = None
        self._worker: threading.Thread | None = None
        self._affect_pub = self._det_pub = self._debug_pub = self._saliency_pub = None
        self._saliency: Saliency | None = None
        super().__init__(node_name, **kwargs)

    # ---- lifecycle ------------------------------------------------------------------------
    def configure_stage(self) -> None:
        """Load and verify the models (a bad path or file fails configure), create publishers."""
        self.pipeline = FaceAffectPipeline(P.pipeline_config(self.params))
        names = self.pipeline.model_names
        self.get_logger().info(
            f"models loaded: detector={names[0]} emotion={names[1]} gender={names[2]}"
        )
        if self.PUBLISH_AFFECT:
            self._affect_pub = self.create_publisher(FaceAffectArray, "face_affect", RESULT_QOS)
            self._debug_pub = self.create_publisher(Image, "face_affect/debug_image", DEBUG_QOS)
        if self.PUBLISH_DETECTIONS:
            self._det_pub = self.create_publisher(
                FaceDetectionArray, "face_affect/detections", RESULT_QOS
            )
        if self.PUBLISH_AFFECT and self.params.get("saliency_model"):
            self._saliency = Saliency(self.params["saliency_model"], self.params["saliency_rate"])
            self._saliency_pub = self.create_publisher(Image, "face_affect/saliency", DEBUG_QOS)
            self.get_logger().info(
                f"saliency of the largest face on face_affect/saliency from "
                f"{self.params['saliency_model']}"
            )

    def activate_stage(self) -> None:
        """Start the worker thread."""
        self._slot = LatestFrame()
        self._worker = threading.Thread(
            target=self._loop, name=f"{self.get_name()}_worker", daemon=True
        )
        self._worker.start()

    def deactivate_stage(self) -> None:
        """Stop the worker thread after the frame it is on."""
        if self._slot is not None:
            self._slot.close()
        if self._worker is not None:
            self._worker.join()
        self._slot = self._worker = None

    def cleanup_stage(self) -> None:
        """Drop the models and the publishers."""
        for pub in (self._affect_pub, self._det_pub, self._debug_pub, self._saliency_pub):
            if pub is not None:
                self.destroy_publisher(pub)
        self._affect_pub = self._det_pub = self._debug_pub = self._saliency_pub = None
        self.pipeline = None
        self._saliency = None

    # ---- parameters -----------------------------------------------------------------------
    def validate_params(self, new: Mapping[str, Any]) -> str | None:
        """A change is valid iff the core accepts the resulting configuration."""
        try:
            P.pipeline_config(new)
        except ValueError as exc:
            return str(exc)
        return None

    def apply_params(self, new: Mapping[str, Any], changed: set[str]) -> None:
        """Swap in a pipeline built with the new values; the next frame uses it.

        Building one takes a few tens of milliseconds (three onnxruntime sessions); swapping the
        reference is atomic, so the frame in flight finishes with the old configuration.
        """
        if self._saliency is not None and "saliency_rate" in changed:
            self._saliency.limiter.max_rate = new["saliency_rate"]
        if self.pipeline is not None and changed - {"max_rate", "latency_warn_ms", "saliency_rate"}:
            pipeline = FaceAffectPipeline(P.pipeline_config(new))
            pipeline.adopt_tracks(self.pipeline)
            self.pipeline = pipeline

    # ---- processing -----------------------------------------------------------------------
    def submit(self, msg: Any, image: np.ndarray | None, received: float) -> None:
        """Hand a frame to the worker, replacing (and counting) one it has not taken yet."""
        slot = self._slot
        if slot is None:
            return
        if slot.put((msg, image, received)):
            self.count("dropped_stale")

    def process(self, item: Any) -> None:
        """Process one submitted item (implemented by each node)."""
        raise NotImplementedError

    def _loop(self) -> None:
        slot = self._slot
        while slot is not None and not slot.closed:
            item = slot.take(WORKER_POLL_S)
            if item is None:
                continue
            self.run_item(item)

    def run_item(self, item: Any) -> None:
        """Process one item; errors are counted and logged (throttled), never raised."""
        try:
            self.process(item)
        except ValueError as exc:
            self.count("error_processing")
            self.get_logger().warning(f"frame dropped: {exc}", throttle_duration_sec=1.0)
        except Exception as exc:
            self.count("error_processing")
            self.get_logger().error(
                f"frame dropped by an unexpected error: {exc!r}", throttle_duration_sec=1.0
            )

    def publish_result(
        self, header: Header, image: np.ndarray, result: FrameResult, received: float
    ) -> None:
        """Publish a frame's FaceAffectArray (and detections, debug image) and account for it."""
        if self._affect_pub is not None:
            self._affect_pub.publish(frame_result_to_msg(header, result))
        if self._det_pub is not None:
            self._det_pub.publish(
                detections_to_msg(
                    header, result.width, result.height, [f.detection for f in result.faces]
                )
            )
        self.publish_debug(header, image, result)
        self.publish_saliency(header, image, result)
        self.count("processed")
        self.count("faces", len(result.faces))
        self.record_latency(time.monotonic() - received)

    def publish_debug(self, header: Header, image: np.ndarray, result: FrameResult) -> None:
        """Draw and publish the debug image, only while someone subscribes to it."""
        pub = self._debug_pub
        if pub is not None and pub.get_subscription_count() > 0:
            pub.publish(image_to_msg(header, draw_results(image, result)))

    def publish_saliency(self, header: Header, image: np.ndarray, result: FrameResult) -> None:
        """Saliency of the largest face, at most saliency_rate per second, while subscribed."""
        pub, saliency = self._saliency_pub, self._saliency
        if pub is None or saliency is None or not result.faces:
            return
        if pub.get_subscription_count() == 0 or not saliency.limiter.allow(time.monotonic()):
            return
        face = max(result.faces, key=lambda f: f.detection.box[2] * f.detection.box[3])
        crop = self.pipeline.emotion_crop(image, face.detection)
        msg = image_to_msg(header, saliency.image(crop, face.emotion))
        pub.publish(msg)

    def diagnostic_values(self) -> dict[str, str]:
        """Models loaded and the detector input size."""
        if self.pipeline is None:
            return {"models_loaded": "none"}
        det, emo, gen = self.pipeline.model_names
        return {
            "models_loaded": f"{det}, {emo}, {gen}",
            "label_set": self.pipeline.config.emotion_label_set,
        }
