"""OpenCV's thread budget: the same as the models' (``intra_op_threads``, 1 by default).

Why (issue 20, measured per thread in face_affect_node, 640x480 at 30 Hz, one face): OpenCV runs
its resizes, colour conversions and blurs on a thread pool of all cores by default. On the 2-core
machine the pool's second thread used ~0.65 ms of CPU per camera frame, more than the work it took
off the worker: these are small images, and the hand-off and wake-ups cost more than the split
saves. The robot's other nodes need those cores, which is why the models run on one thread too.
OpenCV's pool is per process, so this is set once, when a model session is opened
(:func:`face_affect_ros.core.manifest.create_session`): every way of running the package (nodes,
bag tools, the demo, benchmarks) gets the same budget. Results do not change with it.
"""

from __future__ import annotations

import cv2


def use_threads(threads: int) -> None:
    """Run OpenCV's functions on `threads` threads (1: sequential; 0: OpenCV's default)."""
    cv2.setNumThreads(threads if threads > 0 else -1)
