#!/usr/bin/env bash
# Build face_affect_msgs with plain CMake and install it into a venv holding the ROS 2 PyPI wheels.
# Why not colcon here: the venv is the install prefix (so `import face_affect_msgs` works with no
# setup.bash to source), and a plain CMake build is all rosidl needs.
# Usage: scripts/build_msgs.sh VENV
set -euo pipefail
venv=$(cd "$1" && pwd)
root=$(cd "$(dirname "$0")/.." && pwd)
build="$venv/.build/face_affect_msgs"
mkdir -p "$build"
export AMENT_PREFIX_PATH="$venv" PATH="$venv/bin:$PATH"
cmake -S "$root/face_affect_msgs" -B "$build" \
  -DCMAKE_PREFIX_PATH="$venv" -DCMAKE_INSTALL_PREFIX="$venv" \
  -DPython3_EXECUTABLE="$venv/bin/python" -DBUILD_TESTING=OFF -DCMAKE_BUILD_TYPE=Release \
  > "$build/configure.log" 2>&1 || { cat "$build/configure.log"; exit 1; }
cmake --build "$build" -j "$(nproc)" > "$build/build.log" 2>&1 || { tail -50 "$build/build.log"; exit 1; }
cmake --install "$build" > "$build/install.log" 2>&1 || { tail -50 "$build/install.log"; exit 1; }
"$venv/bin/python" -c "from face_affect_msgs.msg import FaceAffectArray" \
  || { echo "face_affect_msgs built but does not import"; exit 1; }
echo "face_affect_msgs built and installed into $venv"
