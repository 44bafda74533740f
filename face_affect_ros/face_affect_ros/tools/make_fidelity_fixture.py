r"""Record what the ORIGINAL Keras models say about real faces, as a test fixture.

Why: the shipped ONNX files are re-implementations (PyTorch definition + weight mapping + export).
The only trustworthy reference for "the conversion is exact" is the upstream HDF5 files run in
real Keras with the upstream preprocessing. TensorFlow is far too heavy for the package or its
test environment, so this script runs once in a throwaway environment and stores inputs and
outputs in ``test/fixtures/keras_reference.npz``; ``test/test_model_fidelity.py`` then checks
the ONNX files against it with only NumPy + onnxruntime.

Run it OUTSIDE the package's environment (never install TensorFlow into the ROS/test venv)::

    python3.11 -m venv /tmp/kerasvenv
    /tmp/kerasvenv/bin/pip install tensorflow-cpu==2.21.0 tf-keras==2.21.0 \
        scikit-image opencv-python-headless h5py
    cd face_affect_ros   # the ament package directory
    /tmp/kerasvenv/bin/python -m face_affect_ros.tools.make_fidelity_fixture \
        [--upstream ../upstream] [--out test/fixtures/keras_reference.npz]

Inputs (real faces, all shipped with scikit-image, public domain / LFW):

* the 100 face patches of ``skimage.data.lfw_subset()`` (25x25 gray, float in [0, 1]), rounded
  to uint8 and upscaled to 64x64 with ``cv2.INTER_LINEAR`` (the upstream resize);
* the face of ``skimage.data.astronaut()`` (fixed box, converted to gray with OpenCV's BT.601
  weights), resized to 64x64 the same way.

This module deliberately imports neither torch nor the package's other modules.
"""

from __future__ import annotations

import argparse
import hashlib
import platform
import sys
from pathlib import Path

import numpy as np

PACKAGE_DIR = Path(__file__).resolve().parents[2]
"""The ament package directory (``face_affect_ros/``)."""

DEFAULT_UPSTREAM = PACKAGE_DIR.parent / "upstream"
DEFAULT_OUT = PACKAGE_DIR / "test" / "fixtures" / "keras_reference.npz"

MODELS = {
    "emotion": "face_classification/fer2013_mini_XCEPTION.102-0.66.hdf5",
    "gender": "face_classification/gender_mini_XCEPTION.21-0.95.hdf5",
}
LFW_FACES = 100
ASTRONAUT_FACE_BOX = (170, 50, 120, 120)
"""(x, y, w, h) of the astronaut's face in the 512x512 image, chosen by eye: forehead to chin."""
CROP_SIZE = 64


def build_face_crops() -> tuple[np.ndarray, list[str]]:
    """Return ``uint8 [N, 64, 64]`` gray face crops and a source tag for each."""
    import cv2
    import skimage.data

    lfw = skimage.data.lfw_subset()[:LFW_FACES]  # the first 100 of 200 patches are faces
    crops: list[np.ndarray] = []
    tags: list[str] = []
    for i, patch in enumerate(lfw):
        u8 = np.clip(np.rint(patch * 255.0), 0, 255).astype(np.uint8)
        crops.append(cv2.resize(u8, (CROP_SIZE, CROP_SIZE), interpolation=cv2.INTER_LINEAR))
        tags.append(f"skimage.data.lfw_subset()[{i}]")
    gray = cv2.cvtColor(skimage.data.astronaut(), cv2.COLOR_RGB2GRAY)
    x, y, w, h = ASTRONAUT_FACE_BOX
    crops.append(
        cv2.resize(
            gray[y : y + h, x : x + w], (CROP_SIZE, CROP_SIZE), interpolation=cv2.INTER_LINEAR
        )
    )
    tags.append(f"skimage.data.astronaut() gray, box x,y,w,h={ASTRONAUT_FACE_BOX}")
    return np.stack(crops), tags


def upstream_preprocess(crops: np.ndarray) -> np.ndarray:
    """face_classification's ``preprocess_input(x, v2=True)``: x/255, then (x - 0.5) * 2, NHWC."""
    x = crops.astype("float32")
    x = x / 255.0
    x = x - 0.5
    x = x * 2.0
    return x[..., np.newaxis]


def _sha256(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


def main(argv: list[str] | None = None) -> int:
    """Run both upstream models in real Keras and write the fixture."""
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument(
        "--upstream",
        type=Path,
        default=DEFAULT_UPSTREAM,
        help="directory holding face_classification/*.hdf5 (default: %(default)s)",
    )
    parser.add_argument("--out", type=Path, default=DEFAULT_OUT, help="default: %(default)s")
    args = parser.parse_args(argv)

    import cv2
    import skimage
    import tensorflow as tf
    import tf_keras

    crops, tags = build_face_crops()
    x = upstream_preprocess(crops)
    record: dict[str, np.ndarray] = {
        "inputs": crops,
        "sources": np.array(tags),
        "preprocessing": np.array("x.astype(float32) / 255.0; x - 0.5; x * 2.0 (NHWC)"),
        "tensorflow_version": np.array(tf.__version__),
        "tf_keras_version": np.array(tf_keras.__version__),
        "python_version": np.array(platform.python_version()),
        "numpy_version": np.array(np.__version__),
        "opencv_version": np.array(cv2.__version__),
        "scikit_image_version": np.array(skimage.__version__),
    }
    for task, rel in MODELS.items():
        path = args.upstream / rel
        model = tf_keras.models.load_model(path, compile=False)
        probs = model.predict(x, batch_size=32, verbose=0).astype(np.float32)
        record[task] = probs
        record[f"{task}_file"] = np.array(rel)
        record[f"{task}_sha256"] = np.array(_sha256(path))
        top = np.bincount(probs.argmax(1), minlength=probs.shape[1])
        print(f"{task}: {probs.shape}, top-1 histogram {top.tolist()}")
    args.out.parent.mkdir(parents=True, exist_ok=True)
    np.savez_compressed(args.out, **record)
    print(
        f"wrote {args.out} ({args.out.stat().st_size} bytes) with tensorflow {tf.__version__}, "
        f"tf-keras {tf_keras.__version__}, python {sys.version.split()[0]}"
    )
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
