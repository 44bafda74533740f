"""CPU per camera frame: taking frames at the processing rate vs receiving every one (issue 12).

One 30 Hz 640x480 bgr8 stream (bench/ros_publisher.py, another process, the shipped SHM profile)
is received at the same time, in one run, by: a bare rclpy subscriber (executor callback, the
baseline), TakenSubscription taking every frame and at max_rate 10, the same with the nodes'
glibc heap tuning (nodes/heap.py; and the bare subscriber with it), and optional full nodes
(``--nodes``: face_affect_node with given parameters). Printed: each process's CPU
time (utime + stime from /proc) per published frame and as a ratio to the bare subscriber.

    PYTHONPATH=face_affect_ros .venv/bin/python bench/bench_take.py [--seconds 20]
        [--node "tracking:=true" --node "tracking:=true max_rate:=10.0"] [--camera-info]
        [--threads] [--also-size 1280x720] [--before TREE] [--only-bare | --floor]

``--also-size`` adds a second stream of another size in the same run (HD against 640x480: each
node's CPU per frame also as a ratio to the same node on the 640x480 stream).
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
        "--only-bare",
        action="store_true",
        help="of the stand-ins only the bare rclpy subscriber (the baseline), and the nodes",
    )
    ap.add_argument(
        "--floor",
        action="store_true",
        help="of the stand-ins the bare rclpy subscriber and the heap-tuned TakenSubscription "
        "(every frame, max_rate 10): what the node pays to receive before any perception",
    )
    ap.add_argument(
        "--also-size",
        metavar="WxH",
        help="a second camera stream of this size in the same run (its own publisher and "
        "topic), received by the same bare subscribers and nodes: e.g. 1280x720 against the "
        "640x480 stream, each node also as a ratio to its 640x480 twin",
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
    streams = [(args.size, CAMERA_TOPIC)]
    if args.also_size:
        streams.append((args.also_size, SECOND_TOPIC))
    subs, trees, stream_of, node_index = {}, {}, {}, {}
    n_nodes = 0
    for size, topic in streams:
        tag = f" [{size}]" if len(streams) > 1 else ""
        for name, cmd in receivers(topic, args.only_bare, args.floor).items():
            subs[name + tag] = cmd
            stream_of[name + tag] = size
        node_specs = [(p, None) for p in args.node]
        if args.before:
            node_specs = [(p, args.before) for p in args.node] + node_specs
        for params, tree in node_specs:
            label = f"face_affect_node {params}" + (" (before)" if tree else "") + tag
            trees[label], stream_of[label], node_index[label] = tree, size, n_nodes
            subs[label] = node_command(params, topic, n_nodes)
            n_nodes += 1
    with tempfile.TemporaryDirectory() as tmp:
        paths = {}
        for size, _ in streams:
            paths[size] = str(Path(tmp) / f"frame_{size}.npy")
            np.save(paths[size], stream_image(size))
        procs = {}
        for name, cmd in subs.items():
            penv = env
            if trees.get(name):
                penv = dict(env, PYTHONPATH=str(Path(trees[name]) / "face_affect_ros"))
            procs[name] = subprocess.Popen(
                cmd, env=penv, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True
            )
        time.sleep(4.0 + n_nodes if n_nodes else 2.0)  # start-up is not measured
        count = int(args.rate * args.seconds)
        pubs = {
            size: start_publisher(env, args.rate, count, paths[size], topic)
            for size, topic in streams
        }
        # CPU is measured from the first frame on: wait until the publisher has matched.
        cpu0 = {name: cpu_seconds(p.pid) for name, p in procs.items()}
        threads0 = {name: thread_cpu(p.pid) for name, p in procs.items()}
        answered = dict.fromkeys(range(n_nodes), 0)
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
        while any(p.poll() is None for p in pubs.values()):
            rclpy.spin_once(counter, timeout_sec=0.05)
        end = time.monotonic() + 1.0
        while time.monotonic() < end:
            rclpy.spin_once(counter, timeout_sec=0.05)
        counter.destroy_node()
        rclpy.shutdown()
        published = {}
        for size, pub in pubs.items():
            out, err = pub.communicate()
            if pub.returncode != 0:
                raise SystemExit(f"publisher failed: {err[-800:]}")
            published[size] = int(out.split()[-1])
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
    tags = {size: (f" [{size}]" if len(streams) > 1 else "") for size, _ in streams}
    per = {name: cpu[name] / published[stream_of[name]] for name in subs}
    first = streams[0][0]
    rows, payload = [], {}
    for name in subs:
        size = stream_of[name]
        base = per["bare rclpy subscriber (executor)" + tags[size]]
        payload[name] = {
            "size": size,
            "cpu_ms_per_camera_frame": 1e3 * per[name],
            "ratio": per[name] / base,
            "last_line": outputs[name],
        }
        vs_first = "-"
        if name in node_index:
            n = answered[node_index[name]]
            results = f"{n} ({n / args.seconds:.1f} Hz)"
            payload[name]["results"] = n
            twin = name[: len(name) - len(tags[size])] + tags[first]
            if size != first and twin in per:
                payload[name]["ratio_to_first_size_node"] = per[name] / per[twin]
                vs_first = f"{per[name] / per[twin]:.2f}"
        else:
            results = outputs[name].split("skipped")[0].strip()
            # A stand-in on another stream against the first node on the first stream: with
            # --floor, how much of an HD target receiving alone already uses.
            first_nodes = [k for k in node_index if stream_of[k] == first and not trees.get(k)]
            if size != first and first_nodes:
                payload[name]["ratio_to_first_size_node"] = per[name] / per[first_nodes[0]]
                vs_first = f"{per[name] / per[first_nodes[0]]:.2f}"
        rows.append([name, f"{1e3 * per[name]:.2f}", f"{per[name] / base:.2f}", vs_first, results])
    sizes = ", ".join(f"{size} ({published[size]} frames)" for size, _ in streams)
    print(f"{args.rate:.0f} Hz streams: {sizes}; one run")
    print(
        benchlib.table(
            [
                "receiver",
                "CPU ms / camera frame",
                "x bare (same stream)",
                f"x the {first} node",
                "results (frames taken)",
            ],
            rows,
        )
    )
    if args.threads:
        for name in subs:
            top = sorted(threads[name].items(), key=lambda kv: -kv[1])[:5]
            n = published[stream_of[name]]
            parts = ", ".join(f"{k.split(' ', 1)[1]} {1e3 * v / n:.2f}" for k, v in top)
            payload[name]["threads_ms_per_camera_frame"] = {k: 1e3 * v / n for k, v in top}
            print(f"  {name}: {parts}")
    label = "_".join(size for size, _ in streams if size != "640x480")
    if args.camera_info:
        label = f"{label}_camera_info" if label else "camera_info"
    path = benchlib.write_results(
        f"take_{label}" if label else "take",
        {
            "published": published,
            "rate": args.rate,
            "sizes": [s for s, _ in streams],
            "receivers": payload,
        },
    )
    print(f"wrote {path}")
    return 0


SECOND_TOPIC = "/bench_b/image_raw"


def receivers(topic: str, only_bare: bool, floor: bool = False) -> dict[str, list[str]]:
    """The bare subscribers (and, unless `only_bare`, the TakenSubscription stand-ins).

    `floor`: the baseline and the heap-tuned TakenSubscription only (the node's own way of
    receiving, with no perception: a floor under the node's CPU per frame).
    """
    script = str(benchlib.BENCH_DIR / "ros_take_subscriber.py")
    out = {
        "bare rclpy subscriber (executor)": [sys.executable, script, "executor", topic],
        "TakenSubscription, every frame": [sys.executable, script, "take", topic, "0"],
        "TakenSubscription, max_rate 10": [sys.executable, script, "take", topic, "10"],
        "bare rclpy subscriber + heap tuning": [sys.executable, script, "executor-heap", topic],
        "TakenSubscription + heap, every frame": [sys.executable, script, "take-heap", topic, "0"],
        "TakenSubscription + heap, max_rate 10": [
            sys.executable,
            script,
            "take-heap",
            topic,
            "10",
        ],
    }
    if only_bare:
        # The baseline only: every receiver more shares the 2 cores (and the heap-tuned one's
        # cost varies from run to run with glibc's trimming).
        return {k: v for k, v in out.items() if k == "bare rclpy subscriber (executor)"}
    if floor:
        keep = ("bare rclpy subscriber (executor)", "TakenSubscription + heap, every frame")
        return {
            k: v for k, v in out.items() if k in keep or k.startswith("TakenSubscription + heap")
        }
    return out


def node_command(params: str, topic: str, index: int) -> list[str]:
    """face_affect_node on `topic` (and its camera_info) in namespace /bench<index>."""
    extra = ["-p", "intra_op_threads:=1"]
    for p in params.split():
        extra += ["-p", p]
    return [
        sys.executable,
        "-m",
        "face_affect_ros.nodes.face_affect_node",
        "--ros-args",
        "-r",
        f"image:={topic}",
        "-r",
        f"camera_info:={topic.rsplit('/', 1)[0]}/camera_info",
        "-r",
        f"__node:=bench_node_{index}",
        "-r",
        f"__ns:=/bench{index}",
        *extra,
    ]


def stream_image(size: str) -> np.ndarray:
    """The one-face comparison frame scaled to `size` (WxH)."""
    frame = next(f for f in benchlib.comparison_frames() if len(f.faces) == 1)
    width, height = (int(v) for v in size.split("x"))
    image = frame.image
    if image.shape[:2] != (height, width):
        import cv2

        image = cv2.resize(image, (width, height), interpolation=cv2.INTER_LINEAR)
    return image


if __name__ == "__main__":
    sys.exit(main())
