"""Real faces for the soft-biometrics measurements, with their by-eye labels.

``photos(dir)``: the photos of bench/get_face_photos.sh (when the directory exists) plus
scikit-image's astronaut and cameraman, every YuNet face with its label from
bench/face_labels.json. ``bag_faces()``: every face of the bundled sample bag, labelled by who
is in view (sample/README.md); the cat's face found once is left out. ``lfw_faces()``: the lfw
patches pasted into backgrounds (bench/margin_sweep.py) with that script's by-eye labels.
"""

from __future__ import annotations

import json
import sys
from dataclasses import dataclass
from pathlib import Path

import cv2
import numpy as np
from skimage import data

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "face_affect_ros"))
sys.path.insert(0, str(Path(__file__).resolve().parent))

from face_affect_ros.core.detector import Detection, FaceDetector  # noqa: E402
from face_affect_ros.core.paths import models_dir  # noqa: E402

LABELS = json.loads((Path(__file__).resolve().parent / "face_labels.json").read_text())
#: Detector input for photos: larger than the robot default so landmarks are at full accuracy.
PHOTO_INPUT = (640, 480)


@dataclass
class Face:
    source: str  # "photo:<name>#i", "bag:<frame>#i", "lfw:<index>"
    image: np.ndarray  # BGR or mono frame the face is in
    detection: Detection
    label: str  # "woman" | "man"


def _detector(size: tuple[int, int]) -> FaceDetector:
    return FaceDetector(models_dir() / "yunet_n_dynamic.json", input_size=size)


def photo_images(directory: Path | None) -> dict[str, np.ndarray]:
    out = {
        "astronaut.png": cv2.cvtColor(data.astronaut(), cv2.COLOR_RGB2BGR),
        "camera.png": cv2.cvtColor(data.camera(), cv2.COLOR_GRAY2BGR),
    }
    if directory is not None and directory.is_dir():
        for path in sorted(directory.iterdir()):
            img = cv2.imread(str(path), cv2.IMREAD_COLOR)
            if img is not None and path.name in LABELS:
                out[path.name] = img
    return out


def photos(directory: Path | None) -> list[Face]:
    det = _detector(PHOTO_INPUT)
    faces = []
    for name, img in photo_images(directory).items():
        found = sorted(det.detect(img), key=lambda d: d.box[0] + d.box[2] / 2)
        labels = LABELS[name]
        if len(found) != len(labels):
            raise RuntimeError(f"{name}: {len(found)} faces found, {len(labels)} labelled")
        faces += [
            Face(f"photo:{name}#{i}", img, d, lab)
            for i, (d, lab) in enumerate(zip(found, labels, strict=True))
        ]
    return faces


def bag_frames() -> list[np.ndarray]:
    """The sample bag's 60 frames, decoded (BGR)."""
    from face_affect_ros.bag.storage import (
        image_connections,
        iter_messages,
        open_bag,
        typestore,
    )

    bag = ROOT / "face_affect_ros" / "sample" / "face_affect_sample.mcap"
    store = typestore()
    frames = []
    with open_bag(bag) as reader:
        conns = image_connections(reader.connections)
        for conn, _, raw in iter_messages(reader, bag, conns):
            msg = store.deserialize_cdr(raw, conn.msgtype)
            frames.append(cv2.imdecode(np.frombuffer(bytes(msg.data), np.uint8), cv2.IMREAD_COLOR))
    return frames


def bag_faces() -> list[Face]:
    det = _detector((320, 240))
    faces = []
    for i, img in enumerate(bag_frames()):
        found = sorted(det.detect(img), key=lambda d: d.box[0])
        if i >= 45:  # the cat: no human face (a detection there is the known false positive)
            continue
        if i < 20:
            labels = ["woman"] * len(found)
        elif i < 36:
            labels = (
                ["woman", "man"]
                if len(found) == 2
                else ["woman" if d.box[0] < img.shape[1] / 2 else "man" for d in found]
            )
        else:
            labels = ["man"] * len(found)
        faces += [
            Face(f"bag:{i}#{k}", img, d, lab)
            for k, (d, lab) in enumerate(zip(found, labels, strict=True))
        ]
    return faces


def lfw_faces() -> list[Face]:
    from margin_sweep import LFW_UNSURE, LFW_WOMEN, lfw_composites

    det = FaceDetector(models_dir() / "yunet_n_dynamic.json")
    out = []
    for i, canvas, _, box in lfw_composites(det):
        if i in LFW_UNSURE:
            continue
        d = next(d for d in det.detect(canvas) if tuple(d.box) == tuple(box))
        out.append(Face(f"lfw:{i}", canvas, d, "woman" if i in LFW_WOMEN else "man"))
    return out
