"""ament_python package of face_affect_ros.

`colcon build` on a robot installs the console scripts to lib/face_affect_ros (see setup.cfg), so
`ros2 run face_affect_ros <node>` finds them; `pip install -e` in the development venv puts the
same entry points on the venv's PATH.
"""

from glob import glob
from pathlib import Path

from setuptools import find_packages, setup

PACKAGE = "face_affect_ros"
HERE = Path(__file__).resolve().parent


def _files(pattern: str) -> list[str]:
    """Files (not directories) matching `pattern`, relative to this directory, sorted."""
    return sorted(p for p in glob(pattern, root_dir=HERE) if (HERE / p).is_file())


setup(
    name=PACKAGE,
    version="0.1.0",
    packages=find_packages(exclude=["test", "test.*"]),
    data_files=[
        ("share/ament_index/resource_index/packages", [f"resource/{PACKAGE}"]),
        (f"share/{PACKAGE}", ["package.xml"]),
        (f"share/{PACKAGE}/launch", _files("launch/*.py")),
        (f"share/{PACKAGE}/config", _files("config/*")),
        (f"share/{PACKAGE}/models", _files("models/*")),
        (f"share/{PACKAGE}/sample", _files("sample/*")),
    ],
    install_requires=["setuptools", "numpy", "opencv-python-headless", "onnxruntime"],
    extras_require={
        "bag": ["rosbags", "tqdm"],
        "tools": ["torch==2.13.0", "h5py", "onnx", "matplotlib", "tqdm"],
        "test": ["pytest", "scikit-image", "ruff"],
    },
    zip_safe=True,
    maintainer="face_affect_ros maintainers",
    maintainer_email="maintainers@face-affect-ros.dev",
    description="Real-time face emotion and gender recognition for ROS 2 service robots.",
    license="MIT",
    entry_points={
        "console_scripts": [
            # ROS nodes (ros2 run face_affect_ros <name>)
            "camera_node = face_affect_ros.entry:camera_node",
            "detector_node = face_affect_ros.entry:detector_node",
            "classifier_node = face_affect_ros.entry:classifier_node",
            "face_affect_node = face_affect_ros.entry:face_affect_node",
            "hri_node = face_affect_ros.entry:hri_node",
            # Command-line tools
            "face-affect-image = face_affect_ros.entry:face_affect_image",
            "face-affect-bag = face_affect_ros.entry:face_affect_bag",
            "face-affect-demo = face_affect_ros.entry:face_affect_demo",
            # Model tools (need the `tools` extra: PyTorch; never imported by the nodes)
            "face-affect-convert = face_affect_ros.tools.convert:main",
            "face-affect-train = face_affect_ros.tools.train:main",
            "face-affect-eval = face_affect_ros.tools.evaluate:main",
            "face-affect-explain = face_affect_ros.tools.explain:main",
            "face-affect-prune = face_affect_ros.tools.prune:main",
            "face-affect-quantize = face_affect_ros.tools.quantize:main",
        ],
    },
)
