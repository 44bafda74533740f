"""ROS end to end: camera publish (another process) -> FaceAffectArray receipt.

For the single-process layout (face_affect_node) and the split layout (camera_node, detector_node,
classifier_node), at 15, 30 and 60 Hz: latency median / p95 / p99 from the image's publish time
to the FaceAffectArray's receipt, frames lost (published but never answered), and the nodes' CPU
time per published frame (from /proc). One face, 640x480, one onnxruntime thread per model, the
shipped Fast DDS profile, each node in its own process as on a robot.

Usage: python bench/bench_ros_e2e.py [--seconds 10] [--rates 15 30 60] [--layouts single split]
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

from face_affect_ros import ros_env as middleware

PKG = benchlib.REPO_DIR / "face_affect_ros"
LAYOUTS = {
    "single": ["face_affect_node"],
    "split": ["camera_node", "detector_node", "classifier_node"],
}
CAMERA_TOPIC = "/bench/image_raw"


def ros_env() -> dict[str, str]:
    """Environment of the benchmark's ROS processes (and of this one): local, own domain."""
    env = dict(os.environ)
    env.setdefault("ROS_DOMAIN_ID", str(middleware.random_domain_id(101, 200)))
    env["ROS_AUTOMATIC_DISCOVERY_RANGE"] = "LOCALHOST"
    env["RMW_IMPLEMENTATION"] = "rmw_fastrtps_cpp"
    # Under the name the installed Fast DDS reads (Jazzy: FASTRTPS_..., Kilted: FASTDDS_...).
    profile_var = middleware.profiles_file_variable()
    middleware.set_profile(env, PKG / "config" / middleware.LARGE_SHM_PROFILE)
    env.setdefault("ROS_LOG_DIR", tempfile.mkdtemp(prefix="bench_ros_log_"))
    env["PYTHONPATH"] = os.pathsep.join([str(PKG), env.get("PYTHONPATH", "")])
    # This process talks to the nodes too (the receiver): same domain, discovery and transport.
    for key in (
        "ROS_DOMAIN_ID",
        "ROS_AUTOMATIC_DISCOVERY_RANGE",
        "RMW_IMPLEMENTATION",
        profile_var,
        "ROS_LOG_DIR",
    ):
        os.environ[key] = env[key]
    for key in (middleware.FASTDDS_VARIABLE, middleware.FASTRTPS_VARIABLE):
        if key != profile_var:
            os.environ.pop(key, None)
    return env


def stat_cpu_seconds(stat_path: str | Path) -> float:
    """Utime + stime in seconds from a /proc stat file (a process's, or a thread's under task/)."""
    fields = Path(stat_path).read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def cpu_seconds(pid: int) -> float:
    """Utime + stime of a process, in seconds."""
    return stat_cpu_seconds(f"/proc/{pid}/stat")


def rss_mb(pid: int) -> float:
    """Resident memory of a process in MiB."""
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) / 1024
    return float("nan")


def start_nodes(layout: str, env: dict[str, str], extra: list[str] | None = None) -> list:
    procs = []
    for exe in LAYOUTS[layout]:
        args = [
            sys.executable,
            "-m",
            f"face_affect_ros.nodes.{exe}",
            "--ros-args",
            "-r",
            f"image:={CAMERA_TOPIC}",
            "-r",
            "__ns:=/bench",
            *(extra or []),
        ]
        procs.append(
            subprocess.Popen(
                args, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True
            )
        )
    return procs


def start_publisher(
    env: dict[str, str], rate: float, count: int, image_path: str, topic: str = CAMERA_TOPIC
):
    """bench/ros_publisher.py in its own process: `count` frames of `image_path` at `rate` Hz."""
    return subprocess.Popen(
        [
            sys.executable,
            str(benchlib.BENCH_DIR / "ros_publisher.py"),
            topic,
            str(rate),
            str(count),
            image_path,
        ],
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )


def stop_nodes(procs: list, timeout: float = 15.0) -> None:
    for p in procs:
        p.send_signal(signal.SIGINT)
    for p in procs:
        try:
            p.wait(timeout=timeout)
        except subprocess.TimeoutExpired:
            p.kill()


class Receiver:
    """FaceAffectArray listener recording receipt time minus header stamp."""

    def __init__(self) -> None:
        import rclpy
        from rclpy.qos import QoSProfile, ReliabilityPolicy

        from face_affect_msgs.msg import FaceAffectArray

        self.rclpy = rclpy
        rclpy.init()
        self.node = rclpy.create_node("bench_receiver")
        self.latencies: list[float] = []
        self.faces: list[int] = []
        self.node.create_subscription(
            FaceAffectArray,
            "/bench/face_affect",
            self._on,
            QoSProfile(depth=100, reliability=ReliabilityPolicy.RELIABLE),
        )

    def _on(self, msg) -> None:
        now = time.time_ns()
        stamp = msg.header.stamp.sec * 1_000_000_000 + msg.header.stamp.nanosec
        self.latencies.append((now - stamp) / 1e6)
        self.faces.append(len(msg.faces))

    def wait_publisher(self, timeout: float = 30) -> bool:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.node.count_publishers("/bench/face_affect") > 0:
                return True
            self.rclpy.spin_once(self.node, timeout_sec=0.05)
        return False

    def spin_while(self, proc: subprocess.Popen, tail: float = 1.0) -> None:
        while proc.poll() is None:
            self.rclpy.spin_once(self.node, timeout_sec=0.01)
        end = time.monotonic() + tail
        while time.monotonic() < end:
            self.rclpy.spin_once(self.node, timeout_sec=0.01)

    def reset(self) -> None:
        self.latencies, self.faces = [], []

    def close(self) -> None:
        self.node.destroy_node()
        self.rclpy.shutdown()


def run_one(
    receiver: Receiver,
    procs: list,
    env: dict[str, str],
    image_path: str,
    rate: float,
    seconds: float,
) -> dict:
    count = int(rate * seconds)
    receiver.reset()
    cpu0 = sum(cpu_seconds(p.pid) for p in procs)
    pub = start_publisher(env, rate, count, image_path)
    receiver.spin_while(pub)
    out, err = pub.communicate()
    if pub.returncode != 0:
        raise RuntimeError(f"publisher failed: {err[-500:]}")
    published = int(out.split()[-1])
    cpu = sum(cpu_seconds(p.pid) for p in procs) - cpu0
    lat = receiver.latencies
    stats = benchlib.summarize(lat) if lat else {}
    return {
        "rate_hz": rate,
        "published": published,
        "received": len(lat),
        "lost": published - len(lat),
        "lost_pct": 100.0 * (published - len(lat)) / published,
        "latency_ms": stats,
        "p99_ms": float(np.percentile(lat, 99)) if lat else None,
        "cpu_ms_per_frame": 1000.0 * cpu / published,
        "frames_with_face": int(sum(1 for f in receiver.faces if f)),
    }


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n", 1)[0])
    parser.add_argument("--seconds", type=float, default=10.0)
    parser.add_argument("--rates", type=float, nargs="+", default=[15.0, 30.0, 60.0])
    parser.add_argument("--layouts", nargs="+", default=list(LAYOUTS), choices=list(LAYOUTS))
    args = parser.parse_args(argv)

    env = ros_env()
    frame = next(f for f in benchlib.comparison_frames() if len(f.faces) == 1)
    with tempfile.TemporaryDirectory() as tmp:
        image_path = str(Path(tmp) / "frame.npy")
        np.save(image_path, frame.image)
        receiver = Receiver()
        results = []
        try:
            for layout in args.layouts:
                procs = start_nodes(layout, env)
                try:
                    if not receiver.wait_publisher():
                        raise RuntimeError(f"{layout}: no /bench/face_affect publisher")
                    # Warm-up: one second at 30 Hz, not recorded.
                    run_one(receiver, procs, env, image_path, 30.0, 1.0)
                    for rate in args.rates:
                        r = run_one(receiver, procs, env, image_path, rate, args.seconds)
                        r["layout"] = layout
                        r["rss_mb"] = sum(rss_mb(p.pid) for p in procs)
                        results.append(r)
                finally:
                    stop_nodes(procs)
        finally:
            receiver.close()

    rows = [
        (
            r["layout"],
            f"{r['rate_hz']:.0f}",
            r["published"],
            r["received"],
            f"{r['lost_pct']:.1f}",
            benchlib.fmt(r["latency_ms"].get("median"), 2),
            benchlib.fmt(r["latency_ms"].get("p95"), 2),
            benchlib.fmt(r["p99_ms"], 2),
            benchlib.fmt(r["cpu_ms_per_frame"], 2),
            f"{r['rss_mb']:.0f}",
        )
        for r in results
    ]
    print(f"ROS end to end, {frame.name} ({frame.size}), {args.seconds:.0f} s per rate")
    print(
        benchlib.table(
            [
                "layout",
                "Hz",
                "sent",
                "answered",
                "lost %",
                "median ms",
                "p95 ms",
                "p99 ms",
                "CPU ms/frame",
                "RSS MiB",
            ],
            rows,
        )
    )
    single = {r["rate_hz"]: r for r in results if r["layout"] == "single"}
    split = {r["rate_hz"]: r for r in results if r["layout"] == "split"}
    for rate in sorted(set(single) & set(split)):
        extra = split[rate]["latency_ms"]["median"] - single[rate]["latency_ms"]["median"]
        print(
            f"split layout extra latency at {rate:.0f} Hz: {extra:+.2f} ms (median), "
            f"extra CPU {split[rate]['cpu_ms_per_frame'] - single[rate]['cpu_ms_per_frame']:+.2f}"
            " ms/frame"
        )
    path = benchlib.write_results(
        "ros_e2e",
        {
            "frame": frame.name,
            "seconds": args.seconds,
            "results": results,
            "machine": benchlib.machine_info(),
        },
    )
    print(f"wrote {path}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
