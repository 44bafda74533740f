r"""Guided back-propagation saliency (Springenberg et al. 2015), as in Figure 8 of the paper.

Why: Arriaga et al. use guided back-propagation to show which pixels drive a prediction (the
frown, teeth, eyebrows, widened eyes); it is the quickest check that a retrained model looks at
the face and not at the background, the hair or a watermark. Guided back-propagation is the
ordinary gradient of a class score with respect to the input, except that every ReLU passes
back only positive gradients, and only where its forward input was positive:

    R_in = (x_in > 0) * max(R_out, 0)

Here that rule is a backward hook on every ``nn.ReLU`` (the architectures use ReLU modules, not
``F.relu``, for this reason). The target is the pre-softmax score of a class, or the summed
activation of one channel of a named layer (to see what a feature map responds to).

Library use (the ROS nodes use :class:`SaliencyExplainer` at a low rate when the user enables
it; they import this module, and so torch, only then)::

    from face_affect_ros.tools.explain import saliency_for_crop
    sal = saliency_for_crop(model, gray_crop_uint8, class_index)   # float32 [64, 64]

Command line, writing a Figure 8-style grid (faces on top, their saliency below)::

    python -m face_affect_ros.tools.explain --out saliency.png             # shipped emotion model
    python -m face_affect_ros.tools.explain --model runs/fer/best.pt --images faces/ --all-classes
"""

from __future__ import annotations

import argparse
import contextlib
import os
from collections.abc import Callable, Iterator, Sequence
from pathlib import Path

import cv2
import numpy as np
import torch
from torch import nn

INPUT_SIZE = 64
Target = int | Callable[[torch.Tensor], torch.Tensor]


def _guided_relu_hook(
    module: nn.Module, grad_input: tuple[torch.Tensor | None, ...], grad_output: object
) -> tuple[torch.Tensor | None, ...]:
    # grad_input is already grad_output * (x > 0) (the ReLU's own backward); keep its positive part.
    return tuple(None if g is None else g.clamp(min=0.0) for g in grad_input)


@contextlib.contextmanager
def guided_relus(model: nn.Module) -> Iterator[int]:
    """Make every ``nn.ReLU`` of ``model`` back-propagate guidedly while the block runs.

    Yields the number of ReLUs hooked. In-place ReLUs are switched to out-of-place for the
    duration (backward hooks cannot see in-place inputs); everything is restored on exit.
    """
    handles = []
    inplace = []
    for module in model.modules():
        if isinstance(module, nn.ReLU):
            inplace.append((module, module.inplace))
            module.inplace = False
            handles.append(module.register_full_backward_hook(_guided_relu_hook))
    try:
        yield len(handles)
    finally:
        for handle in handles:
            handle.remove()
        for module, flag in inplace:
            module.inplace = flag


@contextlib.contextmanager
def _logits(model: nn.Module) -> Iterator[None]:
    has = hasattr(model, "return_logits")
    old = getattr(model, "return_logits", None)
    if has:
        model.return_logits = True
    try:
        yield
    finally:
        if has:
            model.return_logits = old


def guided_backprop(
    model: nn.Module,
    x: torch.Tensor,
    target: Target,
    layer: str | None = None,
    guided: bool = True,
) -> torch.Tensor:
    """Return d(target)/d(x) with guided ReLUs, same shape as ``x`` (``[N, C, H, W]``).

    Args:
        model: any module; put in eval mode for the call (BatchNorm uses running statistics, so
            the samples of a batch do not interact) and restored afterwards.
        x: model input.
        target: a class index (the pre-softmax score when the model has ``return_logits``,
            else its output column) or, with ``layer``, a channel index of that layer's output;
            or a callable mapping the output (or the layer's output) to a per-sample score.
        layer: dotted module name (``blocks.block4``, ``classifier``) whose output the target
            indexes, for feature-map saliency.
        guided: False gives the ordinary gradient (for comparison).
    """
    was_training = model.training
    model.eval()
    captured: dict[str, torch.Tensor] = {}
    handle = None
    if layer is not None:
        modules = dict(model.named_modules())
        if layer not in modules:
            names = [n for n in modules if n]
            raise ValueError(f"no layer {layer!r}; layers: {', '.join(names)}")
        handle = modules[layer].register_forward_hook(
            lambda _m, _i, out: captured.__setitem__("out", out)
        )
    x = x.detach().clone().requires_grad_(True)
    guard = guided_relus(model) if guided else contextlib.nullcontext()
    try:
        with torch.enable_grad(), guard, _logits(model):
            out = model(x)
            source = captured["out"] if layer is not None else out
            if callable(target):
                score = target(source)
            elif source.ndim == 4:
                score = source[:, target].sum(dim=(1, 2))
            else:
                score = source[:, target]
            (grad,) = torch.autograd.grad(score.sum(), x)
    finally:
        if handle is not None:
            handle.remove()
        model.train(was_training)
    return grad


def crop_to_input(crop: np.ndarray, size: int = INPUT_SIZE) -> torch.Tensor:
    """Turn a gray (or BGR) uint8 face crop into the ``[1, 1, size, size]`` model input.

    The manifests' contract: INTER_LINEAR resize, ``x = u8 * 2/255 - 1``.
    """
    if crop.dtype != np.uint8:
        raise ValueError(f"expected a uint8 crop, got {crop.dtype}")
    if crop.ndim == 3 and crop.shape[2] in (3, 4):
        crop = cv2.cvtColor(crop, cv2.COLOR_BGRA2GRAY if crop.shape[2] == 4 else cv2.COLOR_BGR2GRAY)
    if crop.ndim != 2 or crop.size == 0:
        raise ValueError(f"expected an HxW gray or HxWx3 BGR crop, got shape {crop.shape}")
    if crop.shape != (size, size):
        crop = cv2.resize(crop, (size, size), interpolation=cv2.INTER_LINEAR)
    x = crop.astype(np.float32) * np.float32(2.0 / 255.0) - np.float32(1.0)
    return torch.from_numpy(x)[None, None]


def saliency_for_crop(
    model: nn.Module, crop_uint8: np.ndarray, class_index: int, size: int = INPUT_SIZE
) -> np.ndarray:
    """Guided back-propagation saliency of one face crop for one class, ``float32 [size, size]``.

    ROS-free and self-contained so a node can call it on demand: the crop is preprocessed like
    the classifier's input, the model is left exactly as it was (no hooks, same mode). The
    result is the raw signed gradient at model resolution; :func:`saliency_to_uint8` makes an
    image of it, ``cv2.resize`` maps it back onto the crop.
    """
    with torch.inference_mode(False):
        grad = guided_backprop(model, crop_to_input(crop_uint8, size), int(class_index))
    return grad[0, 0].numpy().astype(np.float32)


def saliency_to_uint8(saliency: np.ndarray) -> np.ndarray:
    """Map a saliency to a displayable uint8 image (Keras-vis / upstream ``deprocess_image``).

    Zero-centred, scaled to standard deviation 0.1 around mid-grey, clipped: positive evidence
    is bright, none is grey. An all-zero saliency gives uniform grey.
    """
    s = saliency.astype(np.float64) - saliency.mean()
    s = s / (s.std() + 1e-5) * 0.1 + 0.5
    return np.clip(np.rint(s * 255.0), 0, 255).astype(np.uint8)


class SaliencyExplainer:
    """Saliency images of one emotion model, for the nodes' optional face_affect/saliency topic.

    Implements the nodes' ``Explainer`` interface (:mod:`face_affect_ros.nodes.publishers`):
    ``image(crop, emotion)`` returns a BGR image, the 64 px face crop (left) beside its guided
    back-propagation saliency for `emotion` (right). A grouped label set's emotion that the
    7-class model does not have is explained by the model's own top class.

    Raises:
        ValueError: `weights` is not an emotion model.
    """

    def __init__(self, weights: str | os.PathLike[str]) -> None:
        from face_affect_ros.tools import models

        self._loaded = models.load_classifier(weights)
        if self._loaded.task != "emotion":
            raise ValueError(
                f"saliency_model {weights} is a {self._loaded.task} model, not an emotion model"
            )

    def image(self, crop: np.ndarray, emotion: str) -> np.ndarray:
        """BGR image: the face crop beside its saliency for `emotion`, both input-size px."""
        labels, model, size = self._loaded.labels, self._loaded.model, self._loaded.input_size
        if emotion in labels:
            target = labels.index(emotion)
        else:
            with torch.no_grad():
                target = int(model(crop_to_input(crop, size)).argmax())
        face = cv2.resize(crop, (size, size), interpolation=cv2.INTER_AREA)
        sal = saliency_to_uint8(saliency_for_crop(model, crop, target, size))
        return cv2.cvtColor(np.hstack([face, sal]), cv2.COLOR_GRAY2BGR)


def _load_images(paths: Sequence[str]) -> tuple[list[np.ndarray], list[str]]:
    files: list[Path] = []
    for p in map(Path, paths):
        if p.is_dir():
            files += sorted(f for f in p.iterdir() if f.suffix.lower() in (".png", ".jpg", ".jpeg"))
        else:
            files.append(p)
    images, names = [], []
    for f in files:
        img = cv2.imread(str(f), cv2.IMREAD_GRAYSCALE)
        if img is None:
            raise ValueError(f"{f}: OpenCV cannot read this image")
        images.append(img)
        names.append(f.name)
    return images, names


def _resolve_class(value: str, labels: Sequence[str]) -> int | None:
    if value == "predicted":
        return None
    if value.isdigit():
        return int(value)
    lower = [label.lower() for label in labels]
    if value.lower() not in lower:
        raise ValueError(f"unknown class {value!r}; labels: {list(labels)}")
    return lower.index(value.lower())


def saliency_grid(
    model: nn.Module,
    crops: Sequence[np.ndarray],
    labels: Sequence[str],
    path: str | os.PathLike[str],
    class_value: str = "predicted",
    all_classes: bool = False,
    layer: str | None = None,
    channel: int | None = None,
    titles: Sequence[str] | None = None,
) -> Path:
    """Write a Figure 8-style PNG: one column per face, the face on top, saliency rows below.

    Rows: the class given by ``class_value`` (``predicted`` = the model's top class per face),
    or every class with ``all_classes``, or one feature map (``layer`` + ``channel``).
    """
    import matplotlib

    matplotlib.use("Agg")
    from matplotlib import pyplot as plt

    inputs = torch.cat([crop_to_input(c) for c in crops])
    model.eval()
    with torch.no_grad(), _logits(model):
        probs = torch.softmax(model(inputs), dim=1).numpy()
    rows: list[tuple[str, list[int] | None]] = []
    if layer is not None:
        if channel is None:
            raise ValueError("a layer target needs a channel")
        rows.append((f"{layer}[{channel}]", None))
    elif all_classes:
        rows += [(label, [i] * len(crops)) for i, label in enumerate(labels)]
    else:
        fixed = _resolve_class(class_value, labels)
        pred = probs.argmax(1).tolist()
        rows.append(
            (
                "predicted class" if fixed is None else labels[fixed],
                pred if fixed is None else [fixed] * len(crops),
            )
        )
    n = len(crops)
    fig, axes = plt.subplots(1 + len(rows), n, figsize=(1.4 * n, 1.5 * (1 + len(rows))), dpi=100)
    axes = np.asarray(axes).reshape(1 + len(rows), n)
    for j in range(n):
        top = int(probs[j].argmax())
        axes[0, j].imshow(
            cv2.resize(crops[j], (INPUT_SIZE, INPUT_SIZE)), cmap="gray", vmin=0, vmax=255
        )
        caption = f"{labels[top]} {probs[j, top]:.2f}"
        axes[0, j].set_title(caption if titles is None else f"{titles[j]}\n{caption}", fontsize=7)
    for r, (row_name, classes) in enumerate(rows, start=1):
        for j in range(n):
            if classes is None:
                grad = guided_backprop(model, inputs[j : j + 1], int(channel), layer=layer)
            else:
                grad = guided_backprop(model, inputs[j : j + 1], classes[j])
            axes[r, j].imshow(saliency_to_uint8(grad[0, 0].numpy()), cmap="gray", vmin=0, vmax=255)
            if classes is not None and row_name == "predicted class":
                axes[r, j].set_title(labels[classes[j]], fontsize=7)
        axes[r, 0].set_ylabel(row_name, fontsize=8)
    for ax in axes.ravel():
        ax.set_xticks([])
        ax.set_yticks([])
    fig.suptitle("Guided back-propagation", fontsize=9)
    fig.tight_layout()
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(path)
    plt.close(fig)
    return path


def build_parser() -> argparse.ArgumentParser:
    """Build the command line of :func:`main`."""
    p = argparse.ArgumentParser(
        prog="face-affect-explain",
        description=__doc__.split("\n\n")[0],
        formatter_class=argparse.ArgumentDefaultsHelpFormatter,
    )
    p.add_argument(
        "--model",
        type=Path,
        help="upstream .hdf5 or a training checkpoint .pt "
        "(default: the shipped emotion model's upstream HDF5)",
    )
    p.add_argument(
        "--images",
        nargs="*",
        help="face crop files or folders (default: real "
        "faces from scikit-image: LFW patches and the astronaut)",
    )
    p.add_argument("--count", type=int, default=8, help="faces to show from the default set")
    p.add_argument(
        "--class",
        dest="class_value",
        default="predicted",
        help="'predicted', a label name or an index",
    )
    p.add_argument("--all-classes", action="store_true", help="one saliency row per class")
    p.add_argument("--layer", help="explain a feature map of this layer (e.g. blocks.block4)")
    p.add_argument("--channel", type=int, help="channel of --layer")
    p.add_argument("--out", type=Path, default=Path("saliency.png"))
    return p


def main(argv: Sequence[str] | None = None) -> int:
    """Command-line entry point (``face-affect-explain``): write the saliency grid PNG."""
    from face_affect_ros.tools.models import default_model_path, load_classifier

    args = build_parser().parse_args(argv)
    torch.set_num_threads(1)
    loaded = load_classifier(args.model or default_model_path())
    if args.images:
        crops, names = _load_images(args.images)
    else:
        from face_affect_ros.tools.datasets import real_face_crops

        faces, tags = real_face_crops()
        pick = np.linspace(0, len(faces) - 1, args.count).round().astype(int)
        crops = [faces[i] for i in pick]
        names = ["astronaut" if "astronaut" in tags[i] else f"lfw {i}" for i in pick]
    if not crops:
        raise SystemExit("explain: no images")
    path = saliency_grid(
        loaded.model,
        crops,
        loaded.labels,
        args.out,
        class_value=args.class_value,
        all_classes=args.all_classes,
        layer=args.layer,
        channel=args.channel,
        titles=names,
    )
    print(f"wrote {path}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
