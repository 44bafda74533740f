"""Console scripts that run the inference core without ROS (e.g. ``face-affect-image``)."""

import os

# OpenCV reads its decoder limits once, when it loads (measured: setting the variable after
# `import cv2` has no effect), so they are set here, before any command imports cv2 (through
# face_affect_ros.core). They bound image files in formats other than JPEG and PNG, which
# core.image_io checks itself; the value is core.image_io.DEFAULT_MAX_PIXELS (a test checks it).
OPENCV_MAX_PIXELS = 8192 * 8192
os.environ.setdefault("OPENCV_IO_MAX_IMAGE_PIXELS", str(OPENCV_MAX_PIXELS))
