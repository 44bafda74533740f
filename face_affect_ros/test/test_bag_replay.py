"""The sample bag through the live ROS path: face_affect_node fed by `face-affect-bag play`.

Per-frame mode here (`tracking:=false` on the node, `--every-frame` offline): replay and offline
processing must agree (same faces, boxes within 1 px, same labels, probabilities within 1e-3) on
every frame both have, whichever frames the node skipped. The node is fed over best effort and
keeps only the newest frame, so frames may be lost when the CPU is busy (2 shared cores here):
the replay runs at half speed and nearly all frames must arrive. The perception loop (the
default) is compared message by message in test_offline_online.py; the demo runs it.
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import pytest
import rclpy
from bag_helpers import (
    SAMPLE_BAG,
    SAMPLE_FRAMES,
    SAMPLE_TOPIC,
    compare_frames,
    frames_from_jsonl,
    reduce_face,
)
from face_affect_ros.bag.process import process_bag
from face_affect_ros.cli.demo import node_command, stop_process
from face_affect_ros.core.pipeline import FaceAffectPipeline
from face_affect_ros.nodes.messages import frame_result_from_msg, stamp_ns
from face_affect_ros.schema.results import frame_to_dict
from rclpy.node import Node
from rclpy.qos import QoSProfile, ReliabilityPolicy, qos_profile_sensor_data
from ros_helpers import domain_id, spin_until
from sensor_msgs.msg import CompressedImage

from face_affect_msgs.msg import FaceAffectArray

#: Replay speed: half the recorded 15 Hz leaves the node time on a loaded 2-core machine.
REPLAY_RATE = 0.5
#: Share of the frames that must come back through the node.
MIN_ARRIVED = 0.85
#: Seconds for the node to come up (three ONNX models) and for the replay to finish.
START_TIMEOUT_S = 60.0
REPLAY_TIMEOUT_S = SAMPLE_FRAMES / 15 / REPLAY_RATE + 30


def bag_cli(*args: str, **kwargs) -> subprocess.Popen:
    return subprocess.Popen(
        [sys.executable, "-m", "face_affect_ros.cli.bag", *map(str, args)],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        **kwargs,
    )


@pytest.fixture(scope="module")
def ros() -> Iterator[Node]:
    rclpy.init()
    node = rclpy.create_node("test_bag_replay")
    yield node
    node.destroy_node()
    rclpy.try_shutdown()


@pytest.fixture(scope="module")
def offline(tmp_path_factory: pytest.TempPathFactory) -> dict:
    tmp = tmp_path_factory.mktemp("offline")
    process_bag(
        SAMPLE_BAG, tmp / "out", FaceAffectPipeline(_node_config()), json_path=tmp / "o.jsonl"
    )
    return frames_from_jsonl(tmp / "o.jsonl")


def _node_config():
    """The node's parameters in per-frame mode (the node below runs with tracking:=false)."""
    from face_affect_ros.bag.process import node_parameters, pipeline_config

    return pipeline_config({**node_parameters(), "tracking": False})


@pytest.fixture(scope="module")
def node_process(tmp_path_factory: pytest.TempPathFactory, ros: Node) -> Iterator[Path]:
    log = tmp_path_factory.mktemp("node") / "node.log"
    with log.open("w") as fh:
        proc = subprocess.Popen(
            # Per-frame mode, as the offline tool: frame-by-frame comparable results.
            node_command(SAMPLE_TOPIC, "sensor_msgs/msg/CompressedImage", "-p", "tracking:=false"),
            stdout=fh,
            stderr=subprocess.STDOUT,
        )
    try:
        up = spin_until(
            ros,
            lambda: ros.count_publishers("/face_affect") > 0 or proc.poll() is not None,
            START_TIMEOUT_S,
        )
        assert up and proc.poll() is None, f"node did not come up:\n{log.read_text()}"
        yield log
    finally:
        status = stop_process(proc)
    assert status == 0, f"node exit status {status}:\n{log.read_text()}"


def test_replay_through_node_equals_offline_per_frame(
    ros: Node, node_process: Path, offline: dict
) -> None:
    received: dict[int, list] = {}

    def on_result(msg: FaceAffectArray) -> None:
        # The published message through the one result schema, as the demo records it.
        record = frame_to_dict(frame_result_from_msg(msg))
        received[stamp_ns(msg.header)] = [reduce_face(f) for f in record["faces"]]

    sub = ros.create_subscription(
        FaceAffectArray,
        "/face_affect",
        on_result,
        QoSProfile(depth=100, reliability=ReliabilityPolicy.RELIABLE),
    )
    try:
        assert spin_until(ros, lambda: ros.count_publishers("/face_affect") > 0, START_TIMEOUT_S)
        player = bag_cli(
            "play",
            SAMPLE_BAG,
            "--rate",
            REPLAY_RATE,
            "--wait-for-subscribers",
            "1",
            "--wait-timeout",
            START_TIMEOUT_S,
        )
        try:
            finished = spin_until(ros, lambda: player.poll() is not None, REPLAY_TIMEOUT_S)
            # Results of the last frames are still on their way: wait until none is missing or
            # none came for a second.
            last = [len(received), time.monotonic()]

            def settled() -> bool:
                if len(received) != last[0]:
                    last[:] = [len(received), time.monotonic()]
                return len(received) >= SAMPLE_FRAMES or time.monotonic() - last[1] > 1.0

            spin_until(ros, settled, 10.0)
        finally:
            if player.poll() is None:
                player.kill()
            out, err = player.communicate()
        assert finished and player.returncode == 0, (out, err)
        assert "published 60 messages" in out, out
    finally:
        ros.destroy_subscription(sub)

    assert len(received) >= MIN_ARRIVED * SAMPLE_FRAMES, (
        f"only {len(received)} of {SAMPLE_FRAMES} frames came back:\n{node_process.read_text()}"
    )
    assert set(received) <= set(offline)
    assert compare_frames(offline, received) == []


@pytest.mark.parametrize("sig", [signal.SIGINT, signal.SIGTERM], ids=["SIGINT", "SIGTERM"])
def test_play_stops_cleanly_on_signal(ros: Node, sig: int) -> None:
    images: list[CompressedImage] = []
    sub = ros.create_subscription(
        CompressedImage, SAMPLE_TOPIC, images.append, qos_profile_sensor_data
    )
    player = bag_cli("play", SAMPLE_BAG, "--loop", "--rate", "4", "--wait-for-subscribers", "1")
    try:
        assert spin_until(ros, lambda: len(images) >= 3 or player.poll() is not None, 30)
        assert player.poll() is None, player.communicate()
        player.send_signal(sig)
        out, err = player.communicate(timeout=10)
    finally:
        ros.destroy_subscription(sub)
        if player.poll() is None:
            player.kill()
            player.communicate()
    assert player.returncode == 0, (out, err)
    assert "stopped: published" in out
    assert "Traceback" not in err


def test_play_without_subscribers_times_out_with_one_line(tmp_path: Path) -> None:
    env = dict(os.environ, ROS_DOMAIN_ID=domain_id("replay"))
    player = bag_cli(
        "play", SAMPLE_BAG, "--wait-for-subscribers", "1", "--wait-timeout", "1", env=env
    )
    _, err = player.communicate(timeout=30)
    assert player.returncode == 1
    assert err.count("\n") == 1 and "timed out after 1 s waiting for 1 subscriber(s)" in err


def test_demo_end_to_end(tmp_path: Path) -> None:
    """`face-affect-demo` alone: builds the moving sequence, runs the default node, scores it."""
    # Its own domain, so it does not meet the node of the other tests.
    env = dict(os.environ, ROS_DOMAIN_ID=domain_id("replay"))
    out_dir = tmp_path / "demo"
    seconds = 2.0
    proc = subprocess.run(
        [
            sys.executable,
            "-m",
            "face_affect_ros.cli.demo",
            "--out",
            out_dir,
            "--seconds",
            str(seconds),
            "--rate",
            str(REPLAY_RATE),
        ],
        env=env,
        capture_output=True,
        text=True,
        timeout=START_TIMEOUT_S + seconds / REPLAY_RATE + 60,
    )
    assert proc.returncode == 0, (proc.stdout, proc.stderr)
    assert "what to watch" in proc.stdout
    assert "node exit status    0" in proc.stdout
    assert "scored against the moving sequence's ground truth" in proc.stdout
    assert "faces on the cat    0 frame(s)" in proc.stdout  # no cat in the first 2 s either
    assert {p.name for p in out_dir.iterdir()} == {
        "face_affect_demo.jsonl",
        "face_affect_demo.mp4",
        "face_affect_demo.png",
        "moving_sequence.mcap",
        "moving_sequence.json",
        "node.log",
    }
    demo = frames_from_jsonl(out_dir / "face_affect_demo.jsonl")
    frames = round(seconds * 30)
    assert len(demo) >= MIN_ARRIVED * frames, proc.stdout
    # The node's default, the loop: the astronaut is one track from the first frames on.
    assert {f["id"] for faces in demo.values() for f in faces} == {"face_1"}
