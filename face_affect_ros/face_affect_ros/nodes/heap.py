"""Keep camera-frame-sized buffers in the heap instead of mapping them afresh for every frame.

Why (issue 12, measured with per-thread /proc stat in bench_take's setting, 30 Hz 640x480 bgr8):
receiving one frame allocates and frees two ~0.9 MB buffers (the middleware's C message and the
Python copy of ``data``). glibc serves blocks that large with ``mmap`` or trims the heap after
them, so every frame pays page faults and ``munmap``: in a bare rclpy subscriber 1.8-2.4 ms of
the 3.4-3.7 ms per frame is *system* time. With the mmap and trim thresholds fixed above a frame's
size, the freed buffers are reused: 3.8 -> 1.7 ms per frame for the executor subscriber, 3.1 ->
1.4 ms for the worker's own take. Costs at most ``TRIM_THRESHOLD`` of free heap kept mapped.

glibc only (``mallopt``); elsewhere this does nothing and says so.
"""

from __future__ import annotations

import ctypes
import ctypes.util

# mallopt parameters (glibc malloc.h).
_M_TRIM_THRESHOLD = -1
_M_MMAP_THRESHOLD = -3
#: Blocks below this come from the heap (32 MiB: glibc's upper limit; a 4K bgr8 frame is 25 MB).
MMAP_THRESHOLD = 32 * 1024 * 1024
#: Free heap kept before it is returned to the system.
TRIM_THRESHOLD = 64 * 1024 * 1024


def keep_large_buffers() -> bool:
    """Set glibc's mmap and trim thresholds for this process; False if not glibc (no change)."""
    try:
        libc = ctypes.CDLL(ctypes.util.find_library("c") or "libc.so.6")
        mallopt = libc.mallopt
    except (OSError, AttributeError):
        return False
    mallopt.argtypes = (ctypes.c_int, ctypes.c_int)
    mallopt.restype = ctypes.c_int
    return bool(mallopt(_M_MMAP_THRESHOLD, MMAP_THRESHOLD)) and bool(
        mallopt(_M_TRIM_THRESHOLD, TRIM_THRESHOLD)
    )
