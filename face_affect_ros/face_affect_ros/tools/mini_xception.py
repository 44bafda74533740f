"""The mini-Xception of Arriaga et al. in PyTorch, and an exact loader for the Keras 2.0.5 weights.

Why one definition: the converter, the trainer, the pruner and the explainer (guided back-prop)
must all see the same network, otherwise a fine-tuned or pruned model would not be comparable to
the upstream one. Hence:

* every layer is a named submodule (``stem.conv1``, ``blocks.block2.sep1.depthwise``, ...), so a
  tool can address it by name (pruning masks, hooks);
* every ReLU is an ``nn.ReLU`` module, not ``F.relu``, so guided back-prop can hook it;
* ``return_logits`` switches between the softmax the upstream model ends with and the
  pre-softmax scores a loss function or an explanation wants.

The upstream network (``face_classification/src/models/cnn.py::mini_XCEPTION``) is, for an input
of ``[N, 1, 64, 64]`` in ``[-1, 1]``::

    conv3x3(8, valid) - BN - ReLU - conv3x3(8, valid) - BN - ReLU              -> 60x60
    4 x residual module with f = 16, 32, 64, 128:                               -> 30, 15, 8, 4
        main:     sepconv3x3(f, same) - BN - ReLU - sepconv3x3(f, same) - BN - maxpool3x3/2 same
        shortcut: conv1x1/2(f, same) - BN
        out = main + shortcut                                   (no ReLU after the addition)
    conv3x3(num_classes, same, with bias) - global average pooling - softmax

Only the max-pools need care: TensorFlow's 'same' padding with stride 2 on an even size pads one
row/column at the bottom/right only, which ``nn.MaxPool2d(padding=1)`` would put at the top/left
as well, shifting every window by one pixel. :class:`MaxPool2dSame` pads exactly like TensorFlow.
The 1x1 stride-2 shortcut convolution needs no padding for any input size ((ceil(n/2)-1)*2+1 <= n),
and the stride-1 3x3 'same' convolutions pad symmetrically by one, like ``padding=1``.
"""

from __future__ import annotations

import json
import math
from collections import OrderedDict
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

import h5py
import numpy as np
import torch
from torch import nn

DEFAULT_FILTERS: tuple[int, ...] = (16, 32, 64, 128)
"""Output channels of the four residual modules in the paper."""

KERAS_BN_EPSILON = 1e-3
"""Keras' BatchNormalization default; the loader overrides it with the value in the file."""


def tf_same_padding(size: int, kernel: int, stride: int) -> tuple[int, int]:
    """Return TensorFlow's (before, after) 'same' padding for one spatial dimension.

    TensorFlow puts the odd pixel of an uneven total padding after the data, which is why a
    symmetric PyTorch padding cannot reproduce it.
    """
    out = -(-size // stride)
    total = max((out - 1) * stride + kernel - size, 0)
    return total // 2, total - total // 2


class _OnnxMaxPoolSame(torch.autograd.Function):
    """Export hook: one ONNX ``MaxPool`` with TensorFlow's asymmetric ``pads`` attribute.

    Tracing ``nn.functional.pad`` emits a dozen shape-arithmetic nodes per pool that the
    exporter cannot constant-fold; ONNX ``MaxPool`` takes asymmetric pads directly (padded cells
    never win the max), which is the same operation in one node.
    """

    @staticmethod
    def forward(
        ctx: object, x: torch.Tensor, kernel: int, stride: int, pads: tuple[int, int, int, int]
    ) -> torch.Tensor:
        top, left, bottom, right = pads
        x = nn.functional.pad(x, (left, right, top, bottom), value=-math.inf)
        return nn.functional.max_pool2d(x, kernel, stride)

    @staticmethod
    def symbolic(
        g: object, x: object, kernel: int, stride: int, pads: tuple[int, int, int, int]
    ) -> object:
        return g.op(
            "MaxPool",
            x,
            kernel_shape_i=[kernel, kernel],  # type: ignore[attr-defined]
            strides_i=[stride, stride],
            pads_i=list(pads),
        )


class MaxPool2dSame(nn.Module):
    """Max-pooling with TensorFlow/Keras 'same' padding (padded cells never win the max).

    The padding is computed from the input size at call time, so the module works for any input
    size in eager mode. An ONNX export fixes it for the traced input size (the shipped models
    have fixed 64x64 inputs and only a dynamic batch).
    """

    def __init__(self, kernel_size: int = 3, stride: int = 2) -> None:
        super().__init__()
        self.kernel_size = kernel_size
        self.stride = stride
        self.pool = nn.MaxPool2d(kernel_size, stride)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """Pad like TensorFlow with -inf, then pool without padding."""
        top, bottom = tf_same_padding(int(x.shape[-2]), self.kernel_size, self.stride)
        left, right = tf_same_padding(int(x.shape[-1]), self.kernel_size, self.stride)
        if torch.onnx.is_in_onnx_export():
            return _OnnxMaxPoolSame.apply(
                x, self.kernel_size, self.stride, (top, left, bottom, right)
            )
        if top or bottom or left or right:
            x = nn.functional.pad(x, (left, right, top, bottom), value=-math.inf)
        return self.pool(x)

    def extra_repr(self) -> str:
        """Show the pooling geometry in ``print(model)``."""
        return f"kernel_size={self.kernel_size}, stride={self.stride}, padding='same' (TF)"


class SeparableConv2d(nn.Module):
    """Keras ``SeparableConv2D`` (depth multiplier 1): depthwise 3x3, then pointwise 1x1.

    Two named convolutions instead of one fused op so pruning can act on the pointwise channels.
    """

    def __init__(
        self, in_channels: int, out_channels: int, kernel_size: int = 3, bias: bool = False
    ) -> None:
        super().__init__()
        self.depthwise = nn.Conv2d(
            in_channels,
            in_channels,
            kernel_size,
            padding=kernel_size // 2,
            groups=in_channels,
            bias=False,
        )
        self.pointwise = nn.Conv2d(in_channels, out_channels, 1, bias=bias)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """Depthwise then pointwise, as Keras does (any bias is added after the pointwise)."""
        return self.pointwise(self.depthwise(x))


def _bn(channels: int, eps: float) -> nn.BatchNorm2d:
    # Keras momentum 0.99 (weight of the old running value) is PyTorch momentum 0.01.
    return nn.BatchNorm2d(channels, eps=eps, momentum=0.01)


class ResidualModule(nn.Module):
    """One mini-Xception residual module: two separable convs + max-pool, 1x1/2 conv shortcut."""

    def __init__(
        self, in_channels: int, out_channels: int, bn_eps: float = KERAS_BN_EPSILON
    ) -> None:
        super().__init__()
        self.sep1 = SeparableConv2d(in_channels, out_channels)
        self.bn1 = _bn(out_channels, bn_eps)
        self.relu = nn.ReLU()
        self.sep2 = SeparableConv2d(out_channels, out_channels)
        self.bn2 = _bn(out_channels, bn_eps)
        self.pool = MaxPool2dSame(3, 2)
        self.shortcut = nn.Sequential(
            OrderedDict(
                conv=nn.Conv2d(in_channels, out_channels, 1, stride=2, bias=False),
                bn=_bn(out_channels, bn_eps),
            )
        )

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """Add the main branch and the shortcut; upstream has no activation after the sum."""
        y = self.pool(self.bn2(self.sep2(self.relu(self.bn1(self.sep1(x))))))
        return y + self.shortcut(x)


class MiniXception(nn.Module):
    """mini-Xception (Arriaga, Valdenegro-Toro, Ploeger 2017), NCHW.

    Args:
        num_classes: outputs of the last convolution (7 for FER-2013 emotion, 2 for gender).
        in_channels: 1 for the upstream grayscale models.
        filters: output channels of the residual modules.
        stem_filters: output channels of the two plain 3x3 convolutions.
        bn_eps: BatchNorm epsilon (Keras default 1e-3, not PyTorch's 1e-5).
        return_logits: return the pre-softmax scores (global average of the last conv) instead of
            probabilities. A plain attribute, so a tool can flip it on a loaded model.
    """

    def __init__(
        self,
        num_classes: int = 7,
        in_channels: int = 1,
        filters: Sequence[int] = DEFAULT_FILTERS,
        stem_filters: int = 8,
        bn_eps: float = KERAS_BN_EPSILON,
        return_logits: bool = False,
    ) -> None:
        super().__init__()
        self.num_classes = num_classes
        self.in_channels = in_channels
        self.filters = tuple(filters)
        self.return_logits = return_logits
        self.stem = nn.Sequential(
            OrderedDict(
                conv1=nn.Conv2d(in_channels, stem_filters, 3, bias=False),
                bn1=_bn(stem_filters, bn_eps),
                relu1=nn.ReLU(),
                conv2=nn.Conv2d(stem_filters, stem_filters, 3, bias=False),
                bn2=_bn(stem_filters, bn_eps),
                relu2=nn.ReLU(),
            )
        )
        blocks: OrderedDict[str, nn.Module] = OrderedDict()
        prev = stem_filters
        for i, f in enumerate(self.filters, start=1):
            blocks[f"block{i}"] = ResidualModule(prev, f, bn_eps)
            prev = f
        self.blocks = nn.Sequential(blocks)
        self.classifier = nn.Conv2d(prev, num_classes, 3, padding=1, bias=True)
        self.pool = nn.AdaptiveAvgPool2d(1)
        self.softmax = nn.Softmax(dim=1)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """Map ``[N, C, H, W]`` in [-1, 1] to ``[N, num_classes]`` probabilities (or logits)."""
        x = self.classifier(self.blocks(self.stem(x)))
        logits = torch.flatten(self.pool(x), 1)
        if self.return_logits:
            return logits
        return self.softmax(logits)


# --------------------------------------------------------------------------------------------
# Keras 2.0.5 HDF5 loader
# --------------------------------------------------------------------------------------------


class KerasWeightsError(ValueError):
    """The HDF5 file is not the mini-Xception this module defines; the message says why."""


@dataclass(frozen=True)
class KerasModelInfo:
    """What the loader read from the HDF5 file, for manifests and reports."""

    path: str
    keras_version: str
    backend: str
    input_shape: tuple[int | None, ...]
    num_classes: int
    in_channels: int
    filters: tuple[int, ...]
    bn_epsilon: float
    stored_values: int
    layer_count: int


@dataclass
class _Layer:
    name: str
    cls: str
    config: dict
    inbound: list[str]


def _attr_str(value: object) -> str:
    return value.decode("utf-8") if isinstance(value, bytes) else str(value)


def read_keras_config(path: str | Path) -> dict:
    """Return the ``model_config`` JSON of a Keras HDF5 file (layer order, padding, use_bias)."""
    with h5py.File(path, "r") as h5:
        if "model_config" not in h5.attrs:
            raise KerasWeightsError(f"{path}: no 'model_config' attribute (weights-only file?)")
        return json.loads(_attr_str(h5.attrs["model_config"]))


def _parse_layers(config: dict, path: str | Path) -> tuple[dict[str, _Layer], list[str]]:
    if config.get("class_name") not in ("Model", "Functional"):
        raise KerasWeightsError(
            f"{path}: expected a functional Model, got {config.get('class_name')}"
        )
    layers: dict[str, _Layer] = {}
    order: list[str] = []
    for raw in config["config"]["layers"]:
        inbound: list[str] = []
        nodes = raw.get("inbound_nodes") or []
        if len(nodes) > 1:
            raise KerasWeightsError(f"{path}: layer {raw['name']} is shared, not supported")
        for node in nodes:
            inbound.extend(str(item[0]) for item in node)
        layers[raw["name"]] = _Layer(raw["name"], raw["class_name"], raw["config"], inbound)
        order.append(raw["name"])
    return layers, order


class _Walker:
    """Follow the Keras graph from the input and check every layer against the paper's design."""

    def __init__(self, layers: dict[str, _Layer], path: str | Path) -> None:
        self.layers = layers
        self.path = path
        self.consumers: dict[str, list[str]] = {name: [] for name in layers}
        for layer in layers.values():
            for src in layer.inbound:
                self.consumers[src].append(layer.name)

    def fail(self, msg: str) -> KerasWeightsError:
        return KerasWeightsError(f"{self.path}: {msg}")

    def next(self, name: str, cls: str) -> _Layer:
        found = [c for c in self.consumers[name] if self.layers[c].cls == cls]
        if len(found) != 1:
            raise self.fail(f"expected one {cls} after {name}, found {found}")
        return self.layers[found[0]]

    def expect(self, layer: _Layer, **expected: object) -> None:
        for key, want in expected.items():
            got = layer.config.get(key)
            if isinstance(got, list):
                got = tuple(got)
            if got != want:
                raise self.fail(f"layer {layer.name}: {key}={got!r}, expected {want!r}")

    def conv(
        self, src: str, cls: str, kernel: int, stride: int, padding: str, use_bias: bool
    ) -> _Layer:
        layer = self.next(src, cls)
        self.expect(
            layer,
            kernel_size=(kernel, kernel),
            strides=(stride, stride),
            padding=padding,
            use_bias=use_bias,
            activation="linear",
        )
        if layer.config.get("data_format", "channels_last") != "channels_last":
            raise self.fail(f"layer {layer.name}: only channels_last is supported")
        if tuple(layer.config.get("dilation_rate", (1, 1))) != (1, 1):
            raise self.fail(f"layer {layer.name}: dilation is not supported")
        if cls == "SeparableConv2D":
            self.expect(layer, depth_multiplier=1)
        return layer

    def bn(self, src: str) -> _Layer:
        layer = self.next(src, "BatchNormalization")
        self.expect(layer, center=True, scale=True)
        if layer.config.get("axis") not in (-1, 3, [3]):
            raise self.fail(f"layer {layer.name}: BN axis {layer.config.get('axis')} != channels")
        return layer

    def act(self, src: str, activation: str) -> _Layer:
        layer = self.next(src, "Activation")
        self.expect(layer, activation=activation)
        return layer


def _read_weights(group: h5py.Group, layer: str, path: str | Path) -> dict[str, np.ndarray]:
    if layer not in group:
        raise KerasWeightsError(f"{path}: no weights stored for layer {layer}")
    g = group[layer]
    out: dict[str, np.ndarray] = {}
    # The stored names differ between files ('conv2d_1/conv2d_1_1/kernel:0' in the emotion file,
    # 'conv2d_1/conv2d_1/kernel:0' in the gender file), so key on the last component only.
    for full in g.attrs["weight_names"]:
        full = _attr_str(full)
        key = full.rsplit("/", 1)[-1].split(":", 1)[0]
        out[key] = np.asarray(g[full], dtype=np.float32)
    return out


def _copy(param: torch.Tensor, value: np.ndarray, what: str, path: str | Path) -> int:
    if tuple(param.shape) != value.shape:
        raise KerasWeightsError(
            f"{path}: {what}: shape {value.shape} does not fit {tuple(param.shape)}"
        )
    with torch.no_grad():
        param.copy_(torch.from_numpy(np.ascontiguousarray(value)))
    return value.size


def _conv_kernel(k: np.ndarray) -> np.ndarray:
    """Keras (kh, kw, in, out) -> PyTorch (out, in, kh, kw); both are cross-correlations."""
    return k.transpose(3, 2, 0, 1)


def _depthwise_kernel(k: np.ndarray) -> np.ndarray:
    """Keras depthwise (kh, kw, in, 1) -> PyTorch grouped conv (in, 1, kh, kw)."""
    return k.transpose(2, 3, 0, 1)


def load_keras_hdf5(
    path: str | Path, return_logits: bool = False
) -> tuple[MiniXception, KerasModelInfo]:
    """Build a :class:`MiniXception` from a Keras 2.0.5 HDF5 file and copy its weights exactly.

    The layer wiring, padding, ``use_bias`` and BN epsilon are read from the file's
    ``model_config`` (Keras numbers its BN layers in creation order, which is not graph order, so
    the graph is walked rather than the names trusted). Every stored value must be used exactly
    once; anything unexpected raises :class:`KerasWeightsError`. The model is returned in
    ``eval()`` mode.
    """
    path = Path(path)
    with h5py.File(path, "r") as h5:
        keras_version = _attr_str(h5.attrs.get("keras_version", "unknown"))
        backend = _attr_str(h5.attrs.get("backend", "unknown"))
        if "model_config" not in h5.attrs:
            raise KerasWeightsError(f"{path}: no 'model_config' attribute (weights-only file?)")
        config = json.loads(_attr_str(h5.attrs["model_config"]))
        layers, order = _parse_layers(config, path)
        walk = _Walker(layers, path)

        inputs = [layers[n] for n in order if layers[n].cls == "InputLayer"]
        if len(inputs) != 1:
            raise walk.fail(f"expected one input layer, found {len(inputs)}")
        input_shape = tuple(inputs[0].config["batch_input_shape"])
        if len(input_shape) != 4:
            raise walk.fail(f"expected an image input, got shape {input_shape}")

        # (keras layer, dotted name of the torch module) in graph order.
        plan: list[tuple[_Layer, str]] = []
        c1 = walk.conv(inputs[0].name, "Conv2D", 3, 1, "valid", False)
        b1 = walk.bn(c1.name)
        a1 = walk.act(b1.name, "relu")
        c2 = walk.conv(a1.name, "Conv2D", 3, 1, "valid", False)
        b2 = walk.bn(c2.name)
        a2 = walk.act(b2.name, "relu")
        plan += [(c1, "stem.conv1"), (b1, "stem.bn1"), (c2, "stem.conv2"), (b2, "stem.bn2")]

        filters: list[int] = []
        cur = a2.name
        while any(layers[c].cls == "SeparableConv2D" for c in walk.consumers[cur]):
            i = len(filters) + 1
            s1 = walk.conv(cur, "SeparableConv2D", 3, 1, "same", False)
            sb1 = walk.bn(s1.name)
            sa = walk.act(sb1.name, "relu")
            s2 = walk.conv(sa.name, "SeparableConv2D", 3, 1, "same", False)
            sb2 = walk.bn(s2.name)
            mp = walk.next(sb2.name, "MaxPooling2D")
            walk.expect(mp, pool_size=(3, 3), strides=(2, 2), padding="same")
            add = walk.next(mp.name, "Add")
            sc = walk.conv(cur, "Conv2D", 1, 2, "same", False)
            scb = walk.bn(sc.name)
            if sorted(add.inbound) != sorted([mp.name, scb.name]):
                raise walk.fail(f"{add.name} adds {add.inbound}, expected {mp.name} + {scb.name}")
            f = int(s1.config["filters"])
            if int(s2.config["filters"]) != f or int(sc.config["filters"]) != f:
                raise walk.fail(f"residual module {i}: filters differ between branches")
            filters.append(f)
            p = f"blocks.block{i}"
            plan += [
                (s1, f"{p}.sep1"),
                (sb1, f"{p}.bn1"),
                (s2, f"{p}.sep2"),
                (sb2, f"{p}.bn2"),
                (sc, f"{p}.shortcut.conv"),
                (scb, f"{p}.shortcut.bn"),
            ]
            cur = add.name

        head = walk.conv(cur, "Conv2D", 3, 1, "same", True)
        gap = walk.next(head.name, "GlobalAveragePooling2D")
        walk.act(gap.name, "softmax")
        plan.append((head, "classifier"))

        eps = {
            float(layer.config.get("epsilon", KERAS_BN_EPSILON))
            for layer, _ in plan
            if layer.cls == "BatchNormalization"
        }
        if len(eps) != 1:
            raise walk.fail(f"BN epsilons differ between layers: {sorted(eps)}")
        bn_eps = eps.pop()

        model = MiniXception(
            num_classes=int(head.config["filters"]),
            in_channels=int(input_shape[-1]),
            filters=filters,
            stem_filters=int(c1.config["filters"]),
            bn_eps=bn_eps,
            return_logits=return_logits,
        )
        modules = dict(model.named_modules())

        weights = h5["model_weights"]
        stored = 0

        def count(obj: h5py.HLObject) -> None:
            nonlocal stored
            if isinstance(obj, h5py.Dataset):
                stored += obj.size

        weights.visititems(lambda _name, obj: count(obj))

        used = 0
        for layer, target in plan:
            w = _read_weights(weights, layer.name, path)
            mod = modules[target]
            where = f"{layer.name} -> {target}"
            expected_keys: set[str]
            if layer.cls == "Conv2D":
                expected_keys = {"kernel", "bias"} if layer.config["use_bias"] else {"kernel"}
                used += _copy(mod.weight, _conv_kernel(w.get("kernel", np.empty(0))), where, path)
                if layer.config["use_bias"]:
                    used += _copy(mod.bias, w.get("bias", np.empty(0)), where, path)
            elif layer.cls == "SeparableConv2D":
                expected_keys = {"depthwise_kernel", "pointwise_kernel"}
                used += _copy(
                    mod.depthwise.weight,
                    _depthwise_kernel(w.get("depthwise_kernel", np.empty(0))),
                    where,
                    path,
                )
                used += _copy(
                    mod.pointwise.weight,
                    _conv_kernel(w.get("pointwise_kernel", np.empty(0))),
                    where,
                    path,
                )
            else:  # BatchNormalization
                expected_keys = {"gamma", "beta", "moving_mean", "moving_variance"}
                for key, param in (
                    ("gamma", mod.weight),
                    ("beta", mod.bias),
                    ("moving_mean", mod.running_mean),
                    ("moving_variance", mod.running_var),
                ):
                    used += _copy(param, w.get(key, np.empty(0)), f"{where}.{key}", path)
            if set(w) != expected_keys:
                raise walk.fail(
                    f"layer {layer.name}: stored {sorted(w)}, expected {sorted(expected_keys)}"
                )

        weighted = {n for n in order if n in weights and len(weights[n].attrs["weight_names"])}
        unused = weighted - {layer.name for layer, _ in plan}
        if unused or used != stored:
            raise walk.fail(
                f"used {used} of {stored} stored values; unused layers {sorted(unused)}"
            )

    model.eval()
    info = KerasModelInfo(
        path=str(path),
        keras_version=keras_version,
        backend=backend,
        input_shape=input_shape,
        num_classes=model.num_classes,
        in_channels=model.in_channels,
        filters=tuple(filters),
        bn_epsilon=bn_eps,
        stored_values=stored,
        layer_count=len(order),
    )
    return model, info
