"""How long a face that appears in a still scene takes to be published (issue 20).

The loop skips a due scan while nothing changed outside the known faces, and checks the change
map again a third of ``scan_period`` later (core/localise.py ``_scan_due``). This measures what
that costs in latency: a still scene (scikit-image's coffee, +-2 grey levels of sensor noise per
frame) at 30 Hz, in which the astronaut's face (60 px wide at 640x480, scaled with the frame)
appears at once, at ``--trials`` moments spread over a scan period. Printed per frame size: the
time from the first frame showing the face to the first result publishing it (median / mean /
max), and the loop's CPU per frame (thread time of ``step``, mean).

Run it on another checkout for a before / after (the package comes from PYTHONPATH):

    PYTHONPATH=face_affect_ros .venv/bin/python bench/bench_appear.py [--sizes 640x480 1280x720]
"""

from __future__ import annotations

import argparse
import sys
import time

import cv2
import numpy as np
from face_affect_ros.core.pipeline import PipelineConfig
from face_affect_ros.core.temporal import PerceptionLoop, TemporalConfig
from skimage import data

RATE = 30.0


def trial(size: tuple[int, int], appear: float, seed: int) -> tuple[float, list[float]]:
    """(seconds from appearance to publication, CPU ms of each step) of one still-scene run."""
    scene = cv2.resize(np.ascontiguousarray(data.coffee()[:, :, ::-1]), size)
    scale = size[0] / 640
    face = cv2.resize(
        np.ascontiguousarray(data.astronaut()[0:240, 130:350, ::-1]),
        (round(60 * scale), round(66 * scale)),
    )
    x, y = int(size[0] * 0.6), int(size[1] * 0.3)
    rng = np.random.default_rng(seed)
    loop = PerceptionLoop(PipelineConfig(), TemporalConfig())
    cpu = []
    for i in range(int((appear + 2.0) * RATE)):
        t = i / RATE
        frame = scene.copy()
        if t >= appear:
            frame[y : y + face.shape[0], x : x + face.shape[1]] = face
        noisy = np.clip(frame + rng.integers(-2, 3, frame.shape), 0, 255).astype(np.uint8)
        c0 = time.thread_time()
        faces = loop.step(noisy, t).faces
        cpu.append(1e3 * (time.thread_time() - c0))
        if t >= appear and faces:
            return t - appear, cpu
    return float("inf"), cpu


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--sizes", nargs="*", default=["640x480", "1280x720"])
    ap.add_argument("--trials", type=int, default=24)
    args = ap.parse_args()
    cv2.setNumThreads(1)
    print("| frame | appearance -> published s: median / mean / max | CPU ms / frame (mean) |")
    print("|---:|---:|---:|")
    for spec in args.sizes:
        size = tuple(int(v) for v in spec.split("x"))
        delays, cpu = [], []
        for k in range(args.trials):
            # Moments spread over a little more than one scan period (0.3 s), after 2 s still.
            delay, steps = trial(size, 2.0 + 0.37 * k / args.trials, k)
            delays.append(delay)
            cpu += steps
        d = np.array(delays)
        print(
            f"| {spec} | {np.median(d):.3f} / {d.mean():.3f} / {d.max():.3f} | {np.mean(cpu):.2f} |"
        )
    return 0


if __name__ == "__main__":
    sys.exit(main())
