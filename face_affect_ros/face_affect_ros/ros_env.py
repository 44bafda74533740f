"""The middleware environment of face_affect_ros processes, decided in one place.

Which Fast DDS is installed, under which variable name it reads a profile file, and domain ids that
are valid for it.

Why one module: tests, the demo, the benchmarks and the launch files all start ROS processes that
need the same settings, and the one that differs between distros must be decided in one place.
Fast DDS 2.x (ROS 2 Jazzy) reads a profile only from ``FASTRTPS_DEFAULT_PROFILES_FILE``; Fast DDS
3.x (Kilted and later) reads ``FASTDDS_DEFAULT_PROFILES_FILE`` and still honours the old name but
prints a deprecation warning for it. Setting the wrong name is silent: the large shared-memory
segment is never created and best-effort camera frames between processes are lost.

No ROS import here (nothing of rclpy is loaded before the environment is set): the installed Fast
DDS is found from the wheel's distribution metadata, an ament prefix (apt or colcon installs), or
``ROS_DISTRO`` (set by a sourced setup.bash), in that order.
"""

from __future__ import annotations

import os
import random
import re
from collections.abc import Mapping, MutableMapping
from importlib import metadata
from pathlib import Path

#: Variable name Fast DDS 3.x reads (and 2.x ignores).
FASTDDS_VARIABLE = "FASTDDS_DEFAULT_PROFILES_FILE"
#: Variable name Fast DDS 2.x reads (and 3.x reads with a deprecation warning).
FASTRTPS_VARIABLE = "FASTRTPS_DEFAULT_PROFILES_FILE"

#: Shipped profile for processes on one host: shared memory with a segment that holds frames.
LARGE_SHM_PROFILE = "fastdds_large_shm.xml"
#: Shipped profile for graphs that span hosts: UDPv4 only, sized for camera frames.
UDP_PROFILE = "fastdds_udp.xml"

#: The highest ROS_DOMAIN_ID Fast DDS accepts on Linux: above it the unicast port of participant
#: 0 exceeds 65535 ("Calculated port number is too high").
DOMAIN_ID_MAX = 232

#: Distributions whose Fast DDS is 2.x (the ones still on PyPI or apt that this package supports).
FASTDDS2_DISTROS = frozenset({"humble", "iron", "jazzy"})

# rclpy's major version per distro: how a wheel install tells which distro it is.
_RCLPY_MAJOR_TO_DISTRO = {3: "humble", 4: "humble", 7: "jazzy", 9: "kilted"}


def _dist_major(name: str) -> int | None:
    try:
        return int(metadata.version(name).split(".")[0])
    except (metadata.PackageNotFoundError, ValueError):
        return None


def _ament_fastdds_major(environ: Mapping[str, str]) -> int | None:
    """Fast DDS major version from an ament prefix: share/fastdds (3.x) or share/fastrtps (2.x)."""
    for prefix in filter(None, environ.get("AMENT_PREFIX_PATH", "").split(os.pathsep)):
        for package in ("fastdds", "fastrtps"):
            manifest = Path(prefix, "share", package, "package.xml")
            if manifest.is_file():
                found = re.search(r"<version>\s*(\d+)\.", manifest.read_text())
                if found:
                    return int(found.group(1))
    return None


def fastdds_major(environ: Mapping[str, str] | None = None) -> int:
    """Return the major version of the Fast DDS that ROS processes started from here will load.

    Order: the ``ros-fastdds`` / ``ros-fastrtps`` wheel in this interpreter, then what the
    environment tells (`fastdds_major_from_environment`).
    """
    environ = os.environ if environ is None else environ
    for dist in ("ros-fastdds", "ros-fastrtps"):
        major = _dist_major(dist)
        if major is not None:
            return major
    return fastdds_major_from_environment(environ)


def fastdds_major_from_environment(environ: Mapping[str, str]) -> int:
    """Fast DDS major version of an apt or colcon install: an ament prefix, else ``ROS_DISTRO``.

    3 (current Fast DDS) when neither tells.
    """
    major = _ament_fastdds_major(environ)
    if major is not None:
        return major
    return 2 if environ.get("ROS_DISTRO", "").lower() in FASTDDS2_DISTROS else 3


def ros_distro(environ: Mapping[str, str] | None = None) -> str:
    """Return the ROS 2 distribution name: from the rclpy wheel's version, else ``ROS_DISTRO``."""
    environ = os.environ if environ is None else environ
    major = _dist_major("ros-rclpy")
    if major in _RCLPY_MAJOR_TO_DISTRO:
        return _RCLPY_MAJOR_TO_DISTRO[major]
    return environ.get("ROS_DISTRO", "unknown")


def profiles_file_variable(environ: Mapping[str, str] | None = None) -> str:
    """Return the environment variable the installed Fast DDS reads its profile file from."""
    return FASTDDS_VARIABLE if fastdds_major(environ) >= 3 else FASTRTPS_VARIABLE


def profile_env(profile: str | os.PathLike[str]) -> dict[str, str]:
    """Return ``{variable: profile}`` for the installed Fast DDS (a launch file's node env)."""
    return {profiles_file_variable(): str(profile)}


def set_profile(
    env: MutableMapping[str, str], profile: str | os.PathLike[str], *, keep_existing: bool = False
) -> str:
    """Point `env` at a Fast DDS profile under the name the installed Fast DDS reads.

    The other name is removed (on Kilted it would print a deprecation warning; on Jazzy it is
    ignored). With `keep_existing`, a profile the caller already set under either name is kept
    (moved to the right name) instead of `profile`. Returns the profile now in effect.
    """
    variable = profiles_file_variable(env)
    other = FASTRTPS_VARIABLE if variable == FASTDDS_VARIABLE else FASTDDS_VARIABLE
    existing = env.get(variable) or env.get(other)
    chosen = existing if keep_existing and existing else str(profile)
    env[variable] = chosen
    env.pop(other, None)
    return chosen


def random_domain_id(low: int = 1, high: int = DOMAIN_ID_MAX) -> int:
    """Return a random domain id in [low, high], clamped to what Fast DDS accepts (0..232)."""
    low, high = max(0, low), min(DOMAIN_ID_MAX, high)
    if low > high:
        raise ValueError(f"empty domain id range [{low}, {high}] (Fast DDS accepts 0..232)")
    return random.SystemRandom().randint(low, high)


def domain_id_block(size: int, low: int = 1, high: int = DOMAIN_ID_MAX) -> list[int]:
    """Return `size` consecutive domain ids from a random block aligned to `size` in [low, high].

    Why blocks: a test run that needs several domains (the main one, a bag replay's, a two-host
    test's) takes one block, so its ids are disjoint from each other, and two runs on one machine
    either draw disjoint blocks or the very same one (never a partial overlap).
    """
    high = min(DOMAIN_ID_MAX, high)
    blocks = (high - low + 1) // size
    if blocks < 1:
        raise ValueError(f"no block of {size} domain ids in [{low}, {high}]")
    start = low + size * random.SystemRandom().randrange(blocks)
    return list(range(start, start + size))
