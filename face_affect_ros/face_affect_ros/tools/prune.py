"""Prune the last feature layer by distinctiveness (Gedeon & Harris; Narayan & Ge).

Why this method and this layer: distinctiveness pruning needs no retraining. A feature map whose
activation pattern over a dataset points in (nearly) the same direction as another map's adds
nothing the other does not already say; it can be merged into its twin by adding its outgoing
weights to the twin's. Two maps pointing in opposite directions cancel each other out and can
both go.

The layer is the input of the class-map convolution: mini-Xception's last residual module output
(``blocks.block4``: main branch + shortcut, 128 maps at 4x4) and the sequential FCN's 256-map
``top`` convolution. Not the class-map convolution itself: its 7 output maps ARE the classes,
removing one removes an emotion. Its input is the last layer whose maps are free features, and
its consumer is a linear convolution followed directly by global average pooling, so (1)
merging by adding weights is exact whenever two maps are equal, and (2) the expected effect of
a removed map is a constant per class that can be moved into the class-map bias exactly. In
mini-Xception the map is the sum of two branches, so a pruned map is cut from both (the pointwise
convolution + BN of the main branch and the 1x1 shortcut convolution + BN).

Procedure (defaults in brackets):

1. run real face crops through the model; per sample and map, average the map spatially ->
   activation matrix ``A [samples, maps]``;
2. normalise every map's column to [-0.5, 0.5] (min-max over samples, then -0.5);
3. angle between every pair of columns, in degrees (0..180);
4. greedily, most extreme pair first: angle < threshold [10 deg] -> merge the second map into
   the first (class-map weights added); angle > 180 - threshold -> remove both, adding their
   mean contribution to the class-map bias (a complementary pair's joint effect is a constant);
   maps that are constant over the data are removed the same way.

Faces: the 100 LFW patches of scikit-image and the astronaut (the fixture's crops) plus their
mirror images; the even-indexed half computes the angles, the odd half measures agreement (so
agreement is not measured on the data that chose the pruning). Reports maps pruned, parameters,
onnxruntime speed and agreement (and accuracy with ``--data``), a threshold sweep PNG, and the
pruned ONNX + manifest + checkpoint. Usage::

    python -m face_affect_ros.tools.prune --out pruned/          # shipped emotion model, 10 deg
    python -m face_affect_ros.tools.prune --model runs/fer/best.pt --threshold 15 --out pruned/
"""

from __future__ import annotations

import argparse
import copy
import json
import math
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import torch
from torch import nn
from torch.nn import functional as F  # noqa: N812 - PyTorch convention

from face_affect_ros.tools.models import feature_site, keep_feature_maps

DEFAULT_THRESHOLD = 10.0
SWEEP_THRESHOLDS: tuple[float, ...] = (0, 2, 5, 10, 15, 20, 25, 30, 40, 50, 60, 75, 90)


def collect_activations(
    model: nn.Module, inputs: torch.Tensor, batch_size: int = 128
) -> tuple[np.ndarray, np.ndarray]:
    """Run ``inputs`` and capture the feature maps the class-map convolution reads.

    Returns ``A [samples, maps]`` (each map averaged over its spatial positions) and the mean
    map over samples ``[maps, H, W]`` (for bias compensation), both float64.
    """
    site = feature_site(model)
    grabbed: list[torch.Tensor] = []
    handle = site.consumer.register_forward_pre_hook(lambda _m, args: grabbed.append(args[0]))
    model.eval()
    try:
        with torch.no_grad():
            for i in range(0, len(inputs), batch_size):
                model(inputs[i : i + batch_size])
    finally:
        handle.remove()
    maps = torch.cat(grabbed).double()
    return maps.mean(dim=(2, 3)).numpy(), maps.mean(dim=0).numpy()


def normalise_activations(a: np.ndarray, eps: float = 1e-9) -> tuple[np.ndarray, np.ndarray]:
    """Min-max normalise every column to [-0.5, 0.5]; return it and a mask of constant columns.

    Gedeon & Harris centre sigmoid outputs ([0, 1]) on 0.5; for unbounded feature maps the
    per-map range is mapped onto the same interval, so the angle measures the shape of a map's
    response over the data, not its scale or offset. A column whose range is below ``eps``
    times the largest range carries no information (its normalised values are set to 0).
    """
    a = np.asarray(a, dtype=np.float64)
    low, high = a.min(axis=0), a.max(axis=0)
    span = high - low
    constant = span <= eps * max(float(span.max(initial=0.0)), 1e-300)
    safe = np.where(constant, 1.0, span)
    n = (a - low) / safe - 0.5
    n[:, constant] = 0.0
    return n, constant


def pairwise_angles(normalised: np.ndarray) -> np.ndarray:
    """Angles in degrees between all column pairs ``[maps, maps]`` (NaN for zero vectors)."""
    norms = np.linalg.norm(normalised, axis=0)
    with np.errstate(invalid="ignore", divide="ignore"):
        cos = (normalised.T @ normalised) / np.outer(norms, norms)
    angles = np.degrees(np.arccos(np.clip(cos, -1.0, 1.0)))
    zero = norms == 0
    angles[zero, :] = np.nan
    angles[:, zero] = np.nan
    return angles


@dataclass
class PrunePlan:
    """What to do with each map, in the order it is done (the order matters for merges).

    ``events`` holds ``("merge", kept, removed, angle)``, ``("pair", a, b, angle)`` (both
    removed) and ``("constant", map, -1, nan)``; ``keep`` lists the surviving maps.
    """

    channels: int
    threshold: float
    events: list[tuple[str, int, int, float]] = field(default_factory=list)

    @property
    def removed(self) -> list[int]:
        """Maps that disappear, sorted."""
        out: set[int] = set()
        for kind, a, b, _ in self.events:
            if kind == "merge":
                out.add(b)
            elif kind == "pair":
                out.update((a, b))
            else:
                out.add(a)
        return sorted(out)

    @property
    def keep(self) -> list[int]:
        """Maps that survive, sorted."""
        gone = set(self.removed)
        return [i for i in range(self.channels) if i not in gone]

    def counts(self) -> dict[str, int]:
        """Count merges, removed complementary pairs, constant maps and maps pruned."""
        kinds = [e[0] for e in self.events]
        return {
            "merged": kinds.count("merge"),
            "complementary_pairs": kinds.count("pair"),
            "constant": kinds.count("constant"),
            "maps_pruned": len(self.removed),
        }


def plan_pruning(
    angles: np.ndarray, threshold: float = DEFAULT_THRESHOLD, constant: np.ndarray | None = None
) -> PrunePlan:
    """Choose merges and removals from the angle matrix (greedy, most extreme pair first).

    A pair is "similar" if its angle is below ``threshold`` and "complementary" if above
    ``180 - threshold``; a pair is only acted on while both of its maps are still present, so
    every map is merged or removed at most once and at least one map always survives.
    """
    if not 0.0 <= threshold <= 90.0:
        raise ValueError(f"threshold must be in [0, 90] degrees, got {threshold}")
    c = angles.shape[0]
    plan = PrunePlan(channels=c, threshold=threshold)
    alive = np.ones(c, dtype=bool)
    if constant is not None:
        for i in np.flatnonzero(constant):
            if alive.sum() > 1:
                plan.events.append(("constant", int(i), -1, math.nan))
                alive[i] = False
    iu, ju = np.triu_indices(c, k=1)
    ang = angles[iu, ju]
    valid = ~np.isnan(ang)
    similar = valid & (ang < threshold)
    opposite = valid & (ang > 180.0 - threshold)
    candidates = [(float(ang[k]), "merge", int(iu[k]), int(ju[k])) for k in np.flatnonzero(similar)]
    candidates += [
        (180.0 - float(ang[k]), "pair", int(iu[k]), int(ju[k])) for k in np.flatnonzero(opposite)
    ]
    candidates.sort()
    for key, kind, i, j in candidates:
        if not (alive[i] and alive[j]):
            continue
        if kind == "pair" and alive.sum() <= 2:
            continue
        angle = key if kind == "merge" else 180.0 - key
        plan.events.append((kind, i, j, angle))
        alive[j] = False
        if kind == "pair":
            alive[i] = False
    return plan


def _contribution(consumer: nn.Conv2d, weight: torch.Tensor, mean_map: np.ndarray) -> torch.Tensor:
    """Mean logit change ``[classes]`` that one map's average makes through conv + GAP."""
    m = torch.from_numpy(mean_map).to(weight.dtype)[None, None]
    out = F.conv2d(m, weight[:, None], stride=consumer.stride, padding=consumer.padding)
    return out.mean(dim=(0, 2, 3))


def apply_plan(model: nn.Module, plan: PrunePlan, mean_maps: np.ndarray) -> nn.Module:
    """Return a pruned copy of ``model`` (the original is not touched)."""
    pruned = copy.deepcopy(model)
    consumer = feature_site(pruned).consumer
    with torch.no_grad():
        weight = consumer.weight.detach().clone()
        bias = (
            consumer.bias.detach().clone()
            if consumer.bias is not None
            else torch.zeros(consumer.out_channels)
        )
        for kind, a, b, _ in plan.events:
            if kind == "merge":
                weight[:, a] += weight[:, b]
            elif kind == "pair":
                bias += _contribution(consumer, weight[:, a], mean_maps[a])
                bias += _contribution(consumer, weight[:, b], mean_maps[b])
            else:
                bias += _contribution(consumer, weight[:, a], mean_maps[a])
    if consumer.bias is None and (
        plan.counts()["complementary_pairs"] or plan.counts()["constant"]
    ):
        raise ValueError("the class-map convolution has no bias to absorb removed maps")
    keep = plan.keep
    return keep_feature_maps(pruned, keep, weight[:, keep], bias)


def prune_by_distinctiveness(
    model: nn.Module, inputs: torch.Tensor, threshold: float = DEFAULT_THRESHOLD
) -> tuple[nn.Module, PrunePlan, np.ndarray]:
    """Compute activations on ``inputs``, plan and apply; return (pruned copy, plan, angles)."""
    acts, mean_maps = collect_activations(model, inputs)
    normalised, constant = normalise_activations(acts)
    angles = pairwise_angles(normalised)
    plan = plan_pruning(angles, threshold, constant)
    return apply_plan(model, plan, mean_maps), plan, angles


# --------------------------------------------------------------------------------------------
# Measurement and command line
# --------------------------------------------------------------------------------------------


def face_inputs() -> tuple[torch.Tensor, torch.Tensor, dict[str, Any]]:
    """Real face crops as model inputs: (activation set, held-out set, description).

    The fixture's 101 crops plus mirror images; even-indexed faces (and mirrors) compute the
    angles, odd-indexed ones measure agreement.
    """
    from face_affect_ros.tools.datasets import real_face_crops, to_model_input

    crops, _ = real_face_crops()
    both = np.concatenate([crops, crops[:, :, ::-1]])
    face_id = np.concatenate([np.arange(len(crops))] * 2)
    x = torch.from_numpy(to_model_input(np.ascontiguousarray(both)))
    fit = face_id % 2 == 0
    desc = {
        "faces": "skimage lfw_subset 100 faces (25x25 -> 64x64 INTER_LINEAR) + astronaut, "
        "each also mirrored",
        "activation_samples": int(fit.sum()),
        "heldout_samples": int((~fit).sum()),
        "split": "even face index -> angles, odd -> agreement",
    }
    return x[torch.from_numpy(fit)], x[torch.from_numpy(~fit)], desc


def predict(model: nn.Module, x: torch.Tensor) -> np.ndarray:
    """Return softmax probabilities of a PyTorch classifier (eval mode)."""
    model.eval()
    old = getattr(model, "return_logits", None)
    if old is not None:
        model.return_logits = False
    try:
        with torch.no_grad():
            return model(x).numpy()
    finally:
        if old is not None:
            model.return_logits = old


def agreement(a: np.ndarray, b: np.ndarray) -> float:
    """Top-1 agreement between two probability arrays."""
    return float((a.argmax(1) == b.argmax(1)).mean())


def onnx_param_count(onnx_bytes: bytes) -> int:
    """Count the stored values in an ONNX model's initialisers (BN already folded)."""
    import onnx
    from onnx import numpy_helper

    proto = onnx.load_from_string(onnx_bytes)
    return int(sum(numpy_helper.to_array(t).size for t in proto.graph.initializer))


def sweep(
    model: nn.Module,
    fit: torch.Tensor,
    heldout: torch.Tensor,
    thresholds: Sequence[float] = SWEEP_THRESHOLDS,
    reference: np.ndarray | None = None,
) -> list[dict[str, Any]]:
    """Prune at each threshold and measure held-out agreement with the unpruned model.

    ``reference`` (the unpruned model's held-out probabilities) saves a pass if already known.
    """
    acts, mean_maps = collect_activations(model, fit)
    normalised, constant = normalise_activations(acts)
    angles = pairwise_angles(normalised)
    if reference is None:
        reference = predict(model, heldout)
    rows = []
    for t in thresholds:
        plan = plan_pruning(angles, t, constant)
        pruned = apply_plan(model, plan, mean_maps)
        probs = predict(pruned, heldout)
        rows.append(
            {
                "threshold_deg": t,
                **plan.counts(),
                "maps_left": len(plan.keep),
                "heldout_agreement": agreement(reference, probs),
                "heldout_max_abs_prob_diff": float(np.abs(reference - probs).max()),
            }
        )
    return rows


def plot_sweep(rows: list[dict[str, Any]], channels: int, path: Path, title: str) -> Path:
    """Plot held-out top-1 agreement against maps pruned, labelled with the thresholds."""
    import matplotlib

    matplotlib.use("Agg")
    from matplotlib import pyplot as plt

    x = [r["maps_pruned"] for r in rows]
    y = [100.0 * r["heldout_agreement"] for r in rows]
    fig, ax = plt.subplots(figsize=(6, 4), dpi=120)
    ax.plot(x, y, "o-")
    # One label per distinct point: thresholds that prune nothing more share a point.
    groups: dict[tuple[int, float], list[float]] = {}
    for r, xi, yi in zip(rows, x, y, strict=True):
        groups.setdefault((xi, yi), []).append(r["threshold_deg"])
    for (xi, yi), ts in groups.items():
        label = f"{ts[0]:g}°" if len(ts) == 1 else f"{ts[0]:g}-{ts[-1]:g}°"
        ax.annotate(label, (xi, yi), textcoords="offset points", xytext=(4, 4), fontsize=7)
    ax.set_xlabel(f"feature maps pruned (of {channels})")
    ax.set_ylabel("top-1 agreement with unpruned model (%)")
    ax.set_title(title, fontsize=9)
    ax.set_ylim(min([*y, 90.0]) - 2, 101)
    ax.grid(alpha=0.3)
    fig.tight_layout()
    path.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(path)
    plt.close(fig)
    return path


def build_parser() -> argparse.ArgumentParser:
    """Build the command line of :func:`main`."""
    p = argparse.ArgumentParser(
        prog="face-affect-prune",
        description=__doc__.split("\n\n")[0],
        formatter_class=argparse.ArgumentDefaultsHelpFormatter,
    )
    p.add_argument(
        "--model",
        type=Path,
        help="upstream .hdf5 or a training checkpoint .pt "
        "(default: the shipped emotion model's upstream HDF5)",
    )
    p.add_argument("--threshold", type=float, default=DEFAULT_THRESHOLD, help="degrees")
    p.add_argument(
        "--sweep",
        default=",".join(f"{t:g}" for t in SWEEP_THRESHOLDS),
        help="thresholds for the sweep plot ('' to skip)",
    )
    p.add_argument("--data", help="labelled dataset for accuracy (fer2013.csv or folder)")
    p.add_argument("--usage", default="PrivateTest", help="FER-2013 rows for --data")
    p.add_argument("--name", help="output model name (default <model name>_pruned)")
    p.add_argument("--rounds", type=int, default=20, help="timing rounds (10 runs each)")
    p.add_argument("--out", type=Path, required=True)
    return p


def main(argv: Sequence[str] | None = None) -> int:
    """Command-line entry point (``face-affect-prune``): prune, measure, export, report."""
    from face_affect_ros.tools.convert import export_onnx
    from face_affect_ros.tools.models import (
        count_parameters,
        default_model_path,
        export_model,
        load_classifier,
        save_checkpoint,
    )

    args = build_parser().parse_args(argv)
    torch.set_num_threads(1)
    model_path = args.model or default_model_path()
    loaded = load_classifier(model_path)
    model = loaded.model.eval()
    fit, heldout, faces = face_inputs()

    pruned, plan, _ = prune_by_distinctiveness(model, fit, args.threshold)
    reference = predict(model, heldout)
    after = predict(pruned, heldout)
    fit_agreement = agreement(predict(model, fit), predict(pruned, fit))

    base_name = {"emotion": "emotion", "gender": "gender"}.get(loaded.task, loaded.task)
    name = args.name or f"{base_name}_{loaded.arch}_pruned"
    before_bytes = export_onnx(model, "unpruned reference", {}, input_size=loaded.input_size)
    x_np = heldout[:8].numpy()
    site = feature_site(model)
    report: dict[str, Any] = {
        "model": str(model_path),
        "method": "distinctiveness (Gedeon & Harris 1991; Narayan & Ge)",
        "layer": site.names,
        "threshold_deg": args.threshold,
        "maps_before": site.channels,
        "maps_after": len(plan.keep),
        **plan.counts(),
        "parameters_before": count_parameters(model),
        "parameters_after": count_parameters(pruned),
        "onnx_values_before": onnx_param_count(before_bytes),
        "heldout_agreement": agreement(reference, after),
        "heldout_max_abs_prob_diff": float(np.abs(reference - after).max()),
        "activation_set_agreement": fit_agreement,
        "activation_data": faces,
        "events": [
            {"kind": k, "a": a, "b": b, "angle_deg": None if math.isnan(t) else round(t, 3)}
            for k, a, b, t in plan.events
        ],
    }
    if args.data:
        from face_affect_ros.tools.datasets import is_fer_csv, load_dataset, to_model_input

        data = load_dataset(
            args.data,
            usages=args.usage.split(",") if is_fer_csv(args.data) else None,
            size=loaded.input_size,
        )
        from face_affect_ros.tools.evaluate import map_labels

        y = map_labels(data, loaded.labels)
        xd = torch.from_numpy(to_model_input(data.images))
        pb, pa = predict(model, xd), predict(pruned, xd)
        report["data"] = {
            "dataset": data.source,
            "samples": len(data),
            "accuracy_before": float((pb.argmax(1) == y).mean()),
            "accuracy_after": float((pa.argmax(1) == y).mean()),
            "agreement": agreement(pb, pa),
        }

    after_bytes = export_onnx(pruned, "pruned", {}, input_size=loaded.input_size)
    report["onnx_values_after"] = onnx_param_count(after_bytes)
    from face_affect_ros.tools.inference import interleaved_medians, open_session

    speed = interleaved_medians(
        {"unpruned": open_session(before_bytes), "pruned": open_session(after_bytes)},
        x_np,
        rounds=args.rounds,
    )
    report["speed_ms"] = {
        **speed,
        "runtime": "onnxruntime, 1 intra-op thread, CPU, median of interleaved rounds",
    }
    args.out.mkdir(parents=True, exist_ok=True)
    onnx_path, manifest_path, diff = export_model(
        pruned,
        args.out,
        name,
        loaded.task,
        loaded.labels,
        {**loaded.source, "pruned_from": Path(model_path).name},
        regenerate="python -m face_affect_ros.tools.prune "
        f"--model {Path(model_path).name} --threshold {args.threshold:g}",
        extra={"pruning": {k: v for k, v in report.items() if k not in ("events", "model")}},
        check_input=heldout[:32],
        input_size=loaded.input_size,
    )
    report["onnx_vs_torch_max_abs_prob_diff"] = diff
    save_checkpoint(
        args.out / f"{name}.pt",
        pruned,
        loaded.arch,
        {"num_classes": len(loaded.labels)},
        loaded.labels,
        loaded.task,
        loaded.input_size,
        kept_maps=plan.keep,
        source={**loaded.source, "pruning_threshold_deg": args.threshold},
    )
    thresholds = [float(t) for t in args.sweep.split(",") if t.strip()]
    if thresholds:
        rows = sweep(model, fit, heldout, thresholds, reference)
        report["sweep"] = rows
        plot_sweep(
            rows,
            site.channels,
            args.out / f"{name}_sweep.png",
            f"{name}: distinctiveness pruning of {site.names['maps'][0]}",
        )
    (args.out / f"{name}_report.json").write_text(json.dumps(report, indent=2) + "\n")
    speed = report["speed_ms"]
    print(
        f"{name}: {report['maps_pruned']} of {report['maps_before']} maps pruned at "
        f"{args.threshold:g} deg ({report['merged']} merged, {report['complementary_pairs']} "
        f"complementary pairs, {report['constant']} constant)\n"
        f"parameters {report['parameters_before']} -> {report['parameters_after']}, ONNX values "
        f"{report['onnx_values_before']} -> {report['onnx_values_after']}\n"
        f"held-out agreement {report['heldout_agreement']:.1%} "
        f"(n={faces['heldout_samples']}), on the activation set "
        f"{report['activation_set_agreement']:.1%}\n"
        f"speed batch 1: {speed['unpruned']['batch1_median_ms']:.3f} -> "
        f"{speed['pruned']['batch1_median_ms']:.3f} ms, batch 8: "
        f"{speed['unpruned']['batch8_median_ms']:.3f} -> "
        f"{speed['pruned']['batch8_median_ms']:.3f} ms\n"
        f"wrote {onnx_path}, {manifest_path}, {args.out / (name + '_report.json')}"
    )
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
