"""Memory: resident memory of the single-process node after start and after 10,000 frames.

A node that leaks a little per frame dies after a day on a robot. The node runs in its own process
(as on a robot); a publisher process sends one-face 640x480 frames as fast as the node answers
(60 Hz), and the node's VmRSS is sampled from /proc after start-up, after warm-up (the
first 200 frames: onnxruntime's arenas and the buffers reach their size), and every 1,000 frames.
Growth is reported from the warm-up sample to the end. Target: at most 5%.

Usage: python bench/bench_memory.py [--frames 10000] [--rate 100]
"""

from __future__ import annotations

import argparse
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent))
import benchlib
from bench_ros_e2e import Receiver, ros_env, rss_mb, start_nodes, start_publisher, stop_nodes

WARMUP_FRAMES = 200


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n", 1)[0])
    parser.add_argument("--frames", type=int, default=10_000)
    parser.add_argument("--rate", type=float, default=60.0)
    args = parser.parse_args(argv)
    env = ros_env()
    frame = next(f for f in benchlib.comparison_frames() if len(f.faces) == 1)
    samples: list[tuple[int, float]] = []
    with tempfile.TemporaryDirectory() as tmp:
        image_path = str(Path(tmp) / "frame.npy")
        np.save(image_path, frame.image)
        receiver = Receiver()
        (node,) = procs = start_nodes("single", env)
        try:
            if not receiver.wait_publisher():
                raise RuntimeError("no /bench/face_affect publisher")
            samples.append((0, rss_mb(node.pid)))
            target = args.frames + WARMUP_FRAMES
            # Publish more than needed (the node skips frames it cannot keep up with) and stop
            # the publisher once 10,000 frames past warm-up have been answered.
            count = 2 * target
            pub = start_publisher(env, args.rate, count, image_path)
            next_mark = WARMUP_FRAMES
            t0 = time.monotonic()
            while pub.poll() is None and len(receiver.latencies) < target:
                receiver.rclpy.spin_once(receiver.node, timeout_sec=0.01)
                if len(receiver.latencies) >= next_mark:
                    samples.append((len(receiver.latencies), rss_mb(node.pid)))
                    next_mark = WARMUP_FRAMES + 1000 * (len(samples) - 1)
            pub.kill()
            pub.wait()
            samples.append((len(receiver.latencies), rss_mb(node.pid)))
            elapsed = time.monotonic() - t0
        finally:
            stop_nodes(procs)
            receiver.close()
    start_rss = samples[0][1]
    warm = samples[1][1]
    end = samples[-1][1]
    growth = 100.0 * (end - warm) / warm
    print(
        f"single-process node, {frame.name} {frame.size}, published at {args.rate:.0f} Hz, "
        f"{len(receiver.latencies)} frames answered in {elapsed:.0f} s"
    )
    print(benchlib.table(["frames answered", "RSS MiB"], [(n, f"{mb:.1f}") for n, mb in samples]))
    print(
        f"after start {start_rss:.1f} MiB, after warm-up {warm:.1f} MiB, at the end {end:.1f} "
        f"MiB: growth {growth:+.2f}% (target <= 5%)"
    )
    path = benchlib.write_results(
        "memory",
        {
            "frames_answered": len(receiver.latencies),
            "rate_hz": args.rate,
            "samples": samples,
            "start_mb": start_rss,
            "warm_mb": warm,
            "end_mb": end,
            "growth_pct": growth,
            "machine": benchlib.machine_info(),
        },
    )
    print(f"wrote {path}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
