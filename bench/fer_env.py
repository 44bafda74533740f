"""The separate venv that runs the PyPI package ``fer`` for comparison, and a client for it.

``fer`` (emotion only, Haar cascade + the paper's mini-Xception) is what a user would otherwise
install. It needs TensorFlow and OpenCV 4.x (OpenCV 5 has no Haar cascades), so it never goes
into the package's own dependencies: it lives in ``bench/.fer-venv/`` (git-ignored), created on
first use from the exact pins in ``bench/requirements-fer.txt`` and rebuilt when that file
changes.

Install recipe (what :func:`ensure_fer_venv` does; every package is pinned and installed with
``--no-deps``, because fer's own metadata cannot be resolved as published):

1. ``python -m venv bench/.fer-venv`` from the interpreter running this file (Python 3.11: the
   lock and the CPU torch wheel are for 3.11);
2. ``pip install --no-deps --prefer-binary`` every pinned line except torch and
   facenet-pytorch: fer, ``tensorflow-cpu`` (fer asks for ``tensorflow``; the CPU build is the
   same library without CUDA support), ``opencv-contrib-python`` 4.x (fer's declared OpenCV;
   it ships the Haar cascades), fer's other declared dependencies and ``setuptools<81`` (fer
   imports ``pkg_resources``);
3. optional, for fer's MTCNN detector only: ``torch==2.13.0+cpu`` and ``facenet-pytorch``.
   facenet-pytorch 2.6.0 pins ``torch<2.3`` and ``numpy<2``, which on PyPI means a multi-GB
   CUDA torch; the local-version pin ``+cpu`` can only match the CPU wheel this machine has
   on disk (pip's find-links), so it never falls back to a CUDA download: if the wheel is not
   there, this step fails and the MTCNN rows are skipped. torchvision is not installed (its
   PyPI wheels need CUDA torch); ``fer_worker.py`` shims the one function MTCNN uses.

Usage:
    python bench/fer_env.py            create / check the venv, print versions and size
    python bench/fer_env.py --rebuild  delete and recreate it
    python bench/fer_env.py --freeze   rewrite bench/requirements-fer.txt from the venv
"""

from __future__ import annotations

import argparse
import contextlib
import hashlib
import json
import os
import shutil
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import numpy as np

BENCH_DIR = Path(__file__).resolve().parent
VENV_DIR = BENCH_DIR / ".fer-venv"
LOCK_FILE = BENCH_DIR / "requirements-fer.txt"
WORKER = BENCH_DIR / "fer_worker.py"
STAMP = VENV_DIR / ".lock-sha256"
WORKER_LOG = VENV_DIR / "worker.log"
#: Packages installed in a separate, optional step (fer's MTCNN detector only).
OPTIONAL = ("torch", "facenet-pytorch")
LOCK_PYTHON = (3, 11)

_LOCK_HEADER = """\
# Exact pins of bench/.fer-venv (the PyPI package fer, for bench/bench_vs_fer.py only; never a
# dependency of face_affect_ros). Installed by bench/fer_env.py with `pip install --no-deps`:
# fer's metadata asks for tensorflow (tensorflow-cpu used: same library, no CUDA) and
# facenet-pytorch 2.6.0 pins torch<2.3 / numpy<2 (ignored; torch and facenet-pytorch are an
# optional second step, MTCNN only). Python 3.11. Regenerate: python bench/fer_env.py --freeze
"""


class FerUnavailableError(RuntimeError):
    """The fer venv cannot be created or used here; the message says why."""


def venv_python() -> Path:
    """Path of the fer venv's interpreter (it may not exist yet)."""
    return VENV_DIR / "bin" / "python"


def _lock_lines() -> list[str]:
    if not LOCK_FILE.is_file():
        raise FerUnavailableError(f"{LOCK_FILE} is missing")
    lines = []
    for raw in LOCK_FILE.read_text().splitlines():
        line = raw.split("#", 1)[0].strip()
        if line:
            lines.append(line)
    return lines


def _lock_digest() -> str:
    return hashlib.sha256(LOCK_FILE.read_bytes()).hexdigest()


def _is_optional(line: str) -> bool:
    name = line.split("==", 1)[0].strip().lower().replace("_", "-")
    return name in OPTIONAL


def _pip(args: list[str], log: Path) -> None:
    cmd = [str(venv_python()), "-m", "pip", "--disable-pip-version-check", *args]
    with log.open("a") as out:
        out.write("$ " + " ".join(cmd) + "\n")
        out.flush()
        proc = subprocess.run(cmd, stdout=out, stderr=subprocess.STDOUT, check=False)
    if proc.returncode != 0:
        raise subprocess.CalledProcessError(proc.returncode, cmd)


def ensure_fer_venv(rebuild: bool = False, verbose: bool = True) -> Path:
    """Create ``bench/.fer-venv`` from the lock file if needed; return its interpreter.

    Raises:
        FerUnavailableError: wrong Python version, no lock file, or the install failed (the pip log
            path is in the message).
    """
    say = print if verbose else (lambda *_a, **_k: None)
    digest = _lock_digest() if LOCK_FILE.is_file() else None
    if not rebuild and venv_python().exists() and STAMP.is_file():
        if STAMP.read_text().split()[0] == digest:
            return venv_python()
        say(f"[fer_env] {LOCK_FILE.name} changed: rebuilding {VENV_DIR}")
    if sys.version_info[:2] != LOCK_PYTHON:
        raise FerUnavailableError(
            f"the fer lock is for Python {'.'.join(map(str, LOCK_PYTHON))}, this is "
            f"{sys.version.split()[0]}"
        )
    lines = _lock_lines()
    if VENV_DIR.exists():
        shutil.rmtree(VENV_DIR)
    VENV_DIR.mkdir(parents=True)
    log = VENV_DIR / "install.log"
    log.write_text("")
    say(f"[fer_env] creating {VENV_DIR} (TensorFlow, OpenCV 4, fer; a few minutes) log: {log}")
    t0 = time.perf_counter()
    try:
        subprocess.run([sys.executable, "-m", "venv", str(VENV_DIR)], check=True)
    except (OSError, subprocess.CalledProcessError) as exc:
        raise FerUnavailableError(f"creating {VENV_DIR} failed: {exc}") from exc
    required = [ln for ln in lines if not _is_optional(ln)]
    optional = [ln for ln in lines if _is_optional(ln)]
    try:
        _pip(["install", "--no-deps", "--prefer-binary", *required], log)
    except subprocess.CalledProcessError as exc:
        raise FerUnavailableError(f"installing the fer venv failed (see {log})") from exc
    mtcnn = "not in lock"
    if optional:
        try:
            _pip(["install", "--no-deps", "--prefer-binary", *optional], log)
            mtcnn = "installed"
        except subprocess.CalledProcessError:
            mtcnn = f"unavailable (see {log}); fer's MTCNN rows are skipped"
    STAMP.write_text(f"{digest}\nmtcnn: {mtcnn}\ninstall_s: {time.perf_counter() - t0:.0f}\n")
    say(f"[fer_env] done in {time.perf_counter() - t0:.0f} s; torch/facenet-pytorch: {mtcnn}")
    return venv_python()


def venv_size_bytes() -> int:
    """Bytes used by the fer venv on disk (0 when absent)."""
    total = 0
    for root, _dirs, files in os.walk(VENV_DIR):
        for name in files:
            path = os.path.join(root, name)
            if not os.path.islink(path):
                total += os.path.getsize(path)
    return total


def install_record() -> dict[str, str]:
    """Return what :func:`ensure_fer_venv` recorded (lock digest, MTCNN status, install seconds)."""
    if not STAMP.is_file():
        return {}
    lines = STAMP.read_text().splitlines()
    record = {"lock_sha256": lines[0]}
    for line in lines[1:]:
        key, _, value = line.partition(": ")
        record[key] = value
    return record


def freeze() -> None:
    """Rewrite the lock file from what is installed in the venv (after a manual change)."""
    out = subprocess.run(
        [str(venv_python()), "-m", "pip", "freeze", "--all", "--disable-pip-version-check"],
        check=True,
        capture_output=True,
        text=True,
    ).stdout
    pins = sorted(
        (ln for ln in out.splitlines() if ln and not ln.lower().startswith("pip==")),
        key=str.lower,
    )
    LOCK_FILE.write_text(_LOCK_HEADER + "\n".join(pins) + "\n")
    STAMP.write_text(f"{_lock_digest()}\nmtcnn: as frozen\n")
    print(f"wrote {len(pins)} pins to {LOCK_FILE}")


class FerWorker:
    """A long-lived ``fer_worker.py`` process in the fer venv, driven over pipes.

    The worker times ``FER.detect_emotions`` itself (wall and CPU), so pipe transfer and JSON
    encoding are outside the measured interval.
    """

    def __init__(self, python: Path | None = None) -> None:
        python = python or ensure_fer_venv()
        env = dict(os.environ)
        env.pop("PYTHONPATH", None)  # keep the main venv's packages out of the worker
        env["TF_CPP_MIN_LOG_LEVEL"] = "2"
        self._stderr = open(WORKER_LOG, "w")  # noqa: SIM115 - closed in close()
        self._proc = subprocess.Popen(
            [str(python), str(WORKER)],
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            stderr=self._stderr,
            env=env,
        )

    def _call(self, request: dict[str, Any], payload: bytes = b"") -> dict[str, Any]:
        assert self._proc.stdin is not None and self._proc.stdout is not None
        self._proc.stdin.write(json.dumps(request).encode() + b"\n" + payload)
        self._proc.stdin.flush()
        line = self._proc.stdout.readline()
        if not line:
            raise FerUnavailableError(
                f"fer worker exited (code {self._proc.poll()}); see {WORKER_LOG}"
            )
        reply = json.loads(line)
        if not reply.get("ok"):
            raise RuntimeError(f"fer worker: {reply.get('error')}")
        return reply

    def info(self) -> dict[str, Any]:
        """Versions inside the fer venv and OpenCV's default thread count there."""
        return self._call({"cmd": "info"})

    def load(self, config: str) -> dict[str, Any]:
        """Build one fer configuration (``fer``, ``fer_keras``, ``fer_mtcnn``) ahead of timing."""
        return self._call({"cmd": "load", "config": config})

    def run(
        self,
        config: str,
        image: np.ndarray,
        stages: bool = False,
        cv2_threads: int | None = None,
    ) -> dict[str, Any]:
        """Run ``detect_emotions`` on one BGR uint8 frame; return times (ms) and faces."""
        image = np.ascontiguousarray(image, dtype=np.uint8)
        if image.ndim != 3 or image.shape[2] != 3:
            raise ValueError(f"fer worker takes HxWx3 BGR frames, got shape {image.shape}")
        request = {
            "cmd": "run",
            "config": config,
            "shape": list(image.shape),
            "stages": stages,
            "cv2_threads": cv2_threads,
        }
        return self._call(request, image.tobytes())

    def close(self) -> None:
        """Ask the worker to quit and wait for it."""
        if self._proc.poll() is None:
            with contextlib.suppress(FerUnavailableError, BrokenPipeError, json.JSONDecodeError):
                self._call({"cmd": "quit"})
            try:
                self._proc.wait(timeout=30)
            except subprocess.TimeoutExpired:
                self._proc.kill()
        self._stderr.close()

    def __enter__(self) -> FerWorker:
        return self

    def __exit__(self, *_exc: object) -> None:
        self.close()


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n", 1)[0])
    parser.add_argument("--rebuild", action="store_true", help="delete and recreate the venv")
    parser.add_argument("--freeze", action="store_true", help="rewrite the lock from the venv")
    args = parser.parse_args()
    if args.freeze:
        freeze()
        return 0
    try:
        ensure_fer_venv(rebuild=args.rebuild)
    except FerUnavailableError as exc:
        print(f"fer venv unavailable: {exc}", file=sys.stderr)
        return 1
    with FerWorker() as worker:
        info = worker.info()
    print(json.dumps(info["versions"], indent=1))
    print(f"venv size: {venv_size_bytes() / 2**30:.2f} GiB; install: {install_record()}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
