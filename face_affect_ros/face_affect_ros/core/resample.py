"""Shrinking an image patch at a fraction of ``cv2.INTER_AREA``'s cost.

Why (issue 20, measured on the 2-core VM): OpenCV's area interpolation has a fast path only for
integer ratios; a 275x335 px grey search region scaled for a template follow took ~0.17 ms, an
integer-ratio area step followed by a bilinear step of less than 2:1 a fraction of that. The
perception loop follows every track by template on two of three frames at 30 Hz. The area step
averages every source pixel (no aliasing); the bilinear remainder interpolates between
neighbours of that already-averaged image, which at under 2:1 loses little. The result is not
bit-identical to INTER_AREA (mean absolute difference ~1.3 grey levels).

Used for template follows only (core/motion.py). Measured and not adopted for the YuNet window
looks (core/window.py): 0.54 -> 0.07 ms per look, but their landmarks feed the classifiers'
crops, and the moving sequence's expression-change delay went from 0.3 to 0.5 s
(bench/bench_temporal.py, one run each): a change of what is published, not only of its cost.
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
