"""CPU per camera frame: taking frames at the processing rate vs receiving every one (issue 12).

One 30 Hz 640x480 bgr8 stream (bench/ros_publisher.py, another process, the shipped SHM profile)
is received at the same time, in one run, by: a bare rclpy subscriber (executor callback, the
baseline), TakenSubscription taking every frame and at max_rate 10, the same with the nodes'
glibc heap tuning (nodes/heap.py; and the bare subscriber with it), and optional full nodes
(``--nodes``: face_affect_node with given parameters). Printed: each process's CPU
time (utime + stime from /proc) per published frame and as a ratio to the bare subscriber.

    PYTHONPATH=face_affect_ros .venv/bin/python bench/bench_take.py [--seconds 20]
        [--node "tracking:=true" --node "tracking:=true max_rate:=10.0"] [--camera-info]
        [--threads]
"""

from __future__ import annotations

import argparse
import os
import signal
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent))
import benchlib
from bench_ros_e2e import CAMERA_TOPIC, cpu_seconds, ros_env, start_publisher, stat_cpu_seconds

PKG = benchlib.REPO_DIR / "face_affect_ros"


def thread_cpu(pid: int) -> dict[str, float]:
    """CPU seconds (utime + stime) of each thread of `pid`, keyed "tid name" (kernel thread name).

    Fast DDS names its threads (dds.shm.*, dds.ev.*, dds.udp.*); Python threads and OpenCV's or
    onnxruntime's pool threads are all "python": the largest one of a node is its worker.
    """
    out = {}
    for tid in os.listdir(f"/proc/{pid}/task"):
        try:
            seconds = stat_cpu_seconds(f"/proc/{pid}/task/{tid}/stat")
            comm = Path(f"/proc/{pid}/task/{tid}/comm").read_text().strip()
        except OSError:
            continue  # the thread ended
        out[f"{tid} {comm}"] = seconds
    return out


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--seconds", type=float, default=20.0)
    ap.add_argument("--rate", type=float, default=30.0)
    ap.add_argument(
        "--size",
        default="640x480",
        help="frame size WxH: the one-face frame scaled to it (e.g. 1280x720 for an HD camera)",
    )
    ap.add_argument("--node", action="append", default=[], help="face_affect_node params")
    ap.add_argument(
        "--threads",
        action="store_true",
        help="also print each node's CPU per camera frame by thread (from /proc/<pid>/task)",
    )
    ap.add_argument(
        "--camera-info",
        action="store_true",
        help="the camera also publishes camera_info with every frame (as drivers do); the nodes "
        "subscribe to it (3D localisation on)",
    )
    ap.add_argument(
        "--only-bare", action="store_true", help="no TakenSubscription stand-ins, just the nodes"
    )
    ap.add_argument(
        "--before",
        metavar="TREE",
        help="also run every --node from this checkout (e.g. /work/main), labelled 'before'",
    )
    args = ap.parse_args()
    env = ros_env()
    if args.camera_info:
        env["BENCH_CAMERA_INFO"] = "1"
    sub_script = str(benchlib.BENCH_DIR / "ros_take_subscriber.py")
    subs = {
        "bare rclpy subscriber (executor)": [sys.executable, sub_script, "executor", CAMERA_TOPIC],
        "TakenSubscription, every frame": [sys.executable, sub_script, "take", CAMERA_TOPIC, "0"],
        "TakenSubscription, max_rate 10": [sys.executable, sub_script, "take", CAMERA_TOPIC, "10"],
        "bare rclpy subscriber + heap tuning": [
            sys.executable,
            sub_script,
            "executor-heap",
            CAMERA_TOPIC,
        ],
        "TakenSubscription + heap, every frame": [
            sys.executable,
            sub_script,
            "take-heap",
            CAMERA_TOPIC,
            "0",
        ],
        "TakenSubscription + heap, max_rate 10": [
            sys.executable,
            sub_script,
            "take-heap",
            CAMERA_TOPIC,
            "10",
        ],
    }
    if args.only_bare:
        subs = {k: v for k, v in subs.items() if k.startswith("bare")}
    node_specs = [(p, None) for p in args.node]
    if args.before:
        node_specs = [(p, args.before) for p in args.node] + node_specs
    trees: dict[str, str | None] = {}
    for i, (params, tree) in enumerate(node_specs):
        extra = ["-p", "intra_op_threads:=1"]
        for p in params.split():
            extra += ["-p", p]
        label = f"face_affect_node {params}" + (" (before)" if tree else "")
        trees[label] = tree
        subs[label] = [
            sys.executable,
            "-m",
            "face_affect_ros.nodes.face_affect_node",
            "--ros-args",
            "-r",
            f"image:={CAMERA_TOPIC}",
            "-r",
            f"camera_info:={CAMERA_TOPIC.rsplit('/', 1)[0]}/camera_info",
            "-r",
            f"__node:=bench_node_{i}",
            "-r",
            f"__ns:=/bench{i}",
            *extra,
        ]
    frame = next(f for f in benchlib.comparison_frames() if len(f.faces) == 1)
    width, height = (int(v) for v in args.size.split("x"))
    image = frame.image
    if image.shape[:2] != (height, width):
        import cv2

        image = cv2.resize(image, (width, height), interpolation=cv2.INTER_LINEAR)
    with tempfile.TemporaryDirectory() as tmp:
        image_path = str(Path(tmp) / "frame.npy")
        np.save(image_path, image)
        procs = {}
        for name, cmd in subs.items():
            penv = env
            if trees.get(name):
                penv = dict(env, PYTHONPATH=str(Path(trees[name]) / "face_affect_ros"))
            procs[name] = subprocess.Popen(
                cmd, env=penv, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True
            )
        time.sleep(4.0 + len(node_specs) if node_specs else 2.0)  # start-up is not measured
        count = int(args.rate * args.seconds)
        pub = start_publisher(env, args.rate, count, image_path)
        # CPU is measured from the first frame on: wait until the publisher has matched.
        cpu0 = {name: cpu_seconds(p.pid) for name, p in procs.items()}
        threads0 = {name: thread_cpu(p.pid) for name, p in procs.items()}
        answered = {i: 0 for i in range(len(node_specs))}
        import rclpy
        from rclpy.qos import QoSProfile, ReliabilityPolicy

        from face_affect_msgs.msg import FaceAffectArray

        rclpy.init()
        counter = rclpy.create_node("bench_take_results")
        for i in answered:
            counter.create_subscription(
                FaceAffectArray,
                f"/bench{i}/face_affect",
                lambda _m, i=i: answered.__setitem__(i, answered[i] + 1),
                QoSProfile(depth=100, reliability=ReliabilityPolicy.RELIABLE),
            )
        while pub.poll() is None:
            rclpy.spin_once(counter, timeout_sec=0.05)
        end = time.monotonic() + 1.0
        while time.monotonic() < end:
            rclpy.spin_once(counter, timeout_sec=0.05)
        counter.destroy_node()
        rclpy.shutdown()
        out, err = pub.communicate()
        if pub.returncode != 0:
            raise SystemExit(f"publisher failed: {err[-800:]}")
        cpu = {name: cpu_seconds(p.pid) - cpu0[name] for name, p in procs.items()}
        threads = {}
        for name, p in procs.items():
            now = thread_cpu(p.pid)
            threads[name] = {k: v - threads0[name].get(k, 0.0) for k, v in now.items()}
        outputs = {}
        for p in procs.values():
            p.send_signal(signal.SIGINT)
        for name, p in procs.items():
            try:
                o, e = p.communicate(timeout=15)
            except subprocess.TimeoutExpired:
                p.kill()
                o, e = p.communicate()
            outputs[name] = (o.strip().splitlines() or [""])[-1] if o else e.strip()[-200:]
    published = int(out.split()[-1])
    base = cpu["bare rclpy subscriber (executor)"] / published
    rows, payload = [], {}
    for name in subs:
        per = cpu[name] / published
        payload[name] = {
            "cpu_ms_per_camera_frame": 1e3 * per,
            "ratio": per / base,
            "last_line": outputs[name],
        }
        results = "-"
        if name.startswith("face_affect_node"):
            n = answered[list(subs).index(name) - (len(subs) - len(node_specs))]
            results = f"{n} ({n / args.seconds:.1f} Hz)"
            payload[name]["results"] = n
        else:
            results = outputs[name].split("skipped")[0].strip()
        rows.append([name, f"{1e3 * per:.2f}", f"{per / base:.2f}", results])
    print(f"{published} frames at {args.rate:.0f} Hz, {width}x{height}, one run")
    print(
        benchlib.table(
            ["receiver", "CPU ms / camera frame", "x bare", "results (frames taken)"], rows
        )
    )
    if args.threads:
        for name in subs:
            top = sorted(threads[name].items(), key=lambda kv: -kv[1])[:5]
            parts = ", ".join(f"{k.split(' ', 1)[1]} {1e3 * v / published:.2f}" for k, v in top)
            payload[name]["threads_ms_per_camera_frame"] = {k: 1e3 * v / published for k, v in top}
            print(f"  {name}: {parts}")
    path = benchlib.write_results(
        "take" if args.size == "640x480" else f"take_{args.size}",
        {"published": published, "rate": args.rate, "size": args.size, "receivers": payload},
    )
    print(f"wrote {path}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
