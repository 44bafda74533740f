"""Worker that runs the PyPI package ``fer`` inside its own venv (``bench/.fer-venv``).

Started by :class:`fer_env.FerWorker` from the main venv; never imported there. It talks over
its standard input and output so the two processes stay separate (fer needs TensorFlow and
OpenCV 4.x, the package runs on onnxruntime and OpenCV 5) while the caller interleaves both on
the same frames:

* request: one JSON line ``{"cmd": "run", "config": NAME, "shape": [h, w, 3], "stages": bool,
  "cv2_threads": int | null}`` followed by exactly ``h * w * 3`` raw uint8 bytes (BGR);
* reply: one JSON line ``{"ok": true, "wall_ms": ..., "cpu_ms": ..., "faces": [...]}``, where
  ``wall_ms`` / ``cpu_ms`` are measured here, around ``FER.detect_emotions`` alone, with
  ``time.perf_counter`` and ``time.process_time`` (all threads of this process).

Configurations (built on the first request that names them):

* ``fer``: ``FER()``, the package's defaults: OpenCV Haar cascade (scale 1.1, 5 neighbours,
  min 50 px), square box + 10 px offsets, quantized TFLite copy of the paper's emotion model.
* ``fer_keras``: ``FER(use_tflite=False)``, the float Keras model ``emotion_model.hdf5`` (the
  same weights our ONNX emotion model was converted from).
* ``fer_mtcnn``: ``FER(mtcnn=True)``, facenet-pytorch's MTCNN detector + the TFLite model.

Everything that fer or TensorFlow prints goes to standard error: file descriptor 1 is pointed
at 2 before TensorFlow is imported, and replies go to a private duplicate of the original 1.
"""

from __future__ import annotations

import contextlib
import json
import os
import sys
import time
import types
import warnings

_REPLY = os.fdopen(os.dup(1), "w", buffering=1)
os.dup2(2, 1)
os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
warnings.filterwarnings("ignore")

import cv2  # noqa: E402
import numpy as np  # noqa: E402

MTCNN_NOTE = ""


def _install_torchvision_shim() -> str:
    """Make ``facenet_pytorch`` importable without a working torchvision.

    facenet-pytorch imports ``torchvision.ops.boxes.batched_nms`` and
    ``torchvision.transforms.functional`` (the latter only for ``extract_face``, unused by
    ``MTCNN.detect``). The torchvision wheels on PyPI for Linux are built against the CUDA
    torch; with the CPU torch their compiled ops do not load, so importing torchvision fails.
    The shim implements ``batched_nms`` in plain torch with torchvision's semantics (boxes
    x1, y1, x2, y2 without a +1, suppress when IoU > threshold, per-class by coordinate
    offset, indices sorted by decreasing score). Returns a note for the report ("" when the
    real torchvision works).
    """
    try:
        import torchvision.ops.boxes  # noqa: F401

        return ""
    except Exception as exc:  # any failure means "use the shim"
        reason = f"{type(exc).__name__}: {exc}"
    for name in list(sys.modules):
        if name == "torchvision" or name.startswith("torchvision."):
            del sys.modules[name]
    import torch

    def nms(boxes: torch.Tensor, scores: torch.Tensor, threshold: float) -> torch.Tensor:
        order = torch.argsort(scores, descending=True)
        x1, y1, x2, y2 = boxes.unbind(1)
        areas = (x2 - x1) * (y2 - y1)
        keep = []
        suppressed = torch.zeros(len(order), dtype=torch.bool)
        for pos in range(len(order)):
            i = int(order[pos])
            if suppressed[pos]:
                continue
            keep.append(i)
            rest = order[pos + 1 :]
            xx1 = torch.maximum(x1[i], x1[rest])
            yy1 = torch.maximum(y1[i], y1[rest])
            xx2 = torch.minimum(x2[i], x2[rest])
            yy2 = torch.minimum(y2[i], y2[rest])
            inter = (xx2 - xx1).clamp(min=0) * (yy2 - yy1).clamp(min=0)
            iou = inter / (areas[i] + areas[rest] - inter)
            suppressed[pos + 1 :] |= iou > threshold
        return torch.tensor(keep, dtype=torch.int64)

    def batched_nms(
        boxes: torch.Tensor, scores: torch.Tensor, idxs: torch.Tensor, threshold: float
    ) -> torch.Tensor:
        if boxes.numel() == 0:
            return torch.empty((0,), dtype=torch.int64)
        offsets = idxs.to(boxes) * (boxes.max() + 1)
        return nms(boxes + offsets[:, None], scores, threshold)

    def to_tensor(array: np.ndarray) -> torch.Tensor:
        return torch.from_numpy(np.ascontiguousarray(array.transpose(2, 0, 1)))

    pkg = types.ModuleType("torchvision")
    ops = types.ModuleType("torchvision.ops")
    boxes_mod = types.ModuleType("torchvision.ops.boxes")
    transforms = types.ModuleType("torchvision.transforms")
    functional = types.ModuleType("torchvision.transforms.functional")
    boxes_mod.batched_nms = batched_nms
    functional.to_tensor = to_tensor
    ops.boxes = boxes_mod
    transforms.functional = functional
    pkg.ops, pkg.transforms = ops, transforms
    for module in (pkg, ops, boxes_mod, transforms, functional):
        sys.modules[module.__name__] = module
    return f"torchvision not importable ({reason}); plain-torch batched_nms shim used"


def _build(name: str) -> object:
    global MTCNN_NOTE
    from fer.fer import FER  # the package's __init__ does not export FER in 25.10.3

    if name == "fer":
        return FER()
    if name == "fer_keras":
        return FER(use_tflite=False)
    if name == "fer_mtcnn":
        MTCNN_NOTE = _install_torchvision_shim()
        return FER(mtcnn=True)
    raise ValueError(f"unknown fer configuration {name!r}")


def _versions() -> dict[str, str]:
    import importlib.metadata as md

    out = {"python": sys.version.split()[0], "opencv": cv2.__version__}
    for dist in ("fer", "tensorflow-cpu", "tensorflow", "keras", "torch", "facenet-pytorch"):
        with contextlib.suppress(md.PackageNotFoundError):
            out[dist] = md.version(dist)
    return out


def _read_exact(stream: object, n: int) -> bytes:
    chunks, remaining = [], n
    while remaining:
        chunk = stream.read(remaining)
        if not chunk:
            raise EOFError(f"expected {n} bytes, stream ended {remaining} short")
        chunks.append(chunk)
        remaining -= len(chunk)
    return b"".join(chunks)


def _faces(result: list[dict]) -> list[dict]:
    return [
        {"box": [int(v) for v in face["box"]], "emotions": dict(face["emotions"])}
        for face in result
    ]


def main() -> int:
    stdin = sys.stdin.buffer
    instances: dict[str, object] = {}
    default_threads = cv2.getNumThreads()
    while True:
        line = stdin.readline()
        if not line:
            return 0
        request = json.loads(line)
        cmd = request.get("cmd")
        try:
            if cmd == "quit":
                return 0
            if cmd == "info":
                reply = {
                    "ok": True,
                    "versions": _versions(),
                    "cv2_default_threads": default_threads,
                    "mtcnn_note": MTCNN_NOTE,
                }
            elif cmd == "load":
                name = request["config"]
                t0 = time.perf_counter()
                instances[name] = _build(name)
                reply = {"ok": True, "load_s": time.perf_counter() - t0, "mtcnn_note": MTCNN_NOTE}
            elif cmd == "run":
                h, w, c = request["shape"]
                image = np.frombuffer(_read_exact(stdin, h * w * c), dtype=np.uint8)
                image = image.reshape(h, w, c).copy()
                detector = instances.get(request["config"])
                if detector is None:
                    detector = instances[request["config"]] = _build(request["config"])
                threads = request.get("cv2_threads")
                cv2.setNumThreads(default_threads if threads is None else int(threads))
                c0, t0 = time.process_time(), time.perf_counter()
                result = detector.detect_emotions(image)
                t1, c1 = time.perf_counter(), time.process_time()
                reply = {
                    "ok": True,
                    "wall_ms": (t1 - t0) * 1e3,
                    "cpu_ms": (c1 - c0) * 1e3,
                    "faces": _faces(result),
                }
                if request.get("stages"):
                    # fer's two stages, timed apart in two extra calls on the same frame:
                    # find_faces (gray conversion + detector), then detect_emotions given those
                    # boxes (gray conversion, pad, crops, emotion model).
                    t0 = time.perf_counter()
                    boxes = detector.find_faces(image, bgr=True)
                    t1 = time.perf_counter()
                    detector.detect_emotions(image, face_rectangles=boxes)
                    t2 = time.perf_counter()
                    reply["detect_ms"] = (t1 - t0) * 1e3
                    reply["emotion_ms"] = (t2 - t1) * 1e3
                cv2.setNumThreads(default_threads)
            else:
                reply = {"ok": False, "error": f"unknown command {cmd!r}"}
        except Exception as exc:  # reported to the caller, who decides
            reply = {"ok": False, "error": f"{type(exc).__name__}: {exc}"}
        _REPLY.write(json.dumps(reply) + "\n")


if __name__ == "__main__":
    sys.exit(main())
