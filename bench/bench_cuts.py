"""Cuts and fast turns: how many frames after a cut until every new face is published.

Why: a face that appears with a cut (a recording edited together, the robot turning its head
fast) used to wait for the next scheduled scan (``scan_period``, 0.3 s = 9 frames at 30 Hz, up
to ``scan_idle_period`` 2 s when the change map saw nothing new); with ``cut_fraction`` the
scan runs in the frame of the cut. Sequences:

* ``cuts``: the moving sequence (bag/make_moving.py) cut together with non-face footage: 1 s
  segments alternating between the non-face pan and the face sequence at different times (a
  cut every second, 8 of them into faces);
* ``continuous``: the moving sequence itself (18 s, no cut) and 18 s of the non-face pan: a
  cut seen there is a false one (an extra scan, nothing worse).

For each loop setting (cut detection on, off) the same frames in one run: frames from each cut
into faces until all ground-truth faces are published (IoU >= 0.3), scans per frame, CPU ms per
frame (median). Run: ``python bench/bench_cuts.py``.
"""

from __future__ import annotations

import argparse
import statistics
import time

import numpy as np
from face_affect_ros.bag import make_moving as mm
from face_affect_ros.bag.sequence_metrics import MATCH_IOU
from face_affect_ros.core.pipeline import FaceAffectPipeline, PipelineConfig
from face_affect_ros.core.temporal import PerceptionLoop, TemporalConfig
from face_affect_ros.core.tracking import box_iou

RATE = mm.RATE_HZ
#: Start times (s) of the face segments: the astronaut close, the cameraman walking, the
#: astronaut far away (20-40 px), the far stranger at 24 px, the astronaut back, the cat.
FACE_STARTS = (0.5, 2.5, 5.0, 7.5, 9.8, 12.5, 14.0, 16.0)


def cut_sequence() -> list[tuple[float, np.ndarray, list[dict], bool]]:
    """(t, frame, truth, cut_here) of the cut sequence, 30 Hz."""
    nonface = [f for _, f in mm.nonface_frames(len(FACE_STARTS) * RATE)]
    frames = []
    k = 0
    for seg, start in enumerate(FACE_STARTS):
        for i in range(RATE):  # 1 s of non-face footage
            frames.append((k / RATE, nonface[seg * RATE + i], [], i == 0 and seg > 0))
            k += 1
        for i in range(RATE):  # cut to 1 s of faces
            image, truth = mm.render(start + i / RATE)
            frames.append((k / RATE, mm.jpeg_round_trip(image), truth, i == 0))
            k += 1
    return frames


def run(frames, temporal: TemporalConfig, pipeline: FaceAffectPipeline) -> dict:
    loop = PerceptionLoop(pipeline=pipeline, temporal=temporal)
    delays: list[int] = []
    pending: int | None = None  # frame index of the last cut into faces not yet all found
    cpu = []
    for k, (t, image, truth, cut) in enumerate(frames):
        faces_gt = [g for g in truth if g["kind"] == "face" and g["box"][2] >= 20]
        if cut and faces_gt:
            if pending is not None:
                delays.append(RATE)  # never found within the segment: count as a full second
            pending = k
        c0 = time.process_time()
        result = loop.step(image, t)
        cpu.append((time.process_time() - c0) * 1e3)
        if pending is not None and faces_gt:
            found = all(
                any(box_iou(g["box"], f.detection.box) >= MATCH_IOU for f in result.faces)
                for g in faces_gt
            )
            if found:
                delays.append(k - pending)
                pending = None
    if pending is not None:
        delays.append(RATE)
    c = loop.counters
    return {
        "delays": delays,
        "scans_per_frame": c.scans / c.frames,
        "cuts": c.cuts,
        "cpu_ms": statistics.median(cpu),
        "cpu_mean_ms": statistics.fmean(cpu),
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.parse_args()
    pipeline = FaceAffectPipeline(PipelineConfig())
    frames = cut_sequence()
    print(f"cut sequence: {len(frames)} frames at {RATE} Hz, {len(FACE_STARTS)} cuts into faces")
    rows = []
    for name, tmp in (
        ("cut detection on (cut_fraction 0.5)", TemporalConfig()),
        ("cut detection off (cut_fraction 0)", TemporalConfig(cut_fraction=0.0)),
    ):
        r = run(frames, tmp, pipeline)
        rows.append((name, r))
    print(
        f"{'loop':<38} {'frames to all faces after each cut':<36} {'median':>6} {'max':>4} "
        f"{'cuts seen':>9} {'scans/frame':>11} {'CPU ms/frame median / mean':>27}"
    )
    for name, r in rows:
        d = r["delays"]
        r["d"] = d
        print(
            f"{name:<38} {d!s:<36} {statistics.median(d):>6.1f} {max(d):>4} {r['cuts']:>9} "
            f"{r['scans_per_frame']:>11.3f} {r['cpu_ms']:>13.2f} / {r['cpu_mean_ms']:.2f}"
        )
    false_cuts(pipeline)


def false_cuts(pipeline: FaceAffectPipeline) -> None:
    """Cuts seen on continuous footage (there are none)."""
    loop = PerceptionLoop(pipeline=pipeline, temporal=TemporalConfig())
    for t, image, _ in mm.face_frames():
        loop.step(image, t)
    offset = mm.FACE_SECONDS + 1.0
    for t, image in mm.nonface_frames(round(mm.FACE_SECONDS * RATE)):
        loop.step(image, offset + t)
    c = loop.counters
    print(f"continuous footage: {c.frames} frames, {c.cuts} cut(s) seen (1 expected: the switch)")


if __name__ == "__main__":
    main()
