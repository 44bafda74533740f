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


def shrink(src: np.ndarray, size: tuple[int, int]) -> np.ndarray:
    """Scale `src` down to `size` (width, height).

    With an integer ratio k >= 2 the source is first averaged over k x k blocks (up to k - 1
    columns and rows at its right and bottom edge are left out), then scaled bilinearly.
    """
    width, height = int(size[0]), int(size[1])
    sh, sw = src.shape[:2]
    k = min(sw // max(width, 1), sh // max(height, 1))
    if k >= 2:
        sw, sh = sw - sw % k, sh - sh % k
        src = cv2.resize(src[:sh, :sw], (sw // k, sh // k), interpolation=cv2.INTER_AREA)
    if src.shape[1] == width and src.shape[0] == height:
        return src
    return cv2.resize(src, (width, height), interpolation=cv2.INTER_LINEAR)
