"""Face chips aligned from YuNet's five landmarks (for models trained on aligned faces).

The dlib-models networks (``gender-v1``, ``age-v1``) were trained on dlib "face chips": the face
rotated upright and scaled so that its landmarks land on a fixed template, with 0.2 padding.
dlib builds that chip from its own 5-point model (eye corners and the bottom of the nose),
which is not what YuNet gives (eye centres, nose tip, mouth corners). So the template here is
measured, not copied: :data:`DLIB_CHIP_TEMPLATE` is where YuNet's five points land inside
dlib's own 64x64 chip (``dlib.get_face_chip_details(shape, 64, 0.2)``), median over the 13
whole faces of real photos on which both YuNet and dlib's HOG detector fire (insightface's
``t1.jpg`` group photo x6, ``Tom_Hanks_54745.png``, face_recognition's ``obama*.jpg`` x3,
``biden.jpg``, ``32bit.png``, scikit-image's astronaut; two partial faces left out because
dlib's landmarks fail on them). bench/align_sweep.py is the measurement (and the scale / offset
sweep around it that confirmed it, see :data:`DEFAULT_CHIP_SCALE`).

A chip is one similarity transform (rotation, uniform scale, translation) fitted to the five
points by least squares (Umeyama), applied with ``cv2.warpAffine``. Pixels outside the image are
filled like the pipeline's crops (mirror by default). A chip much smaller than the face is first
area-averaged down (as dlib's own chip extraction does with an image pyramid), so a 32x32 chip
of a 300 px face is not built from a few aliased pixels.
"""

from __future__ import annotations

from collections.abc import Sequence

import cv2
import numpy as np

#: YuNet's five landmarks (right eye, left eye, nose tip, right mouth corner, left mouth corner;
#: image-left first) as fractions of a dlib 0.2-padded face chip: measured, see the module doc.
DLIB_CHIP_TEMPLATE: tuple[tuple[float, float], ...] = (
    (0.299, 0.288),
    (0.691, 0.263),
    (0.496, 0.522),
    (0.349, 0.692),
    (0.691, 0.677),
)

#: Scale of the template about the chip centre (1 = as measured). bench/align_sweep.py sweeps it.
DEFAULT_CHIP_SCALE = 1.0
#: Vertical shift of the template (fraction of the chip, + = face lower in the chip).
DEFAULT_CHIP_SHIFT = 0.0

#: Above this many source pixels per chip pixel, the source is area-averaged first.
_MAX_BILINEAR_RATIO = 2.0


def template_points(
    size: tuple[int, int],
    template: Sequence[Sequence[float]] = DLIB_CHIP_TEMPLATE,
    scale: float = DEFAULT_CHIP_SCALE,
    shift: float = DEFAULT_CHIP_SHIFT,
) -> np.ndarray:
    """The template in chip pixels (5x2 float64) for a chip of ``size`` = (width, height).

    Pixel centres are at integer coordinates, so fraction f of a width-w chip is f * w - 0.5.
    """
    t = np.asarray(template, dtype=np.float64)
    if t.shape != (5, 2):
        raise ValueError(f"a chip template is 5 (x, y) points, got shape {t.shape}")
    t = 0.5 + (t - 0.5) * float(scale)
    t[:, 1] += float(shift)
    w, h = size
    return t * np.array([w, h], dtype=np.float64) - 0.5


def similarity(src: np.ndarray, dst: np.ndarray) -> np.ndarray:
    """Least-squares similarity transform (2x3) mapping ``src`` points onto ``dst`` (Umeyama)."""
    src = np.asarray(src, dtype=np.float64)
    dst = np.asarray(dst, dtype=np.float64)
    mu_s, mu_d = src.mean(axis=0), dst.mean(axis=0)
    s, d = src - mu_s, dst - mu_d
    var = (s**2).sum() / len(src)
    if var <= 0.0:
        raise ValueError("landmarks are all at one point: no alignment possible")
    cov = d.T @ s / len(src)
    u, sig, vt = np.linalg.svd(cov)
    sign = np.eye(2)
    if np.linalg.det(u) * np.linalg.det(vt) < 0:
        sign[1, 1] = -1.0
    rot = u @ sign @ vt
    scale = float(np.trace(np.diag(sig) @ sign)) / var
    m = np.empty((2, 3), dtype=np.float64)
    m[:, :2] = scale * rot
    m[:, 2] = mu_d - m[:, :2] @ mu_s
    return m


class ChipAligner:
    """Cuts aligned face chips of one size out of frames.

    Args:
        size: (width, height) of the chip, the model's input size.
        template: five (x, y) fractions of the chip where the landmarks should land.
        scale, shift: applied to the template (see :func:`template_points`).
        border: cv2 border mode for pixels outside the image (the pipeline's ``border_mode``).
    """

    def __init__(
        self,
        size: tuple[int, int],
        template: Sequence[Sequence[float]] = DLIB_CHIP_TEMPLATE,
        scale: float = DEFAULT_CHIP_SCALE,
        shift: float = DEFAULT_CHIP_SHIFT,
        border: int = cv2.BORDER_REFLECT_101,
    ) -> None:
        if not (isinstance(size, tuple) and len(size) == 2 and min(size) >= 1):
            raise ValueError(f"chip size must be (width, height) >= 1, got {size!r}")
        if not 0.25 <= float(scale) <= 4.0:
            raise ValueError(f"chip scale must be in [0.25, 4], got {scale!r}")
        self.size = (int(size[0]), int(size[1]))
        self.border = border
        self._dst = template_points(self.size, template, scale, shift)

    def transform(self, landmarks: Sequence[Sequence[float]]) -> np.ndarray:
        """2x3 matrix from image pixels to chip pixels for one face's five landmarks."""
        # Rounded to float32 first: that is what FaceDetection.landmarks carries to the split
        # layout's classifier, and the chip is sensitive enough to sub-pixel shifts (1e-4 in
        # gender probability) that both layouts must align from the same values.
        pts = np.asarray(landmarks, dtype=np.float32).astype(np.float64)
        if pts.shape != (5, 2) or not np.isfinite(pts).all():
            raise ValueError(f"expected 5 finite (x, y) landmarks, got {pts.shape}")
        return similarity(pts, self._dst)

    def chip(self, image: np.ndarray, landmarks: Sequence[Sequence[float]]) -> np.ndarray:
        """The aligned chip (uint8, height x width [x channels]) of one face in ``image``."""
        m = self.transform(landmarks)
        w, h = self.size
        ratio = 1.0 / float(np.sqrt(abs(np.linalg.det(m[:, :2]))))  # source px per chip px
        if ratio > _MAX_BILINEAR_RATIO:
            image, m = self._shrink(image, m, ratio)
        return cv2.warpAffine(
            image, m, (w, h), flags=cv2.INTER_LINEAR, borderMode=self.border, borderValue=0
        )

    def _shrink(
        self, image: np.ndarray, m: np.ndarray, ratio: float
    ) -> tuple[np.ndarray, np.ndarray]:
        """Area-average the chip's footprint so the final bilinear step is at most 2:1."""
        w, h = self.size
        inv = cv2.invertAffineTransform(m)
        corners = np.array([[0, 0], [w - 1, 0], [0, h - 1], [w - 1, h - 1]], dtype=np.float64)
        foot = corners @ inv[:, :2].T + inv[:, 2]
        pad = 2.0 * ratio
        x0 = int(np.floor(foot[:, 0].min() - pad))
        y0 = int(np.floor(foot[:, 1].min() - pad))
        x1 = int(np.ceil(foot[:, 0].max() + pad))
        y1 = int(np.ceil(foot[:, 1].max() + pad))
        region = _cut(image, x0, y0, x1, y1, self.border)
        factor = _MAX_BILINEAR_RATIO / ratio  # < 1
        rw = max(1, round((x1 - x0) * factor))
        rh = max(1, round((y1 - y0) * factor))
        small = cv2.resize(region, (rw, rh), interpolation=cv2.INTER_AREA)
        fx, fy = rw / (x1 - x0), rh / (y1 - y0)
        # small pixel (u, v) centre = region pixel ((u + 0.5) / fx - 0.5, ...), + (x0, y0).
        to_image = np.array(
            [[1.0 / fx, 0.0, x0 + 0.5 / fx - 0.5], [0.0, 1.0 / fy, y0 + 0.5 / fy - 0.5]]
        )
        m2 = m[:, :2] @ to_image[:, :2]
        t2 = m[:, :2] @ to_image[:, 2] + m[:, 2]
        return small, np.column_stack([m2, t2])


def _cut(image: np.ndarray, x0: int, y0: int, x1: int, y1: int, border: int) -> np.ndarray:
    """image[y0:y1, x0:x1], with the part outside the image filled by ``border``."""
    height, width = image.shape[:2]
    if x0 >= 0 and y0 >= 0 and x1 <= width and y1 <= height:
        return image[y0:y1, x0:x1]
    cx0, cy0 = min(max(x0, 0), width - 1), min(max(y0, 0), height - 1)
    cx1, cy1 = max(min(x1, width), cx0 + 1), max(min(y1, height), cy0 + 1)
    inner = image[cy0:cy1, cx0:cx1]
    top, left = cy0 - y0, cx0 - x0
    bottom, right = y1 - cy1, x1 - cx1
    if border == cv2.BORDER_REFLECT_101 and (
        max(top, bottom) >= inner.shape[0] or max(left, right) >= inner.shape[1]
    ):
        border = cv2.BORDER_REPLICATE  # reflection needs more pixels than are visible
    return cv2.copyMakeBorder(inner, top, bottom, left, right, border, value=0)
