"""The robot path: `colcon build` builds both packages in a fresh workspace.

On a robot the packages are built with colcon against /opt/ros/<distro>; here the same colcon (from
PyPI) builds them against the venv that holds the ROS 2 wheels. The test proves the CMake interface
package generates and installs its Python messages, and that the ament_python package installs its
nodes where `ros2 run` looks (lib/face_affect_ros) and its data where launch files look (share/).
"""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from pathlib import Path

PACKAGE_DIR = Path(__file__).resolve().parents[1]
REPO_ROOT = PACKAGE_DIR.parent
IGNORE = shutil.ignore_patterns("__pycache__", "*.egg-info", "build", "install", "log")


def test_colcon_build_workspace(tmp_path: Path) -> None:
    colcon = Path(sys.prefix, "bin", "colcon")
    assert colcon.exists(), "colcon is part of requirements/dev.in"
    src = tmp_path / "src"
    for pkg in ("face_affect_msgs", "face_affect_ros"):
        shutil.copytree(REPO_ROOT / pkg, src / pkg, ignore=IGNORE)
    env = dict(os.environ)
    env["AMENT_PREFIX_PATH"] = sys.prefix
    env["CMAKE_PREFIX_PATH"] = sys.prefix
    env["PATH"] = f"{Path(sys.prefix, 'bin')}{os.pathsep}{env['PATH']}"
    result = subprocess.run(
        [
            str(colcon),
            "--log-base",
            str(tmp_path / "log"),
            "build",
            "--build-base",
            str(tmp_path / "build"),
            "--install-base",
            str(tmp_path / "install"),
            "--event-handlers",
            "console_direct-",
            "--cmake-args",
            f"-DPython3_EXECUTABLE={sys.executable}",
            "-DBUILD_TESTING=OFF",
        ],
        cwd=tmp_path,
        env=env,
        capture_output=True,
        text=True,
        timeout=600,
    )
    assert result.returncode == 0, result.stdout[-4000:] + result.stderr[-4000:]

    install = tmp_path / "install"
    pyver = f"python{sys.version_info.major}.{sys.version_info.minor}"
    msgs_site = install / "face_affect_msgs" / "lib" / pyver / "site-packages"
    probe = subprocess.run(
        [
            sys.executable,
            "-c",
            "import face_affect_msgs.msg as m; print(m.__file__); "
            "a = m.FaceAffectArray(); "
            "a.faces.append(m.FaceAffect(gender=m.FaceAffect.GENDER_MAN)); "
            "print(a.faces[0].gender)",
        ],
        env={**env, "PYTHONPATH": str(msgs_site)},
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert probe.returncode == 0, probe.stderr
    module_file, gender = probe.stdout.split()
    assert Path(module_file).is_relative_to(install), "imported the venv's copy, not the built one"
    assert gender == "man"

    ros_pkg = install / "face_affect_ros"
    for node in ("camera_node", "detector_node", "classifier_node", "face_affect_node"):
        assert (ros_pkg / "lib" / "face_affect_ros" / node).is_file(), f"ros2 run target {node}"
    share = ros_pkg / "share" / "face_affect_ros"
    assert (share / "package.xml").is_file()
    assert (
        install
        / "face_affect_ros"
        / "share"
        / "ament_index"
        / "resource_index"
        / "packages"
        / "face_affect_ros"
    ).is_file()
    assert (share / "config" / "fastdds_large_shm.xml").is_file()
