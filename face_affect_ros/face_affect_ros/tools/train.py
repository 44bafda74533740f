r"""Train mini-Xception or the sequential FCN on FER-2013 or folders; export ONNX + manifest.

Why a trainer in this package: the shipped models are the paper's; a robot that needs other
classes, other faces (camera angle, lighting, age groups) or a cleaner label set must be able to
retrain with the same recipe and drop the result into the nodes by a parameter. The recipe
follows the upstream training scripts (``train_emotion_classifier.py``,
``train_gender_classifier.py``):

* Adam (learning rate 1e-3), batch 32, categorical cross-entropy;
* L2 0.01 on the two stem convolutions of mini-Xception (upstream passes ``l2(0.01)`` to all
  convolutions, but Keras 2.0.5 ignores ``kernel_regularizer`` on ``SeparableConv2D``: the
  stored HDF5 config shows it on the stem only);
* Glorot-uniform kernels and zero biases (Keras' defaults);
* augmentation: rotation +-10 deg, shifts +-10 %, zoom +-10 %, horizontal flip (emotion script),
  brightness and contrast (gender script), done batched in PyTorch (``affine_grid`` /
  ``grid_sample`` with border replication, Keras' ``fill_mode='nearest'``);
* reduce the learning rate by 10x when the validation loss has not improved for
  ``lr_patience`` epochs, stop after ``patience`` epochs without improvement, keep the
  best-validation-loss weights.

Outputs in ``--out``: ``train_log.csv`` (one row per epoch), ``last.pt`` (resumable),
``best.pt``, ``<name>.onnx`` and ``<name>.json`` (the runtime's manifest format: input
``[N, 1, 64, 64]`` float32, ``x = u8 * 2/255 - 1``; output ``probabilities`` softmax with the
labels). Point a node's model parameter at the JSON to use the model.

Deterministic for a seed and thread count: one ``torch.Generator`` drives shuffling, dropout is
seeded from it, and augmentation draws from it.

Usage (from the ament package directory)::

    python -m face_affect_ros.tools.train --data fer2013.csv --out runs/fer
    python -m face_affect_ros.tools.train --data imdb_crops/ --labels woman,man --task gender \
        --arch mini_xception --out runs/gender
"""

from __future__ import annotations

import argparse
import csv
import json
import logging
import math
import sys
import time
from collections.abc import Sequence
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import torch
from torch import nn
from torch.nn import functional as F  # noqa: N812 - PyTorch convention

from face_affect_ros.tools.datasets import (
    DEFAULT_SIZE,
    FER2013_LABELS,
    LabelledImages,
    dataset_fingerprint,
    is_fer_csv,
    load_fer2013_csv,
    load_image_folder,
    stratified_split,
)
from face_affect_ros.tools.mini_xception import MiniXception
from face_affect_ros.tools.models import (
    ARCHITECTURES,
    build_model,
    count_parameters,
    export_model,
    load_classifier,
    read_checkpoint,
    save_checkpoint,
    set_bn_momentum,
)

LOG = logging.getLogger(__name__)

GENDER_NAMES = {"woman", "man", "female", "male", "f", "m"}
LOG_COLUMNS = (
    "epoch",
    "train_loss",
    "train_accuracy",
    "val_loss",
    "val_accuracy",
    "lr",
    "seconds",
    "improved",
)


@dataclass
class AugmentConfig:
    """Random training transforms; zero / False disables one.

    Geometry as the upstream emotion script's ``ImageDataGenerator``; brightness and contrast
    factors are drawn from ``[1 - v, 1 + v]`` like the upstream gender generator (which used
    0.5; 0.25 is the default here because emotion cues are subtler than gender cues).
    """

    rotation_deg: float = 10.0
    shift: float = 0.1
    zoom: float = 0.1
    hflip: bool = True
    brightness: float = 0.25
    contrast: float = 0.25

    @property
    def enabled(self) -> bool:
        """True if any transform is on."""
        return bool(
            self.rotation_deg
            or self.shift
            or self.zoom
            or self.hflip
            or self.brightness
            or self.contrast
        )


def _uniform(n: int, spread: float, gen: torch.Generator) -> torch.Tensor:
    return (torch.rand(n, generator=gen) * 2 - 1) * spread


def augment_batch(x: torch.Tensor, cfg: AugmentConfig, gen: torch.Generator) -> torch.Tensor:
    """Randomly transform a batch of gray images ``[N, 1, H, W]`` with values in 0..255.

    One affine warp per image (rotation, isotropic zoom, shift, optional mirror; bilinear,
    borders replicated), then brightness (multiply) and contrast (scale around the image mean),
    clipped to 0..255. All random numbers come from ``gen``.
    """
    n = x.shape[0]
    angle = _uniform(n, math.radians(cfg.rotation_deg), gen)
    zoom = 1 + _uniform(n, cfg.zoom, gen)
    tx = _uniform(n, 2 * cfg.shift, gen)  # affine_grid coordinates span [-1, 1]
    ty = _uniform(n, 2 * cfg.shift, gen)
    flip = torch.ones(n)
    if cfg.hflip:
        flip = torch.where(torch.rand(n, generator=gen) < 0.5, -1.0, 1.0)
    brightness = 1 + _uniform(n, cfg.brightness, gen)
    contrast = 1 + _uniform(n, cfg.contrast, gen)
    if cfg.rotation_deg or cfg.zoom or cfg.shift or cfg.hflip:
        cos, sin = torch.cos(angle) * zoom, torch.sin(angle) * zoom
        theta = torch.stack(
            [
                torch.stack([cos * flip, -sin, tx], dim=1),
                torch.stack([sin * flip, cos, ty], dim=1),
            ],
            dim=1,
        )
        grid = F.affine_grid(theta, list(x.shape), align_corners=False)
        x = F.grid_sample(x, grid, mode="bilinear", padding_mode="border", align_corners=False)
    if cfg.brightness:
        x = x * brightness.view(n, 1, 1, 1)
    if cfg.contrast:
        mean = x.mean(dim=(1, 2, 3), keepdim=True)
        x = (x - mean) * contrast.view(n, 1, 1, 1) + mean
    return x.clamp(0.0, 255.0)


def normalise(x: torch.Tensor) -> torch.Tensor:
    """0..255 -> the manifests' model input ``x * 2/255 - 1`` (float32 arithmetic)."""
    return x * (2.0 / 255.0) - 1.0


def init_keras_style(model: nn.Module) -> None:
    """Glorot-uniform convolution kernels and zero biases, as a fresh Keras model has."""
    for module in model.modules():
        if isinstance(module, nn.Conv2d):
            nn.init.xavier_uniform_(module.weight)
            if module.bias is not None:
                nn.init.zeros_(module.bias)


def l2_parameters(model: nn.Module) -> list[nn.Parameter]:
    """Return the kernels upstream regularises with L2 0.01 (mini-Xception's stem only)."""
    if isinstance(model, MiniXception):
        return [model.stem.conv1.weight, model.stem.conv2.weight]
    return []


@dataclass
class TrainConfig:
    """Everything a training run depends on; stored in checkpoints and the manifest."""

    data: str
    out: str
    arch: str = "mini_xception"
    task: str | None = None
    labels: list[str] | None = None
    val_data: str | None = None
    test_data: str | None = None
    val_fraction: float = 0.2
    input_size: int = DEFAULT_SIZE
    epochs: int = 1000
    batch_size: int = 32
    lr: float = 1e-3
    patience: int = 50
    lr_patience: int = 12
    lr_factor: float = 0.1
    min_lr: float = 1e-6
    l2: float = 0.01
    bn_momentum: float = 0.1
    dropout: float = 0.5
    seed: int = 0
    threads: int = 1
    augment: AugmentConfig = field(default_factory=AugmentConfig)
    init: str | None = None
    resume: bool = False
    name: str | None = None
    progress: bool = True
    regenerate: str | None = None


@dataclass
class TrainResult:
    """What a run produced and how well it did (accuracies are fractions)."""

    out: Path
    onnx_path: Path
    manifest_path: Path
    best_epoch: int
    epochs_run: int
    best_val_loss: float
    best_val_accuracy: float
    test_accuracy: float | None
    onnx_max_abs_diff: float
    parameters: int
    history: list[dict[str, float]]


@dataclass
class _Splits:
    train: LabelledImages
    val: LabelledImages
    test: LabelledImages | None
    class_names: tuple[str, ...]


def load_splits(cfg: TrainConfig) -> _Splits:
    """Train / validation / test sets for a config.

    FER-2013: ``Training`` / ``PublicTest`` / ``PrivateTest`` (a stratified split of Training if
    the file has no PublicTest rows). Folders: ``val_data`` / ``test_data`` if given, else a
    stratified ``val_fraction`` of the training folder (seeded).
    """
    size = cfg.input_size
    if is_fer_csv(cfg.data):
        everything = load_fer2013_csv(cfg.data, usages=None, size=size)
        usage = _fer_usages(cfg.data)
        if usage.size == 0:  # no Usage column: everything is training data
            usage = np.full(len(everything), "Training", dtype=object)
        train = everything.subset(np.flatnonzero(usage == "Training"), f"{cfg.data} (Training)")
        val_idx = np.flatnonzero(usage == "PublicTest")
        test_idx = np.flatnonzero(usage == "PrivateTest")
        if len(train) == 0:
            raise ValueError(f"{cfg.data}: no Training rows")
        if len(val_idx):
            val = everything.subset(val_idx, f"{cfg.data} (PublicTest)")
        else:
            tr, va = stratified_split(train.labels, cfg.val_fraction, cfg.seed)
            train, val = train.subset(tr), train.subset(va, f"{cfg.data} (held-out Training)")
        test = everything.subset(test_idx, f"{cfg.data} (PrivateTest)") if len(test_idx) else None
        return _Splits(train, val, test, FER2013_LABELS)
    train = load_image_folder(cfg.data, cfg.labels, size)
    names = train.class_names
    if cfg.val_data:
        val = load_image_folder(cfg.val_data, names, size)
    else:
        tr, va = stratified_split(train.labels, cfg.val_fraction, cfg.seed)
        train, val = train.subset(tr), train.subset(va, f"{cfg.data} (held-out)")
    test = load_image_folder(cfg.test_data, names, size) if cfg.test_data else None
    return _Splits(train, val, test, names)


def _fer_usages(path: str) -> np.ndarray:
    with open(path, newline="", encoding="utf-8") as handle:
        reader = csv.DictReader(handle)
        if "Usage" not in (reader.fieldnames or ()):
            return np.array([], dtype=object)
        return np.array([row["Usage"] for row in reader], dtype=object)


def infer_task(class_names: Sequence[str], is_csv: bool) -> str:
    """Guess the manifest task from the class names (FER names -> emotion, sexes -> gender)."""
    lower = {n.lower() for n in class_names}
    if is_csv or lower <= set(FER2013_LABELS):
        return "emotion"
    if lower <= GENDER_NAMES:
        return "gender"
    raise ValueError(f"cannot tell the task from classes {sorted(lower)}; pass --task")


def _as_tensor(data: LabelledImages) -> tuple[torch.Tensor, torch.Tensor]:
    return torch.from_numpy(data.images).unsqueeze(1), torch.from_numpy(data.labels)


def evaluate_torch(
    model: nn.Module, images: torch.Tensor, labels: torch.Tensor, batch_size: int = 256
) -> tuple[float, float]:
    """Mean cross-entropy and accuracy of ``model`` (eval mode, logits) on uint8 images."""
    model.eval()
    total_loss, correct = 0.0, 0
    with torch.no_grad():
        for i in range(0, len(labels), batch_size):
            x = normalise(images[i : i + batch_size].float())
            y = labels[i : i + batch_size]
            logits = model(x)
            total_loss += float(F.cross_entropy(logits, y, reduction="sum"))
            correct += int((logits.argmax(1) == y).sum())
    n = max(len(labels), 1)
    return total_loss / n, correct / n


def _write_log_row(path: Path, row: dict[str, Any], header: bool) -> None:
    with path.open("a", newline="", encoding="utf-8") as handle:
        writer = csv.DictWriter(handle, fieldnames=LOG_COLUMNS)
        if header:
            writer.writeheader()
        writer.writerow(row)


def _progress(iterable: Any, enabled: bool, desc: str, total: int) -> Any:
    if not enabled:
        return iterable
    from tqdm import tqdm

    return tqdm(iterable, desc=desc, total=total, leave=False, dynamic_ncols=True)


def train(cfg: TrainConfig) -> TrainResult:
    """Run one training and export the best model; see the module docstring for the recipe."""
    if cfg.arch not in ARCHITECTURES:
        raise ValueError(f"unknown arch {cfg.arch!r}; choose from {sorted(ARCHITECTURES)}")
    out = Path(cfg.out)
    out.mkdir(parents=True, exist_ok=True)
    torch.set_num_threads(cfg.threads)
    torch.manual_seed(cfg.seed)
    gen = torch.Generator().manual_seed(cfg.seed)

    splits = load_splits(cfg)
    task = cfg.task or infer_task(splits.class_names, is_fer_csv(cfg.data))
    num_classes = len(splits.class_names)
    arch_kwargs: dict[str, Any] = {"num_classes": num_classes}
    if cfg.arch == "sequential_fcn":
        arch_kwargs["dropout"] = cfg.dropout
    model = build_model(cfg.arch, **arch_kwargs)
    init_keras_style(model)
    init_source: dict[str, Any] | None = None
    if cfg.init:
        loaded = load_classifier(cfg.init)
        if loaded.kept_maps is not None:
            raise ValueError(f"{cfg.init}: a pruned checkpoint cannot initialise a full model")
        if loaded.arch != cfg.arch or len(loaded.labels) != num_classes:
            raise ValueError(
                f"{cfg.init}: a {loaded.arch} with {len(loaded.labels)} classes cannot "
                f"initialise a {cfg.arch} with {num_classes}"
            )
        model.load_state_dict(loaded.model.state_dict())
        init_source = loaded.source
    set_bn_momentum(model, cfg.bn_momentum)
    model.return_logits = True

    optimizer = torch.optim.Adam(model.parameters(), lr=cfg.lr)
    scheduler = torch.optim.lr_scheduler.ReduceLROnPlateau(
        optimizer, mode="min", factor=cfg.lr_factor, patience=cfg.lr_patience, min_lr=cfg.min_lr
    )
    regularised = l2_parameters(model)

    train_x, train_y = _as_tensor(splits.train)
    val_x, val_y = _as_tensor(splits.val)
    log_path = out / "train_log.csv"
    ckpt_meta = {
        "arch": cfg.arch,
        "arch_kwargs": arch_kwargs,
        "labels": splits.class_names,
        "task": task,
        "input_size": cfg.input_size,
    }
    source = {
        "tool": "face_affect_ros.tools.train",
        "arch": cfg.arch,
        "dataset": Path(cfg.data).name,
        "dataset_sha256": dataset_fingerprint(cfg.data),
        "train_samples": len(splits.train),
        "val_samples": len(splits.val),
        "seed": cfg.seed,
        "init": init_source,
    }

    start_epoch, best_loss, best_acc, best_epoch, bad_epochs = 1, math.inf, 0.0, 0, 0
    history: list[dict[str, float]] = []
    if cfg.resume and (out / "last.pt").is_file():
        state = read_checkpoint(out / "last.pt")
        model.load_state_dict(state["state_dict"])
        optimizer.load_state_dict(state["optimizer"])
        scheduler.load_state_dict(state["scheduler"])
        gen.set_state(state["generator"])
        torch.set_rng_state(state["torch_rng"])
        start_epoch = int(state["epoch"]) + 1
        best_loss, best_acc = float(state["best_val_loss"]), float(state["best_val_accuracy"])
        best_epoch, bad_epochs = int(state["best_epoch"]), int(state["bad_epochs"])
        history = list(state["history"])
    elif log_path.exists():
        log_path.unlink()

    previous_deterministic = torch.are_deterministic_algorithms_enabled()
    torch.use_deterministic_algorithms(True)
    try:
        epoch = start_epoch - 1
        for epoch in range(start_epoch, cfg.epochs + 1):
            if bad_epochs >= cfg.patience:
                break
            tick = time.perf_counter()
            model.train()
            order = torch.randperm(len(train_y), generator=gen)
            n_batches = math.ceil(len(order) / cfg.batch_size)
            seen, loss_sum, correct = 0, 0.0, 0
            bar = _progress(range(n_batches), cfg.progress, f"epoch {epoch}", n_batches)
            for b in bar:
                idx = order[b * cfg.batch_size : (b + 1) * cfg.batch_size]
                x = train_x[idx].float()
                if cfg.augment.enabled:
                    x = augment_batch(x, cfg.augment, gen)
                x, y = normalise(x), train_y[idx]
                # Dropout draws from the global generator; reseed it from ours per batch so the
                # run depends on the seed only (and resumes exactly).
                torch.manual_seed(int(torch.randint(0, 2**31 - 1, (1,), generator=gen)))
                logits = model(x)
                loss = F.cross_entropy(logits, y)
                total = loss
                if cfg.l2 and regularised:
                    total = loss + cfg.l2 * sum((p * p).sum() for p in regularised)
                optimizer.zero_grad(set_to_none=True)
                total.backward()
                optimizer.step()
                seen += len(y)
                loss_sum += float(loss.detach()) * len(y)
                correct += int((logits.argmax(1) == y).sum())
                if cfg.progress and hasattr(bar, "set_postfix"):
                    bar.set_postfix(loss=f"{loss_sum / seen:.3f}", acc=f"{correct / seen:.3f}")
            val_loss, val_acc = evaluate_torch(model, val_x, val_y)
            lr = optimizer.param_groups[0]["lr"]
            scheduler.step(val_loss)
            improved = val_loss < best_loss
            if improved:
                best_loss, best_acc, best_epoch, bad_epochs = val_loss, val_acc, epoch, 0
            else:
                bad_epochs += 1
            row = {
                "epoch": epoch,
                "train_loss": round(loss_sum / seen, 6),
                "train_accuracy": round(correct / seen, 6),
                "val_loss": round(val_loss, 6),
                "val_accuracy": round(val_acc, 6),
                "lr": lr,
                "seconds": round(time.perf_counter() - tick, 3),
                "improved": int(improved),
            }
            history.append(row)
            _write_log_row(log_path, row, header=not log_path.exists())
            LOG.info(
                "epoch %d: loss %.4f acc %.3f | val loss %.4f acc %.3f | lr %g%s",
                epoch,
                row["train_loss"],
                row["train_accuracy"],
                val_loss,
                val_acc,
                lr,
                " *" if improved else "",
            )
            if improved:
                save_checkpoint(out / "best.pt", model, **ckpt_meta, epoch=epoch, source=source)
            save_checkpoint(
                out / "last.pt",
                model,
                **ckpt_meta,
                epoch=epoch,
                source=source,
                optimizer=optimizer.state_dict(),
                scheduler=scheduler.state_dict(),
                generator=gen.get_state(),
                torch_rng=torch.get_rng_state(),
                best_val_loss=best_loss,
                best_val_accuracy=best_acc,
                best_epoch=best_epoch,
                bad_epochs=bad_epochs,
                history=history,
                config=_config_dict(cfg),
            )
    finally:
        torch.use_deterministic_algorithms(previous_deterministic)

    if not (out / "best.pt").is_file():
        raise RuntimeError(f"{out}: no epoch was run (epochs={cfg.epochs}, resumed at {epoch})")
    best = load_classifier(out / "best.pt")
    test_acc = None
    if splits.test is not None:
        best.model.return_logits = True
        _, test_acc = evaluate_torch(best.model, *_as_tensor(splits.test))
    name = cfg.name or f"{task}_{cfg.arch}_trained"
    training = {
        "best_epoch": best_epoch,
        "epochs_run": len(history),
        "best_val_loss": round(best_loss, 6),
        "best_val_accuracy": round(best_acc, 6),
        "test_accuracy": None if test_acc is None else round(test_acc, 6),
        "config": _config_dict(cfg),
    }
    onnx_path, manifest_path, diff = export_model(
        best.model,
        out,
        name,
        task,
        splits.class_names,
        source,
        regenerate=cfg.regenerate or f"python -m face_affect_ros.tools.train --data {cfg.data}",
        extra={"training": training},
        check_input=normalise(val_x[:64].float()),
        input_size=cfg.input_size,
    )
    return TrainResult(
        out=out,
        onnx_path=onnx_path,
        manifest_path=manifest_path,
        best_epoch=best_epoch,
        epochs_run=len(history),
        best_val_loss=best_loss,
        best_val_accuracy=best_acc,
        test_accuracy=test_acc,
        onnx_max_abs_diff=diff,
        parameters=count_parameters(best.model),
        history=history,
    )


def _config_dict(cfg: TrainConfig) -> dict[str, Any]:
    data = asdict(cfg)
    data.pop("progress", None)
    data.pop("regenerate", None)
    return data


def build_parser() -> argparse.ArgumentParser:
    """Build the command line of :func:`main` (exposed for docs and tests)."""
    p = argparse.ArgumentParser(
        prog="face-affect-train",
        description=__doc__.split("\n\n")[0],
        formatter_class=argparse.ArgumentDefaultsHelpFormatter,
    )
    p.add_argument("--data", required=True, help="fer2013.csv or a folder root/<class>/*.png")
    p.add_argument("--out", required=True, help="output directory (log, checkpoints, model)")
    p.add_argument("--arch", default="mini_xception", choices=sorted(ARCHITECTURES))
    p.add_argument("--task", choices=("emotion", "gender"), help="manifest task (else guessed)")
    p.add_argument("--labels", help="comma-separated class order for folder datasets")
    p.add_argument("--val-data", help="validation folder (folders only; else --val-fraction)")
    p.add_argument("--test-data", help="test folder, evaluated once with the best weights")
    p.add_argument("--val-fraction", type=float, default=0.2)
    p.add_argument("--input-size", type=int, default=DEFAULT_SIZE)
    p.add_argument("--epochs", type=int, default=1000)
    p.add_argument("--batch-size", type=int, default=32)
    p.add_argument("--lr", type=float, default=1e-3)
    p.add_argument("--patience", type=int, default=50, help="early stopping (epochs)")
    p.add_argument("--lr-patience", type=int, default=12, help="LR reduction (epochs)")
    p.add_argument("--lr-factor", type=float, default=0.1)
    p.add_argument("--l2", type=float, default=0.01, help="L2 on mini-Xception's stem kernels")
    p.add_argument("--bn-momentum", type=float, default=0.1)
    p.add_argument("--dropout", type=float, default=0.5, help="sequential_fcn only")
    p.add_argument("--no-augment", action="store_true")
    p.add_argument("--rotation", type=float, default=10.0, help="degrees")
    p.add_argument("--shift", type=float, default=0.1, help="fraction of the image")
    p.add_argument("--zoom", type=float, default=0.1)
    p.add_argument("--no-flip", action="store_true")
    p.add_argument("--brightness", type=float, default=0.25)
    p.add_argument("--contrast", type=float, default=0.25)
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--threads", type=int, default=1, help="torch threads (results depend on it)")
    p.add_argument("--init", help="start from an upstream .hdf5 or a checkpoint (fine-tuning)")
    p.add_argument("--resume", action="store_true", help="continue from OUT/last.pt")
    p.add_argument("--name", help="model name (default <task>_<arch>_trained)")
    p.add_argument("--quiet", action="store_true", help="no progress bars or per-epoch lines")
    return p


def config_from_args(args: argparse.Namespace, argv_is_cli: bool = False) -> TrainConfig:
    """Turn parsed command-line arguments into a :class:`TrainConfig`."""
    augment = AugmentConfig(
        rotation_deg=args.rotation,
        shift=args.shift,
        zoom=args.zoom,
        hflip=not args.no_flip,
        brightness=args.brightness,
        contrast=args.contrast,
    )
    if args.no_augment:
        augment = AugmentConfig(0.0, 0.0, 0.0, False, 0.0, 0.0)
    return TrainConfig(
        data=args.data,
        out=args.out,
        arch=args.arch,
        task=args.task,
        labels=args.labels.split(",") if args.labels else None,
        val_data=args.val_data,
        test_data=args.test_data,
        val_fraction=args.val_fraction,
        input_size=args.input_size,
        epochs=args.epochs,
        batch_size=args.batch_size,
        lr=args.lr,
        patience=args.patience,
        lr_patience=args.lr_patience,
        lr_factor=args.lr_factor,
        l2=args.l2,
        bn_momentum=args.bn_momentum,
        dropout=args.dropout,
        seed=args.seed,
        threads=args.threads,
        augment=augment,
        init=args.init,
        resume=args.resume,
        name=args.name,
        progress=not args.quiet,
        regenerate=" ".join(["python -m face_affect_ros.tools.train", *sys.argv[1:]])
        if argv_is_cli
        else None,
    )


def main(argv: Sequence[str] | None = None) -> int:
    """Command-line entry point (``face-affect-train``)."""
    args = build_parser().parse_args(argv)
    logging.basicConfig(level=logging.WARNING if args.quiet else logging.INFO, format="%(message)s")
    result = train(config_from_args(args, argv_is_cli=argv is None))
    print(
        json.dumps(
            {
                "model": str(result.onnx_path),
                "manifest": str(result.manifest_path),
                "best_epoch": result.best_epoch,
                "epochs_run": result.epochs_run,
                "best_val_loss": round(result.best_val_loss, 4),
                "best_val_accuracy": round(result.best_val_accuracy, 4),
                "test_accuracy": result.test_accuracy,
                "parameters": result.parameters,
                "onnx_vs_torch_max_abs_diff": result.onnx_max_abs_diff,
            },
            indent=2,
        )
    )
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
