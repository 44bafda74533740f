"""Cheap looks between detector runs: where the scene changed, and where a known face moved.

Why (issue 12, measured on the 2-core VM): in the perception loop at 30 Hz a YuNet window look
costs ~1.3 ms per track per frame and the 640x480 scan ~12 ms per run; on a robot most frames
differ from the previous one only where people move. Two image-math helpers here, no models:

* :class:`ChangeMap` - a grey thumbnail (one value per 8x8 block, ~0.1 ms); the blocks whose mean
  moved by more than a threshold since a reference thumbnail tell whether anything outside the
  known faces changed (a face can only appear where pixels change).
* :func:`follow_template` - a known face followed by normalised cross-correlation of a 24 px grey
  patch in a window around its predicted position (~0.1 ms): a measurement of where it is now,
  used on the frames between two detector looks.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence

import cv2
import numpy as np

from face_affect_ros.core.resample import shrink

#: Side of the block a thumbnail value averages (frame pixels).
CHANGE_BLOCK = 8
#: A block changed if its mean grey moved by more than this (0-255); sensor noise averaged over
#: 64 pixels is well below it, a face appearing in a block is far above.
CHANGE_LEVEL = 10.0
#: Frames up to this wide get cut detection's coarse thumbnail at 8 px blocks; wider ones at
#: proportionally larger blocks (:meth:`ChangeMap.coarse_thumbnail`).
COARSE_WIDTH = 640
#: Template width in pixels (the face patch is scaled to it).
TEMPLATE_PX = 24


def grey(image: np.ndarray) -> np.ndarray:
    """Mono view or conversion of a uint8 mono / BGR / BGRA image."""
    if image.ndim == 2:
        return image
    code = cv2.COLOR_BGRA2GRAY if image.shape[2] == 4 else cv2.COLOR_BGR2GRAY
    return cv2.cvtColor(image, code)


class ChangeMap:
    """Which 8x8 blocks of a frame changed since a reference frame."""

    def __init__(self, level: float = CHANGE_LEVEL) -> None:
        self.level = float(level)
        self._reference: np.ndarray | None = None

    @staticmethod
    def thumbnail(image: np.ndarray) -> np.ndarray:
        """Mean grey per 8x8 block (float32), partial blocks at the border dropped.

        A colour frame is averaged over 2x2 pixels first and converted to grey at a quarter of
        its pixels (the grey of a mean is the mean of the greys, to the rounding: values within
        one grey level of converting every pixel). Why: the conversion of the whole frame was
        half the cost; this way the thumbnail costs about one read of the frame (0.16 -> 0.10
        ms at 640x480, 1.02 -> 0.63 ms at 1920x1080, on the 2-core VM), and the loop takes one
        on most frames of a still scene (the scan gate).
        """
        h, w = image.shape[0] // CHANGE_BLOCK, image.shape[1] // CHANGE_BLOCK
        if h == 0 or w == 0:
            return np.zeros((1, 1), np.float32)
        image = image[: h * CHANGE_BLOCK, : w * CHANGE_BLOCK]
        if image.ndim == 3:
            half = CHANGE_BLOCK // 2
            image = grey(cv2.resize(image, (w * half, h * half), interpolation=cv2.INTER_AREA))
        return cv2.resize(image, (w, h), interpolation=cv2.INTER_AREA).astype(np.float32)

    @staticmethod
    def coarse_thumbnail(image: np.ndarray) -> np.ndarray:
        """Like :meth:`thumbnail`, from every 4th pixel (~0.03 ms instead of ~0.16 at 640x480).

        For cut detection on every frame, where a cut changes most blocks by far more than
        :data:`CHANGE_LEVEL` and the few pixels per block need not average sensor noise away.
        A cut is a fraction of the picture, whatever its resolution, so frames wider than
        :data:`COARSE_WIDTH` get blocks of a multiple of 8 px: at most ~80 blocks across (an HD
        frame costs what a 640x480 one does: 0.17 -> 0.03 ms at 1920x1080).
        """
        block = CHANGE_BLOCK * max(1, -(-image.shape[1] // COARSE_WIDTH))
        h, w = image.shape[0] // block, image.shape[1] // block
        if h == 0 or w == 0:
            return np.zeros((1, 1), np.float32)
        image = image[: h * block, : w * block]
        sampled = cv2.resize(image, (w * 2, h * 2), interpolation=cv2.INTER_NEAREST)
        small = cv2.resize(sampled, (w, h), interpolation=cv2.INTER_AREA)
        return grey(small).astype(np.float32)

    def set_reference(self, thumb: np.ndarray) -> None:
        """Compare later frames with this thumbnail (taken at a scan)."""
        self._reference = thumb

    def reset(self) -> None:
        """No reference: every frame counts as changed."""
        self._reference = None

    def changed_outside(
        self, thumb: np.ndarray, boxes: Iterable[Sequence[float]], margin: float = 0.5
    ) -> bool:
        """True if a block outside every box (grown by `margin` x its size) changed."""
        return changed_outside(thumb, self._reference, self.level, boxes, margin)

    def changed_box(
        self, thumb: np.ndarray, boxes: Iterable[Sequence[float]], margin: float = 0.5
    ) -> tuple[int, int, int, int] | None:
        """Frame-pixel extent of the blocks changed outside every box (:func:`changed_box`)."""
        return changed_box(thumb, self._reference, self.level, boxes, margin)


def changed_outside(
    thumb: np.ndarray,
    reference: np.ndarray | None,
    level: float,
    boxes: Iterable[Sequence[float]],
    margin: float = 0.5,
    region: Sequence[int] | None = None,
) -> bool:
    """True if a block outside every box (grown by `margin` x its size) changed since `reference`.

    A block changed if its mean moved by more than `level`; no reference, or one of another
    shape: True. `region` (x, y, w, h frame pixels) limits the question to the blocks that
    overlap it (a scan tile of :mod:`.tiles`).
    """
    mask = _changed_mask(thumb, reference, level, boxes, margin, region)
    return mask is None or bool(mask.any())


def changed_blocks(
    thumb: np.ndarray,
    reference: np.ndarray | None,
    level: float,
    boxes: Iterable[Sequence[float]],
    margin: float = 0.5,
) -> np.ndarray | None:
    """The (rows, cols) mask of blocks that changed since `reference` outside every box.

    None without a usable reference. A reference block of +inf (never seen) counts as changed:
    the HD native looks' per-block reference (:mod:`.localise`).
    """
    return _changed_mask(thumb, reference, level, boxes, margin, None)


def changed_box(
    thumb: np.ndarray,
    reference: np.ndarray | None,
    level: float,
    boxes: Iterable[Sequence[float]],
    margin: float = 0.5,
) -> tuple[int, int, int, int] | None:
    """(x0, y0, x1, y1) frame pixels around the blocks that changed outside every box.

    None if none changed; the whole thumbnail's extent without a usable reference.
    """
    mask = _changed_mask(thumb, reference, level, boxes, margin, None)
    if mask is None:
        return (0, 0, thumb.shape[1] * CHANGE_BLOCK, thumb.shape[0] * CHANGE_BLOCK)
    rows = np.flatnonzero(mask.any(axis=1))
    if rows.size == 0:
        return None
    cols = np.flatnonzero(mask.any(axis=0))
    return (
        int(cols[0]) * CHANGE_BLOCK,
        int(rows[0]) * CHANGE_BLOCK,
        (int(cols[-1]) + 1) * CHANGE_BLOCK,
        (int(rows[-1]) + 1) * CHANGE_BLOCK,
    )


def _changed_mask(
    thumb: np.ndarray,
    reference: np.ndarray | None,
    level: float,
    boxes: Iterable[Sequence[float]],
    margin: float,
    region: Sequence[int] | None,
) -> np.ndarray | None:
    """Changed blocks (of `region`, if given) outside the boxes; None without a reference."""
    if reference is None or reference.shape != thumb.shape:
        return None
    mask = np.abs(thumb - reference) > level
    if region is not None:
        x, y, w, h = region
        rows, cols = mask.shape
        x0, y0 = max(0, x // CHANGE_BLOCK), max(0, y // CHANGE_BLOCK)
        x1 = min(cols, -(-(x + w) // CHANGE_BLOCK))
        y1 = min(rows, -(-(y + h) // CHANGE_BLOCK))
        mask = mask[y0:y1, x0:x1]
        offset = (x0 * CHANGE_BLOCK, y0 * CHANGE_BLOCK)
    else:
        offset = (0, 0)
    if not mask.any():
        return mask
    rows, cols = mask.shape
    for x, y, w, h in boxes:
        x, y = x - offset[0], y - offset[1]
        x0 = int(max(0, (x - margin * w) // CHANGE_BLOCK))
        y0 = int(max(0, (y - margin * h) // CHANGE_BLOCK))
        x1 = int(min(cols, -(-(x + w + margin * w) // CHANGE_BLOCK)))
        y1 = int(min(rows, -(-(y + h + margin * h) // CHANGE_BLOCK)))
        if x1 > x0 and y1 > y0:
            mask[y0:y1, x0:x1] = False
    return mask


def _scaled_grey(patch: np.ndarray, size: tuple[int, int]) -> np.ndarray:
    """`patch` in grey at `size`: shrunk (resample.shrink) before the colour conversion."""
    if size[0] < patch.shape[1] and size[1] < patch.shape[0]:
        return grey(shrink(patch, size))
    return cv2.resize(grey(patch), size, interpolation=cv2.INTER_LINEAR)


def face_template(image: np.ndarray, box: Sequence[float]) -> np.ndarray | None:
    """The face's grey patch scaled to TEMPLATE_PX wide, or None if it is off the frame."""
    x, y, w, h = box
    if w < 4 or h < 4:
        return None
    x0, y0 = round(x), round(y)
    x1, y1 = round(x + w), round(y + h)
    height, width = image.shape[:2]
    if x0 < 0 or y0 < 0 or x1 > width or y1 > height:
        return None
    scale = TEMPLATE_PX / w
    th = max(4, round(h * scale))
    return _scaled_grey(image[y0:y1, x0:x1], (TEMPLATE_PX, th))


def follow_template(
    image: np.ndarray,
    template: np.ndarray,
    predicted: Sequence[float],
    reach: float = 0.75,
) -> tuple[float, float, float] | None:
    """Where `template` (cut from a face of `predicted`'s size) is best matched now.

    Searches `reach` face widths around `predicted` (x, y, w, h), within the frame. Returns
    (dx, dy, correlation): the shift of the box in frame pixels and the normalised correlation of
    the best match, or None when too little of the search window is on the frame.
    """
    x, y, w, h = predicted
    scale = TEMPLATE_PX / max(w, 1.0)
    height, width = image.shape[:2]
    # The search window, clipped to the frame (a face near the edge is still followed).
    x0, y0 = max(0, round(x - reach * w)), max(0, round(y - reach * h))
    x1, y1 = min(width, round(x + w + reach * w)), min(height, round(y + h + reach * h))
    sw, sh = max(1, round((x1 - x0) * scale)), max(1, round((y1 - y0) * scale))
    if sw < template.shape[1] or sh < template.shape[0]:
        return None
    region = _scaled_grey(image[y0:y1, x0:x1], (sw, sh))
    scores = cv2.matchTemplate(region, template, cv2.TM_CCOEFF_NORMED)
    _, best, _, (bx, by) = cv2.minMaxLoc(scores)
    if not np.isfinite(best):
        return None
    sx, sy = (x1 - x0) / sw, (y1 - y0) / sh
    return x0 + bx * sx - x, y0 + by * sy - y, float(best)
