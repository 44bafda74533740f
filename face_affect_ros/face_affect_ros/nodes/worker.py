"""A worker thread fed by a newest-frame-wins slot; the one owner of what it processes with.

Why a worker thread: onnxruntime releases the GIL while it computes, so the executor thread
keeps taking camera frames (and parameter and lifecycle requests) while a frame is processed,
and the worker always starts on the newest frame. Frames replaced before the worker took them
are counted as `dropped_stale`.

Ownership: the stage objects (detector, classifier, pipeline) are used by the worker only.
A parameter change reaches them through :meth:`Worker.call_soon`, which runs the change on the
worker thread before its next frame; while no worker runs, the caller's thread is the only user
and the change runs at once.
"""

from __future__ import annotations

import threading
from collections.abc import Callable
from typing import Any

from face_affect_ros.core.frames import LatestFrame
from face_affect_ros.nodes.diagnostics import Stats

# How long the worker waits for a frame before checking whether it should stop.
WORKER_POLL_S = 0.2


class Worker:
    """Runs `handle(item)` on a thread for the newest submitted item; errors are counted."""

    def __init__(
        self,
        name: str,
        handle: Callable[[Any], None],
        stats: Stats,
        logger: Any,
        source: Callable[[float], Any] | None = None,
        wake: Callable[[], None] | None = None,
    ) -> None:
        """`source(timeout)`: where the worker takes items itself, instead of submit()'s slot.

        `source` returns None when it has none yet; `wake()` makes a waiting one return at once.
        """
        self._source = source
        self._wake = wake
        self._name = name
        self._handle = handle
        self._stats = stats
        self._logger = logger
        self._slot: LatestFrame | None = None
        self._thread: threading.Thread | None = None
        self._pending: list[Callable[[], None]] = []
        self._pending_lock = threading.Lock()

    @property
    def running(self) -> bool:
        """True between start() and stop()."""
        return self._thread is not None

    def start(self) -> None:
        """Start the thread (on activate)."""
        self._slot = LatestFrame()
        self._thread = threading.Thread(target=self._loop, name=self._name, daemon=True)
        self._thread.start()

    def stop(self) -> None:
        """Stop after the item in progress; changes not yet applied run here."""
        if self._slot is not None:
            self._slot.close()
        if self._wake is not None:
            self._wake()
        if self._thread is not None:
            self._thread.join()
        self._slot = self._thread = None
        self._run_pending()

    def submit(self, item: Any) -> None:
        """Hand an item to the worker, replacing (and counting) one it has not taken yet."""
        slot = self._slot
        if slot is not None and slot.put(item):
            self._stats.count("dropped_stale")

    def call_soon(self, change: Callable[[], None]) -> None:
        """Run `change` on the worker thread before its next item (now, if not running)."""
        with self._pending_lock:
            self._pending.append(change)
        if self._thread is None:
            self._run_pending()

    def _run_pending(self) -> None:
        with self._pending_lock:
            pending, self._pending = self._pending, []
        for change in pending:
            try:
                change()
            except Exception as exc:
                self._stats.count("error_reconfigure")
                self._logger.error(f"parameter change not applied: {exc!r}")

    def _loop(self) -> None:
        slot = self._slot
        while slot is not None and not slot.closed:
            item = slot.take(WORKER_POLL_S) if self._source is None else self._source(WORKER_POLL_S)
            self._run_pending()
            if item is None:
                continue
            try:
                self._handle(item)
            except ValueError as exc:
                self._stats.count("error_processing")
                self._logger.warning(f"frame dropped: {exc}", throttle_duration_sec=1.0)
            except Exception as exc:
                self._stats.count("error_processing")
                self._logger.error(
                    f"frame dropped by an unexpected error: {exc!r}", throttle_duration_sec=1.0
                )
