"""Shared helpers of the benchmarks in bench/: test frames, statistics, tables, JSON results.

Test frames are built from real faces that ship with scikit-image (no download):

* ``skimage.data.astronaut()``: Eileen Collins, one smiling face, 512x512 RGB (public domain);
  :data:`ASTRONAUT_FACE` is her face box in that image (YuNet's box, rounded);
* ``skimage.data.lfw_subset()``: 100 face patches (25x25 grey, tight Viola-Jones crops from
  Labeled Faces in the Wild) and 100 non-face patches; faces are upscaled and pasted;
* ``skimage.data.rocket()`` / ``coffee()`` as backgrounds and as the no-face frames.

Every frame carries its ground-truth face boxes so a benchmark can check what was found.
"""

from __future__ import annotations

import datetime as _dt
import json
import os
import platform
import statistics
import subprocess
import sys
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from functools import cache
from pathlib import Path
from typing import Any

import cv2
import numpy as np

BENCH_DIR = Path(__file__).resolve().parent
REPO_DIR = BENCH_DIR.parent
RESULTS_DIR = BENCH_DIR / "results"

# Benchmark the working tree's core even when an older copy is installed in the venv.
if str(REPO_DIR / "face_affect_ros") not in sys.path:
    sys.path.insert(0, str(REPO_DIR / "face_affect_ros"))

from face_affect_ros.core.tracking import box_iou  # noqa: E402 - after the sys.path line

#: (x, y, w, h) of the astronaut's face in the 512x512 original (YuNet n, rounded).
ASTRONAUT_FACE = (178.0, 66.0, 96.0, 113.0)
#: Head-and-shoulders region around that face used when pasting the astronaut small.
ASTRONAUT_HEAD = (118, 6, 216, 260)  # x, y, w, h in the original
#: Detections match a ground-truth box at this IoU (YuNet boxes are narrower than the square
#: lfw patches and Haar boxes, so well-placed boxes give IoU 0.5-0.8).
MATCH_IOU = 0.3

Box = tuple[float, float, float, float]


@dataclass
class Frame:
    """A BGR uint8 test frame and the boxes of the real faces pasted into it."""

    name: str
    image: np.ndarray
    faces: list[Box] = field(default_factory=list)
    sources: list[str] = field(default_factory=list)

    @property
    def size(self) -> str:
        return f"{self.image.shape[1]}x{self.image.shape[0]}"


# ----------------------------------------------------------------------------- frames
@cache
def _astronaut() -> np.ndarray:
    from skimage import data

    return np.ascontiguousarray(data.astronaut()[:, :, ::-1])


@cache
def _lfw() -> np.ndarray:
    from skimage import data

    return data.lfw_subset()


def background(name: str, width: int, height: int) -> np.ndarray:
    """Return a skimage picture (``rocket``, ``coffee``, ...) resized to width x height, BGR."""
    from skimage import data

    image = getattr(data, name)()
    if image.ndim == 2:
        image = np.repeat(image[:, :, None], 3, axis=2)
    image = np.ascontiguousarray(image[:, :, ::-1])
    return cv2.resize(image, (width, height), interpolation=cv2.INTER_AREA)


def lfw_face(index: int, size: int) -> np.ndarray:
    """Return lfw face patch ``index`` (0-99) upscaled to size x size, BGR uint8."""
    if not 0 <= index < 100:
        raise ValueError(f"lfw face index must be in [0, 100), got {index}")
    patch = (_lfw()[index] * 255.0).astype(np.float32)
    patch = cv2.resize(patch, (size, size), interpolation=cv2.INTER_CUBIC)
    patch = np.clip(patch + 0.5, 0, 255).astype(np.uint8)
    return cv2.cvtColor(patch, cv2.COLOR_GRAY2BGR)


def paste_lfw(frame: Frame, index: int, size: int, x: int, y: int) -> None:
    """Paste lfw face ``index`` at (x, y) with side ``size``; record its box."""
    frame.image[y : y + size, x : x + size] = lfw_face(index, size)
    frame.faces.append((float(x), float(y), float(size), float(size)))
    frame.sources.append(f"lfw{index}")


def paste_astronaut(frame: Frame, width: int, x: int, y: int, head: bool = False) -> None:
    """Paste the astronaut scaled to ``width`` px wide at (x, y); record her face box.

    The whole picture, or only the head region :data:`ASTRONAUT_HEAD` when ``head``.
    """
    img = _astronaut()
    rx, ry, rw, rh = ASTRONAUT_HEAD if head else (0, 0, img.shape[1], img.shape[0])
    region = img[ry : ry + rh, rx : rx + rw]
    s = width / rw
    height = round(rh * s)
    frame.image[y : y + height, x : x + width] = cv2.resize(
        region, (width, height), interpolation=cv2.INTER_AREA
    )
    fx, fy, fw, fh = ASTRONAUT_FACE
    frame.faces.append((x + (fx - rx) * s, y + (fy - ry) * s, fw * s, fh * s))
    frame.sources.append("astronaut")


def comparison_frames() -> list[Frame]:
    """Return the 640x480 frames of bench_vs_fer: one face, several faces, two without."""
    one = Frame("one_face", background("rocket", 640, 480))
    paste_astronaut(one, 480, 80, 0)  # face about 90x106 px

    several = Frame("several_faces", background("rocket", 640, 480))
    paste_astronaut(several, 320, 8, 80)  # face about 60x71 px
    for (x, y), index in zip(
        ((352, 24), (496, 24), (352, 248), (496, 248)), (0, 1, 2, 3), strict=True
    ):
        paste_lfw(several, index, 112, x, y)

    coffee = Frame("no_face_coffee", background("coffee", 640, 480))
    rocket = Frame("no_face_rocket", background("rocket", 640, 480))
    return [one, several, coffee, rocket]


def agreement_frames() -> list[Frame]:
    """Return frames for the answer comparison: 108 real faces in 33 frames.

    All 100 lfw faces (4 per frame, 128 or 144 px) and the astronaut at four scales, mirrored
    and not.
    """
    frames = []
    spots = ((48, 40), (336, 40), (48, 296), (336, 296))
    for start in range(0, 100, 4):
        frame = Frame(f"lfw{start:02d}-{start + 3:02d}", background("rocket", 640, 480))
        for (x, y), index in zip(spots, range(start, start + 4), strict=True):
            paste_lfw(frame, index, 128 + 16 * (index % 2), x + 8, y)
        frames.append(frame)
    for width in (480, 400, 320, 256):
        for mirror in (False, True):
            frame = Frame(
                f"astronaut{width}{'_mirror' if mirror else ''}", background("rocket", 640, 480)
            )
            paste_astronaut(frame, width, (640 - width) // 2, 0)
            if mirror:
                frame.image = np.ascontiguousarray(frame.image[:, ::-1])
                x, y, w, h = frame.faces[0]
                frame.faces[0] = (640 - x - w, y, w, h)
            frames.append(frame)
    return frames


def crowd_frame(count: int, width: int = 640, height: int = 480, face: int = 88) -> Frame:
    """``count`` real faces (the astronaut's head first, then lfw faces) in a grid."""
    cols = max(1, min(count, width // (face + 32)))
    rows = -(-count // cols)
    if rows * (face + 32) > height:
        raise ValueError(f"{count} faces of {face} px do not fit in {width}x{height}")
    frame = Frame(f"{count}_faces", background("rocket", width, height))
    cell_w, cell_h = width // cols, height // rows
    for k in range(count):
        r, c = divmod(k, cols)
        x = c * cell_w + (cell_w - face) // 2
        y = r * cell_h + (cell_h - face) // 2
        if k == 0:
            paste_astronaut(frame, face, x, max(0, y - face // 4), head=True)
        else:
            paste_lfw(frame, k - 1, face, x, y)
    return frame


def sized_frame(width: int, height: int) -> Frame:
    """Return one face at the same share of the frame whatever its size.

    The astronaut's head region scaled to 40 % of the frame height, centred.
    """
    frame = Frame(f"{width}x{height}", background("rocket", width, height))
    _, _, hw, hh = ASTRONAUT_HEAD
    w = round(0.4 * height * hw / hh)
    paste_astronaut(frame, w, (width - w) // 2, round(0.3 * height), head=True)
    return frame


# ----------------------------------------------------------------------------- matching
#: Intersection over union of two (x, y, w, h) boxes: the tracker's, one implementation.
iou = box_iou


def match(truth: Sequence[Box], found: Sequence[Sequence[float]]) -> list[int | None]:
    """For each ground-truth box, the index of its detection (greedy by IoU) or None."""
    pairs = sorted(
        ((iou(t, f), ti, fi) for ti, t in enumerate(truth) for fi, f in enumerate(found)),
        reverse=True,
    )
    out: list[int | None] = [None] * len(truth)
    used: set[int] = set()
    for score, ti, fi in pairs:
        if score < MATCH_IOU:
            break
        if out[ti] is None and fi not in used:
            out[ti] = fi
            used.add(fi)
    return out


# ----------------------------------------------------------------------------- statistics
def summarize(samples: Iterable[float]) -> dict[str, float]:
    """Median, p95, mean, min, max and count of a list of samples."""
    values = np.asarray(list(samples), dtype=np.float64)
    if values.size == 0:
        return {"n": 0}
    return {
        "median": float(np.median(values)),
        "p95": float(np.percentile(values, 95)),
        "mean": float(values.mean()),
        "min": float(values.min()),
        "max": float(values.max()),
        "n": int(values.size),
    }


def ratio_summary(numerators: Sequence[float], denominators: Sequence[float]) -> dict[str, float]:
    """Summarize pair-by-pair ratios a_i / b_i.

    Their median and 5th / 95th percentiles, plus the ratio of the two medians.
    """
    ratios = np.asarray(numerators, dtype=np.float64) / np.asarray(denominators, dtype=np.float64)
    return {
        "median_of_ratios": float(np.median(ratios)),
        "p5": float(np.percentile(ratios, 5)),
        "p95": float(np.percentile(ratios, 95)),
        "ratio_of_medians": float(statistics.median(numerators) / statistics.median(denominators)),
        "n": int(ratios.size),
    }


# ----------------------------------------------------------------------------- output
def _cpu_model() -> str:
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.lower().startswith("model name"):
                return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or "unknown"


def _git(*args: str) -> str | None:
    try:
        return subprocess.run(
            ["git", "-C", str(REPO_DIR), *args], capture_output=True, text=True, check=True
        ).stdout.strip()
    except (OSError, subprocess.CalledProcessError):
        return None


def load_average() -> list[float] | None:
    """1, 5 and 15 minute load averages (other processes compete for the cores)."""
    return [round(v, 2) for v in os.getloadavg()] if hasattr(os, "getloadavg") else None


def machine_info() -> dict[str, Any]:
    """CPU model, cores, load, Python and library versions, date: stored with every result."""
    import onnxruntime

    info: dict[str, Any] = {
        "date": _dt.datetime.now(_dt.timezone.utc).isoformat(timespec="seconds"),
        "cpu_model": _cpu_model(),
        "logical_cpus": os.cpu_count(),
        "usable_cpus": len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else None,
        "load_average_1_5_15": load_average(),
        "platform": platform.platform(),
        "python": platform.python_version(),
        "onnxruntime": onnxruntime.__version__,
        "numpy": np.__version__,
        "opencv": cv2.__version__,
        "git_commit": _git("rev-parse", "--short", "HEAD") or "unknown",
        # Benchmarks run the working tree: say whether the core differed from that commit.
        "core_uncommitted_changes": bool(
            _git("status", "--porcelain", "--", "face_affect_ros/face_affect_ros/core")
        ),
    }
    for var in ("OPENBLAS_CORETYPE", "OMP_NUM_THREADS"):
        if var in os.environ:
            info[var] = os.environ[var]
    return info


def write_results(name: str, payload: dict[str, Any]) -> Path:
    """Write ``bench/results/<name>.json`` (atomically) with machine info added."""
    RESULTS_DIR.mkdir(parents=True, exist_ok=True)
    path = RESULTS_DIR / f"{name}.json"
    tmp = path.with_suffix(".json.tmp")
    document = {"benchmark": name, "machine": machine_info(), **payload}
    tmp.write_text(json.dumps(document, indent=1, sort_keys=False) + "\n")
    tmp.replace(path)
    return path


def table(headers: Sequence[str], rows: Iterable[Sequence[Any]]) -> str:
    """Return a Markdown table (cells formatted by the caller) that reads well in a terminal."""
    text_rows = [[str(c) for c in row] for row in rows]
    widths = [max([len(h), *(len(r[i]) for r in text_rows)]) for i, h in enumerate(headers)]

    def line(cells: Sequence[str]) -> str:
        return "| " + " | ".join(c.rjust(w) for c, w in zip(cells, widths, strict=True)) + " |"

    out = [line(headers), "|" + "|".join("-" * (w + 1) + ":" for w in widths) + "|"]
    out += [line(r) for r in text_rows]
    return "\n".join(out)


def fmt(value: float | None, digits: int = 1) -> str:
    """Format a number for a table; '-' for None."""
    return "-" if value is None else f"{value:.{digits}f}"
