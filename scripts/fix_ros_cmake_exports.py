"""Point the ROS 2 PyPI wheels' CMake exports at this interpreter's Python and NumPy headers.

Why: the `ros-*` wheels are built in a manylinux container, and the CMake export files of every
message package's Python typesupport (`share/<pkg>/cmake/export_<pkg>__rosidl_generator_pyExport
.cmake`) keep that container's include directories (`/opt/python/cp3XX-cp3XX/include/...`). CMake
refuses imported targets whose include directories do not exist, so building any message package
against the wheels fails until those paths name the headers of the venv's own interpreter.

Idempotent: rerunning finds nothing left to rewrite. Usage: python fix_ros_cmake_exports.py VENV
"""

from __future__ import annotations

import re
import sys
import sysconfig
from pathlib import Path

import numpy

# The two kinds of foreign paths the wheels carry: the interpreter's include dir and NumPy's.
NUMPY_INCLUDE = re.compile(r"/opt/python/[^;\"]*?/site-packages/numpy/(?:_core|core)/include")
PYTHON_INCLUDE = re.compile(r"/opt/python/[^;\"/]+/include/python3\.\d+")


def fix(prefix: Path) -> int:
    """Rewrite the export files under `prefix`/share; return how many files changed."""
    py_include = sysconfig.get_paths()["include"]
    np_include = numpy.get_include()
    if not Path(py_include, "Python.h").is_file():
        raise SystemExit(
            f"Python headers not found in {py_include}: install the python3-dev package of this "
            "interpreter (needed to build face_affect_msgs)."
        )
    changed = 0
    for path in sorted(prefix.glob("share/*/cmake/*.cmake")):
        text = path.read_text()
        if "/opt/python/" not in text:
            continue
        new = NUMPY_INCLUDE.sub(np_include, text)
        new = PYTHON_INCLUDE.sub(py_include, new)
        if new != text:
            path.write_text(new)
            changed += 1
    return changed


def main() -> None:
    """Command-line entry: the venv prefix is the only argument."""
    if len(sys.argv) != 2:
        raise SystemExit("usage: fix_ros_cmake_exports.py VENV_PREFIX")
    n = fix(Path(sys.argv[1]))
    print(f"fix_ros_cmake_exports: {n} CMake export file(s) rewritten")


if __name__ == "__main__":
    main()
