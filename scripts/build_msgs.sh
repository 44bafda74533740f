#!/usr/bin/env bash
# Build the interface packages the venv needs with plain CMake and install them into a venv holding
# the ROS 2 PyPI wheels: third_party/tf2_msgs and third_party/hri_msgs (upstream's, no wheel on
# PyPI; see their PROVENANCE.md), then face_affect_msgs.
# Why not colcon here: the venv is the install prefix (so `import face_affect_msgs` works with no
# setup.bash to source), and a plain CMake build is all rosidl needs.
# Usage: scripts/build_msgs.sh VENV
set -euo pipefail
venv=$(cd "$1" && pwd)
root=$(cd "$(dirname "$0")/.." && pwd)
export AMENT_PREFIX_PATH="$venv" PATH="$venv/bin:$PATH"

build_one() {  # build_one SOURCE_DIR NAME PYTHON_IMPORT_CHECK
  local src=$1 name=$2 check=$3
  local build="$venv/.build/$name"
  mkdir -p "$build"
  cmake -S "$src" -B "$build" \
    -DCMAKE_PREFIX_PATH="$venv" -DCMAKE_INSTALL_PREFIX="$venv" \
    -DPython3_EXECUTABLE="$venv/bin/python" -DBUILD_TESTING=OFF -DCMAKE_BUILD_TYPE=Release \
    > "$build/configure.log" 2>&1 || { cat "$build/configure.log"; exit 1; }
  cmake --build "$build" -j "$(nproc)" > "$build/build.log" 2>&1 || { tail -50 "$build/build.log"; exit 1; }
  cmake --install "$build" > "$build/install.log" 2>&1 || { tail -50 "$build/install.log"; exit 1; }
  "$venv/bin/python" -c "$check" || { echo "$name built but does not import"; exit 1; }
  echo "$name built and installed into $venv"
}

build_one "$root/third_party/tf2_msgs" tf2_msgs "from tf2_msgs.msg import TFMessage"
build_one "$root/third_party/hri_msgs" hri_msgs "from hri_msgs.msg import IdsList, FacialLandmarks"
build_one "$root/face_affect_msgs" face_affect_msgs "from face_affect_msgs.msg import FaceAffectArray"
