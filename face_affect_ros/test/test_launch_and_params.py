"""Launch files and parameter file, checked as far as this machine allows.

`ros2 launch` and launch_ros are not installable here, so the launch files are read as Python
source and their decisions (face_affect_ros.bringup, which the launch file turns into Nodes) are
checked: every executable they start is a console script of setup.py, every launch argument used
is declared, the parameter file exists and holds exactly the parameters each node really declares
(nodes are instantiated with rclpy to ask them), and every remapped name is a topic the node uses.
What the launched nodes do with those arguments is run in test_bringup.py.
"""

from __future__ import annotations

import ast
from pathlib import Path

import pytest
import rclpy
import yaml
from face_affect_ros.schema import params as P  # noqa: N812

from face_affect_ros import bringup

PKG = Path(__file__).resolve().parents[1]
LAUNCH = PKG / "launch"
MAIN = LAUNCH / "face_affect.launch.py"


def _console_scripts() -> set[str]:
    tree = ast.parse((PKG / "setup.py").read_text())
    for node in ast.walk(tree):
        if isinstance(node, ast.Dict):
            for key, value in zip(node.keys, node.values, strict=True):
                if isinstance(key, ast.Constant) and key.value == "console_scripts":
                    return {s.split("=")[0].strip() for s in ast.literal_eval(value)}
    raise AssertionError("no console_scripts in setup.py")


def _calls(tree: ast.Module, func: str) -> list[ast.Call]:
    return [
        n
        for n in ast.walk(tree)
        if isinstance(n, ast.Call) and getattr(n.func, "id", getattr(n.func, "attr", None)) == func
    ]


def test_launch_executables_are_entry_points() -> None:
    layouts = bringup.LAYOUTS
    assert set(layouts) == {"single", "split"}
    scripts = _console_scripts()
    for executables in layouts.values():
        for exe in executables:
            assert exe in scripts, f"{exe} is not a console script"
            assert exe in P.NODE_STAGES


def test_every_launch_configuration_is_declared() -> None:
    tree = ast.parse(MAIN.read_text())
    declared = {c.args[0].value for c in _calls(tree, "DeclareLaunchArgument")}
    used = {c.args[0].value for c in _calls(tree, "LaunchConfiguration")}
    assert used <= declared, f"undeclared launch arguments: {used - declared}"
    assert {"layout", "camera_topic", "image_transport", "namespace", "params_file"} <= declared
    for call in _calls(tree, "DeclareLaunchArgument"):
        assert any(k.arg == "description" for k in call.keywords), call.args[0].value


@pytest.mark.parametrize(
    ("file", "layout"),
    [("face_affect_single.launch.py", "single"), ("face_affect_split.launch.py", "split")],
)
def test_variant_launch_files_include_main(file: str, layout: str) -> None:
    text = (LAUNCH / file).read_text()
    assert '"face_affect.launch.py"' in text
    assert f'"layout": "{layout}"' in text
    assert layout in bringup.LAYOUTS


def test_parameter_file_is_generated_from_the_table() -> None:
    assert (PKG / "config" / "face_affect.yaml").read_text() == P.yaml_text(), (
        "config/face_affect.yaml is stale: python -m face_affect_ros.schema.params"
    )


def test_readme_parameter_table_is_generated_from_the_table() -> None:
    readme = P.readme_path().read_text(encoding="utf-8")
    assert P.readme_with_table(readme) == readme, (
        "README.md's parameter table is stale: python -m face_affect_ros.schema.params"
    )
    # Every parameter appears once, with the table's default (the drift this test prevents).
    rows = [line for line in readme.splitlines() if line.startswith("| `")]
    for spec in P.SPECS:
        (row,) = [r for r in rows if r.startswith(f"| `{spec.name}` |")]
        assert P._md_default(spec) in row


def _make_node(executable: str, **kwargs):
    module = __import__(f"face_affect_ros.nodes.{executable}", fromlist=["make_node"])
    return module.make_node(**kwargs)


@pytest.fixture(scope="module")
def ros():
    rclpy.init()
    yield
    rclpy.shutdown()


@pytest.mark.parametrize("executable", sorted(P.NODE_STAGES))
def test_yaml_parameters_are_exactly_those_declared(ros, executable: str) -> None:
    params = yaml.safe_load((PKG / "config" / "face_affect.yaml").read_text())
    in_yaml = set(params[P.yaml_key(executable)]["ros__parameters"])
    assert P.yaml_key(executable) == f"/**/{executable}"
    node = _make_node(executable)  # constructing fires no lifecycle transition
    assert node._state_machine.current_state[1] == "unconfigured"
    try:
        # Parameters rclpy itself declares on every node.
        builtin = {"use_sim_time", "start_type_description_service"}
        declared = set(node._parameters) - builtin
        assert in_yaml == declared, in_yaml ^ declared
        for name in declared:
            desc = node.describe_parameter(name)
            assert desc.description, f"{executable}.{name} has no description"
    finally:
        node.destroy_node()


@pytest.mark.parametrize(
    ("executable", "transport", "remapped"),
    [
        ("face_affect_node", "raw", "image"),
        ("face_affect_node", "compressed", "image/compressed"),
        ("camera_node", "raw", "image"),
        ("camera_node", "compressed", "image/compressed"),
    ],
)
def test_camera_remappings_name_topics_the_node_uses(ros, executable, transport, remapped):
    layout = next(k for k, v in bringup.LAYOUTS.items() if executable in v)
    spec = next(s for s in bringup.node_specs(layout=layout) if s.executable == executable)
    names = {src for src, _ in spec.remappings}
    assert remapped in names
    from face_affect_ros.nodes.lifecycle import autostart
    from rclpy.parameter import Parameter

    node = _make_node(
        executable, parameter_overrides=[Parameter("input_transport", value=transport)]
    )
    autostart(node)
    try:
        topics = {sub.topic_name for sub in node.subscriptions}
        # face_affect_node's camera subscription is outside the executor (nodes/frame_taker.py):
        # not in node.subscriptions, named by its camera input.
        camera = getattr(node.role, "camera", None)
        if camera is not None and camera.topic:
            topics.add(camera.topic)
        assert f"/{remapped}" in topics, topics
    finally:
        node.shutdown()
        node.destroy_node()
