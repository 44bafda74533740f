"""Start face_affect_ros nodes as real processes and talk to them from the test process."""

from __future__ import annotations

import signal
import subprocess
import sys
import time
from collections.abc import Iterable

import cv2
import numpy as np
import rclpy
from diagnostic_msgs.msg import DiagnosticArray, DiagnosticStatus
from face_affect_ros.nodes.messages import image_to_msg
from lifecycle_msgs.srv import GetState
from rclpy.node import Node
from rclpy.qos import QoSProfile, ReliabilityPolicy, qos_profile_sensor_data
from ros_helpers import spin_until
from sensor_msgs.msg import CompressedImage, Image
from skimage import data
from std_msgs.msg import Header

from face_affect_msgs.msg import FaceAffectArray


def start_node(executable: str, *ros_args: str, name: str | None = None) -> subprocess.Popen:
    """`python -m face_affect_ros.nodes.<executable> --ros-args ...` in a new process."""
    args = ["--ros-args", *ros_args]
    if name:
        args += ["-r", f"__node:={name}"]
    return subprocess.Popen(
        [sys.executable, "-m", f"face_affect_ros.nodes.{executable}", *args],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )


def stop_nodes(procs: Iterable[subprocess.Popen], sig: int = signal.SIGINT) -> list[tuple]:
    """Signal every process, wait, and return (returncode, stdout, stderr) of each."""
    procs = list(procs)
    for p in procs:
        if p.poll() is None:
            p.send_signal(sig)
    out = []
    for p in procs:
        try:
            o, e = p.communicate(timeout=20)
        except subprocess.TimeoutExpired:
            p.kill()
            o, e = p.communicate()
        out.append((p.returncode, o, e))
    return out


def face_frame(width: int = 640, height: int = 480, face_px: int = 360) -> np.ndarray:
    """The astronaut (NASA, public domain) scaled onto a grey canvas: one smiling woman."""
    canvas = np.full((height, width, 3), 90, np.uint8)
    img = cv2.cvtColor(data.astronaut(), cv2.COLOR_RGB2BGR)
    img = cv2.resize(img, (face_px, face_px), interpolation=cv2.INTER_AREA)
    x0, y0 = (width - face_px) // 2, (height - face_px) // 2
    canvas[y0 : y0 + face_px, x0 : x0 + face_px] = img
    return canvas


class Camera:
    """A test-side camera publisher and FaceAffectArray listener."""

    def __init__(
        self,
        node: Node,
        topic: str = "/test_cam/image",
        compressed: bool = False,
        results: str = "/face_affect",
    ):
        self.node = node
        self.results_topic = results
        msg_type = CompressedImage if compressed else Image
        self.pub = node.create_publisher(
            msg_type, topic + ("/compressed" if compressed else ""), qos_profile_sensor_data
        )
        self.results: dict[int, FaceAffectArray] = {}
        node.create_subscription(
            FaceAffectArray,
            results,
            self._on_result,
            QoSProfile(depth=50, reliability=ReliabilityPolicy.RELIABLE),
        )

    def _on_result(self, msg: FaceAffectArray) -> None:
        self.results[msg.header.stamp.sec * 10**9 + msg.header.stamp.nanosec] = msg

    def wait_ready(self, timeout: float = 30.0) -> bool:
        """Discovery both ways: our camera has a subscriber and /face_affect has a publisher."""
        return spin_until(
            self.node,
            lambda: (
                self.pub.get_subscription_count() > 0
                and self.node.count_publishers(self.results_topic) > 0
            ),
            timeout,
        )

    @staticmethod
    def key(i: int) -> int:
        """Stamp in nanoseconds of test frame `i` (see header())."""
        return (100 + i) * 10**9 + 1000 * i

    @staticmethod
    def header(i: int) -> Header:
        h = Header(frame_id="test_camera_optical_frame")
        h.stamp.sec, h.stamp.nanosec = 100 + i, 1000 * i
        return h

    def send(
        self, msg: Image | CompressedImage, i: int, timeout: float = 10.0, retries: int = 3
    ) -> FaceAffectArray | None:
        """Publish frame `i` and wait for its result; resend if best effort lost it."""
        key = self.key(i)
        for _ in range(retries):
            self.pub.publish(msg)
            if spin_until(self.node, lambda: key in self.results, timeout / retries):
                return self.results[key]
        return None

    def image(self, bgr: np.ndarray, i: int) -> Image:
        return image_to_msg(self.header(i), bgr)

    def spin(self, seconds: float) -> None:
        spin_until(self.node, lambda: False, seconds)


def init_client(name: str) -> Node:
    rclpy.init()
    return rclpy.create_node(name)


def close_client(node: Node) -> None:
    node.destroy_node()
    rclpy.try_shutdown()


def wait_for(predicate, timeout: float) -> bool:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if predicate():
            return True
        time.sleep(0.05)
    return predicate()


class Diagnostics:
    """The newest /diagnostics status of each node, by the node's fully qualified name."""

    def __init__(self, node: Node) -> None:
        self.node = node
        self.latest: dict[str, DiagnosticStatus] = {}
        self.history: dict[str, list[DiagnosticStatus]] = {}
        node.create_subscription(DiagnosticArray, "/diagnostics", self._on_diag, 50)

    def _on_diag(self, msg: DiagnosticArray) -> None:
        for status in msg.status:
            name = status.name.split(":")[0]
            self.latest[name] = status
            self.history.setdefault(name, []).append(status)

    def values(self, node_name: str) -> dict[str, str]:
        status = self.latest.get(node_name)
        return {kv.key: kv.value for kv in status.values} if status is not None else {}

    def counter(self, node_name: str, key: str) -> int:
        return int(self.values(node_name).get(key, 0))

    def wait(self, node_name: str, predicate, timeout: float = 15.0) -> DiagnosticStatus | None:
        """Spin until the node's newest status satisfies `predicate(status)`; return it or None."""

        def ok() -> bool:
            status = self.latest.get(node_name)
            return status is not None and bool(predicate(status))

        return self.latest[node_name] if spin_until(self.node, ok, timeout) else None


def lifecycle_state(node: Node, target: str, timeout: float = 10.0) -> str | None:
    """Label of `target`'s lifecycle state, asked through its get_state service."""
    srv = node.create_client(GetState, f"{target}/get_state")
    try:
        if not srv.wait_for_service(timeout_sec=timeout):
            return None
        future = srv.call_async(GetState.Request())
        if not spin_until(node, future.done, timeout):
            return None
        return future.result().current_state.label
    finally:
        node.destroy_client(srv)
