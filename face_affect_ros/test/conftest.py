"""Test-wide ROS 2 environment, set before anything imports rclpy.

Why here: rclpy and Fast DDS read these variables when a context or participant is created, and
every subprocess a test starts inherits them. Each pytest run draws its own block of domain ids
(one per role in DOMAIN_ROLES: the main graph, the bag replay's, the two-host test's) so that two
runs on one machine (a developer's and CI's) never see each other's topics and the tests of one run
that need a graph of their own never meet; discovery stays on this host (ROS_LOCALHOST_ONLY is
ignored since Kilted); logs go to a temporary directory instead of ~/.ros; and the shipped Fast DDS
profile lets camera-sized images cross processes over shared memory, set under the variable name
the installed Fast DDS reads (face_affect_ros.ros_env: FASTRTPS_... on Jazzy, FASTDDS_... on
Kilted).
"""

from __future__ import annotations

import os
import sys
import tempfile
from pathlib import Path

PACKAGE_DIR = Path(__file__).resolve().parents[1]
REPO_ROOT = PACKAGE_DIR.parent
if str(PACKAGE_DIR) not in sys.path:
    sys.path.insert(0, str(PACKAGE_DIR))

from face_affect_ros import ros_env  # noqa: E402  (ROS-free: imports no rclpy)

os.environ["ROS_AUTOMATIC_DISCOVERY_RANGE"] = "LOCALHOST"
# One block of domain ids per run, in 1..232: clear of 0 (the default a robot's own graph uses)
# and within what Fast DDS accepts. ros_helpers.domain_id(role) hands them out.
DOMAIN_ROLES = ("main", "replay", "two_hosts", "spare")
_DOMAINS = ros_env.domain_id_block(len(DOMAIN_ROLES))
os.environ["FACE_AFFECT_TEST_DOMAIN_IDS"] = ",".join(
    f"{role}={domain}" for role, domain in zip(DOMAIN_ROLES, _DOMAINS, strict=True)
)
os.environ["ROS_DOMAIN_ID"] = str(_DOMAINS[0])
os.environ["ROS_LOG_DIR"] = tempfile.mkdtemp(prefix="face_affect_ros_log_")
os.environ["RMW_IMPLEMENTATION"] = "rmw_fastrtps_cpp"
ros_env.set_profile(os.environ, PACKAGE_DIR / "config" / ros_env.LARGE_SHM_PROFILE)
os.environ.setdefault("PYTHONUNBUFFERED", "1")
# Subprocesses started with sys.executable find the package even without an editable install.
os.environ["PYTHONPATH"] = os.pathsep.join(
    p for p in (str(PACKAGE_DIR), os.environ.get("PYTHONPATH", "")) if p
)


def pytest_report_header() -> list[str]:
    """Name the ROS 2 distro and middleware settings of this run at the top of the output."""
    variable = ros_env.profiles_file_variable()
    return [
        f"ROS 2 {ros_env.ros_distro()} (Fast DDS {ros_env.fastdds_major()}.x, profile via "
        f"{variable}); domain ids {os.environ['FACE_AFFECT_TEST_DOMAIN_IDS']}"
    ]
