"""Trainable classifier architectures, checkpoints, and the prunable last feature layer.

Why here and not in each tool: training writes checkpoints that evaluation, explanation and
pruning read back, and pruning changes the shape of a layer that a later load has to rebuild.
One module owns "which architectures exist", "what a checkpoint holds" and "which layer is the
last feature layer" so the tools cannot disagree.

Architectures (both end with a class-map convolution, global average pooling and softmax, so
either drops into the runtime with the same manifest contract):

* ``mini_xception``: :class:`~face_affect_ros.tools.mini_xception.MiniXception`, the shipped
  models' network (about 58k parameters for 7 classes).
* ``sequential_fcn``: :class:`SequentialFCN`, the paper's first, sequential fully-convolutional
  network (upstream ``simple_CNN``, 641,463 parameters for 7 classes).
"""

from __future__ import annotations

import hashlib
import os
from collections import OrderedDict
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import torch
from torch import nn

from face_affect_ros.tools.mini_xception import MiniXception, load_keras_hdf5

CHECKPOINT_FORMAT = "face_affect_ros.tools checkpoint v1"
"""Marker stored in every checkpoint; a file without it is not ours."""

SEQUENTIAL_FCN_STAGES: tuple[tuple[int, int], ...] = ((16, 7), (32, 5), (64, 3), (128, 3))
"""(filters, kernel) of the four conv-conv-pool stages of upstream ``simple_CNN``."""


class SequentialFCN(nn.Module):
    """The paper's sequential fully-convolutional network (upstream ``simple_CNN``), NCHW.

    Arriaga et al. describe it as "9 convolution layers, ReLUs, Batch Normalization and Global
    Average Pooling, approximately 600,000 parameters". Their code (``src/models/cnn.py::
    simple_CNN``) has four stages of ``conv - BN - conv - BN - ReLU - avgpool 2x2 - dropout 0.5``
    (16 7x7, 32 5x5, 64 3x3, 128 3x3 filters), then ``conv 3x3 256 - BN`` and a class-map
    ``conv 3x3 num_classes``, global average pooling and softmax: nine feature convolutions plus
    the class-map convolution, 639,991 conv parameters for 7 classes (plus 1,472 BN scales and
    shifts). This class follows the code (it is what produced the paper's numbers): no ReLU
    between the two convolutions of a stage nor after the 256-filter convolution, biases on every
    convolution (Keras' default), 'same' padding.

    Args:
        num_classes: outputs (7 for FER-2013, 2 for gender).
        in_channels: 1 for gray input.
        stages: (filters, kernel) per stage.
        top_filters: filters of the last feature convolution.
        dropout: dropout rate after each stage (upstream 0.5).
        bn_momentum: PyTorch BatchNorm momentum (Keras' 0.99 is PyTorch's 0.01).
        return_logits: return pre-softmax scores instead of probabilities.
    """

    def __init__(
        self,
        num_classes: int = 7,
        in_channels: int = 1,
        stages: Sequence[tuple[int, int]] = SEQUENTIAL_FCN_STAGES,
        top_filters: int = 256,
        dropout: float = 0.5,
        bn_momentum: float = 0.01,
        return_logits: bool = False,
    ) -> None:
        super().__init__()
        self.num_classes = num_classes
        self.in_channels = in_channels
        self.return_logits = return_logits
        blocks: OrderedDict[str, nn.Module] = OrderedDict()
        prev = in_channels
        for i, (filters, kernel) in enumerate(stages, start=1):
            pad = kernel // 2
            blocks[f"stage{i}"] = nn.Sequential(
                OrderedDict(
                    conv1=nn.Conv2d(prev, filters, kernel, padding=pad),
                    bn1=nn.BatchNorm2d(filters, eps=1e-3, momentum=bn_momentum),
                    conv2=nn.Conv2d(filters, filters, kernel, padding=pad),
                    bn2=nn.BatchNorm2d(filters, eps=1e-3, momentum=bn_momentum),
                    relu=nn.ReLU(),
                    # Keras AveragePooling2D(2, padding='same'): exact on even sizes; ceil_mode
                    # keeps the last row/column of odd sizes as Keras does.
                    pool=nn.AvgPool2d(2, ceil_mode=True),
                    dropout=nn.Dropout(dropout),
                )
            )
            prev = filters
        self.stages = nn.Sequential(blocks)
        self.top = nn.Sequential(
            OrderedDict(
                conv=nn.Conv2d(prev, top_filters, 3, padding=1),
                bn=nn.BatchNorm2d(top_filters, eps=1e-3, momentum=bn_momentum),
            )
        )
        self.classifier = nn.Conv2d(top_filters, num_classes, 3, padding=1)
        self.pool = nn.AdaptiveAvgPool2d(1)
        self.softmax = nn.Softmax(dim=1)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """Map ``[N, C, H, W]`` in [-1, 1] to ``[N, num_classes]`` probabilities (or logits)."""
        x = self.classifier(self.top(self.stages(x)))
        logits = torch.flatten(self.pool(x), 1)
        if self.return_logits:
            return logits
        return self.softmax(logits)


ARCHITECTURES: dict[str, type[nn.Module]] = {
    "mini_xception": MiniXception,
    "sequential_fcn": SequentialFCN,
}
"""Architecture names accepted by :func:`build_model` and stored in checkpoints."""


def build_model(arch: str, num_classes: int, **kwargs: Any) -> nn.Module:
    """Instantiate an architecture by name with freshly initialised weights."""
    if arch not in ARCHITECTURES:
        raise ValueError(f"unknown architecture {arch!r}; choose from {sorted(ARCHITECTURES)}")
    return ARCHITECTURES[arch](num_classes=num_classes, **kwargs)


def count_parameters(model: nn.Module) -> int:
    """Trainable parameters (weights, biases, BN scales and shifts; not BN running statistics)."""
    return sum(p.numel() for p in model.parameters() if p.requires_grad)


def set_bn_momentum(model: nn.Module, momentum: float) -> None:
    """Set the running-statistics momentum of every BatchNorm layer.

    The Keras-faithful 0.01 needs hundreds of steps before the running statistics describe the
    data; small datasets train with a larger value (PyTorch's default 0.1).
    """
    for module in model.modules():
        if isinstance(module, nn.modules.batchnorm._BatchNorm):
            module.momentum = momentum


# --------------------------------------------------------------------------------------------
# The last feature layer: what pruning acts on
# --------------------------------------------------------------------------------------------


@dataclass
class FeatureSite:
    """The feature maps the class-map convolution reads, and the layers that make them.

    ``producers`` are (conv, BN) pairs whose output channels ARE the feature maps (two for
    mini-Xception: the main branch and the shortcut of the last residual module are added, so a
    map is removed from both). ``consumer`` is the class-map convolution, followed directly by
    global average pooling in both architectures, which makes a bias change on it an exact
    change of the logits. ``names`` are the module paths, for reports.
    """

    producers: list[tuple[nn.Conv2d, nn.BatchNorm2d]]
    consumer: nn.Conv2d
    names: dict[str, list[str]] = field(default_factory=dict)

    @property
    def channels(self) -> int:
        """Number of feature maps (input channels of the class-map convolution)."""
        return int(self.consumer.in_channels)


def feature_site(model: nn.Module) -> FeatureSite:
    """Locate the last feature layer of a MiniXception or SequentialFCN.

    Raises:
        TypeError: for other models (the site must be known to rebuild a pruned model).
    """
    if isinstance(model, MiniXception):
        last = list(model.blocks.children())[-1]
        prefix = f"blocks.{list(model.blocks._modules)[-1]}"
        return FeatureSite(
            producers=[(last.sep2.pointwise, last.bn2), (last.shortcut.conv, last.shortcut.bn)],
            consumer=model.classifier,
            names={
                "producers": [
                    f"{prefix}.sep2.pointwise+{prefix}.bn2",
                    f"{prefix}.shortcut.conv+{prefix}.shortcut.bn",
                ],
                "consumer": ["classifier"],
                "maps": [f"{prefix} output (input of classifier)"],
            },
        )
    if isinstance(model, SequentialFCN):
        return FeatureSite(
            producers=[(model.top.conv, model.top.bn)],
            consumer=model.classifier,
            names={
                "producers": ["top.conv+top.bn"],
                "consumer": ["classifier"],
                "maps": ["top output (input of classifier)"],
            },
        )
    raise TypeError(f"no known feature site for {type(model).__name__}")


def _slice_conv_out(conv: nn.Conv2d, keep: torch.Tensor) -> nn.Conv2d:
    if conv.groups != 1:
        raise ValueError("cannot slice the output channels of a grouped convolution")
    new = nn.Conv2d(
        conv.in_channels,
        len(keep),
        conv.kernel_size,
        stride=conv.stride,
        padding=conv.padding,
        dilation=conv.dilation,
        bias=conv.bias is not None,
        padding_mode=conv.padding_mode,
    )
    with torch.no_grad():
        new.weight.copy_(conv.weight[keep])
        if conv.bias is not None:
            new.bias.copy_(conv.bias[keep])
    return new


def _slice_bn(bn: nn.BatchNorm2d, keep: torch.Tensor) -> nn.BatchNorm2d:
    new = nn.BatchNorm2d(len(keep), eps=bn.eps, momentum=bn.momentum)
    with torch.no_grad():
        new.weight.copy_(bn.weight[keep])
        new.bias.copy_(bn.bias[keep])
        new.running_mean.copy_(bn.running_mean[keep])
        new.running_var.copy_(bn.running_var[keep])
        new.num_batches_tracked.copy_(bn.num_batches_tracked)
    return new


def _replace(model: nn.Module, old: nn.Module, new: nn.Module) -> None:
    new.train(old.training)  # a fresh module is in training mode; keep the model's mode
    for parent in model.modules():
        for name, child in parent.named_children():
            if child is old:
                setattr(parent, name, new)
                return
    raise ValueError("module to replace not found in the model")


def keep_feature_maps(
    model: nn.Module,
    keep: Sequence[int],
    consumer_weight: torch.Tensor | None = None,
    consumer_bias: torch.Tensor | None = None,
) -> nn.Module:
    """Shrink the last feature layer to the maps ``keep`` (in place; returns the model).

    The producers lose the other output channels; the class-map convolution keeps only the
    matching input channels, taking ``consumer_weight`` (``[classes, len(keep), k, k]``) and
    ``consumer_bias`` if given (a pruner passes merged weights), else the sliced originals.
    """
    site = feature_site(model)
    idx = torch.as_tensor(list(keep), dtype=torch.long)
    if idx.numel() == 0:
        raise ValueError("cannot remove every feature map")
    if len(set(idx.tolist())) != idx.numel() or idx.min() < 0 or idx.max() >= site.channels:
        raise ValueError(f"keep must be distinct indices in 0..{site.channels - 1}")
    for conv, bn in site.producers:
        _replace(model, conv, _slice_conv_out(conv, idx))
        _replace(model, bn, _slice_bn(bn, idx))
    old = site.consumer
    new = nn.Conv2d(
        len(idx),
        old.out_channels,
        old.kernel_size,
        stride=old.stride,
        padding=old.padding,
        bias=old.bias is not None,
    )
    weight = old.weight[:, idx] if consumer_weight is None else consumer_weight
    bias = old.bias if consumer_bias is None else consumer_bias
    with torch.no_grad():
        new.weight.copy_(weight)
        if new.bias is not None and bias is not None:
            new.bias.copy_(bias)
    _replace(model, old, new)
    return model


# --------------------------------------------------------------------------------------------
# Checkpoints and loading any PyTorch classifier
# --------------------------------------------------------------------------------------------


@dataclass
class LoadedClassifier:
    """A PyTorch classifier with what a tool needs to export or explain it.

    ``source`` is a manifest-ready provenance record; ``kept_maps`` is set for pruned models.
    """

    model: nn.Module
    arch: str
    labels: tuple[str, ...]
    task: str
    input_size: int
    source: dict[str, Any]
    kept_maps: list[int] | None = None


def save_checkpoint(
    path: str | os.PathLike[str],
    model: nn.Module,
    arch: str,
    arch_kwargs: dict[str, Any],
    labels: Sequence[str],
    task: str,
    input_size: int,
    kept_maps: Sequence[int] | None = None,
    **extra: Any,
) -> None:
    """Write a checkpoint :func:`load_classifier` can rebuild (``extra``: training state).

    Only tensors, numbers, strings, lists and dicts, so it loads with ``weights_only=True``.
    Written to a temporary name and renamed, so an interrupted run never leaves a torn file.
    """
    data = {
        "format": CHECKPOINT_FORMAT,
        "arch": arch,
        "arch_kwargs": dict(arch_kwargs),
        "labels": list(labels),
        "task": task,
        "input_size": int(input_size),
        "kept_maps": None if kept_maps is None else [int(i) for i in kept_maps],
        "state_dict": model.state_dict(),
        **extra,
    }
    path = Path(path)
    tmp = path.with_name(path.name + ".tmp")
    torch.save(data, tmp)
    os.replace(tmp, path)


def read_checkpoint(path: str | os.PathLike[str]) -> dict[str, Any]:
    """Load a checkpoint dict safely (``weights_only=True``) and check its format marker."""
    data = torch.load(Path(path), map_location="cpu", weights_only=True)
    if not isinstance(data, dict) or data.get("format") != CHECKPOINT_FORMAT:
        raise ValueError(f"{path}: not a face_affect_ros.tools checkpoint")
    return data


def _file_sha256(path: Path) -> str:
    digest = hashlib.sha256()
    with path.open("rb") as handle:
        for chunk in iter(lambda: handle.read(1 << 20), b""):
            digest.update(chunk)
    return digest.hexdigest()


def load_classifier(
    path: str | os.PathLike[str], labels: Sequence[str] | None = None
) -> LoadedClassifier:
    """Load a PyTorch classifier from an upstream Keras HDF5 file or one of our checkpoints.

    HDF5 files recognised by sha256 as the shipped models' sources get their labels and task
    from :data:`face_affect_ros.tools.convert.CLASSIFIERS`; other HDF5 files need ``labels``
    (task: ``emotion`` for 7 classes, else ``gender``). The model is returned in eval mode.
    """
    from face_affect_ros.tools.convert import (
        CLASSIFIERS,
        FACE_CLASSIFICATION_COMMIT,
        FACE_CLASSIFICATION_REPO,
        INPUT_SIZE,
    )

    path = Path(path)
    if not path.is_file():
        raise FileNotFoundError(f"{path}: model file not found")
    if path.suffix.lower() in (".hdf5", ".h5"):
        model, info = load_keras_hdf5(path)
        digest = _file_sha256(path)
        spec = next((c for c in CLASSIFIERS if c.sha256 == digest), None)
        if spec is not None:
            names, task = spec.labels, spec.task
            source = {
                "repository": FACE_CLASSIFICATION_REPO,
                "commit": FACE_CLASSIFICATION_COMMIT,
                "file": spec.repo_path,
                "sha256": digest,
            }
        else:
            if labels is None:
                raise ValueError(f"{path}: unknown HDF5 file, pass its class labels")
            names = tuple(labels)
            task = "emotion" if len(names) == 7 else "gender"
            source = {"file": path.name, "sha256": digest}
        if labels is not None:
            names = tuple(labels)
        if len(names) != info.num_classes:
            raise ValueError(f"{path}: {info.num_classes} outputs but {len(names)} labels")
        return LoadedClassifier(model, "mini_xception", tuple(names), task, INPUT_SIZE, source)

    data = read_checkpoint(path)
    model = build_model(data["arch"], **data["arch_kwargs"])
    if data.get("kept_maps") is not None:
        keep_feature_maps(model, data["kept_maps"])
    model.load_state_dict(data["state_dict"])
    model.eval()
    names = tuple(labels) if labels is not None else tuple(data["labels"])
    source = {"checkpoint": path.name, "sha256": _file_sha256(path)}
    if "source" in data:
        source["trained"] = data["source"]
    return LoadedClassifier(
        model,
        data["arch"],
        names,
        data["task"],
        int(data["input_size"]),
        source,
        data.get("kept_maps"),
    )


def export_model(
    model: nn.Module,
    out: str | os.PathLike[str],
    name: str,
    task: str,
    labels: Sequence[str],
    source: dict[str, Any],
    regenerate: str,
    extra: dict[str, Any] | None = None,
    check_input: torch.Tensor | None = None,
    input_size: int = 64,
) -> tuple[Path, Path, float]:
    """Export a PyTorch classifier as ``out/<name>.onnx`` + ``out/<name>.json`` (manifest).

    Uses the converter's exporter and manifest builder, so a trained or pruned model loads in the
    nodes exactly like the shipped ones. If ``check_input`` (model input, ``[N, 1, S, S]``) is
    given, the ONNX file is run on it in onnxruntime and the max abs probability difference to
    PyTorch is returned (else NaN) and recorded. ``extra`` adds top-level manifest sections
    (``training``, ``pruning``): the runtime ignores keys it does not know.
    """
    import math

    import numpy as np

    from face_affect_ros.tools.convert import (
        export_onnx,
        gray_classifier_manifest,
        sha256_bytes,
        write_json,
    )
    from face_affect_ros.tools.inference import open_session

    model.eval()
    meta = {
        "labels": ",".join(labels),
        "source_sha256": str(source.get("sha256", source.get("dataset_sha256", ""))),
        "input_scale": repr(2.0 / 255.0),
        "input_offset": repr(-1.0),
    }
    doc = f"{type(model).__name__} ({task}) made by face_affect_ros.tools: {regenerate}"
    onnx_bytes = export_onnx(model, doc, meta, in_channels=1, input_size=input_size)
    diff = math.nan
    if check_input is not None:
        model.return_logits = False
        with torch.no_grad():
            want = model(check_input).numpy()
        got = open_session(onnx_bytes).run(["probabilities"], {"input": check_input.numpy()})[0]
        diff = float(np.abs(got - want).max())
    out = Path(out)
    out.mkdir(parents=True, exist_ok=True)
    onnx_path = out / f"{name}.onnx"
    onnx_path.write_bytes(onnx_bytes)
    manifest = gray_classifier_manifest(
        name=name,
        task=task,
        onnx_bytes=onnx_bytes,
        labels=labels,
        source=source,
        license_file=None,
        regenerate=regenerate,
        input_size=input_size,
    )
    for key, value in (extra or {}).items():
        manifest[key] = value
    if check_input is not None:
        manifest["export_check"] = {
            "onnx_vs_torch_max_abs_prob_diff": float(f"{diff:.2e}"),
            "samples": int(check_input.shape[0]),
        }
    manifest_path = out / f"{name}.json"
    write_json(manifest_path, manifest)
    if sha256_bytes(onnx_path.read_bytes()) != manifest["sha256"]:
        raise RuntimeError(f"{onnx_path}: written file does not match its manifest")
    return onnx_path, manifest_path, diff


def default_model_path(task: str = "emotion") -> Path:
    """Return the upstream HDF5 file of a shipped classifier (the tools' default model).

    The PyTorch tools (explain, prune) need weights, not ONNX; the shipped models' weights are
    the upstream Keras files, read exactly by :func:`load_keras_hdf5`.
    """
    from face_affect_ros.tools.convert import CLASSIFIERS, DEFAULT_UPSTREAM

    spec = next((c for c in CLASSIFIERS if c.task == task), None)
    if spec is None:
        raise ValueError(f"no shipped classifier for task {task!r}")
    return DEFAULT_UPSTREAM / spec.upstream
