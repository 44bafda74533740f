"""Shrinking an image region at a fraction of ``cv2.INTER_AREA``'s cost.

Why (issue 20, measured on the 2-core VM): OpenCV's area interpolation has a fast path only for
integer ratios; a 350 px window scaled to YuNet's 128 px input took 0.54 ms with INTER_AREA and
0.07 ms as an integer-ratio area step followed by a bilinear step of less than 2:1. The perception
loop shrinks a window for every track look and a grey patch for every template follow, so this
was ~0.25 ms of every 30 Hz frame with one face. The area step averages every source pixel (no
aliasing of a large face); the bilinear remainder interpolates between neighbours of that
already-averaged image, which at under 2:1 loses little. The result is not bit-identical to
INTER_AREA (mean absolute difference ~1.3 grey levels on a face window); the loop's recall and
tracking benchmarks judge it (bench/bench_temporal.py).
"""

from __future__ import annotations

import cv2
import numpy as np


def shrink(
    src: np.ndarray, size: tuple[int, int], dst: np.ndarray | None = None
) -> tuple[np.ndarray, int, int]:
    """Scale `src` down to `size` (width, height); returns (result, source width, height used).

    With an integer ratio k >= 2 the source is first averaged over k x k blocks; up to k - 1
    columns and rows at its right and bottom edge are then left out, so the mapping of the result
    is that of the returned source extent (callers that map coordinates back use it). `dst`, if
    given, is written in place (it may be a view into a larger buffer).
    """
    width, height = int(size[0]), int(size[1])
    sh, sw = src.shape[:2]
    k = min(sw // max(width, 1), sh // max(height, 1))
    if k >= 2:
        sw, sh = sw - sw % k, sh - sh % k
        src = cv2.resize(src[:sh, :sw], (sw // k, sh // k), interpolation=cv2.INTER_AREA)
    if src.shape[1] == width and src.shape[0] == height:
        if dst is None:
            return src, sw, sh
        dst[...] = src
        return dst, sw, sh
    out = cv2.resize(src, (width, height), dst=dst, interpolation=cv2.INTER_LINEAR)
    return (out if dst is None else dst), sw, sh
