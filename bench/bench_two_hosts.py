"""Crossing hosts: the split layout answering a camera on its own host vs on another host (UDP).

Two network namespaces joined by a veth pair stand for two computers (face_affect_ros/test/
two_hosts.py; needs root). The split layout runs in host b with the shipped shared-memory profile.
The camera (face_affect_ros/test/scripts/camera_roundtrip.py) publishes one 640x480 face frame at a
fixed rate, raw or JPEG, alternately from host b (same host: shared memory) and from host a
(another host: UDPv4 over the link, the shipped UDP-only profile), several rounds each, and times
the answers on one clock. Printed side by side: answers, median/p95 camera-to-answer latency, CPU
per frame of the three nodes and of the camera process, bytes on the link; then the extra latency
and CPU of crossing hosts. A last run repeats raw input with the profiles' UDP socket buffer sizes
removed (the OS default, 208 kB here), to show what those settings are for.

A veth link has no bandwidth limit or loss of its own: the numbers are the cost of UDP, IP
fragmentation and the DDS stack, not of a real network (a gigabit link adds ~7.4 ms of wire time
per raw 640x480 frame, ~0.5 ms per JPEG one).

Usage: python bench/bench_two_hosts.py [--rate 15] [--seconds 8] [--rounds 3]
"""

from __future__ import annotations

import argparse
import json
import os
import re
import subprocess
import sys
import tempfile
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
import benchlib

from face_affect_ros import bringup, ros_env

PKG = benchlib.REPO_DIR / "face_affect_ros"
TEST_DIR = PKG / "test"
sys.path.insert(0, str(TEST_DIR))
from bench_ros_e2e import cpu_seconds, stop_nodes  # noqa: E402
from two_hosts import TwoHosts, unavailable_reason  # noqa: E402

CAMERA = TEST_DIR / "scripts" / "camera_roundtrip.py"
#: One domain for the whole run, clear of the ROS benchmark's (101..200) and of test runs' blocks.
DOMAIN_ID = os.environ.get("ROS_DOMAIN_ID") or str(ros_env.random_domain_id(201, 232))
PLACEMENTS = {
    "same host": ("b", ros_env.LARGE_SHM_PROFILE),
    "two hosts": ("a", ros_env.UDP_PROFILE),
}


def base_env() -> dict[str, str]:
    env = {
        k: v
        for k, v in os.environ.items()
        if k not in (ros_env.FASTDDS_VARIABLE, ros_env.FASTRTPS_VARIABLE)
    }
    env.update(
        ROS_AUTOMATIC_DISCOVERY_RANGE="SUBNET",
        ROS_DOMAIN_ID=DOMAIN_ID,
        RMW_IMPLEMENTATION="rmw_fastrtps_cpp",
        PYTHONPATH=os.pathsep.join(filter(None, [str(PKG), env.get("PYTHONPATH")])),
    )
    return env


def run_camera(net: TwoHosts, host: str, profile: str, transport: str, args, config: Path) -> dict:
    env = {**base_env(), **ros_env.profile_env(config / profile)}
    cmd = [sys.executable, str(CAMERA), "/bench/image", "/bench/face_affect", str(args.rate)]
    cmd += [str(args.seconds), *(["--compressed"] if transport == "compressed" else [])]
    done = subprocess.run(
        net.command(host, cmd), env=env, capture_output=True, text=True, timeout=300
    )
    if done.returncode != 0:
        raise RuntimeError(f"camera failed: {done.stderr[-800:]}")
    return json.loads(done.stdout.strip().splitlines()[-1])


def default_buffer_profiles(directory: Path) -> Path:
    """Copies of the shipped profiles without their UDP socket buffer sizes (the OS default)."""
    for name in (ros_env.LARGE_SHM_PROFILE, ros_env.UDP_PROFILE):
        text = (PKG / "config" / name).read_text()
        text = re.sub(r"\s*<(send|receive)BufferSize>\d+</\1BufferSize>", "", text)
        (directory / name).write_text(text)
    return directory


def measure(net: TwoHosts, transport: str, args, config: Path) -> dict[str, dict]:
    specs = bringup.node_specs(
        layout="split",
        camera_topic="/bench/image",
        image_transport=transport,
        namespace="bench",
        fastdds_profile=str(config / ros_env.LARGE_SHM_PROFILE),
    )
    env = base_env()
    procs = [
        subprocess.Popen(
            net.command("b", s.command()),
            env={**env, **s.env},
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
        )
        for s in specs
    ]
    runs: dict[str, list[dict]] = {p: [] for p in PLACEMENTS}
    try:
        # Warm-up (models loaded, discovery over the link done), not recorded.
        warm = argparse.Namespace(rate=args.rate, seconds=2.0)
        for host, profile in PLACEMENTS.values():
            run_camera(net, host, profile, transport, warm, config)
        for _ in range(args.rounds):
            for placement, (host, profile) in PLACEMENTS.items():
                cpu0 = sum(cpu_seconds(p.pid) for p in procs)
                link0 = net.link_bytes("b")
                r = run_camera(net, host, profile, transport, args, config)
                r["nodes_cpu_s"] = sum(cpu_seconds(p.pid) for p in procs) - cpu0
                r["link_bytes"] = net.link_bytes("b") - link0
                runs[placement].append(r)
    finally:
        stop_nodes(procs, timeout=20.0)
    out = {}
    for placement, rs in runs.items():
        sent = sum(r["sent"] for r in rs)
        lat = [v for r in rs for v in r["latency_ms"]]
        out[placement] = {
            "sent": sent,
            "answered": len(lat),
            "with_faces": sum(r["with_faces"] for r in rs),
            "latency_ms": benchlib.summarize(lat) if lat else {},
            "nodes_cpu_ms_per_frame": 1000 * sum(r["nodes_cpu_s"] for r in rs) / sent,
            "camera_cpu_ms_per_frame": 1000 * sum(r["cpu_s"] for r in rs) / sent,
            "link_mb_per_frame": sum(r["link_bytes"] for r in rs) / sent / 1e6,
            "frame_bytes": rs[0]["frame_bytes"],
        }
    return out


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n", 1)[0])
    parser.add_argument("--rate", type=float, default=15.0)
    parser.add_argument("--seconds", type=float, default=8.0)
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--transports", nargs="+", default=["raw", "compressed"])
    parser.add_argument(
        "--no-default-buffers",
        action="store_true",
        help="skip the raw run with the profiles' UDP buffer sizes removed (OS default)",
    )
    args = parser.parse_args(argv)
    reason = unavailable_reason()
    if reason:
        print(f"bench_two_hosts: not run: {reason}")
        return 0

    results = {}
    with TwoHosts() as net:
        for transport in args.transports:
            results[transport] = measure(net, transport, args, PKG / "config")
        if not args.no_default_buffers:
            with tempfile.TemporaryDirectory() as tmp:
                config = default_buffer_profiles(Path(tmp))
                results["raw, OS-default UDP buffers"] = measure(net, "raw", args, config)
    rows = []
    for transport, by_placement in results.items():
        for placement, r in by_placement.items():
            rows.append(
                (
                    transport,
                    placement,
                    f"{r['frame_bytes'] / 1e3:.0f}",
                    r["sent"],
                    r["answered"],
                    benchlib.fmt(r["latency_ms"].get("median"), 2),
                    benchlib.fmt(r["latency_ms"].get("p95"), 2),
                    benchlib.fmt(r["nodes_cpu_ms_per_frame"], 2),
                    benchlib.fmt(r["camera_cpu_ms_per_frame"], 2),
                    benchlib.fmt(r["link_mb_per_frame"], 3),
                )
            )
    distro = f"ROS 2 {ros_env.ros_distro()}, Fast DDS {ros_env.fastdds_major()}.x"
    print(
        f"Split layout, one face 640x480 at {args.rate:.0f} Hz, {args.rounds} x "
        f"{args.seconds:.0f} s per placement, alternated ({distro})"
    )
    headers = ["input", "camera on", "frame kB", "sent", "answered", "median ms", "p95 ms"]
    headers += ["nodes CPU ms/frame", "camera CPU ms/frame", "link MB/frame"]
    print(benchlib.table(headers, rows))
    for transport, r in results.items():
        same, cross = r["same host"], r["two hosts"]
        if not (same["latency_ms"] and cross["latency_ms"]):
            continue
        extra_ms = cross["latency_ms"]["median"] - same["latency_ms"]["median"]
        nodes_cpu = cross["nodes_cpu_ms_per_frame"] - same["nodes_cpu_ms_per_frame"]
        camera_cpu = cross["camera_cpu_ms_per_frame"] - same["camera_cpu_ms_per_frame"]
        print(
            f"{transport}: crossing hosts adds {extra_ms:+.2f} ms (median), nodes "
            f"{nodes_cpu:+.2f} ms CPU/frame, camera {camera_cpu:+.2f} ms CPU/frame; answered "
            f"{cross['answered']}/{cross['sent']} vs {same['answered']}/{same['sent']}"
        )
    path = benchlib.write_results(
        f"two_hosts_{ros_env.ros_distro()}",
        {
            "args": vars(args),
            "distro": distro,
            "results": results,
            "machine": benchlib.machine_info(),
        },
    )
    print(f"wrote {path}")
    return 0 if all(r["answered"] for t in results.values() for r in t.values()) else 1


if __name__ == "__main__":
    sys.exit(main())
