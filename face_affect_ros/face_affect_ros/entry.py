"""Console-script entry points that exit cleanly on SIGINT / SIGTERM from their first line.

Why a separate, tiny module: a console script imports its target module before calling it, and
the nodes' modules import rclpy, onnxruntime and OpenCV (about a second). A signal in that
second used to print a KeyboardInterrupt traceback (SIGINT, exit -2) or kill the process
unannounced (SIGTERM, exit -15). Here the handlers go in before anything heavy is imported, then
the real module is imported and its main() called:

- while importing (`quiet_until_started`): SIGINT / SIGTERM exit at once, status 0 for a node
  (a requested stop), 130 for a command-line tool (interrupted), no traceback;
- from then on the program takes over: the nodes' run() records the signal and stops at the
  next safe point (`DeferredSignals`), the CLIs have their own handlers;
- once main() has returned, both signals are ignored (`ignore_while_exiting`), so the status
  main() returned is the process's status even if a signal lands during interpreter shutdown.

Nothing here imports ROS; importing this module has no side effect (handlers are installed by
the entry functions only, never by an `import face_affect_ros...`).
"""

from __future__ import annotations

import contextlib
import importlib
import os
import signal
import sys
from collections.abc import Callable
from types import FrameType

# Exit status after a stop by SIGINT / SIGTERM: a node that was asked to stop did what it should
# (0, as rclpy nodes do when stopped while spinning); a tool whose job was cut short did not
# (130, the shell's status for Ctrl-C).
NODE_EXIT_ON_SIGNAL = 0
TOOL_EXIT_ON_SIGNAL = 130
STOP_SIGNALS = (signal.SIGINT, signal.SIGTERM)


def quiet_until_started(status: int) -> None:
    """Make SIGINT / SIGTERM exit with `status` at once, no traceback (during imports).

    os._exit, not SystemExit: an exception raised while a C extension initialises (onnxruntime's
    pybind11 module, measured) turns into "ImportError: initialization failed" with a traceback.
    Nothing needs cleaning up yet: no thread, no ROS context, no file written.
    """

    def _exit(signum: int, frame: FrameType | None) -> None:
        for stream in (sys.stdout, sys.stderr):
            with contextlib.suppress(OSError, ValueError):
                stream.flush()
        os._exit(status)

    for sig in STOP_SIGNALS:
        signal.signal(sig, _exit)


def ignore_while_exiting() -> None:
    """Ignore SIGINT / SIGTERM from here to the end of the process.

    When main() has returned, the interpreter's finalisation puts every Python-handled signal
    back to its default action, so a signal landing then (measured: the 0.1 s after
    face-affect-bag finishes) killed the process with status -2 / -15 instead of the status main()
    returned. Ignored signals are left ignored by the finalisation; the process is exiting anyway.
    """
    for sig in STOP_SIGNALS:
        signal.signal(sig, signal.SIG_IGN)


class DeferredSignals:
    """Record SIGINT / SIGTERM instead of raising, so no half-built object sees an exception.

    A KeyboardInterrupt raised inside rclpy's Executor constructor or a node's configure leaves
    objects whose __del__ prints tracebacks, or a half-configured node that logs "context is
    invalid". The program checks `received` at safe points (after construction, after
    configure) and stops there; `on_signal` callbacks (e.g. waking an executor) run in the main
    thread, as Python runs signal handlers.
    """

    def __init__(self) -> None:
        self.received: int | None = None
        self._callbacks: list[Callable[[], None]] = []
        self._previous = {sig: signal.signal(sig, self._on) for sig in STOP_SIGNALS}

    def _on(self, signum: int, frame: FrameType | None) -> None:
        self.received = signum
        for callback in list(self._callbacks):
            callback()

    def on_signal(self, callback: Callable[[], None]) -> None:
        """Call `callback` (in the main thread) when a signal arrives."""
        self._callbacks.append(callback)

    def restore(self) -> None:
        """Put back the handlers found on construction."""
        for sig, handler in self._previous.items():
            signal.signal(sig, handler)


def _run(module: str, function: str, status: int) -> Callable[[], int | None]:
    def entry() -> int | None:
        quiet_until_started(status)
        try:
            return getattr(importlib.import_module(module), function)()
        finally:
            ignore_while_exiting()

    entry.__name__ = entry.__qualname__ = f"{module.rsplit('.', 1)[-1]}_{function}"
    entry.__doc__ = f"Console script: {module}.{function}() with clean exits on signals."
    return entry


camera_node = _run("face_affect_ros.nodes.camera_node", "main", NODE_EXIT_ON_SIGNAL)
detector_node = _run("face_affect_ros.nodes.detector_node", "main", NODE_EXIT_ON_SIGNAL)
classifier_node = _run("face_affect_ros.nodes.classifier_node", "main", NODE_EXIT_ON_SIGNAL)
face_affect_node = _run("face_affect_ros.nodes.face_affect_node", "main", NODE_EXIT_ON_SIGNAL)
hri_node = _run("face_affect_ros.nodes.hri_node", "main", NODE_EXIT_ON_SIGNAL)
face_affect_image = _run("face_affect_ros.cli.image", "main", TOOL_EXIT_ON_SIGNAL)
face_affect_bag = _run("face_affect_ros.cli.bag", "main", TOOL_EXIT_ON_SIGNAL)
face_affect_demo = _run("face_affect_ros.cli.demo", "main", TOOL_EXIT_ON_SIGNAL)


if __name__ == "__main__":  # python -m face_affect_ros.entry <console script name> [args]
    quiet_until_started(NODE_EXIT_ON_SIGNAL)
    sys.exit(globals()[sys.argv.pop(1).replace("-", "_")]())
