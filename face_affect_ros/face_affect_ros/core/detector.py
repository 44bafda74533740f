"""YuNet face detection through onnxruntime, decoded like OpenCV's ``cv2.FaceDetectorYN``.

OpenCV's own wrapper cannot parse the dynamic-shape YuNet files and has no per-frame control
over the input size, so this module runs the model with onnxruntime and re-implements the
decoder: for every stride s and grid cell (row r, col c) of the padded input,

    score    = sqrt(clip(cls, 0, 1) * clip(obj, 0, 1))
    centre   = ((c, r) + bbox[0:2]) * s,     size = exp(bbox[2:4]) * s
    landmark = ((c, r) + kps[2k:2k+2]) * s  for the 5 points

followed by score thresholding and greedy non-maximum suppression.

Chosen defaults: the ``n`` variant at an input size of 256x192, score threshold 0.7, measured
with ``bench/detector_sweep.py`` on 207 composited 640x480 frames (1023 real faces: the 100
lfw patches at 9 sizes, plus the astronaut's head) and 17 frames of non-face patches, on real
backgrounds; one onnxruntime thread, 2-core AMD EPYC. Recall by face width in the 640x480 frame
(lfw patches / astronaut), detect time including resize and decoding, threshold 0.7::

    variant input    time    lfw 48  64   96+   astronaut 24  32   48+  false pos.
    n       256x192  4.0 ms  0.15  0.67 0.96+            0.47 0.94 1.00  0
    n       320x240  5.7 ms  0.51  0.90 0.95+            0.71 1.00 1.00  2
    s       256x192  3.2 ms  0.02  0.36 0.89+            0.12 0.53 0.94  0
    s       320x240  4.4 ms  0.21  0.68 0.95+            0.24 0.82 1.00  0
    n       640x480 17.8 ms  0.94  0.94 0.93+            1.00 1.00 1.00  5

``s`` is smaller but misses more at every cost; 320x240 buys faces of 20-48 px for +1.7 ms
(set ``input_size`` for far-away people). The upscaled 25x25 lfw patches are harder than real
faces (the astronaut, a sharp face with hair and shoulders, is found from 32 px), so their
small-size recall is a lower bound.
"""

from __future__ import annotations

import os
import re
from collections import OrderedDict
from collections.abc import Sequence
from dataclasses import dataclass

import cv2
import numpy as np

from face_affect_ros.core.manifest import ModelError, Providers, load_model
from face_affect_ros.core.providers import provider_in_use

#: Landmark order produced by YuNet (the subject's right eye is on the image's left).
LANDMARK_NAMES = ("right_eye", "left_eye", "nose_tip", "right_mouth_corner", "left_mouth_corner")

#: Detector input (width, height) the frame is scaled to fit: 640x480 camera frames are shrunk
#: 2.5:1. Chosen with bench/detector_sweep.py (numbers in the module docstring): it is the
#: largest size at which detection plus one face's classification stays near the 5 ms budget,
#: and it finds the real (astronaut) face from 32 px wide in the camera frame.
DEFAULT_INPUT_SIZE = (256, 192)

#: Score threshold on sqrt(cls * obj). At 0.7 the sweep has no false positive on 224 frames
#: of 12 real backgrounds plus 100 non-face patches (0.6 lets through 3, e.g. a coffee cup at
#: 0.63-0.66) for 1.8 points less lfw recall, lost on faces under 64 px. OpenCV Zoo's 0.9
#: halves recall.
DEFAULT_SCORE_THRESHOLD = 0.7

#: IoU above which the lower-scoring of two boxes is dropped (OpenCV Zoo's YuNet default).
DEFAULT_NMS_THRESHOLD = 0.3

#: Keep at most this many faces (highest scores). Bounds per-frame classifier cost.
DEFAULT_MAX_FACES = 16

#: Number of most recent frame shapes whose priors and buffers are kept.
_PLAN_CACHE_SIZE = 4

_HEAD_RE = re.compile(r"^(cls|obj|bbox|kps)_(\d+)$")
_HEAD_WIDTH = {"cls": 1, "obj": 1, "bbox": 4, "kps": 10}


@dataclass(frozen=True)
class Detection:
    """One face in original-image pixels.

    Attributes:
        box: (x, y, w, h) of the face box; may extend past the image border.
        score: detector confidence in [0, 1].
        landmarks: five (x, y) points in :data:`LANDMARK_NAMES` order.
    """

    box: tuple[float, float, float, float]
    score: float
    landmarks: tuple[tuple[float, float], ...]

    def landmarks_array(self) -> np.ndarray:
        """Landmarks as a new float32 array of shape (5, 2)."""
        return np.asarray(self.landmarks, dtype=np.float32)


def check_image(image: object) -> np.ndarray:
    """Validate a frame and return it as an ndarray.

    Accepted: uint8 HxW (mono), HxWx3 (BGR), HxWx4 (BGRA), with H, W >= 1.

    Raises:
        ValueError: saying what was received.
    """
    if not isinstance(image, np.ndarray):
        raise ValueError(f"image must be a numpy.ndarray, got {type(image).__name__}")
    if image.dtype != np.uint8:
        raise ValueError(f"image dtype must be uint8, got {image.dtype} with shape {image.shape}")
    if image.ndim == 2:
        pass
    elif image.ndim == 3 and image.shape[2] in (1, 3, 4):
        if image.shape[2] == 1:
            image = image[:, :, 0]
    else:
        raise ValueError(f"image shape must be HxW, HxWx3 or HxWx4, got {image.shape}")
    if image.shape[0] == 0 or image.shape[1] == 0:
        raise ValueError(f"image is empty, got shape {image.shape}")
    return image


def nms(boxes: np.ndarray, scores: np.ndarray, iou_threshold: float) -> np.ndarray:
    """Greedy non-maximum suppression; returns kept indices, highest score first.

    Args:
        boxes: (N, 4) float (x, y, w, h).
        scores: (N,) float.
        iou_threshold: a box overlapping a kept one by more than this is dropped.
    """
    order = np.argsort(-scores, kind="stable")
    x1 = boxes[:, 0]
    y1 = boxes[:, 1]
    x2 = x1 + boxes[:, 2]
    y2 = y1 + boxes[:, 3]
    area = boxes[:, 2] * boxes[:, 3]
    keep: list[int] = []
    while order.size:
        i = int(order[0])
        keep.append(i)
        rest = order[1:]
        iw = np.clip(np.minimum(x2[i], x2[rest]) - np.maximum(x1[i], x1[rest]), 0.0, None)
        ih = np.clip(np.minimum(y2[i], y2[rest]) - np.maximum(y1[i], y1[rest]), 0.0, None)
        inter = iw * ih
        iou = inter / np.maximum(area[i] + area[rest] - inter, 1e-9)
        order = rest[iou <= iou_threshold]
    return np.asarray(keep, dtype=np.intp)


@dataclass
class _Plan:
    """Everything that depends only on the frame shape, computed once per shape."""

    scale_x: float
    scale_y: float
    resized: tuple[int, int]  # (w, h) of the scaled frame inside the padded blob
    halvings: list[np.ndarray]  # destinations of the exact 2:1 area reductions, in order
    resize_buf: np.ndarray | None  # final resize destination; None if no resize is needed
    interpolation: int
    blob: np.ndarray  # (1, 3, H_pad, W_pad) float32, padding stays zero
    priors: dict[int, np.ndarray]  # stride -> (cells, 2) float32 (col, row)


class FaceDetector:
    """YuNet face detector. One instance per thread (the buffers are reused between calls).

    Args:
        manifest_path: the detector's JSON manifest (task ``face_detection``).
        input_size: (w, h) the frame is scaled to fit, keeping its aspect ratio; the scaled
            frame is then zero-padded at the right / bottom to a multiple of the largest stride.
        score_threshold: minimum sqrt(cls * obj) score in [0, 1].
        nms_threshold: IoU threshold for non-maximum suppression in [0, 1].
        min_face_size: drop boxes whose shorter side is below this many original pixels.
        max_faces: keep at most this many faces (highest scores first).
        intra_op_threads: onnxruntime intra-op threads.
        providers: a core.providers.ProviderRequest (fallback chain, warning) or onnxruntime
            provider names; default CPU.
        verify_sha256: check the ONNX file's hash against the manifest.
    """

    def __init__(
        self,
        manifest_path: str | os.PathLike[str],
        input_size: tuple[int, int] = DEFAULT_INPUT_SIZE,
        score_threshold: float = DEFAULT_SCORE_THRESHOLD,
        nms_threshold: float = DEFAULT_NMS_THRESHOLD,
        min_face_size: float = 0.0,
        max_faces: int = DEFAULT_MAX_FACES,
        intra_op_threads: int = 1,
        providers: Providers = None,
        verify_sha256: bool = True,
    ) -> None:
        validate_detector_params(
            input_size, score_threshold, nms_threshold, min_face_size, max_faces
        )
        self.input_size = (int(input_size[0]), int(input_size[1]))
        self.score_threshold = float(score_threshold)
        self.nms_threshold = float(nms_threshold)
        self.min_face_size = float(min_face_size)
        self.max_faces = int(max_faces)

        self.manifest, self._session = load_model(
            manifest_path, intra_op_threads, providers, verify_sha256
        )
        where = str(self.manifest.manifest_path)
        if self.manifest.task != "face_detection":
            raise ModelError(f"{where}: task is {self.manifest.task!r}, expected 'face_detection'")
        if self.manifest.input.color != "bgr" or self.manifest.input.shape[1] != 3:
            raise ModelError(f"{where}: detector input must be 3-channel 'bgr'")
        if self.manifest.input.dtype != "float32":
            raise ModelError(f"{where}: detector input must be float32")
        heads: dict[tuple[str, int], str] = {}
        for out in self.manifest.outputs:
            match = _HEAD_RE.match(out.name)
            if match is None:
                raise ModelError(
                    f"{where}: output {out.name!r} is not a YuNet head (cls|obj|bbox|kps)_<stride>"
                )
            heads[(match.group(1), int(match.group(2)))] = out.name
        self.strides = tuple(sorted({stride for _, stride in heads}))
        missing = [
            f"{kind}_{s}" for s in self.strides for kind in _HEAD_WIDTH if (kind, s) not in heads
        ]
        if missing or not self.strides:
            raise ModelError(f"{where}: missing YuNet heads {missing}")
        # Output order for session.run: for each stride, cls, obj, bbox, kps.
        self._output_names = [heads[(kind, s)] for s in self.strides for kind in _HEAD_WIDTH]
        self._input_name = self.manifest.input.name
        self._pad = max(self.strides)
        self._in_scale = self.manifest.input.scale
        self._in_offset = self.manifest.input.offset
        self._plans: OrderedDict[tuple[int, ...], _Plan] = OrderedDict()

    @property
    def session(self):
        """The onnxruntime session (e.g. for the provider it runs on: core.providers)."""
        return self._session

    def providers_in_use(self) -> dict[str, str]:
        """{model name: execution provider that runs it} (core.providers.provider_in_use)."""
        return {self.manifest.name: provider_in_use(self._session)}

    # ------------------------------------------------------------------ preprocessing
    def _plan(self, shape: tuple[int, ...], native: bool = False) -> _Plan:
        key = (*shape, native)
        plan = self._plans.get(key)
        if plan is not None:
            self._plans.move_to_end(key)
            return plan
        height, width = shape[:2]
        if native:
            rw, rh = width, height
        else:
            in_w, in_h = self.input_size
            scale = min(in_w / width, in_h / height)
            rw = min(in_w, max(1, round(width * scale)))
            rh = min(in_h, max(1, round(height * scale)))
        pw = -(-rw // self._pad) * self._pad
        ph = -(-rh // self._pad) * self._pad
        blob = np.zeros((1, 3, ph, pw), dtype=np.float32)
        # Shrinking: halve with area averaging (OpenCV's fast integer path, an exact 2x2 box
        # filter) while the frame is at least twice the target, then one bilinear step of less
        # than 2:1. A single INTER_AREA resize to a non-integer ratio (640x480 -> 256x192) costs
        # 1.2 ms on the robot-class CPU versus 0.26 ms for this, with the same anti-aliasing
        # purpose: a plain bilinear shrink by more than 2:1 skips pixels and blurs small faces
        # into noise.
        halvings = []
        cw, ch = width, height
        channels = tuple(shape[2:])
        while cw >= 2 * rw and ch >= 2 * rh:
            cw, ch = cw // 2, ch // 2
            halvings.append(np.empty((ch, cw, *channels), dtype=np.uint8))
        resize_buf = None
        if (cw, ch) != (rw, rh):
            resize_buf = np.empty((rh, rw, *channels), dtype=np.uint8)
        interpolation = cv2.INTER_LINEAR
        priors = {}
        for stride in self.strides:
            rows, cols = ph // stride, pw // stride
            col, row = np.meshgrid(
                np.arange(cols, dtype=np.float32), np.arange(rows, dtype=np.float32)
            )
            priors[stride] = np.stack([col.ravel(), row.ravel()], axis=1)
        plan = _Plan(
            scale_x=rw / width,
            scale_y=rh / height,
            resized=(rw, rh),
            halvings=halvings,
            resize_buf=resize_buf,
            interpolation=interpolation,
            blob=blob,
            priors=priors,
        )
        self._plans[key] = plan
        if len(self._plans) > _PLAN_CACHE_SIZE:
            self._plans.popitem(last=False)
        return plan

    def _preprocess(self, image: np.ndarray, native: bool = False) -> _Plan:
        plan = self._plan(image.shape, native)
        rw, rh = plan.resized
        src = image
        for half in plan.halvings:
            src = cv2.resize(
                src, (half.shape[1], half.shape[0]), dst=half, interpolation=cv2.INTER_AREA
            )
        if plan.resize_buf is not None:
            src = cv2.resize(src, (rw, rh), dst=plan.resize_buf, interpolation=plan.interpolation)
        # One plane at a time: faster than one strided HWC -> CHW copy. Mono fills all three
        # planes with the same values; BGRA drops alpha.
        for c in range(3):
            plane = plan.blob[0, c, :rh, :rw]
            np.copyto(plane, src if src.ndim == 2 else src[:, :, c], casting="unsafe")
            if self._in_scale != 1.0:
                plane *= self._in_scale
            if self._in_offset != 0.0:
                plane += self._in_offset
        return plan

    # ------------------------------------------------------------------ inference
    def detect(
        self, image: np.ndarray, native: bool = False, score_threshold: float | None = None
    ) -> list[Detection]:
        """Detect faces in a uint8 BGR (HxWx3), mono (HxW) or BGRA (HxWx4) frame.

        `native` runs the model on the image at its own resolution (only padded to the largest
        stride), whatever ``input_size``: the perception loop's scan tiles of an HD frame.
        `score_threshold` replaces the detector's own for this call.

        Returns:
            Detections in original-image pixels, highest score first; empty if none.

        Raises:
            ValueError: the image has the wrong type, dtype or shape, or is empty.
        """
        image = check_image(image)
        plan = self._preprocess(image, native)
        outputs = self._session.run(self._output_names, {self._input_name: plan.blob})
        return self._postprocess(outputs, plan, score_threshold)

    def _postprocess(
        self, outputs: list[np.ndarray], plan: _Plan, threshold: float | None = None
    ) -> list[Detection]:
        threshold = self.score_threshold if threshold is None else float(threshold)
        # cls * obj >= threshold^2; with a threshold of 0 every cell passes (sqrt >= 0).
        min_product = threshold**2 if threshold > 0 else -np.inf
        boxes_l: list[np.ndarray] = []
        scores_l: list[np.ndarray] = []
        kps_l: list[np.ndarray] = []
        for i, stride in enumerate(self.strides):
            cls, obj, bbox, kps = (o[0] for o in outputs[4 * i : 4 * i + 4])
            priors = plan.priors[stride]
            if cls.shape[0] != priors.shape[0]:
                raise RuntimeError(
                    f"stride {stride}: model returned {cls.shape[0]} cells for "
                    f"a {plan.blob.shape[3]}x{plan.blob.shape[2]} input, "
                    f"expected {priors.shape[0]}"
                )
            # Cheap pre-filter on the raw product: for a threshold t > 0, clipping can only
            # lower a product, so every cell OpenCV's rule keeps passes it; the exact clipped
            # score is then computed on the few candidates only.
            keep = np.flatnonzero(cls[:, 0] * obj[:, 0] >= min_product)
            if keep.size == 0:
                continue
            score = np.sqrt(np.clip(cls[keep, 0], 0.0, 1.0) * np.clip(obj[keep, 0], 0.0, 1.0))
            exact = score >= threshold
            if not exact.all():
                keep, score = keep[exact], score[exact]
                if keep.size == 0:
                    continue
            cell = priors[keep]
            box = bbox[keep]
            size = np.exp(box[:, 2:4]) * stride
            centre = (cell + box[:, 0:2]) * stride
            boxes_l.append(np.concatenate([centre - size / 2.0, size], axis=1))
            scores_l.append(score)
            kps_l.append((kps[keep].reshape(-1, 5, 2) + cell[:, None, :]) * stride)
        if not boxes_l:
            return []
        boxes = np.concatenate(boxes_l).astype(np.float64)
        scores = np.concatenate(scores_l).astype(np.float64)
        landmarks = np.concatenate(kps_l).astype(np.float64)

        # Back to original pixels before the size filter, which is defined in those pixels.
        inv = np.array([1.0 / plan.scale_x, 1.0 / plan.scale_y])
        boxes[:, 0:2] *= inv
        boxes[:, 2:4] *= inv
        landmarks *= inv
        if self.min_face_size > 0.0:
            big = np.minimum(boxes[:, 2], boxes[:, 3]) >= self.min_face_size
            boxes, scores, landmarks = boxes[big], scores[big], landmarks[big]
            if not scores.size:
                return []
        if scores.size == 1:
            keep = np.zeros(1, dtype=np.intp)
        else:
            keep = nms(boxes, scores, self.nms_threshold)[: self.max_faces]
        return [
            Detection(
                box=(
                    float(boxes[k, 0]),
                    float(boxes[k, 1]),
                    float(boxes[k, 2]),
                    float(boxes[k, 3]),
                ),
                score=float(scores[k]),
                landmarks=tuple((float(x), float(y)) for x, y in landmarks[k]),
            )
            for k in keep
        ]


def validate_detector_params(
    input_size: Sequence[int],
    score_threshold: float,
    nms_threshold: float,
    min_face_size: float,
    max_faces: int,
) -> None:
    """Raise ValueError with a reason if a detector parameter is out of range.

    Shared with :class:`face_affect_ros.core.pipeline.PipelineConfig` so runtime parameter
    changes are checked by the same rules as the constructor.
    """
    if (
        not isinstance(input_size, (tuple, list))
        or len(input_size) != 2
        or not all(isinstance(v, int) and not isinstance(v, bool) for v in input_size)
    ):
        raise ValueError(f"input_size must be (width, height) ints, got {input_size!r}")
    if min(input_size) < 32:
        raise ValueError(
            f"input_size must be at least 32x32 (the largest stride), got {tuple(input_size)}"
        )
    if not 0.0 <= score_threshold <= 1.0:
        raise ValueError(f"score_threshold must be in [0, 1], got {score_threshold!r}")
    if not 0.0 <= nms_threshold <= 1.0:
        raise ValueError(f"nms_threshold must be in [0, 1], got {nms_threshold!r}")
    if not min_face_size >= 0.0:
        raise ValueError(f"min_face_size must be >= 0 pixels, got {min_face_size!r}")
    if isinstance(max_faces, bool) or not isinstance(max_faces, int) or max_faces < 1:
        raise ValueError(f"max_faces must be an int >= 1, got {max_faces!r}")
