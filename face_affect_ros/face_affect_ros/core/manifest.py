"""Model manifests: read a model's JSON description, verify it, open its onnxruntime session.

Every shipped ONNX file has a manifest (format in docs/ARCHITECTURE.md) that says what the
model expects (input name, shape, colour, scaling, interpolation) and what it returns (output
names, shapes, labels). The core reads these values from the manifest instead of hard-coding
them, so a re-exported or retrained model only needs a new manifest. Verification happens once
at load time, so a wrong file fails at start-up with a message that names it, not with a shape
error in the middle of a frame.
"""

from __future__ import annotations

import hashlib
import json
import os
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import cv2
import onnxruntime as ort

from face_affect_ros.core.providers import BatchInput, ProviderRequest, open_session
from face_affect_ros.core.threads import use_threads

#: Tasks a manifest may declare.
TASKS = ("emotion", "gender", "age", "face_detection")

#: onnxruntime's type strings for the manifest dtypes we support.
_ORT_DTYPES = {"float32": "tensor(float)", "float16": "tensor(float16)", "uint8": "tensor(uint8)"}

#: The manifest's ``input.resize`` names -> OpenCV interpolation flags (runtime and tools alike).
INTERPOLATIONS: dict[str, int] = {
    "INTER_NEAREST": cv2.INTER_NEAREST,
    "INTER_LINEAR": cv2.INTER_LINEAR,
    "INTER_CUBIC": cv2.INTER_CUBIC,
    "INTER_AREA": cv2.INTER_AREA,
    "INTER_LANCZOS4": cv2.INTER_LANCZOS4,
}

#: Input colours a manifest may declare (channel order of the tensor's channel axis).
COLORS = ("gray", "bgr", "rgb")
#: How a classifier's input is cut from the frame: "box" = the detector box enlarged by the
#: pipeline's per-model margins; "aligned" = a chip aligned on the five landmarks
#: (core/align.py), for models trained on aligned faces.
CROPS = ("box", "aligned")

#: Default execution providers: the robot has no GPU; callers pass others explicitly.
DEFAULT_PROVIDERS = ("CPUExecutionProvider",)

Dim = int | str


class ModelError(RuntimeError):
    """A model or manifest file is missing, corrupt or does not match its description."""


@dataclass(frozen=True)
class InputSpec:
    """The single input tensor of a model and how to fill it from uint8 pixels."""

    name: str
    shape: tuple[Dim, ...]
    layout: str
    dtype: str
    color: str
    scale: float
    offset: float
    resize: str
    #: Per-channel value subtracted before ``scale``: x = (u8 - mean[c]) * scale + offset.
    #: Empty for the scalar form x = u8 * scale + offset.
    mean: tuple[float, ...] = ()
    #: "box" or "aligned", see :data:`CROPS`.
    crop: str = "box"


@dataclass(frozen=True)
class OutputSpec:
    """One output tensor; ``labels`` is empty for outputs that are not class scores."""

    name: str
    shape: tuple[Dim, ...]
    labels: tuple[str, ...] = ()
    activation: str | None = None
    #: A numeric value per class (the age in years of each age bin), for expectations.
    values: tuple[float, ...] = ()


@dataclass(frozen=True)
class ModelManifest:
    """A parsed manifest. ``model_path`` is the ONNX file, resolved relative to the manifest."""

    manifest_path: Path
    name: str
    task: str
    model_path: Path
    sha256: str
    input: InputSpec
    outputs: tuple[OutputSpec, ...]
    extra: dict[str, Any] = field(default_factory=dict, compare=False, hash=False)

    def output(self, name: str) -> OutputSpec:
        """Return the output spec called ``name``."""
        for out in self.outputs:
            if out.name == name:
                return out
        raise KeyError(f"{self.manifest_path}: no output named {name!r}")


def _require(data: dict[str, Any], key: str, kind: type | tuple[type, ...], where: str) -> Any:
    if key not in data:
        raise ModelError(f"{where}: missing key {key!r}")
    value = data[key]
    if not isinstance(value, kind) or (isinstance(value, bool) and kind is not bool):
        raise ModelError(f"{where}: key {key!r} has type {type(value).__name__}")
    return value


def _shape(value: Any, where: str) -> tuple[Dim, ...]:
    if not isinstance(value, list) or not value:
        raise ModelError(f"{where}: shape must be a non-empty list, got {value!r}")
    dims: list[Dim] = []
    for dim in value:
        if isinstance(dim, bool) or not isinstance(dim, (int, str)):
            raise ModelError(f"{where}: shape entries must be int or str, got {dim!r}")
        if isinstance(dim, int) and dim <= 0:
            raise ModelError(f"{where}: shape entries must be positive, got {dim!r}")
        dims.append(dim)
    return tuple(dims)


def _floats(value: Any, where: str) -> tuple[float, ...]:
    if not isinstance(value, list) or not all(
        isinstance(v, (int, float)) and not isinstance(v, bool) for v in value
    ):
        raise ModelError(f"{where}: must be a list of numbers, got {value!r}")
    return tuple(float(v) for v in value)


def sha256_file(path: str | os.PathLike[str]) -> str:
    """Hex SHA-256 of a file, read in chunks."""
    digest = hashlib.sha256()
    with open(path, "rb") as handle:
        for chunk in iter(lambda: handle.read(1 << 20), b""):
            digest.update(chunk)
    return digest.hexdigest()


def parse_manifest(path: str | os.PathLike[str]) -> ModelManifest:
    """Parse a manifest file without touching the ONNX file it points at.

    Raises:
        ModelError: the manifest is missing, not JSON, or lacks / mistypes a required key.
    """
    manifest_path = Path(path)
    where = str(manifest_path)
    try:
        text = manifest_path.read_text(encoding="utf-8")
    except FileNotFoundError:
        raise ModelError(f"{where}: manifest file not found") from None
    except OSError as exc:
        raise ModelError(f"{where}: cannot read manifest ({exc.strerror})") from None
    try:
        data = json.loads(text)
    except json.JSONDecodeError as exc:
        raise ModelError(f"{where}: not valid JSON ({exc})") from None
    if not isinstance(data, dict):
        raise ModelError(f"{where}: top level must be a JSON object")

    task = _require(data, "task", str, where)
    if task not in TASKS:
        raise ModelError(f"{where}: task {task!r} is not one of {TASKS}")
    inp = _require(data, "input", dict, where)
    iwhere = f"{where} input"
    input_spec = InputSpec(
        name=_require(inp, "name", str, iwhere),
        shape=_shape(_require(inp, "shape", list, iwhere), iwhere),
        layout=_require(inp, "layout", str, iwhere),
        dtype=_require(inp, "dtype", str, iwhere),
        color=_require(inp, "color", str, iwhere),
        scale=float(_require(inp, "scale", (int, float), iwhere)),
        offset=float(_require(inp, "offset", (int, float), iwhere)),
        resize=_require(inp, "resize", str, iwhere),
        mean=_floats(inp.get("mean", []), f"{iwhere} mean"),
        crop=inp.get("crop", "box"),
    )
    if input_spec.dtype not in _ORT_DTYPES:
        raise ModelError(f"{iwhere}: dtype {input_spec.dtype!r} not one of {list(_ORT_DTYPES)}")
    if input_spec.layout != "NCHW" or len(input_spec.shape) != 4:
        raise ModelError(
            f"{iwhere}: only 4-D NCHW inputs are supported, got "
            f"{input_spec.layout} {list(input_spec.shape)}"
        )
    if input_spec.color not in COLORS:
        raise ModelError(f"{iwhere}: color {input_spec.color!r} is not one of {list(COLORS)}")
    channels = input_spec.shape[1]
    if isinstance(channels, int) and channels != (1 if input_spec.color == "gray" else 3):
        raise ModelError(f"{iwhere}: {channels} channels for color {input_spec.color!r}")
    if input_spec.mean and len(input_spec.mean) != channels:
        raise ModelError(
            f"{iwhere}: 'mean' has {len(input_spec.mean)} values for {channels!r} channels"
        )
    if input_spec.crop not in CROPS:
        raise ModelError(f"{iwhere}: crop {input_spec.crop!r} is not one of {list(CROPS)}")

    outputs_raw = _require(data, "outputs", list, where)
    if not outputs_raw:
        raise ModelError(f"{where}: 'outputs' is empty")
    outputs: list[OutputSpec] = []
    for i, out in enumerate(outputs_raw):
        owhere = f"{where} outputs[{i}]"
        if not isinstance(out, dict):
            raise ModelError(f"{owhere}: must be an object")
        labels = out.get("labels", [])
        if not isinstance(labels, list) or not all(isinstance(x, str) for x in labels):
            raise ModelError(f"{owhere}: 'labels' must be a list of strings")
        activation = out.get("activation")
        if activation is not None and not isinstance(activation, str):
            raise ModelError(f"{owhere}: 'activation' must be a string")
        outputs.append(
            OutputSpec(
                name=_require(out, "name", str, owhere),
                shape=_shape(_require(out, "shape", list, owhere), owhere),
                labels=tuple(labels),
                activation=activation,
                values=_floats(out.get("values", []), f"{owhere} values"),
            )
        )

    known = {"name", "task", "file", "sha256", "input", "outputs"}
    return ModelManifest(
        manifest_path=manifest_path,
        name=_require(data, "name", str, where),
        task=task,
        model_path=manifest_path.parent / _require(data, "file", str, where),
        sha256=_require(data, "sha256", str, where).lower(),
        input=input_spec,
        outputs=tuple(outputs),
        extra={k: v for k, v in data.items() if k not in known},
    )


def _check_dims(where: str, declared: tuple[Dim, ...], actual: Sequence[Any]) -> None:
    """Compare a manifest shape with the session's; ints must agree where both are fixed.

    A fixed manifest dim on a dynamic model dim is accepted (the manifest fixes what we feed);
    a dynamic manifest dim on a fixed model dim is not (we would feed a size the model rejects).
    """
    if len(declared) != len(actual):
        raise ModelError(
            f"{where}: rank {len(actual)} in the model, {len(declared)} in the "
            f"manifest ({list(actual)} vs {list(declared)})"
        )
    for axis, (want, have) in enumerate(zip(declared, actual, strict=True)):
        have_fixed = isinstance(have, int) and have > 0
        if isinstance(want, int) and have_fixed and want != have:
            raise ModelError(f"{where}: dim {axis} is {have} in the model, {want} in the manifest")
        if isinstance(want, str) and have_fixed:
            raise ModelError(
                f"{where}: dim {axis} is fixed to {have} in the model but dynamic "
                f"({want!r}) in the manifest"
            )


def verify_session(manifest: ModelManifest, session: ort.InferenceSession) -> None:
    """Check that an open session matches its manifest's inputs and outputs.

    Raises:
        ModelError: naming the ONNX file and the first mismatch found.
    """
    where = str(manifest.model_path)
    inputs = session.get_inputs()
    if len(inputs) != 1:
        raise ModelError(f"{where}: expected 1 input, the model has {len(inputs)}")
    model_in = inputs[0]
    if model_in.name != manifest.input.name:
        raise ModelError(
            f"{where}: input is named {model_in.name!r} in the model, "
            f"{manifest.input.name!r} in the manifest"
        )
    if model_in.type != _ORT_DTYPES[manifest.input.dtype]:
        raise ModelError(
            f"{where}: input type is {model_in.type} in the model, "
            f"{manifest.input.dtype} in the manifest"
        )
    _check_dims(f"{where} input {model_in.name!r}", manifest.input.shape, model_in.shape)

    model_outs = {o.name: o for o in session.get_outputs()}
    declared = [o.name for o in manifest.outputs]
    if set(model_outs) != set(declared):
        raise ModelError(
            f"{where}: outputs are {sorted(model_outs)} in the model, "
            f"{sorted(declared)} in the manifest"
        )
    for spec in manifest.outputs:
        _check_dims(f"{where} output {spec.name!r}", spec.shape, model_outs[spec.name].shape)
        for kind, items in (("labels", spec.labels), ("values", spec.values)):
            last = spec.shape[-1]
            if items and (not isinstance(last, int) or last != len(items)):
                raise ModelError(
                    f"{where} output {spec.name!r}: {len(items)} {kind} for a last dim of {last!r}"
                )


#: What the model classes take as ``providers``: a :class:`ProviderRequest` (the
#: ``execution_provider`` parameter, with its fallback chain and warning), or onnxruntime
#: provider names / (name, options) pairs used as given; None = the CPU.
Providers = ProviderRequest | Sequence[str | tuple[str, dict]] | None


def create_session(
    model_path: str | os.PathLike[str],
    intra_op_threads: int = 1,
    providers: Providers = None,
    batch_input: BatchInput | None = None,
) -> ort.InferenceSession:
    """Open an onnxruntime session configured for a small shared robot CPU.

    One intra-op thread by default: the models are tiny (a few MFLOP), so thread hand-off costs
    more than it saves, and the robot's other nodes need the remaining cores. Inter-op is 1 and
    execution sequential because the graphs are chains. Full graph optimisation is done once
    at load. A :class:`ProviderRequest` opens the session on the first provider of its fallback
    chain that starts, with a WARNING when that is not the one asked for
    (:func:`face_affect_ros.core.providers.open_session`); `batch_input` (a model with only a
    dynamic batch, from its manifest) gives TensorRT an optimisation profile over the batch.

    Raises:
        ModelError: onnxruntime cannot load the file (the message names it).
    """
    options = session_options(intra_op_threads)
    use_threads(intra_op_threads)  # OpenCV's pool gets the models' budget (core/threads.py)
    try:
        if isinstance(providers, ProviderRequest):
            return open_session(model_path, options, providers, batch_input=batch_input)
        return ort.InferenceSession(
            os.fspath(model_path),
            sess_options=options,
            providers=list(providers) if providers else list(DEFAULT_PROVIDERS),
        )
    except Exception as exc:  # onnxruntime raises several private exception types
        first_line = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
        raise ModelError(f"{model_path}: onnxruntime cannot load the model ({first_line})") from exc


def session_options(intra_op_threads: int = 1) -> ort.SessionOptions:
    """The session settings of every model the package runs (the tools time models with them).

    Raises:
        ValueError: `intra_op_threads` is not an int >= 0.
    """
    if (
        isinstance(intra_op_threads, bool)
        or not isinstance(intra_op_threads, int)
        or intra_op_threads < 0
    ):
        raise ValueError(f"intra_op_threads must be an int >= 0, got {intra_op_threads!r}")
    options = ort.SessionOptions()
    options.intra_op_num_threads = intra_op_threads
    options.inter_op_num_threads = 1
    options.graph_optimization_level = ort.GraphOptimizationLevel.ORT_ENABLE_ALL
    options.execution_mode = ort.ExecutionMode.ORT_SEQUENTIAL
    options.log_severity_level = 3  # errors only: warnings about unused initialisers are noise
    # With more than one thread, onnxruntime's pool spins for ~0.1 s after every run by default
    # (measured in bench/bench_scaling.py: a second core kept busy at any camera rate). On a
    # robot that CPU belongs to other nodes, so idle threads sleep instead.
    options.add_session_config_entry("session.intra_op.allow_spinning", "0")
    return options


def _check_file(manifest: ModelManifest, verify_sha256: bool) -> None:
    if not manifest.model_path.is_file():
        raise ModelError(
            f"{manifest.model_path}: model file not found (named by {manifest.manifest_path})"
        )
    if verify_sha256:
        actual = sha256_file(manifest.model_path)
        if actual != manifest.sha256:
            raise ModelError(
                f"{manifest.model_path}: sha256 is {actual}, manifest "
                f"{manifest.manifest_path} expects {manifest.sha256}"
            )


def load_model(
    manifest_path: str | os.PathLike[str],
    intra_op_threads: int = 1,
    providers: Providers = None,
    verify_sha256: bool = True,
) -> tuple[ModelManifest, ort.InferenceSession]:
    """Parse and verify a manifest and open its model's session, creating the session once.

    This is what the detector and classifier use: the session that was verified is the one
    that runs.

    Raises:
        ModelError: naming the manifest or ONNX file and what is wrong.
    """
    manifest = parse_manifest(manifest_path)
    _check_file(manifest, verify_sha256)
    shape = manifest.input.shape
    batch_input = None
    if len(shape) == 4 and isinstance(shape[0], str) and all(isinstance(d, int) for d in shape[1:]):
        batch_input = (manifest.input.name, (shape[1], shape[2], shape[3]))
    session = create_session(manifest.model_path, intra_op_threads, providers, batch_input)
    verify_session(manifest, session)
    return manifest, session


def load_manifest(path: str | os.PathLike[str], verify_sha256: bool = True) -> ModelManifest:
    """Parse a manifest and verify it fully against its ONNX file.

    This is the contract in docs/ARCHITECTURE.md: the file exists, its sha256 matches, and the
    onnxruntime session's inputs / outputs match the manifest.

    The verification session is discarded; use :func:`load_model` to keep it.

    Raises:
        ModelError: naming the manifest or ONNX file and what is wrong.
    """
    manifest, _ = load_model(path, verify_sha256=verify_sha256)
    return manifest
