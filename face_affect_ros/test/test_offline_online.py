"""Offline = online = split: the bag tool, face_affect_node and the split layout agree.

A short moving bag (bag/make_moving.py: faces that move, 30 Hz) is processed offline with the
node's default parameters (the perception loop, clocked by the header stamps), and replayed into
the nodes started as the launch file starts them (bringup.node_specs), with their default
parameters: face_affect_node alone, and the split layout (camera_node -> detector_node running
the localisation half -> classifier_node running the affect half) under a namespace. Every
FaceAffectArray must be the same message by message: track ids, boxes (within 1 px), labels,
scores within 1e-3 (float tolerance: the node and the tool run the same code on the same decoded
JPEG, so they are equal in practice).

What may legitimately differ: a frame the live node skipped (it was busy, or the middleware lost
it) is not processed, so the loop's schedule (scan, detector looks, classifications) can fall on
other frames from then on. The replay runs at a rate the node keeps up with, over reliable QoS;
nearly all frames must come back, and when some did not, every received message must equal
the same offline loop run over exactly the frames the node processed.
"""

from __future__ import annotations

import dataclasses
import os
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import pytest
import rclpy
from bag_helpers import compare_frames, frames_from_jsonl, reduce_face
from face_affect_ros.bag import make_moving as mm
from face_affect_ros.bag.process import (
    node_parameters,
    pipeline_config,
    process_bag,
    temporal_config,
)
from face_affect_ros.cli.demo import stop_process
from face_affect_ros.core.loop_config import loop_stamp
from face_affect_ros.core.pipeline import FaceAffectPipeline, FrameResult, StageTimings
from face_affect_ros.core.temporal import PerceptionLoop
from face_affect_ros.nodes.messages import frame_result_from_msg, stamp_ns
from face_affect_ros.schema.results import frame_to_dict
from rclpy.node import Node
from rclpy.qos import QoSProfile, ReliabilityPolicy
from ros_helpers import spin_until

from face_affect_msgs.msg import FaceAffectArray, FaceDetectionArray
from face_affect_ros import bringup, ros_env

#: 3 s of the moving sequence from its start: the astronaut, the cameraman walking in.
SECONDS = 3.0
FRAMES = round(SECONDS * mm.RATE_HZ)
#: Replay speed: a quarter of 30 Hz leaves the node ample time on 2 shared cores.
REPLAY_RATE = 0.25
#: Share of the frames that must be compared (up to the first one the node skipped).
MIN_COMPARED = 0.8
START_TIMEOUT_S = 90.0
SHM_PROFILE = Path(__file__).resolve().parents[1] / "config" / ros_env.LARGE_SHM_PROFILE
#: Where the split layout runs (the launch file's `namespace` argument).
SPLIT_NAMESPACE = "perception"


def _specs(layout: str) -> list[bringup.NodeSpec]:
    """The layout's nodes as the launch file starts them, input over reliable QoS."""
    specs = bringup.node_specs(
        layout=layout,
        camera_topic=mm.TOPIC.removesuffix("/compressed"),
        image_transport="compressed",
        namespace=SPLIT_NAMESPACE if layout == "split" else "",
        fastdds_profile=str(SHM_PROFILE),
    )
    # Reliable input so nothing is lost in transit: only frames a node itself skips can differ.
    return [
        dataclasses.replace(s, parameters=(*s.parameters, ("input_reliability", "reliable")))
        if s.executable in bringup.CAMERA_NODES
        else s
        for s in specs
    ]


@pytest.fixture(scope="module")
def moving_bag(tmp_path_factory: pytest.TempPathFactory) -> Path:
    bag = tmp_path_factory.mktemp("moving") / "moving.mcap"
    mm.build(bag, SECONDS)
    return bag


@pytest.fixture(scope="module")
def offline(moving_bag: Path, tmp_path_factory: pytest.TempPathFactory) -> dict:
    tmp = tmp_path_factory.mktemp("offline")
    values = node_parameters()
    loop = PerceptionLoop(
        pipeline=FaceAffectPipeline(pipeline_config(values)), temporal=temporal_config(values)
    )
    summary = process_bag(moving_bag, tmp / "out", loop, json_path=tmp / "o.jsonl")
    assert summary.frames == FRAMES and summary.bad_frames == 0
    return frames_from_jsonl(tmp / "o.jsonl")


@pytest.fixture(scope="module")
def ros() -> Iterator[Node]:
    rclpy.init()
    node = rclpy.create_node("test_offline_online")
    yield node
    node.destroy_node()
    rclpy.try_shutdown()


def test_offline_tool_gives_ids_and_per_track_estimates(offline: dict) -> None:
    ids = {f["id"] for faces in offline.values() for f in faces}
    # The astronaut from the first frame, the cameraman walking in from 2 s.
    assert ids == {"face_1", "face_2"}, ids
    assert all(faces for faces in offline.values())


def test_reference_over_every_frame_is_the_offline_tools_output(
    moving_bag: Path, offline: dict, tmp_path: Path
) -> None:
    # The reference used when a node skipped frames, given every frame: the tool's own output.
    every = set(offline)
    assert compare_frames(offline, _offline_over(moving_bag, every, every, tmp_path)) == []
    # Without frame 10 for the affect half only, frame 10 has no result and the rest still do.
    stamps = sorted(offline)
    partial = _offline_over(moving_bag, every, every - {stamps[10]}, tmp_path / "p")
    assert partial[stamps[10]] == [] and all(partial[s] for s in stamps[:10])


@pytest.mark.parametrize("layout", ["single", "split"])
def test_replay_into_nodes_equals_offline_message_by_message(
    ros: Node, moving_bag: Path, offline: dict, tmp_path: Path, layout: str
) -> None:
    received: dict[int, list] = {}

    def on_result(msg: FaceAffectArray) -> None:
        record = frame_to_dict(frame_result_from_msg(msg))
        received[stamp_ns(msg.header)] = [reduce_face(f) for f in record["faces"]]

    topic = f"/{SPLIT_NAMESPACE}/face_affect" if layout == "split" else "/face_affect"
    sub = ros.create_subscription(
        FaceAffectArray,
        topic,
        on_result,
        QoSProfile(depth=200, reliability=ReliabilityPolicy.RELIABLE),
    )
    # Which frames the localising node processed (the split detector may process a frame the
    # classifier then skips, and the other way round).
    localised: set[int] = set()
    det_topic = f"/{SPLIT_NAMESPACE}/face_affect/detections" if layout == "split" else None
    det_sub = (
        ros.create_subscription(
            FaceDetectionArray,
            det_topic,
            lambda msg: localised.add(stamp_ns(msg.header)),
            QoSProfile(depth=200, reliability=ReliabilityPolicy.RELIABLE),
        )
        if det_topic
        else None
    )
    log = tmp_path / "nodes.log"
    specs = _specs(layout)
    with log.open("w") as fh:
        nodes = [
            subprocess.Popen(
                spec.command(),
                env={**os.environ, **spec.env},
                stdout=fh,
                stderr=subprocess.STDOUT,
            )
            for spec in specs
        ]

    def up() -> bool:
        # The result publisher exists once the last stage is configured; the detector's too.
        return ros.count_publishers(topic) > 0 and (
            layout == "single"
            or ros.count_publishers(f"/{SPLIT_NAMESPACE}/face_affect/detections") > 0
        )

    try:
        assert spin_until(
            ros, lambda: up() or any(n.poll() is not None for n in nodes), START_TIMEOUT_S
        )
        assert all(n.poll() is None for n in nodes), log.read_text()
        player = subprocess.Popen(
            [
                sys.executable,
                "-m",
                "face_affect_ros.cli.bag",
                "play",
                str(moving_bag),
                "--rate",
                str(REPLAY_RATE),
                "--image-reliability",
                "reliable",
                "--wait-for-subscribers",
                "1",
                "--wait-timeout",
                str(START_TIMEOUT_S),
            ],
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
        )
        try:
            finished = spin_until(
                ros, lambda: player.poll() is not None, FRAMES / 30 / REPLAY_RATE + 60
            )
            last = [len(received), time.monotonic()]

            def settled() -> bool:
                if len(received) != last[0]:
                    last[:] = [len(received), time.monotonic()]
                return len(received) >= FRAMES or time.monotonic() - last[1] > 2.0

            spin_until(ros, settled, 15.0)
        finally:
            if player.poll() is None:
                player.kill()
            out, err = player.communicate()
        assert finished and player.returncode == 0, (out, err)
    finally:
        ros.destroy_subscription(sub)
        if det_sub is not None:
            ros.destroy_subscription(det_sub)
        statuses = [stop_process(n) for n in nodes]
    assert statuses == [0] * len(nodes), log.read_text()

    assert set(received) <= set(offline)
    assert len(received) >= MIN_COMPARED * FRAMES, (
        f"only {len(received)} of {FRAMES} frames came back:\n" + log.read_text()
    )
    reference = offline
    if layout == "single":
        localised = set(received)
    if len(received) < FRAMES or len(localised) < FRAMES:
        # A node skipped frames (a busy CPU): the halves then ran on fewer frames, so the
        # reference is the same offline loop with each half stepped on exactly the frames its
        # node processed (split: the detector's and the classifier's may differ).
        reference = _offline_over(moving_bag, localised, set(received), tmp_path)
    problems = compare_frames(
        {s: reference[s] for s in received}, {s: received[s] for s in received}
    )
    assert problems == [], problems[:10]


class _Only:
    """The loop's halves stepped only on the frames their nodes processed (stamps in ns)."""

    def __init__(self, loop: PerceptionLoop, localised: set[int], classified: set[int]) -> None:
        self.loop = loop
        self.localised = {loop_stamp(ns // 10**9, ns % 10**9) for ns in localised}
        self.classified = {loop_stamp(ns // 10**9, ns % 10**9) for ns in classified}

    def step(self, image, stamp: float):
        local, affect = self.loop.localisation, self.loop.affect
        if stamp in self.localised:
            located = local.step(image, stamp)
            if stamp in self.classified:
                return affect.step(image, stamp, located.faces, located.localise_ms)
        h, w = image.shape[:2]
        return FrameResult(w, h, (), (), StageTimings(0.0, 0.0, 0.0, 0.0), ())


def _offline_over(bag: Path, localised: set[int], classified: set[int], tmp: Path) -> dict:
    values = node_parameters()
    loop = PerceptionLoop(
        pipeline=FaceAffectPipeline(pipeline_config(values)), temporal=temporal_config(values)
    )
    only = _Only(loop, localised, classified)
    process_bag(bag, tmp / "subset", only, json_path=tmp / "subset.jsonl")
    return frames_from_jsonl(tmp / "subset.jsonl")
