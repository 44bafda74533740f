"""Both package.xml files parse, validate, and declare what the code really imports."""

from __future__ import annotations

import ast
import sys
from pathlib import Path

import pytest
from catkin_pkg.package import parse_package

PACKAGE_DIR = Path(__file__).resolve().parents[1]
REPO_ROOT = PACKAGE_DIR.parent

# Top-level Python imports of the runtime code -> the rosdep key that must be declared for them.
IMPORT_TO_KEY = {
    "rclpy": "rclpy",
    "std_msgs": "std_msgs",
    "sensor_msgs": "sensor_msgs",
    "geometry_msgs": "geometry_msgs",
    "tf2_msgs": "tf2_msgs",
    "hri_msgs": "hri_msgs",
    "diagnostic_msgs": "diagnostic_msgs",
    "lifecycle_msgs": "lifecycle_msgs",
    "rcl_interfaces": "rcl_interfaces",
    "face_affect_msgs": "face_affect_msgs",
    "ament_index_python": "ament_index_python",
    "launch": "launch",
    "launch_ros": "launch_ros",
    "cv2": "python3-opencv",
    "numpy": "python3-numpy",
    "onnxruntime": "python3-onnxruntime-pip",
    "tqdm": "python3-tqdm",
}


@pytest.mark.parametrize("pkg", ["face_affect_msgs", "face_affect_ros"])
def test_parses_and_validates(pkg: str) -> None:
    package = parse_package(str(REPO_ROOT / pkg / "package.xml"))
    package.validate()  # raises InvalidPackage with the reason
    assert package.name == pkg
    assert package.package_format == 3
    assert package.licenses


def test_msgs_is_an_interface_package() -> None:
    package = parse_package(str(REPO_ROOT / "face_affect_msgs" / "package.xml"))
    assert package.get_build_type() == "ament_cmake"
    assert "rosidl_interface_packages" in [g.name for g in package.member_of_groups]
    assert {d.name for d in package.buildtool_depends} >= {
        "ament_cmake",
        "rosidl_default_generators",
    }


def _runtime_imports() -> set[str]:
    names: set[str] = set()
    for path in list((PACKAGE_DIR / "face_affect_ros").rglob("*.py")) + list(
        (PACKAGE_DIR / "launch").glob("*.py")
    ):
        if "tools" in path.relative_to(PACKAGE_DIR).parts or path.name in (
            "make_sample.py",
            "make_moving.py",
        ):
            # Model tools (PyTorch) and the sample / moving-sequence builders (scikit-image) are
            # offline dev tools.
            continue
        for node in ast.walk(ast.parse(path.read_text())):
            if isinstance(node, ast.Import):
                names.update(a.name.split(".")[0] for a in node.names)
            elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
                names.add(node.module.split(".")[0])
    return names


def test_every_runtime_import_is_declared() -> None:
    package = parse_package(str(PACKAGE_DIR / "package.xml"))
    package.evaluate_conditions({"ROS_VERSION": "2", "ROS_PYTHON_VERSION": "3"})
    declared = {d.name for d in package.exec_depends}
    stdlib = set(sys.stdlib_module_names)
    missing = []
    # rosbags (and ruamel.yaml, which it brings) has no rosdep key: documented as a pip install.
    # torch is imported only by the optional saliency topic (the `tools` extra), never by default.
    pip_only = {"face_affect_ros", "rosbags", "ruamel", "torch"}
    for name in sorted(_runtime_imports() - stdlib - pip_only):
        key = IMPORT_TO_KEY.get(name)
        if key is None:
            missing.append(f"{name} (no rosdep key known to this test: add it to IMPORT_TO_KEY)")
        elif key not in declared:
            missing.append(f"{name} -> <exec_depend>{key}</exec_depend>")
    assert not missing, "undeclared runtime dependencies: " + ", ".join(missing)
