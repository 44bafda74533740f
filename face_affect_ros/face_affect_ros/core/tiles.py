"""Scan tiles: an HD frame cut into native-resolution pieces the size of the scan's input.

Why (issue 20): the perception loop's scan fits the whole frame into ``scan_input_size``
(640x480), so a 1280x720 frame is scanned at half and a 1920x1080 frame at a third of its
resolution, and a face 20 px wide in the camera's pixels is 10 or 7 px in the scan: too small
for YuNet. Scanning the whole HD frame at its own resolution costs 3-7 scans. Instead the
frame is cut into tiles of at most the scan input's pixel count, each scanned at its own
resolution (YuNet's ONNX input is dynamic), one tile at a time in rotation between the
whole-frame scans (:class:`~face_affect_ros.core.localise.LocalisationLoop`).

Neighbouring tiles overlap so that a face is whole in at least one of them, up to the size
the whole-frame scan finds by itself (:data:`COARSE_FACE_PX` scan pixels): a face larger
than the overlap is the coarse scan's, a smaller one is whole in some tile.
"""

from __future__ import annotations

import math

import cv2
import numpy as np

#: Face width (scan input pixels) from which the whole-frame scan finds faces by itself: at 640x480
#: it finds 96 % of 20-29 px faces (issue 12); 32 leaves a margin. Tiles overlap by this many
#: scan pixels expressed in frame pixels (64 px in 1280x720, 96 px in 1920x1080).
COARSE_FACE_PX = 32.0
#: YuNet's largest stride: the smallest tile side worth trying.
_STRIDE = 32

Tile = tuple[int, int, int, int]  # x, y, w, h in frame pixels


def coarse_scale(width: int, height: int, input_size: tuple[int, int]) -> float:
    """Scale of the whole-frame scan (frame -> scan input), as FaceDetector fits the frame."""
    return min(input_size[0] / width, input_size[1] / height)


def _split(length: int, count: int, overlap: int) -> tuple[int, list[int]]:
    """(side, starts) of `count` pieces of equal side covering `length` with >= `overlap`."""
    if count == 1:
        return length, [0]
    side = min(length, math.ceil((length + (count - 1) * overlap) / count))
    step = (length - side) / (count - 1)
    return side, [round(i * step) for i in range(count)]


def tile_grid(width: int, height: int, input_size: tuple[int, int]) -> tuple[Tile, ...]:
    """The scan tiles of a `width` x `height` frame; empty if the scan sees it at full resolution.

    Tiles have at most ``input_size``'s pixel count (each costs about one scan), overlap by
    :data:`COARSE_FACE_PX` scan pixels in frame pixels, and are as few as that allows (then the
    fewest pixels). Row-major order.
    """
    scale = coarse_scale(width, height, input_size)
    if scale >= 1.0:
        return ()
    overlap = math.ceil(COARSE_FACE_PX / scale)
    budget = input_size[0] * input_size[1]
    best: tuple[tuple[int, int], int, int, int] | None = None
    for cols in range(1, math.ceil(width / _STRIDE) + 1):
        side_w, _ = _split(width, cols, overlap)
        for rows in range(1, math.ceil(height / _STRIDE) + 1):
            side_h, _ = _split(height, rows, overlap)
            if side_w * side_h <= budget:
                key = (cols * rows, cols * rows * side_w * side_h)
                if best is None or key < best[0]:
                    best = (key, cols, rows, 0)
                break  # more rows only add tiles
    if best is None:  # unreachable: one-stride tiles always fit a budget >= 32x32
        return ()
    _, cols, rows, _ = best
    side_w, xs = _split(width, cols, overlap)
    side_h, ys = _split(height, rows, overlap)
    return tuple((x, y, side_w, side_h) for y in ys for x in xs)


def zoom_grid(
    width: int, height: int, input_size: tuple[int, int], zoom: float
) -> tuple[Tile, ...]:
    """Tiles of a frame that have at most ``input_size``'s pixel count once scaled by `zoom`.

    :func:`tile_grid` of the frame scaled by `zoom`, mapped back to frame pixels (clipped):
    overlapping by :data:`COARSE_FACE_PX` scan pixels of the zoomed frame. Row-major.
    """
    zw, zh = math.ceil(width * zoom), math.ceil(height * zoom)
    out = []
    for x, y, w, h in tile_grid(zw, zh, input_size):
        x0, y0 = math.floor(x / zoom), math.floor(y / zoom)
        x1, y1 = min(width, math.floor((x + w) / zoom)), min(height, math.floor((y + h) / zoom))
        out.append((x0, y0, x1 - x0, y1 - y0))
    return tuple(out)


def block_span(part: Tile, block: int, shape: tuple[int, int]) -> tuple[int, int, int, int]:
    """(x0, y0, x1, y1) of the `block`-pixel blocks wholly inside `part`, clipped to `shape`.

    `shape` is (rows, cols) of the block grid. Wholly inside: a block a part only touches was
    not wholly looked at by it.
    """
    x, y, w, h = part
    rows, cols = shape
    x0, y0 = min(cols, -(-x // block)), min(rows, -(-y // block))
    x1, y1 = min(cols, (x + w) // block), min(rows, (y + h) // block)
    return x0, y0, max(x0, x1), max(y0, y1)


def changed_regions(
    mask: np.ndarray, block: int, margin: int, width: int, height: int
) -> list[Tile]:
    """The parts of a frame around its changed blocks: one per group of blocks, merged.

    `mask` is the (rows, cols) grid of changed `block`-pixel blocks. Each 8-connected group's
    extent is grown by `margin` frame pixels (a face beside what changed, a face whose edge
    changed, is whole inside) and clipped to the frame; parts that overlap are merged into their
    bounding box until none overlap. Largest first.
    """
    count, _, stats, _ = cv2.connectedComponentsWithStats(mask.astype(np.uint8), connectivity=8)
    boxes = []
    for x, y, w, h, _ in stats[1:count]:
        boxes.append(
            [
                max(0, int(x) * block - margin),
                max(0, int(y) * block - margin),
                min(width, int(x + w) * block + margin),
                min(height, int(y + h) * block + margin),
            ]
        )
    merged = True
    while merged:
        merged = False
        for i in range(len(boxes)):
            for j in range(i + 1, len(boxes)):
                a, b = boxes[i], boxes[j]
                if a[0] < b[2] and b[0] < a[2] and a[1] < b[3] and b[1] < a[3]:
                    boxes[i] = [min(a[0], b[0]), min(a[1], b[1]), max(a[2], b[2]), max(a[3], b[3])]
                    del boxes[j]
                    merged = True
                    break
            if merged:
                break
    parts = [(x0, y0, x1 - x0, y1 - y0) for x0, y0, x1, y1 in boxes]
    return sorted(parts, key=lambda p: -p[2] * p[3])
