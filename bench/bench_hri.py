"""CPU cost of the REP-155 option (launch argument hri:=true): nodes with and without hri_node.

The nodes are started as bringup.node_specs(layout, hri=...) starts them (the launch file's own
command lines), fed by bench/ros_publisher.py (another process: one face, 640x480) at `--rate`
Hz with a camera_info, and the CPU time (utime + stime from /proc) of every node process is
divided by the frames published. Three conditions, side by side:

- ``off``: the layout's nodes only (hri:=false).
- ``hri``: + hri_node, nobody subscribed to a face's cropped / aligned (hri_node then never
  subscribes to the camera: only FaceAffectArray in, IdsList + 4 messages per face out).
- ``hri+chips``: + a subscriber on /humans/faces/<id>/cropped and /aligned (hri_node subscribes
  to the camera, keeps frames until their results arrive, cuts two 128x128 chips per face).

Each condition: one warm-up second, then `--repeats` runs of `--seconds`; the median run is
reported. Usage: python bench/bench_hri.py [--seconds 10] [--rate 30] [--layout single]
"""

from __future__ import annotations

import argparse
import subprocess
import sys
import tempfile
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent))
import bench_ros_e2e as e2e
import benchlib

from face_affect_ros import bringup

NAMESPACE = "bench"


def start(layout: str, hri: bool, env: dict[str, str]) -> tuple[list[str], list]:
    """The nodes of `layout` (and hri_node) as the launch file starts them."""
    specs = bringup.node_specs(
        layout=layout, camera_topic=e2e.CAMERA_TOPIC, namespace=NAMESPACE, hri=hri
    )
    procs = [
        subprocess.Popen(
            spec.command(),
            env={**env, **spec.env},
            stdout=subprocess.DEVNULL,
            stderr=subprocess.PIPE,
            text=True,
        )
        for spec in specs
    ]
    return [s.executable for s in specs], procs


class Client(e2e.Receiver):
    """The e2e receiver plus a camera_info publisher and the REP-155 chip subscribers."""

    def __init__(self) -> None:
        super().__init__()
        from hri_msgs.msg import IdsList
        from rclpy.qos import qos_profile_sensor_data
        from sensor_msgs.msg import CameraInfo

        info = CameraInfo(width=640, height=480, distortion_model="plumb_bob")
        info.header.frame_id = "bench_camera_optical_frame"
        info.d = [0.0] * 5
        info.k = [525.0, 0.0, 320.0, 0.0, 525.0, 240.0, 0.0, 0.0, 1.0]
        info.r = [1.0, 0.0, 0.0, 0.0, 1.0, 0.0, 0.0, 0.0, 1.0]
        info.p = [525.0, 0.0, 320.0, 0.0, 0.0, 525.0, 240.0, 0.0, 0.0, 0.0, 1.0, 0.0]
        pub = self.node.create_publisher(
            CameraInfo, f"/{NAMESPACE}/camera_info", qos_profile_sensor_data
        )
        self.node.create_timer(0.1, lambda: pub.publish(info))
        self.ids: list[str] = []
        self.tracked_msgs = 0
        self.chips = 0
        self._chip_subs: list = []
        self.node.create_subscription(IdsList, "/humans/faces/tracked", self._on_tracked, 10)

    def _on_tracked(self, msg) -> None:
        self.tracked_msgs += 1
        if msg.ids:
            self.ids = list(msg.ids)

    def subscribe_chips(self) -> None:
        """Subscribe to cropped and aligned of the tracked faces."""
        from sensor_msgs.msg import Image

        for face_id in self.ids:
            for name in ("cropped", "aligned"):
                self._chip_subs.append(
                    self.node.create_subscription(
                        Image, f"/humans/faces/{face_id}/{name}", self._on_chip, 10
                    )
                )

    def _on_chip(self, msg) -> None:
        self.chips += 1

    def unsubscribe_chips(self) -> None:
        """Drop the chip subscribers."""
        for sub in self._chip_subs:
            self.node.destroy_subscription(sub)
        self._chip_subs = []


def measure(client: Client, names, procs, env, image_path, args) -> dict:
    """Median run of `args.repeats`: CPU ms per published frame of each node."""
    runs = []
    for _ in range(args.repeats):
        client.tracked_msgs, client.chips = 0, 0
        cpu0 = [e2e.cpu_seconds(p.pid) for p in procs]
        r = e2e.run_one(client, [], env, image_path, args.rate, args.seconds)
        cpu = [e2e.cpu_seconds(p.pid) - c for p, c in zip(procs, cpu0, strict=True)]
        r["cpu_ms_per_frame_by_node"] = {
            n: 1000.0 * c / r["published"] for n, c in zip(names, cpu, strict=True)
        }
        r["cpu_ms_per_frame"] = sum(r["cpu_ms_per_frame_by_node"].values())
        r["tracked_msgs"], r["chips"] = client.tracked_msgs, client.chips
        runs.append(r)
    runs.sort(key=lambda r: r["cpu_ms_per_frame"])
    median = runs[len(runs) // 2]
    median["cpu_ms_per_frame_runs"] = [r["cpu_ms_per_frame"] for r in runs]
    return median


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n", 1)[0])
    parser.add_argument("--seconds", type=float, default=10.0)
    parser.add_argument("--rate", type=float, default=30.0)
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--layout", default="single", choices=list(bringup.LAYOUTS))
    args = parser.parse_args(argv)

    env = e2e.ros_env()
    frame = next(f for f in benchlib.comparison_frames() if len(f.faces) == 1)
    results = {}
    with tempfile.TemporaryDirectory() as tmp:
        image_path = str(Path(tmp) / "frame.npy")
        np.save(image_path, frame.image)
        client = Client()
        try:
            for condition in ("off", "hri", "hri+chips"):
                names, procs = start(args.layout, condition != "off", env)
                try:
                    if not client.wait_publisher(60):
                        raise RuntimeError("no /bench/face_affect publisher")
                    e2e.run_one(client, [], env, image_path, args.rate, 1.0)  # warm-up
                    if condition == "hri+chips":
                        if not client.ids:
                            raise RuntimeError("no id on /humans/faces/tracked")
                        client.subscribe_chips()
                        e2e.run_one(client, [], env, image_path, args.rate, 1.0)
                    results[condition] = measure(client, names, procs, env, image_path, args)
                    client.unsubscribe_chips()
                finally:
                    e2e.stop_nodes(procs)
        finally:
            client.close()

    base = results["off"]["cpu_ms_per_frame"]
    rows = []
    for condition, r in results.items():
        by_node = r["cpu_ms_per_frame_by_node"]
        rows.append(
            (
                condition,
                f"{args.rate:.0f}",
                r["published"],
                r["received"],
                benchlib.fmt(by_node.get("hri_node"), 2) if "hri_node" in by_node else "-",
                benchlib.fmt(r["cpu_ms_per_frame"], 2),
                f"{r['cpu_ms_per_frame'] - base:+.2f}",
                benchlib.fmt(r["latency_ms"].get("median"), 2),
                r["tracked_msgs"],
                r["chips"],
            )
        )
    print(
        f"REP-155 option, {args.layout} layout, {frame.name} ({frame.size}), "
        f"{args.seconds:.0f} s x {args.repeats} per condition (median run)"
    )
    print(
        benchlib.table(
            [
                "condition",
                "Hz",
                "sent",
                "answered",
                "hri_node ms/frame",
                "all nodes ms/frame",
                "vs off",
                "median latency ms",
                "tracked msgs",
                "chips",
            ],
            rows,
        )
    )
    path = benchlib.write_results(
        f"hri_{args.layout}",
        {
            "frame": frame.name,
            "rate": args.rate,
            "seconds": args.seconds,
            "repeats": args.repeats,
            "results": results,
            "machine": benchlib.machine_info(),
        },
    )
    print(f"wrote {path}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
