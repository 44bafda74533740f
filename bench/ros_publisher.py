"""Camera stand-in for the ROS benchmarks: publish one frame repeatedly at a fixed rate.

Runs as its own process (the benchmark starts it), so publishing and the node's processing do
not share an interpreter. Each frame's header stamp is the system time just before publish, so the
receiver computes publish-to-receipt latency on the same clock. Prints the number of frames
published as its last line.

Usage: python ros_publisher.py TOPIC RATE_HZ COUNT IMAGE.npy

With BENCH_CAMERA_INFO=1 in the environment it also publishes a sensor_msgs/CameraInfo with
every frame on the image topic's sibling ``camera_info`` (same header), as camera drivers do.
"""

from __future__ import annotations

import os
import sys
import time

import numpy as np
import rclpy
from rclpy.qos import qos_profile_sensor_data
from sensor_msgs.msg import CameraInfo, Image


def main() -> None:
    topic, rate, count, image_path = sys.argv[1], float(sys.argv[2]), int(sys.argv[3]), sys.argv[4]
    image = np.load(image_path)
    rclpy.init()
    node = rclpy.create_node("bench_camera")
    pub = node.create_publisher(Image, topic, qos_profile_sensor_data)
    deadline = time.monotonic() + 30
    while pub.get_subscription_count() == 0 and time.monotonic() < deadline:
        rclpy.spin_once(node, timeout_sec=0.05)
    if pub.get_subscription_count() == 0:
        raise SystemExit("no subscriber for " + topic)
    msg = Image(
        height=image.shape[0], width=image.shape[1], encoding="bgr8", step=image.shape[1] * 3
    )
    msg.data = image.tobytes()
    msg.header.frame_id = "bench_camera"
    info_pub, info = None, None
    if os.environ.get("BENCH_CAMERA_INFO") == "1":
        info_pub = node.create_publisher(
            CameraInfo, topic.rsplit("/", 1)[0] + "/camera_info", qos_profile_sensor_data
        )
        w, h = image.shape[1], image.shape[0]
        f = 0.8 * w  # a ~64 degree horizontal field of view, centred
        info = CameraInfo(width=w, height=h, distortion_model="plumb_bob")
        info.d = [0.0] * 5
        info.k = [f, 0.0, w / 2, 0.0, f, h / 2, 0.0, 0.0, 1.0]
        info.r = [1.0, 0.0, 0.0, 0.0, 1.0, 0.0, 0.0, 0.0, 1.0]
        info.p = [f, 0.0, w / 2, 0.0, 0.0, f, h / 2, 0.0, 0.0, 0.0, 1.0, 0.0]
    period = 1.0 / rate
    start = time.monotonic()
    for i in range(count):
        target = start + i * period
        delay = target - time.monotonic()
        if delay > 0:
            time.sleep(delay)
        now = time.time_ns()
        msg.header.stamp.sec, msg.header.stamp.nanosec = divmod(now, 1_000_000_000)
        pub.publish(msg)
        if info_pub is not None:
            info.header = msg.header
            info_pub.publish(info)
    time.sleep(0.5)  # let the last frames leave before the participant goes away
    print(count, flush=True)
    node.destroy_node()
    rclpy.shutdown()


if __name__ == "__main__":
    main()
