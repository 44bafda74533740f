"""A camera host: publish a face frame at a fixed rate and time the FaceAffectArray answers.

Child process of test_two_hosts.py and bench/bench_two_hosts.py (run inside a network namespace).
Each frame's header stamp is the system time just before publishing; the answer carries that
header, so receipt time minus stamp is the camera-to-result latency on one clock. Prints one JSON
line: frames sent, answers, answers with a face, latencies (ms) and this process's CPU seconds.

Usage: camera_roundtrip.py TOPIC RESULTS_TOPIC RATE_HZ SECONDS [--compressed] [--until-faces N]
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from pathlib import Path

import cv2
import rclpy
from rclpy.qos import QoSProfile, ReliabilityPolicy, qos_profile_sensor_data
from sensor_msgs.msg import CompressedImage, Image

from face_affect_msgs.msg import FaceAffectArray

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
from node_harness import face_frame

DISCOVERY_TIMEOUT_S = 60.0
TAIL_S = 2.0


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("topic")
    parser.add_argument("results")
    parser.add_argument("rate", type=float)
    parser.add_argument("seconds", type=float)
    parser.add_argument("--compressed", action="store_true")
    parser.add_argument("--until-faces", type=int, default=0)
    args = parser.parse_args()

    image = face_frame()
    rclpy.init()
    node = rclpy.create_node("camera_roundtrip")
    if args.compressed:
        msg = CompressedImage(format="jpeg", data=cv2.imencode(".jpg", image)[1].tobytes())
        pub = node.create_publisher(
            CompressedImage, args.topic + "/compressed", qos_profile_sensor_data
        )
    else:
        h, w = image.shape[:2]
        msg = Image(height=h, width=w, encoding="bgr8", step=w * 3, data=image.tobytes())
        pub = node.create_publisher(Image, args.topic, qos_profile_sensor_data)
    msg.header.frame_id = "camera_roundtrip"
    latencies: list[float] = []
    faces: list[int] = []

    def on_result(result: FaceAffectArray) -> None:
        stamp = result.header.stamp.sec * 1_000_000_000 + result.header.stamp.nanosec
        latencies.append((time.time_ns() - stamp) / 1e6)
        faces.append(len(result.faces))

    node.create_subscription(
        FaceAffectArray,
        args.results,
        on_result,
        QoSProfile(depth=100, reliability=ReliabilityPolicy.RELIABLE),
    )
    deadline = time.monotonic() + DISCOVERY_TIMEOUT_S
    while time.monotonic() < deadline and not (
        pub.get_subscription_count() and node.count_publishers(args.results)
    ):
        rclpy.spin_once(node, timeout_sec=0.05)
    if not pub.get_subscription_count():
        raise SystemExit(f"no subscriber on {pub.topic_name} after {DISCOVERY_TIMEOUT_S:.0f} s")

    cpu0 = time.process_time()
    period = 1.0 / args.rate
    start = time.monotonic()
    sent = 0
    while time.monotonic() - start < args.seconds:
        if args.until_faces and sum(1 for f in faces if f) >= args.until_faces:
            break
        msg.header.stamp.sec, msg.header.stamp.nanosec = divmod(time.time_ns(), 1_000_000_000)
        pub.publish(msg)
        sent += 1
        target = start + sent * period
        while (left := target - time.monotonic()) > 0:
            rclpy.spin_once(node, timeout_sec=left)
    end = time.monotonic() + TAIL_S
    while time.monotonic() < end and len(latencies) < sent:
        rclpy.spin_once(node, timeout_sec=0.05)
    report = {
        "sent": sent,
        "answers": len(latencies),
        "with_faces": sum(1 for f in faces if f),
        "latency_ms": latencies,
        "cpu_s": time.process_time() - cpu0,
        "frame_bytes": len(msg.data),
    }
    print(json.dumps(report), flush=True)
    node.destroy_node()
    rclpy.shutdown()


if __name__ == "__main__":
    main()
