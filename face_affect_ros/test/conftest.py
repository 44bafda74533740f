"""Test-wide ROS 2 environment, set before anything imports rclpy.

Why here: rclpy and Fast DDS read these variables when a context or participant is created, and
every subprocess a test starts inherits them. Each pytest run gets its own ROS_DOMAIN_ID so that two
runs on one machine (a developer's and CI's) never see each other's topics; discovery stays on
this host (ROS_LOCALHOST_ONLY is ignored since Kilted); logs go to a temporary directory instead of
~/.ros; and the shipped Fast DDS profile lets camera-sized images cross processes over shared
memory.
"""

from __future__ import annotations

import os
import random
import sys
import tempfile
from pathlib import Path

PACKAGE_DIR = Path(__file__).resolve().parents[1]
REPO_ROOT = PACKAGE_DIR.parent

os.environ["ROS_AUTOMATIC_DISCOVERY_RANGE"] = "LOCALHOST"
# Domain ids 1..100 stay clear of 0 (the default a robot's own graph uses) and of the port range
# limit of 232 on Linux.
os.environ["ROS_DOMAIN_ID"] = str(random.SystemRandom().randint(1, 100))
os.environ["ROS_LOG_DIR"] = tempfile.mkdtemp(prefix="face_affect_ros_log_")
os.environ["RMW_IMPLEMENTATION"] = "rmw_fastrtps_cpp"
os.environ["FASTDDS_DEFAULT_PROFILES_FILE"] = str(PACKAGE_DIR / "config" / "fastdds_large_shm.xml")
os.environ.setdefault("PYTHONUNBUFFERED", "1")
# Subprocesses started with sys.executable find the package even without an editable install.
os.environ["PYTHONPATH"] = os.pathsep.join(
    p for p in (str(PACKAGE_DIR), os.environ.get("PYTHONPATH", "")) if p
)
if str(PACKAGE_DIR) not in sys.path:
    sys.path.insert(0, str(PACKAGE_DIR))
