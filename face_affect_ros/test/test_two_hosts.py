"""Perception on a second host: the split layout in one network namespace, the camera in another.

The two namespaces are joined only by a veth pair (two_hosts.TwoHosts, made and torn down here),
discovery runs over that subnet (ROS_AUTOMATIC_DISCOVERY_RANGE=SUBNET, multicast on the link), the
camera host uses the shipped UDP-only profile and the perception host the shipped shared-memory
profile (its three nodes talk over shared memory, the camera over UDPv4). The test checks that
answers with the face arrive back on the camera host and that the frames really crossed the link.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest
from ros_helpers import domain_id
from two_hosts import TwoHosts, unavailable_reason

from face_affect_ros import bringup, ros_env

PKG = Path(__file__).resolve().parents[1]
CAMERA = Path(__file__).resolve().parent / "scripts" / "camera_roundtrip.py"
FACES_WANTED = 5
#: Model loading on a busy machine, discovery over the link, then FACES_WANTED answers at 5 Hz.
RUN_TIMEOUT_S = 120.0

_REASON = unavailable_reason()
pytestmark = pytest.mark.skipif(_REASON is not None, reason=f"no network namespaces: {_REASON}")


def _env(profile: str) -> dict[str, str]:
    env = {
        k: v
        for k, v in os.environ.items()
        if k not in (ros_env.FASTDDS_VARIABLE, ros_env.FASTRTPS_VARIABLE)
    }
    env.update(
        ROS_AUTOMATIC_DISCOVERY_RANGE="SUBNET",
        ROS_DOMAIN_ID=domain_id("two_hosts"),
        **ros_env.profile_env(PKG / "config" / profile),
    )
    return env


@pytest.mark.parametrize("transport", ["raw", "compressed"])
def test_split_layout_on_another_host_answers_the_camera(transport: str) -> None:
    specs = bringup.node_specs(
        layout="split",
        camera_topic="/head_camera/image",
        image_transport=transport,
        namespace="robot1",
        fastdds_profile=str(PKG / "config" / ros_env.LARGE_SHM_PROFILE),
    )
    with TwoHosts() as net:
        perception = _env(ros_env.LARGE_SHM_PROFILE)
        nodes = [
            subprocess.Popen(
                net.command("b", spec.command()),
                env={**perception, **spec.env},
                stdout=subprocess.DEVNULL,
                stderr=subprocess.PIPE,
                text=True,
            )
            for spec in specs
        ]
        try:
            before = net.link_bytes("b")
            camera = subprocess.run(
                net.command(
                    "a",
                    [
                        sys.executable,
                        str(CAMERA),
                        "/head_camera/image",
                        "/robot1/face_affect",
                        "5",
                        str(RUN_TIMEOUT_S),
                        "--until-faces",
                        str(FACES_WANTED),
                        *(["--compressed"] if transport == "compressed" else []),
                    ],
                ),
                env=_env(ros_env.UDP_PROFILE),
                capture_output=True,
                text=True,
                timeout=RUN_TIMEOUT_S + 60,
            )
            crossed = net.link_bytes("b") - before
        finally:
            for proc in nodes:
                proc.send_signal(2)
            errors = []
            for proc in nodes:
                try:
                    errors.append((proc.wait(timeout=20), proc.stderr.read()))
                except subprocess.TimeoutExpired:
                    proc.kill()
                    errors.append((proc.wait(), proc.stderr.read()))
    assert camera.returncode == 0, (camera.stderr, errors)
    report = json.loads(camera.stdout.strip().splitlines()[-1])
    assert report["with_faces"] >= FACES_WANTED, (report, errors)
    # The frames went over the veth link (not shared memory): at least one frame per face answer.
    assert crossed >= report["with_faces"] * report["frame_bytes"], (crossed, report)
    for code, err in errors:
        assert code == 0, err
