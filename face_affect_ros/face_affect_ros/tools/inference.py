"""Run exported classifiers the way the runtime does: by manifest, in onnxruntime, on uint8 crops.

Why: a tool's numbers (accuracy, agreement, speed) only mean something for the robot if they are
measured through the same contract the nodes use. When the runtime's loader
(:func:`face_affect_ros.core.manifest.load_model`) opens every model, with the runtime's session
options, so every model a tool writes is also proven to load in the runtime.
Timing uses one intra-op thread, like the nodes' default.
"""

from __future__ import annotations

import json
import os
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import onnxruntime as ort

from face_affect_ros.core.manifest import INTERPOLATIONS, load_model, session_options
from face_affect_ros.core.paths import model_manifest_path
from face_affect_ros.tools.datasets import resize_gray, to_model_input


@dataclass(frozen=True)
class Classifier:
    """An open classifier session and the manifest values needed to feed and read it."""

    manifest_path: Path
    name: str
    task: str
    model_path: Path
    labels: tuple[str, ...]
    input_name: str
    output_name: str
    size: int
    scale: float
    offset: float
    interpolation: int
    session: ort.InferenceSession
    manifest: dict[str, Any]

    def predict(self, crops: np.ndarray, batch_size: int = 256) -> np.ndarray:
        """Probabilities ``[N, classes]`` for ``uint8 [N, H, W]`` gray crops (resized here)."""
        crops = resize_gray(crops, self.size, self.interpolation)
        x = to_model_input(crops, self.scale, self.offset)
        return self.predict_input(x, batch_size)

    def predict_input(self, x: np.ndarray, batch_size: int = 256) -> np.ndarray:
        """Probabilities for already preprocessed float32 ``[N, 1, H, W]`` input."""
        out = [
            self.session.run([self.output_name], {self.input_name: x[i : i + batch_size]})[0]
            for i in range(0, len(x), batch_size)
        ]
        return np.concatenate(out) if out else np.zeros((0, len(self.labels)), np.float32)


def open_session(model: str | os.PathLike[str] | bytes, threads: int = 1) -> ort.InferenceSession:
    """Open an onnxruntime CPU session for a file or a serialized model.

    With the runtime's session options (:func:`face_affect_ros.core.manifest.session_options`).
    """
    src = model if isinstance(model, bytes) else os.fspath(model)
    return ort.InferenceSession(src, session_options(threads), providers=["CPUExecutionProvider"])


def load_classifier_manifest(manifest: str | os.PathLike[str], threads: int = 1) -> Classifier:
    """Open a classifier by its manifest (a path, or a bare name of a shipped model).

    Opened by the runtime's verifying loader (:func:`face_affect_ros.core.manifest.load_model`),
    so every model a tool writes is proven to load in the nodes.

    Raises:
        ValueError / ModelError: the manifest or model is not a gray-input classifier.
    """
    path = model_manifest_path(manifest)
    _, session = load_model(path, intra_op_threads=threads)
    data = json.loads(path.read_text(encoding="utf-8"))
    inp = data["input"]
    if inp["color"] != "gray" or inp["shape"][1] != 1:
        raise ValueError(f"{path}: not a gray-input classifier (input {inp})")
    out = next((o for o in data["outputs"] if o.get("labels")), None)
    if out is None:
        raise ValueError(f"{path}: no output with labels")
    size = int(inp["shape"][2])
    if inp["shape"][3] != size:
        raise ValueError(f"{path}: only square inputs are supported, got {inp['shape']}")
    return Classifier(
        manifest_path=path,
        name=data["name"],
        task=data["task"],
        model_path=path.parent / data["file"],
        labels=tuple(out["labels"]),
        input_name=inp["name"],
        output_name=out["name"],
        size=size,
        scale=float(inp["scale"]),
        offset=float(inp["offset"]),
        interpolation=INTERPOLATIONS.get(inp.get("resize", "INTER_LINEAR"), 1),
        session=session,
        manifest=data,
    )


def interleaved_medians(
    sessions: dict[str, ort.InferenceSession],
    x: np.ndarray,
    batch_sizes: tuple[int, ...] = (1, 8),
    rounds: int = 20,
    per_round: int = 10,
) -> dict[str, dict[str, float]]:
    """Median ms per ``run`` for each session and batch size, timed in interleaved rounds.

    Each round runs every session ``per_round`` times back to back, so slow phases of a shared
    machine affect all variants equally; the median over all runs is reported.
    """
    result: dict[str, dict[str, float]] = {name: {} for name in sessions}
    for bs in batch_sizes:
        batch = np.ascontiguousarray(np.resize(x, (bs, *x.shape[1:])))
        times: dict[str, list[float]] = {name: [] for name in sessions}
        for sess in sessions.values():  # warm-up
            for _ in range(3):
                sess.run(None, {sess.get_inputs()[0].name: batch})
        for _ in range(rounds):
            for name, sess in sessions.items():
                feed = {sess.get_inputs()[0].name: batch}
                for _ in range(per_round):
                    start = time.perf_counter()
                    sess.run(None, feed)
                    times[name].append((time.perf_counter() - start) * 1e3)
        for name in sessions:
            result[name][f"batch{bs}_median_ms"] = float(np.median(times[name]))
    return result
