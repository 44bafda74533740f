"""Write the exact versions of what pip installed in this venv, as a pip constraints file.

Why not plain `pip freeze`: the ROS 2 wheels and our CMake-built face_affect_msgs leave
egg-info records (rclpy, std_msgs, ...) that pip did not install and that are not PyPI
distributions; pinning those would only confuse pip. We keep distributions whose INSTALLER is pip.
Usage: python freeze_constraints.py OUT_FILE [ROS_DISTRO]
"""

from __future__ import annotations

import sys
from importlib import metadata
from pathlib import Path

SKIP = {"pip", "face_affect_ros", "face-affect-ros"}


def pinned() -> list[str]:
    """`name==version` of every pip-installed distribution, sorted case-insensitively."""
    lines = {}
    for dist in metadata.distributions():
        name = dist.metadata["Name"]
        if not name or name in SKIP or (dist.read_text("INSTALLER") or "").strip() != "pip":
            continue
        version = dist.version.split("+")[0]  # torch 2.13.0+cpu: the local tag is machine-specific
        lines[name.lower()] = f"{name}=={version}"
    return [lines[k] for k in sorted(lines)]


def main() -> None:
    """Command-line entry: write the constraints file named by the first argument."""
    out = Path(sys.argv[1])
    distro = sys.argv[2] if len(sys.argv) > 2 else "kilted"
    header = (
        f"# Exact versions for ROS 2 {distro} on Python {sys.version_info.major}."
        f"{sys.version_info.minor}, as tested. Regenerate with `make constraints "
        f"ROS_DISTRO={distro}` after editing dev.in or ros-{distro}.in.\n"
    )
    out.write_text(header + "\n".join(pinned()) + "\n")
    print(f"wrote {out}")


if __name__ == "__main__":
    main()
