"""TakenSubscription (nodes/frame_taker.py) on real rclpy: newest frame, counts, wake-up, remap."""

from __future__ import annotations

import subprocess
import sys
import threading
import time

import pytest
import rclpy
from face_affect_ros.nodes.frame_taker import TakenSubscription
from rclpy.qos import QoSProfile, ReliabilityPolicy
from sensor_msgs.msg import Image

QOS = QoSProfile(depth=1, reliability=ReliabilityPolicy.BEST_EFFORT)


@pytest.fixture
def context():
    ctx = rclpy.Context()
    rclpy.init(context=ctx)
    yield ctx
    rclpy.shutdown(context=ctx)


def _image(seq: int) -> Image:
    msg = Image(height=2, width=2, encoding="mono8", step=2)
    msg.data = bytes([seq % 256] * 4)
    msg.header.frame_id = f"f{seq}"
    return msg


def _matched(sub: TakenSubscription, pub, timeout: float = 10.0) -> bool:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if sub.publisher_count() and pub.get_subscription_count():
            return True
        time.sleep(0.02)
    return False


def test_worker_takes_the_newest_frame_and_counts_the_ones_it_never_took(context) -> None:
    node = rclpy.create_node("taker_test", context=context)
    pub = node.create_publisher(Image, "/taker_test/image", QOS)
    sub = TakenSubscription(node, Image, "/taker_test/image", QOS)
    try:
        assert _matched(sub, pub)
        assert sub.take_newest(0.05) is None  # nothing published yet: a timeout, not an error
        pub.publish(_image(0))
        first = sub.take_newest(5.0)
        assert first is not None and first[0].header.frame_id == "f0"
        for i in range(1, 6):
            pub.publish(_image(i))
        # Depth 1: only the newest is kept; the four it replaced were never converted.
        deadline = time.monotonic() + 5.0
        newest = None
        while newest is None and time.monotonic() < deadline:
            newest = sub.take_newest(0.5)
        assert newest is not None and newest[0].header.frame_id == "f5"
        assert sub.taken == 2
        if newest[1].get("publication_sequence_number") is not None:
            assert sub.skipped == 4
        # The executor never sees this subscription.
        assert sub.topic_name == "/taker_test/image"
        assert all(s.topic_name != "/taker_test/image" for s in node.subscriptions)
    finally:
        sub.destroy()
        node.destroy_node()


def test_take_now_returns_the_newest_waiting_message_without_waiting(context) -> None:
    """The poll used for camera_info and depth: None at once when empty, else the newest."""
    node = rclpy.create_node("taker_now_test", context=context)
    pub = node.create_publisher(Image, "/taker_now_test/info", QOS)
    sub = TakenSubscription(node, Image, "/taker_now_test/info", QOS)
    try:
        assert _matched(sub, pub)
        t0 = time.monotonic()
        assert sub.take_now() is None
        assert time.monotonic() - t0 < 0.05  # no wait
        for i in range(3):
            pub.publish(_image(i))
        # Delivery is asynchronous: poll until the last one is there; each poll that finds
        # something returns the newest that had arrived, so the ids only go up.
        deadline = time.monotonic() + 5.0
        seen: list[str] = []
        while (not seen or seen[-1] != "f2") and time.monotonic() < deadline:
            taken = sub.take_now()
            if taken is not None:
                seen.append(taken[0].header.frame_id)
            time.sleep(0.01)
        assert seen and seen[-1] == "f2" and seen == sorted(seen)
        assert sub.take_now() is None  # each message is taken once
        assert sub.taken == len(seen)
    finally:
        sub.destroy()
        node.destroy_node()


def test_wake_returns_a_waiting_worker_at_once(context) -> None:
    node = rclpy.create_node("taker_wake", context=context)
    sub = TakenSubscription(node, Image, "image", QOS)
    result: list = []
    worker = threading.Thread(target=lambda: result.append(sub.take_newest(30.0)))
    try:
        worker.start()
        time.sleep(0.1)
        t0 = time.monotonic()
        sub.wake()
        worker.join(5.0)
        assert not worker.is_alive() and result == [None]
        assert time.monotonic() - t0 < 5.0
        assert sub.take_newest(1.0) is None  # stays woken
    finally:
        sub.destroy()
        node.destroy_node()


def test_relative_topic_names_are_resolved_and_remapped(context) -> None:
    node = rclpy.create_node(
        "taker_remap",
        namespace="/robot",
        context=context,
        cli_args=["--ros-args", "-r", "image:=/camera/image_raw"],
    )
    sub = TakenSubscription(node, Image, "image", QOS)
    try:
        assert sub.topic_name == "/camera/image_raw"
    finally:
        sub.destroy()
        node.destroy_node()


_FAULTS_SCRIPT = """
import resource, sys
import numpy as np
from face_affect_ros.nodes.heap import keep_large_buffers
tuned = keep_large_buffers() if sys.argv[1] == "tuned" else None
before = resource.getrusage(resource.RUSAGE_SELF).ru_minflt
for _ in range(50):  # what receiving a 640x480 bgr8 frame allocates and frees, twice
    a = np.ones(921600, np.uint8)
    b = bytes(a)
    del a, b
print(tuned, (resource.getrusage(resource.RUSAGE_SELF).ru_minflt - before) / 50)
"""


@pytest.mark.parametrize("mode", ["tuned", "default"])
def test_heap_tuning_stops_page_faults_per_frame_sized_buffer(mode: str) -> None:
    out = subprocess.run(
        [sys.executable, "-c", _FAULTS_SCRIPT, mode], capture_output=True, text=True, check=True
    ).stdout.split()
    faults = float(out[1])
    if mode == "tuned":
        # glibc (the only libc the ROS binaries here use): the freed buffers are reused.
        assert out[0] == "True"
        assert faults < 20
    else:
        # Untuned, each cycle maps fresh pages (~450 faults): the cost nodes/heap.py removes.
        assert faults > 100
