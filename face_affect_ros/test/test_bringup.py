"""What the launch file starts, run for real without `launch`: face_affect_ros.bringup's NodeSpecs.

The launch file turns each NodeSpec into a launch_ros Node; here the same specs start the nodes
as processes with the command line launch_ros would give them (namespace, node name, parameter
file, the launch arguments the user gave, remappings, per-node environment), and the test asks
the running nodes over their parameter services and the graph what they got.
"""

from __future__ import annotations

import os
import re
import subprocess
import time
from pathlib import Path

import pytest
import rclpy
import yaml
from face_affect_ros.schema import params as P  # noqa: N812
from node_harness import stop_nodes
from rcl_interfaces.msg import ParameterType
from rcl_interfaces.srv import GetParameters
from rclpy.impl.implementation_singleton import rclpy_implementation as _rclpy
from rclpy.node import Node
from ros_helpers import domain_id, spin_until

from face_affect_ros import bringup, ros_env

PKG = Path(__file__).resolve().parents[1]
SHIPPED = PKG / "config" / "face_affect.yaml"
SHM_PROFILE = PKG / "config" / ros_env.LARGE_SHM_PROFILE
#: Loading three ONNX models on a busy 2-core machine.
START_TIMEOUT_S = 90.0
# Kept as shipped: the nodes must come up and subscribe (autostart, tracking); free strings
# (model names) are not changed.
KEEP = {"autostart", "tracking"}
# Changed to a value that is valid together with the other changed values: TensorRT (absent
# here: the models fall back to the CPU) is where the changed provider_fp16 applies.
CHOSEN = {"execution_provider": "tensorrt"}


def _non_default(name: str, value):
    """A valid value of the shipped parameter that differs from its default, or None to keep it.

    Numbers move halfway to their maximum, which stays valid where 0 means "automatic" and the
    other valid values start higher (gender_min_confidence).
    """
    spec = P.SPEC_BY_NAME[name]
    if name in KEEP:
        return None
    if name in CHOSEN:
        return CHOSEN[name]
    if isinstance(value, bool):
        return not value
    if spec.choices:
        return next(c for c in spec.choices if c != value)
    if isinstance(value, int):
        return value + 1 if value < spec.max else value - 1
    if isinstance(value, float):
        return round((value + spec.max) / 2, 4)
    return None


@pytest.fixture(scope="module")
def user_params(tmp_path_factory) -> tuple[Path, dict[str, dict]]:
    """The shipped file with every value a robot team could change changed, keys untouched."""
    shipped = yaml.safe_load(SHIPPED.read_text())
    changed: dict[str, dict] = {}
    for key, section in shipped.items():
        values = section["ros__parameters"]
        for name, value in values.items():
            new = _non_default(name, value)
            if new is not None:
                values[name] = new
                changed.setdefault(key, {})[name] = new
    path = tmp_path_factory.mktemp("params") / "robot_face_affect.yaml"
    path.write_text(yaml.safe_dump(shipped))
    return path, changed


@pytest.fixture(scope="module")
def client():
    rclpy.init()
    node = Node("bringup_test_client")
    yield node
    node.destroy_node()
    rclpy.shutdown()


def _get(client: Node, fqn: str, names: list[str]) -> dict:
    cli = client.create_client(GetParameters, f"{fqn}/get_parameters")
    try:
        assert spin_until(client, cli.service_is_ready, START_TIMEOUT_S), f"{fqn} not up"
        future = cli.call_async(GetParameters.Request(names=names))
        assert spin_until(client, future.done, 10.0), f"{fqn}: no parameter reply"
    finally:
        client.destroy_client(cli)
    out = {}
    for name, value in zip(names, future.result().values, strict=True):
        out[name] = {
            ParameterType.PARAMETER_BOOL: value.bool_value,
            ParameterType.PARAMETER_INTEGER: value.integer_value,
            ParameterType.PARAMETER_DOUBLE: value.double_value,
            ParameterType.PARAMETER_STRING: value.string_value,
        }.get(value.type)
    return out


def _start(specs: list[bringup.NodeSpec], base_env: dict[str, str]) -> list[subprocess.Popen]:
    return [
        subprocess.Popen(
            spec.command(),
            env={**base_env, **spec.env},
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
        )
        for spec in specs
    ]


def test_shipped_file_keys_match_any_namespace() -> None:
    keys = set(yaml.safe_load(SHIPPED.read_text()))
    nodes = {n for layout in bringup.LAYOUTS.values() for n in layout} | {bringup.HRI_NODE}
    assert keys == {f"/**/{n}" for n in nodes}, keys


@pytest.mark.parametrize("layout", sorted(bringup.LAYOUTS))
def test_hri_adds_hri_node_fed_by_the_layout(layout: str) -> None:
    """hri=True adds hri_node to either layout, reading the camera the layout's nodes read."""
    kwargs = dict(layout=layout, camera_topic="/cam/image_raw", image_transport="compressed")
    plain = bringup.node_specs(**kwargs, namespace="r1", params_file="/p.yaml")
    specs = bringup.node_specs(**kwargs, namespace="r1", params_file="/p.yaml", hri=True)
    assert specs[:-1] == plain and [s.executable for s in plain] == list(bringup.LAYOUTS[layout])
    hri = specs[-1]
    assert hri.executable == bringup.HRI_NODE and hri.namespace == "r1"
    assert hri.params_files == ("/p.yaml",)
    if layout == "single":  # the camera itself, with the transport the user chose
        assert dict(hri.remappings) == {
            "image": "/cam/image_raw",
            "image/compressed": "/cam/image_raw/compressed",
        }
        assert hri.parameters == (("input_transport", "compressed"),)
    else:  # camera_node's decoded frames, raw whatever the camera's transport
        assert dict(hri.remappings) == {"image": bringup.SPLIT_FRAMES_TOPIC}
        assert hri.parameters == (("input_transport", "raw"),)
    assert "-r" in hri.command() and hri.command()[2] == f"{bringup.PACKAGE}.nodes.hri_node"


@pytest.mark.parametrize(
    ("layout", "namespace", "image_transport"),
    [("single", "robot1", ""), ("split", "a/b", "raw")],
)
def test_nodes_under_a_namespace_get_the_params_file(
    client, user_params, layout: str, namespace: str, image_transport: str
) -> None:
    """Every changed value of a /**/-keyed file reaches the nodes in /robot1 and /a/b.

    `image_transport` empty: the file's input_transport (compressed) wins over the launch file;
    given: the launch argument the user named wins over the file. hri_node (hri=True) is
    started with them and gets its section too.
    """
    path, changed = user_params
    specs = bringup.node_specs(
        layout=layout,
        camera_topic="/head/camera/image",
        image_transport=image_transport,
        namespace=namespace,
        params_file=str(path),
        fastdds_profile=str(SHM_PROFILE),
        hri=True,
    )
    assert specs[-1].executable == bringup.HRI_NODE
    procs = _start(specs, dict(os.environ))
    try:
        for spec in specs:
            fqn = f"/{namespace}/{spec.name}"
            want = dict(changed[f"/**/{spec.name}"])
            if image_transport and "input_transport" in want:
                want["input_transport"] = image_transport
            got = _get(client, fqn, sorted(want))
            for name, value in want.items():
                assert got[name] == pytest.approx(value), (fqn, name, got[name], value)
        camera = next(s for s in specs if s.executable in bringup.CAMERA_NODES)
        topic = "/head/camera/image" + ("" if image_transport == "raw" else "/compressed")

        def subscribed() -> bool:
            try:
                subs = client.get_subscriber_names_and_types_by_node(camera.name, f"/{namespace}")
            except _rclpy.NodeNameNonExistentError:  # its node info not discovered yet
                return False
            return topic in {name for name, _ in subs}

        on_camera = spin_until(client, subscribed, 20.0)
    finally:
        results = stop_nodes(procs)
    # A node that refused its parameters logs why on stderr and never subscribes.
    assert on_camera, (f"{camera.name} not on {topic}", [err for _, _, err in results])
    for code, _, err in results:
        assert code == 0, err


def _shm_segments(pid: int) -> dict[str, int]:
    """Fast DDS shared-memory segments a process maps, with their sizes."""
    names = set(re.findall(r"(/dev/shm/fast\S*)", Path(f"/proc/{pid}/maps").read_text()))
    return {n: os.stat(n).st_size for n in names if os.path.exists(n) and "_el" not in n}


def test_launch_env_gives_fast_dds_the_large_segment_without_warnings() -> None:
    """The profile reaches Fast DDS under the name it reads, from the launch env alone.

    The node runs alone in a domain of its own: a process maps the segments of the participants
    it sends to as well, and here the only segment it maps is the one it made from the profile.
    """
    spec = bringup.node_specs(layout="split", fastdds_profile=str(SHM_PROFILE))[0]
    assert "RMW_IMPLEMENTATION" not in spec.env
    base = {
        k: v
        for k, v in os.environ.items()
        if k not in (ros_env.FASTDDS_VARIABLE, ros_env.FASTRTPS_VARIABLE)
    }
    base["ROS_DOMAIN_ID"] = domain_id("spare")
    (proc,) = _start([spec], base)
    try:
        deadline = time.monotonic() + START_TIMEOUT_S
        while not _shm_segments(proc.pid) and proc.poll() is None and time.monotonic() < deadline:
            time.sleep(0.05)
        segments = _shm_segments(proc.pid)
    finally:
        ((code, _, err),) = stop_nodes([proc])
    assert segments, err
    assert max(segments.values()) >= 32 << 20, segments
    assert code == 0, err
    assert "deprecated" not in err.lower(), err
