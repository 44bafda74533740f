"""Subscriber stand-ins for bench_take.py: what receiving a camera stream costs, by method.

    python ros_take_subscriber.py executor TOPIC       # bare rclpy subscriber (executor callback)
    python ros_take_subscriber.py take TOPIC MAX_RATE  # TakenSubscription, worker takes newest
    (mode suffix -heap: with nodes/heap.py's keep_large_buffers, as the nodes run)

Runs until SIGINT; prints "received N skipped M" as its last line. Sensor-data QoS, depth 1.
"""

from __future__ import annotations

import signal
import sys
import threading
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "face_affect_ros"))

import rclpy
from rclpy.qos import qos_profile_sensor_data
from sensor_msgs.msg import Image


def main() -> None:
    mode, topic = sys.argv[1], sys.argv[2]
    if mode.endswith("-heap"):  # with face_affect_ros's glibc heap tuning (nodes/heap.py)
        from face_affect_ros.nodes.heap import keep_large_buffers

        keep_large_buffers()
        mode = mode[: -len("-heap")]
    rclpy.init(signal_handler_options=rclpy.signals.SignalHandlerOptions.NO)
    node = rclpy.create_node(f"bench_{mode}")
    qos = qos_profile_sensor_data
    stop = threading.Event()
    signal.signal(signal.SIGINT, lambda *_: stop.set())
    count = [0]
    if mode == "executor":
        node.create_subscription(Image, topic, lambda _m: count.__setitem__(0, count[0] + 1), qos)
        while not stop.is_set():
            rclpy.spin_once(node, timeout_sec=0.1)
        print(f"received {count[0]} skipped 0", flush=True)
    else:
        from face_affect_ros.nodes.frame_taker import TakenSubscription
        from rclpy.qos import QoSProfile

        max_rate = float(sys.argv[3])
        depth1 = QoSProfile(depth=1, reliability=qos.reliability, durability=qos.durability)
        sub = TakenSubscription(node, Image, topic, depth1, raw=mode == "takeraw")
        period = 1.0 / max_rate if max_rate > 0 else 0.0
        next_t = 0.0
        while not stop.is_set():
            now = time.monotonic()
            if now < next_t:
                time.sleep(next_t - now)
            if sub.take_newest(0.1) is not None:
                count[0] += 1
                next_t = max(next_t + period, time.monotonic()) if period else 0.0
        print(f"received {count[0]} skipped {sub.skipped}", flush=True)
        sub.destroy()
    node.destroy_node()
    rclpy.shutdown()


if __name__ == "__main__":
    main()
