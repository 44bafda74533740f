"""Regenerate ``face_affect_ros/models/`` from the upstream files, byte for byte.

Why a converter instead of committed binaries alone: the shipped ONNX files must be traceable to
the published weights. This tool is the only way they are made, so anyone can check that the
committed files are what the upstream weights give (``test/test_convert.py`` does exactly that).

What it does:

* ``emotion_mini_xception.onnx`` / ``gender_mini_xception.onnx``: the Keras 2.0.5 HDF5 files of
  oarriaga/face_classification, loaded into the PyTorch :class:`MiniXception` (exact weight
  mapping, see :mod:`.mini_xception`) and exported with the TorchScript ONNX exporter (opset 17,
  constant folding, BatchNorm folded into the convolutions, dynamic batch). Input ``input``
  ``[N, 1, 64, 64]`` float32 in [-1, 1]; output ``probabilities`` ``[N, classes]`` (softmax).
* ``yunet_n_dynamic.onnx`` / ``yunet_s_dynamic.onnx``: byte-identical copies of the upstream
  detector files; their manifests take the output names and shapes from the files.
* one JSON manifest per model in the format of ``docs/ARCHITECTURE.md``, the licences as
  ``LICENSE.face_classification`` and ``LICENSE.yunet``;
* if ``test/fixtures/keras_reference.npz`` exists, the measured agreement of each new classifier
  with the original Keras model goes into its manifest's ``fidelity`` field.

Every upstream file (kept in the repository's ``upstream/``, see its README.md) is checked
against the sha256 recorded here and in ``upstream/README.md``
before use. Reruns are byte-identical (fixed seeds, deterministic export, initialisers renamed
from the exporter's counters to module paths). Run from the ament package directory::

    python -m face_affect_ros.tools.convert [--upstream DIR] [--out DIR]
"""

from __future__ import annotations

import argparse
import hashlib
import io
import json
import shutil
import warnings
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import onnx
import torch

from face_affect_ros.tools.mini_xception import KerasModelInfo, MiniXception, load_keras_hdf5

PACKAGE_DIR = Path(__file__).resolve().parents[2]
"""The ament package directory (``face_affect_ros/``) of this source checkout."""

REPO_ROOT = PACKAGE_DIR.parent
#: The upstream files, kept in the repository (upstream/README.md: sources, sha256, licences).
DEFAULT_UPSTREAM = REPO_ROOT / "upstream"
DEFAULT_OUT = PACKAGE_DIR / "models"
DEFAULT_FIXTURE = PACKAGE_DIR / "test" / "fixtures" / "keras_reference.npz"

REGENERATE = "python -m face_affect_ros.tools.convert"
"""The command recorded in every manifest (run in face_affect_ros/; --upstream if not default)."""

OPSET = 17
SEED = 0
INPUT_SIZE = 64
UINT8_SCALE = 2.0 / 255.0
UINT8_OFFSET = -1.0

FACE_CLASSIFICATION_REPO = "oarriaga/face_classification"
FACE_CLASSIFICATION_COMMIT = "b861d21b0e76ca5514cdeb5b56a689b7318584f4"
YUNET_REPO = "ShiqiYu/libfacedetection.train"
YUNET_COMMIT = "0047ac24afb1a50a0c6105001c89d1b5b805dbf1"


@dataclass(frozen=True)
class ClassifierSpec:
    """One mini-Xception to convert: where it comes from and what its outputs mean."""

    name: str
    task: str
    upstream: str  # relative to the upstream directory
    repo_path: str  # path inside the upstream repository
    sha256: str
    labels: tuple[str, ...]


@dataclass(frozen=True)
class DetectorSpec:
    """One YuNet file to ship unchanged."""

    name: str
    upstream: str
    repo_path: str
    sha256: str


CLASSIFIERS: tuple[ClassifierSpec, ...] = (
    ClassifierSpec(
        name="emotion_mini_xception",
        task="emotion",
        upstream="face_classification/fer2013_mini_XCEPTION.102-0.66.hdf5",
        repo_path="trained_models/emotion_models/fer2013_mini_XCEPTION.102-0.66.hdf5",
        sha256="59534287fdfb125e30a94400296c25ea9f5d706fca93dd8adbbbed916799ea0e",
        labels=("angry", "disgust", "fear", "happy", "sad", "surprise", "neutral"),
    ),
    ClassifierSpec(
        name="gender_mini_xception",
        task="gender",
        upstream="face_classification/gender_mini_XCEPTION.21-0.95.hdf5",
        repo_path="trained_models/gender_models/gender_mini_XCEPTION.21-0.95.hdf5",
        sha256="7affc7bd520c48ca908eada26988d0e17fdfa1d447d8ae5675395f05ca6f943b",
        labels=("woman", "man"),
    ),
)

DETECTORS: tuple[DetectorSpec, ...] = (
    DetectorSpec(
        name="yunet_n_dynamic",
        upstream="yunet/yunet_n_dynamic.onnx",
        repo_path="onnx/yunet_n_dynamic.onnx",
        sha256="104ee26c71d5c270ce79a6b3dced91c91013260d29a6bf18f9296c5b8c4c2b12",
    ),
    DetectorSpec(
        name="yunet_s_dynamic",
        upstream="yunet/yunet_s_dynamic.onnx",
        repo_path="onnx/yunet_s_dynamic.onnx",
        sha256="daede24002cc8590f457998cc5e6c9e8b82f45f6bd969506a8913cd4ed10a2d3",
    ),
)

LICENSES = {
    "LICENSE.face_classification": "face_classification/LICENSE",
    "LICENSE.yunet": "yunet/LICENSE",
}

# YuNet's own names for its dynamic dims, mapped to the manifest convention.
_YUNET_DIM_NAMES = {"batch": "N", "height": "H", "width": "W", "dim": "cells"}


class ConversionError(RuntimeError):
    """An upstream file is missing or not the one recorded in upstream/README.md."""


#: Calibrated abstention threshold of the converted gender model (bench/bench_gender_models.py
#: measures it; the pipeline uses it unless gender_min_confidence is set).
GENDER_DECISION = {
    "min_confidence": 0.7,
    "calibration": (
        "bench/bench_gender_models.py: of {0.5, 0.6, 0.7, 0.75, 0.8, 0.85, 0.9, 0.95, 0.98}, "
        "the threshold maximising (decided right) - 10 x (decided wrong) over 161 by-eye "
        "labelled real faces (16 photo faces, 61 sample-bag faces, 84 lfw patches)"
    ),
}


def sha256_bytes(data: bytes) -> str:
    """Hex sha256 of a byte string."""
    return hashlib.sha256(data).hexdigest()


def _read_checked(upstream: Path, rel: str, sha256: str) -> bytes:
    path = upstream / rel
    if not path.is_file():
        raise ConversionError(f"{path}: upstream file not found (use --upstream DIR)")
    data = path.read_bytes()
    actual = sha256_bytes(data)
    if actual != sha256:
        raise ConversionError(f"{path}: sha256 {actual}, upstream/README.md records {sha256}")
    return data


def _rename_initializers(model: onnx.ModelProto) -> None:
    """Name initialisers after the module that uses them instead of the exporter's counters.

    The TorchScript exporter names folded constants ``onnx::Conv_153`` from a process-wide
    counter, so the bytes would depend on what was traced before. Module paths are stable and
    also tell a reader which layer a tensor belongs to (BatchNorm is folded into the conv).
    """
    inits = {init.name: init for init in model.graph.initializer}
    renames: dict[str, str] = {}
    for node in model.graph.node:
        scope = node.name.strip("/").rsplit("/", 1)[0].replace("/", ".")
        for i, name in enumerate(node.input):
            if name in inits and name not in renames and name.startswith("onnx::"):
                role = {1: "weight", 2: "bias"}.get(i, f"input{i}")
                renames[name] = f"{scope}.{role}"
    if len(set(renames.values())) != len(renames) or set(renames.values()) & set(inits):
        raise ConversionError(f"initialiser renaming is not unique: {renames}")
    for init in model.graph.initializer:
        init.name = renames.get(init.name, init.name)
    for node in model.graph.node:
        for i, name in enumerate(node.input):
            if name in renames:
                node.input[i] = renames[name]


def export_onnx(
    model: torch.nn.Module,
    doc_string: str,
    metadata: dict[str, str],
    in_channels: int = 1,
    input_size: int = INPUT_SIZE,
) -> bytes:
    """Export a classifier to deterministic ONNX bytes (softmax output, dynamic N).

    Shared by every tool that writes a model (convert, train, prune), so all shipped and
    user-made classifiers have the same input/output names, opset, folding and initialiser
    names. A ``return_logits`` attribute, if the model has one, is switched off: the exported
    graph always ends with the softmax the manifests declare.
    """
    model = model.eval()
    if hasattr(model, "return_logits"):
        model.return_logits = False
    torch.manual_seed(SEED)
    dummy = torch.zeros(1, in_channels, input_size, input_size)
    buf = io.BytesIO()
    with warnings.catch_warnings():
        # Legacy-exporter deprecation notices and the tracer's note that the max-pool padding
        # is fixed for the traced 64x64 input (intended: only the batch dim is dynamic).
        warnings.simplefilter("ignore")
        torch.onnx.export(
            model,
            (dummy,),
            buf,
            dynamo=False,
            input_names=["input"],
            output_names=["probabilities"],
            dynamic_axes={"input": {0: "N"}, "probabilities": {0: "N"}},
            opset_version=OPSET,
            do_constant_folding=True,
            export_params=True,
        )
    proto = onnx.load_from_string(buf.getvalue())
    _rename_initializers(proto)
    proto.doc_string = doc_string
    del proto.metadata_props[:]
    for key, value in metadata.items():
        proto.metadata_props.add(key=key, value=value)
    onnx.checker.check_model(proto, full_check=True)
    return proto.SerializeToString(deterministic=True)


def export_classifier(model: MiniXception, spec: ClassifierSpec, source_sha256: str) -> bytes:
    """Export a loaded upstream mini-Xception to deterministic ONNX bytes (see export_onnx)."""
    meta = {
        "labels": ",".join(spec.labels),
        "source_sha256": source_sha256,
        "input_scale": repr(UINT8_SCALE),
        "input_offset": repr(UINT8_OFFSET),
    }
    doc = (
        f"mini-Xception ({spec.task}) converted from {FACE_CLASSIFICATION_REPO}@"
        f"{FACE_CLASSIFICATION_COMMIT}:{spec.repo_path} by {REGENERATE}"
    )
    return export_onnx(model, doc, meta, in_channels=model.in_channels)


def _check_export(model: MiniXception, onnx_bytes: bytes) -> float:
    """Run the export in onnxruntime against the PyTorch model; return the max abs difference.

    A guard against exporter bugs (it catches a wrong pooling pad or a broken dynamic batch),
    not the fidelity measurement, which compares with real Keras.
    """
    import onnxruntime as ort

    options = ort.SessionOptions()
    options.intra_op_num_threads = 1
    sess = ort.InferenceSession(onnx_bytes, options, providers=["CPUExecutionProvider"])
    gen = torch.Generator().manual_seed(SEED)
    x = torch.rand(5, model.in_channels, INPUT_SIZE, INPUT_SIZE, generator=gen) * 2 - 1
    with torch.no_grad():
        want = model(x).numpy()
    got = sess.run(["probabilities"], {"input": x.numpy()})[0]
    diff = float(np.abs(got - want).max())
    if got.shape != want.shape or diff > 1e-5:
        raise ConversionError(f"ONNX export differs from PyTorch: {got.shape}, max diff {diff}")
    return diff


def _significant(x: float, digits: int = 2) -> float:
    return float(f"{x:.{digits - 1}e}")


def measure_fidelity(onnx_bytes: bytes, task: str, fixture: Path) -> dict[str, Any] | None:
    """Compare an exported classifier with the Keras outputs stored in the fixture.

    Uses the manifest's uint8 -> float contract (scale 2/255, offset -1), i.e. what the runtime
    feeds, not the upstream float formula, so the number covers the whole input path.
    """
    if not fixture.is_file():
        return None
    import onnxruntime as ort

    ref = np.load(fixture)
    crops = ref["inputs"]
    want = ref[task]
    x = (crops.astype(np.float32) * np.float32(UINT8_SCALE) + np.float32(UINT8_OFFSET))[
        :, np.newaxis
    ]
    options = ort.SessionOptions()
    options.intra_op_num_threads = 1
    sess = ort.InferenceSession(onnx_bytes, options, providers=["CPUExecutionProvider"])
    got = sess.run(["probabilities"], {"input": x})[0]
    diff = float(np.abs(got - want).max())
    agree = float((got.argmax(1) == want.argmax(1)).mean())
    return {
        "reference": "Keras: original HDF5, tf_keras.models.load_model(compile=False), "
        f"TensorFlow {ref['tensorflow_version']}, tf-keras {ref['tf_keras_version']}",
        "fixture": "test/fixtures/keras_reference.npz",
        "faces": int(crops.shape[0]),
        "top1_agreement": agree,
        "max_abs_prob_diff": _significant(diff),
        "runtime": f"onnxruntime {ort.__version__}, CPU",
    }


def gray_classifier_manifest(
    name: str,
    task: str,
    onnx_bytes: bytes,
    labels: Sequence[str],
    source: dict[str, Any],
    license_file: str | None,
    regenerate: str,
    in_channels: int = 1,
    input_size: int = INPUT_SIZE,
) -> dict[str, Any]:
    """Build the manifest of a gray-input classifier (format of docs/ARCHITECTURE.md).

    One function for converted, trained, pruned and quantised classifiers, so the runtime sees
    the same input contract (uint8 * 2/255 - 1, INTER_LINEAR) and output layout for all of them.
    """
    manifest: dict[str, Any] = {
        "name": name,
        "task": task,
        "file": f"{name}.onnx",
        "sha256": sha256_bytes(onnx_bytes),
        "input": {
            "name": "input",
            "shape": ["N", in_channels, input_size, input_size],
            "layout": "NCHW",
            "dtype": "float32",
            "color": "gray",
            "scale": UINT8_SCALE,
            "offset": UINT8_OFFSET,
            "resize": "INTER_LINEAR",
        },
        "outputs": [
            {
                "name": "probabilities",
                "shape": ["N", len(labels)],
                "labels": list(labels),
                "activation": "softmax",
            }
        ],
        "source": source,
    }
    if license_file is not None:
        manifest["license"] = license_file
    manifest["regenerate"] = regenerate
    return manifest


def classifier_manifest(
    spec: ClassifierSpec,
    onnx_bytes: bytes,
    info: KerasModelInfo,
    fidelity: dict[str, Any] | None,
) -> dict[str, Any]:
    """Build the manifest of a converted mini-Xception (format of docs/ARCHITECTURE.md)."""
    manifest = gray_classifier_manifest(
        name=spec.name,
        task=spec.task,
        onnx_bytes=onnx_bytes,
        labels=spec.labels,
        source={
            "repository": FACE_CLASSIFICATION_REPO,
            "commit": FACE_CLASSIFICATION_COMMIT,
            "file": spec.repo_path,
            "sha256": spec.sha256,
        },
        license_file="LICENSE.face_classification",
        regenerate=REGENERATE,
        in_channels=info.in_channels,
    )
    if fidelity is not None:
        manifest["fidelity"] = fidelity
    if spec.task == "gender":
        manifest["decision"] = dict(GENDER_DECISION)
    return manifest


def _dims(value_info: onnx.ValueInfoProto) -> list[int | str]:
    dims: list[int | str] = []
    for d in value_info.type.tensor_type.shape.dim:
        if d.HasField("dim_value"):
            dims.append(int(d.dim_value))
        else:
            dims.append(_YUNET_DIM_NAMES.get(d.dim_param, d.dim_param or "?"))
    return dims


def detector_manifest(spec: DetectorSpec, onnx_bytes: bytes) -> dict[str, Any]:
    """Build a YuNet manifest; input and output names / shapes are read from the file."""
    proto = onnx.load_from_string(onnx_bytes)
    init_names = {init.name for init in proto.graph.initializer}
    inputs = [i for i in proto.graph.input if i.name not in init_names]
    if len(inputs) != 1 or inputs[0].name != "input":
        raise ConversionError(f"{spec.upstream}: expected one input named 'input'")
    in_shape = _dims(inputs[0])
    if len(in_shape) != 4 or in_shape[1] != 3:
        raise ConversionError(f"{spec.upstream}: expected [N, 3, H, W], got {in_shape}")
    return {
        "name": spec.name,
        "task": "face_detection",
        "file": f"{spec.name}.onnx",
        "sha256": sha256_bytes(onnx_bytes),
        "input": {
            "name": "input",
            "shape": in_shape,
            "layout": "NCHW",
            "dtype": "float32",
            "color": "bgr",
            "scale": 1.0,
            "offset": 0.0,
            "resize": "INTER_LINEAR",
        },
        "outputs": [{"name": o.name, "shape": _dims(o)} for o in proto.graph.output],
        "source": {
            "repository": YUNET_REPO,
            "commit": YUNET_COMMIT,
            "file": spec.repo_path,
            "sha256": spec.sha256,
        },
        "license": "LICENSE.yunet",
        "regenerate": REGENERATE,
    }


def format_json(value: Any, indent: int = 0) -> str:
    """JSON with two-space indentation but lists of scalars on one line (shapes, labels).

    Deterministic, diff-friendly and readable; ``json.dumps(indent=2)`` would put every
    dimension of every shape on its own line.
    """
    pad = " " * (indent + 2)
    if isinstance(value, dict):
        if not value:
            return "{}"
        items = [f"{pad}{json.dumps(k)}: {format_json(v, indent + 2)}" for k, v in value.items()]
        return "{\n" + ",\n".join(items) + "\n" + " " * indent + "}"
    if isinstance(value, list) and any(isinstance(v, (dict, list)) for v in value):
        items = [pad + format_json(v, indent + 2) for v in value]
        return "[\n" + ",\n".join(items) + "\n" + " " * indent + "]"
    return json.dumps(value, ensure_ascii=False)


def write_json(path: Path, data: dict[str, Any]) -> None:
    """Write a manifest or report in the :func:`format_json` layout, newline-terminated."""
    path.write_text(format_json(data) + "\n", encoding="utf-8")


def convert(
    upstream: Path = DEFAULT_UPSTREAM,
    out: Path = DEFAULT_OUT,
    fixture: Path | None = DEFAULT_FIXTURE,
) -> dict[str, str]:
    """Write every model, manifest and licence into ``out``; return ``{file name: sha256}``."""
    out.mkdir(parents=True, exist_ok=True)
    written: dict[str, str] = {}
    torch.set_num_threads(1)  # same float reduction order on every machine
    torch.manual_seed(SEED)
    np.random.seed(SEED)
    for spec in CLASSIFIERS:
        _read_checked(upstream, spec.upstream, spec.sha256)
        model, info = load_keras_hdf5(upstream / spec.upstream)
        if info.num_classes != len(spec.labels):
            raise ConversionError(
                f"{spec.upstream}: {info.num_classes} outputs, {len(spec.labels)} labels"
            )
        onnx_bytes = export_classifier(model, spec, spec.sha256)
        _check_export(model, onnx_bytes)
        fidelity = measure_fidelity(onnx_bytes, spec.task, fixture) if fixture else None
        (out / f"{spec.name}.onnx").write_bytes(onnx_bytes)
        write_json(out / f"{spec.name}.json", classifier_manifest(spec, onnx_bytes, info, fidelity))
        written[f"{spec.name}.onnx"] = sha256_bytes(onnx_bytes)
    for spec in DETECTORS:
        data = _read_checked(upstream, spec.upstream, spec.sha256)
        (out / f"{spec.name}.onnx").write_bytes(data)
        write_json(out / f"{spec.name}.json", detector_manifest(spec, data))
        written[f"{spec.name}.onnx"] = sha256_bytes(data)
    for name, rel in LICENSES.items():
        src = upstream / rel
        if not src.is_file():
            raise ConversionError(f"{src}: licence file not found")
        shutil.copyfile(src, out / name)
        written[name] = sha256_bytes((out / name).read_bytes())
    return written


def main(argv: Sequence[str] | None = None) -> int:
    """Command-line entry point; prints the sha256 of every file written."""
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument(
        "--upstream",
        type=Path,
        default=DEFAULT_UPSTREAM,
        help="directory with face_classification/ and yunet/ (default: %(default)s)",
    )
    parser.add_argument("--out", type=Path, default=DEFAULT_OUT, help="default: %(default)s")
    parser.add_argument(
        "--fixture",
        type=Path,
        default=DEFAULT_FIXTURE,
        help="Keras reference outputs for the manifests' fidelity field (default: %(default)s)",
    )
    parser.add_argument(
        "--no-fidelity", action="store_true", help="do not measure or record fidelity"
    )
    args = parser.parse_args(argv)
    try:
        written = convert(args.upstream, args.out, None if args.no_fidelity else args.fixture)
    except ConversionError as exc:
        parser.exit(1, f"convert: {exc}\n")
    for name, digest in written.items():
        print(f"{digest}  {args.out / name}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
