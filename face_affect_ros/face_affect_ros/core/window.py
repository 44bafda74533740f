"""Face detection in a small window of a frame, at the resolution the face needs.

Why: a face that is already known (a track) does not need the whole frame searched again. YuNet's
ONNX file has dynamic spatial dimensions, so it runs just as well on a 128x128 window as on a
640x480 frame; the window is cut around the face's expected position and scaled so that the face
is about ``face_px`` pixels wide in the model input, whatever its size in the frame. A 20 px face
far away is upscaled, a 200 px face close by is shrunk, and both cost the same small input. The
same operation, with another model and a stricter threshold, is the face / not-face verification
of :mod:`face_affect_ros.core.verify`.
"""

from __future__ import annotations

import math
import os
from collections.abc import Sequence

import cv2
import numpy as np

from face_affect_ros.core.detector import DEFAULT_NMS_THRESHOLD, Detection, FaceDetector
from face_affect_ros.core.manifest import Providers


def _stride_multiple(value: float, stride: int = 32) -> int:
    return max(stride, math.ceil(value / stride) * stride)


class WindowDetector:
    """YuNet run on a square window of the frame around an expected face.

    Args:
        manifest_path: detector manifest (task ``face_detection``).
        face_px: width the face is scaled to in the model input (YuNet is most reliable for
            faces of about 40-120 px).
        window_scale: window side as a multiple of the expected face width: room for the face
            to move between two looks (a scale of 2.5 allows 0.75 face widths each way).
        score_threshold: minimum YuNet score of a face found in the window.
        intra_op_threads, providers, verify_sha256: as for :class:`FaceDetector`.
    """

    def __init__(
        self,
        manifest_path: str | os.PathLike[str],
        face_px: float = 48.0,
        window_scale: float = 2.5,
        score_threshold: float = 0.5,
        intra_op_threads: int = 1,
        providers: Providers = None,
        verify_sha256: bool = True,
    ) -> None:
        if not 16.0 <= face_px <= 256.0:
            raise ValueError(f"face_px must be in [16, 256], got {face_px!r}")
        if not 1.5 <= window_scale <= 6.0:
            raise ValueError(f"window_scale must be in [1.5, 6], got {window_scale!r}")
        self.face_px = float(face_px)
        self.window_scale = float(window_scale)
        self.side = _stride_multiple(self.face_px * self.window_scale)
        self.detector = FaceDetector(
            manifest_path,
            input_size=(self.side, self.side),
            score_threshold=score_threshold,
            nms_threshold=DEFAULT_NMS_THRESHOLD,
            max_faces=4,
            intra_op_threads=intra_op_threads,
            providers=providers,
            verify_sha256=verify_sha256,
        )
        self._buffer = np.zeros((self.side, self.side, 3), dtype=np.uint8)
        # find_many's input batch (float32, N x 3 x side x side), grown on demand.
        self._batch = np.zeros((0, 3, self.side, self.side), dtype=np.float32)

    def providers_in_use(self) -> dict[str, str]:
        """{model name: execution provider that runs it}."""
        return self.detector.providers_in_use()

    @property
    def score_threshold(self) -> float:
        """Minimum score of a face found in the window."""
        return self.detector.score_threshold

    def window(
        self,
        image: np.ndarray,
        centre: tuple[float, float],
        face_width: float,
        widen: float = 1.0,
    ) -> tuple[np.ndarray, float, float, float]:
        """Cut and scale the window; return (model input, scale, x0, y0) of the mapping.

        A frame point (x, y) lands at ((x - x0) * scale, (y - y0) * scale) in the input. Parts
        of the window outside the frame are black (what YuNet's own padding is). `widen` > 1
        covers that many times the window's side at the same input size (the face smaller in it).
        """
        scale = self.face_px / max(float(face_width), 1.0) / max(1.0, float(widen))
        half = self.side / scale / 2.0
        x0, y0 = centre[0] - half, centre[1] - half
        height, width = image.shape[:2]
        cx0, cy0 = max(0, math.floor(x0)), max(0, math.floor(y0))
        cx1 = min(width, math.ceil(x0 + 2 * half))
        cy1 = min(height, math.ceil(y0 + 2 * half))
        buf = self._buffer
        buf[:] = 0
        if cx1 - cx0 < 2 or cy1 - cy0 < 2:
            return buf, scale, x0, y0
        # Destination of the visible part, in input pixels (clipped to the buffer).
        dx0 = min(self.side - 1, max(0, round((cx0 - x0) * scale)))
        dy0 = min(self.side - 1, max(0, round((cy0 - y0) * scale)))
        dx1 = min(self.side, max(dx0 + 1, round((cx1 - x0) * scale)))
        dy1 = min(self.side, max(dy0 + 1, round((cy1 - y0) * scale)))
        src = image[cy0:cy1, cx0:cx1]
        if src.ndim == 2:
            src = cv2.cvtColor(src, cv2.COLOR_GRAY2BGR)
        elif src.shape[2] == 4:
            src = cv2.cvtColor(src, cv2.COLOR_BGRA2BGR)
        # Area averaging when shrinking (no aliasing of a large face), bilinear when enlarging.
        interp = cv2.INTER_AREA if scale < 1.0 else cv2.INTER_LINEAR
        k = int(1.0 / scale) if scale < 1.0 else 1
        if k >= PRESTEP_MIN_RATIO:
            # A large face (an HD camera, someone close): the area average in two steps, an
            # integer k x k one (OpenCV's fast path) and the remainder (< 2:1): 1.9 -> 1.25 ms
            # per look at a 1080p face. Up to k - 1 columns and rows at the window's right and
            # bottom are left out; the mapping below is that of the pixels used. The landmarks
            # move less than when the window moves by one frame pixel (bench/window_fidelity.py).
            cx1, cy1 = cx1 - (cx1 - cx0) % k, cy1 - (cy1 - cy0) % k
            src = cv2.resize(
                src[: cy1 - cy0, : cx1 - cx0],
                ((cx1 - cx0) // k, (cy1 - cy0) // k),
                interpolation=cv2.INTER_AREA,
            )
        cv2.resize(src, (dx1 - dx0, dy1 - dy0), dst=buf[dy0:dy1, dx0:dx1], interpolation=interp)
        # The exact mapping of the pixels that were written (rounding moved them a little).
        sx = (dx1 - dx0) / (cx1 - cx0)
        sy = (dy1 - dy0) / (cy1 - cy0)
        scale = 0.5 * (sx + sy)
        return buf, scale, cx0 - dx0 / scale, cy0 - dy0 / scale

    def find(
        self,
        image: np.ndarray,
        centre: tuple[float, float],
        face_width: float,
        widen: float = 1.0,
    ) -> list[Detection]:
        """Faces in the window around `centre`, in frame pixels, highest score first."""
        buf, scale, x0, y0 = self.window(image, centre, face_width, widen)
        return _to_frame(self.detector.detect(buf), scale, x0, y0)

    def find_many(self, image: np.ndarray, windows: Sequence[Window]) -> list[list[Detection]]:
        """:meth:`find` for several windows of one frame, all through the model in one run.

        Every window has the same input size (``side`` x ``side``), so the windows are stacked
        on YuNet's dynamic batch axis and decoded one by one: the same detections as calling
        :meth:`find` for each window (the outputs are bit-identical, test_core_window.py), for
        one onnxruntime call instead of len(windows). Measured on this machine (YuNet n, 128 px,
        one thread, medians): 4 windows 2.21 ms batched vs 2.50 ms one by one, 8 windows 4.53
        vs 5.17 ms; the saving is onnxruntime's per-call overhead, the convolutions cost the
        same.

        Args:
            image: the frame (uint8 mono / BGR / BGRA).
            windows: one (centre, face_width, widen) per window, as :meth:`find` takes them.

        Returns:
            One list of detections per window, in `windows` order (empty lists where nothing
            was found; an empty list for no windows).
        """
        n = len(windows)
        if n == 0:
            return []
        if self._batch.shape[0] < n:
            self._batch = np.zeros(
                (max(n, 2 * self._batch.shape[0]), 3, self.side, self.side), dtype=np.float32
            )
        blob = self._batch[:n]
        det = self.detector
        in_scale, in_offset = det.manifest.input.scale, det.manifest.input.offset
        mappings = []
        for i, (centre, face_width, widen) in enumerate(windows):
            buf, scale, x0, y0 = self.window(image, centre, face_width, widen)
            mappings.append((scale, x0, y0))
            # The same float conversion as FaceDetector._preprocess, plane by plane.
            for c in range(3):
                plane = blob[i, c]
                np.copyto(plane, buf[:, :, c], casting="unsafe")
                if in_scale != 1.0:
                    plane *= in_scale
                if in_offset != 0.0:
                    plane += in_offset
        # The detector's own plan for a side x side input (scale 1, priors) and its decoder; the
        # decoder reads batch row 0, so each window gets its own one-row slice of the outputs.
        plan = det._plan(self._buffer.shape)
        outputs = det._session.run(det._output_names, {det._input_name: blob})
        return [
            _to_frame(det._postprocess([o[i : i + 1] for o in outputs], plan), *mappings[i])
            for i in range(n)
        ]


#: A window shrunk by at least this integer ratio is area-averaged in two steps (integer, then
#: the remainder); bench/window_fidelity.py sets it out of reach to compare with one step.
PRESTEP_MIN_RATIO = 2

#: One window of :meth:`WindowDetector.find_many`: (centre (x, y), face width, widen).
Window = tuple[tuple[float, float], float, float]


def _to_frame(found: list[Detection], scale: float, x0: float, y0: float) -> list[Detection]:
    """Detections in window-input pixels mapped back to frame pixels."""
    inv = 1.0 / scale
    return [
        Detection(
            box=(
                d.box[0] * inv + x0,
                d.box[1] * inv + y0,
                d.box[2] * inv,
                d.box[3] * inv,
            ),
            score=d.score,
            landmarks=tuple((x * inv + x0, y * inv + y0) for x, y in d.landmarks),
        )
        for d in found
    ]


def box_centre(box: Sequence[float]) -> tuple[float, float]:
    """Centre (x, y) of an (x, y, w, h) box."""
    return (float(box[0]) + float(box[2]) / 2.0, float(box[1]) + float(box[3]) / 2.0)
