r"""Evaluate any classifier manifest on a labelled dataset: accuracy, per-class P/R, confusion.

Why by manifest and in onnxruntime: the number that matters for the robot is what the exported
file does when fed the way the nodes feed it (manifest resize, scale and offset), not what the
PyTorch model did during training. The same command therefore evaluates the shipped models, a
freshly trained model, a pruned or an int8 one.

Dataset classes are matched to the model's labels by name (case-insensitive, ``--rename`` for
other spellings), so a folder dataset with only ``woman``/``man`` folders, or FER-2013 with its
seven emotions, can be scored against the corresponding model. Classes the model knows but the
data lacks get empty confusion rows (recall undefined, reported as null).

Outputs (``--out``): ``report.json`` (accuracy, per-class precision / recall / F1 / support,
confusion counts and the row-normalised matrix) and ``confusion.png``, a row-normalised
confusion matrix drawn like Figure 7 of Arriaga et al. Usage::

    python -m face_affect_ros.tools.evaluate --model emotion_mini_xception \\
        --data fer2013.csv --usage PrivateTest --out eval/emotion
"""

from __future__ import annotations

import argparse
import json
import os
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from face_affect_ros.tools.datasets import LabelledImages, is_fer_csv, load_dataset
from face_affect_ros.tools.inference import Classifier, load_classifier_manifest


def confusion_matrix(y_true: np.ndarray, y_pred: np.ndarray, num_classes: int) -> np.ndarray:
    """Return counts ``[true, predicted]`` as int64 ``[num_classes, num_classes]``."""
    y_true = np.asarray(y_true, dtype=np.int64)
    y_pred = np.asarray(y_pred, dtype=np.int64)
    if y_true.shape != y_pred.shape:
        raise ValueError(f"y_true {y_true.shape} and y_pred {y_pred.shape} differ in shape")
    for name, y in (("y_true", y_true), ("y_pred", y_pred)):
        if y.size and (y.min() < 0 or y.max() >= num_classes):
            raise ValueError(f"{name} has values outside 0..{num_classes - 1}")
    flat = np.bincount(y_true * num_classes + y_pred, minlength=num_classes * num_classes)
    return flat.reshape(num_classes, num_classes)


def normalise_rows(counts: np.ndarray) -> np.ndarray:
    """Divide each row by its total (recall view); rows without samples stay zero."""
    totals = counts.sum(axis=1, keepdims=True).astype(np.float64)
    return np.divide(counts, totals, out=np.zeros(counts.shape), where=totals > 0)


def _ratio(num: float, den: float) -> float | None:
    return None if den == 0 else float(num / den)


def per_class_metrics(counts: np.ndarray, labels: Sequence[str]) -> dict[str, dict[str, Any]]:
    """Precision, recall, F1, support and predicted count per class from a confusion matrix.

    Undefined values (no samples of a class, or never predicted) are ``None``, not NaN, so the
    JSON report stays valid and a reader sees "undefined" rather than a misleading zero.
    """
    result: dict[str, dict[str, Any]] = {}
    for i, label in enumerate(labels):
        tp = float(counts[i, i])
        support = int(counts[i].sum())
        predicted = int(counts[:, i].sum())
        precision = _ratio(tp, predicted)
        recall = _ratio(tp, support)
        f1 = None
        if precision is not None and recall is not None:
            f1 = 0.0 if precision + recall == 0 else 2 * precision * recall / (precision + recall)
        result[label] = {
            "precision": precision,
            "recall": recall,
            "f1": f1,
            "support": support,
            "predicted": predicted,
        }
    return result


@dataclass
class EvalReport:
    """Everything :func:`evaluate` measured; :meth:`to_json` is what ``report.json`` holds."""

    model: str
    manifest: str
    dataset: str
    labels: tuple[str, ...]
    samples: int
    accuracy: float
    per_class: dict[str, dict[str, Any]]
    confusion: np.ndarray
    confusion_normalised: np.ndarray

    def to_json(self) -> dict[str, Any]:
        """Return a JSON-ready dict (floats rounded to 6 digits)."""

        def rnd(v: Any) -> Any:
            return None if v is None else round(float(v), 6)

        present = [c for c, m in self.per_class.items() if m["support"] > 0]
        recalls = [self.per_class[c]["recall"] for c in present]
        return {
            "model": self.model,
            "manifest": self.manifest,
            "dataset": self.dataset,
            "samples": self.samples,
            "accuracy": rnd(self.accuracy),
            "mean_recall": rnd(np.mean(recalls)) if recalls else None,
            "labels": list(self.labels),
            "per_class": {
                c: {k: rnd(v) if k in ("precision", "recall", "f1") else v for k, v in m.items()}
                for c, m in self.per_class.items()
            },
            "confusion_counts": self.confusion.tolist(),
            "confusion_normalised": [
                [round(float(v), 4) for v in row] for row in self.confusion_normalised
            ],
        }


def map_labels(
    data: LabelledImages, model_labels: Sequence[str], rename: dict[str, str] | None = None
) -> np.ndarray:
    """Translate the dataset's label indices into the model's, matching class names.

    Raises:
        ValueError: a dataset class (after ``rename``) is not one of the model's labels.
    """
    rename = {k.lower(): v.lower() for k, v in (rename or {}).items()}
    index = {label.lower(): i for i, label in enumerate(model_labels)}
    table = np.empty(len(data.class_names), dtype=np.int64)
    for i, name in enumerate(data.class_names):
        key = rename.get(name.lower(), name.lower())
        if key not in index:
            raise ValueError(
                f"dataset class {name!r} is not a model label {list(model_labels)}; "
                "use --rename data_name=model_label"
            )
        table[i] = index[key]
    return table[data.labels]


def evaluate(
    classifier: Classifier, data: LabelledImages, rename: dict[str, str] | None = None
) -> EvalReport:
    """Run ``classifier`` on every image of ``data`` and compute the metrics."""
    y_true = map_labels(data, classifier.labels, rename)
    probs = classifier.predict(data.images)
    y_pred = probs.argmax(axis=1)
    counts = confusion_matrix(y_true, y_pred, len(classifier.labels))
    return EvalReport(
        model=str(classifier.model_path),
        manifest=str(classifier.manifest_path),
        dataset=data.source,
        labels=classifier.labels,
        samples=len(data),
        accuracy=float((y_true == y_pred).mean()) if len(data) else float("nan"),
        per_class=per_class_metrics(counts, classifier.labels),
        confusion=counts,
        confusion_normalised=normalise_rows(counts),
    )


def plot_confusion(
    normalised: np.ndarray,
    labels: Sequence[str],
    path: str | os.PathLike[str],
    title: str = "Normalized confusion matrix",
) -> Path:
    """Draw a row-normalised confusion matrix like the paper's Figure 7 and save it as PNG.

    Blues colour map from 0 to 1, the value in every cell (white on dark cells), true labels on
    the rows, predicted labels on the columns. Uses the Agg backend (no display needed).
    """
    import matplotlib

    matplotlib.use("Agg")
    from matplotlib import pyplot as plt

    n = len(labels)
    fig, ax = plt.subplots(figsize=(1.0 + 0.9 * n, 0.8 + 0.8 * n), dpi=120)
    image = ax.imshow(normalised, interpolation="nearest", cmap="Blues", vmin=0.0, vmax=1.0)
    fig.colorbar(image, ax=ax, fraction=0.046, pad=0.04)
    ax.set_title(title)
    ax.set_xticks(range(n), labels, rotation=45, ha="right")
    ax.set_yticks(range(n), labels)
    ax.set_xlabel("Predicted label")
    ax.set_ylabel("True label")
    for i in range(n):
        for j in range(n):
            v = normalised[i, j]
            ax.text(
                j,
                i,
                f"{v:.2f}",
                ha="center",
                va="center",
                color="white" if v > 0.5 else "black",
                fontsize=8,
            )
    fig.tight_layout()
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(path)
    plt.close(fig)
    return path


def _parse_rename(text: str | None) -> dict[str, str]:
    if not text:
        return {}
    pairs = [item.split("=", 1) for item in text.split(",") if item]
    if any(len(p) != 2 for p in pairs):
        raise ValueError(f"--rename expects data=model pairs, got {text!r}")
    return {a.strip(): b.strip() for a, b in pairs}


def build_parser() -> argparse.ArgumentParser:
    """Build the command line of :func:`main`."""
    p = argparse.ArgumentParser(
        prog="face-affect-eval",
        description=__doc__.split("\n\n")[0],
        formatter_class=argparse.ArgumentDefaultsHelpFormatter,
    )
    p.add_argument(
        "--model",
        required=True,
        help="manifest path, or a shipped model name (emotion_mini_xception)",
    )
    p.add_argument("--data", required=True, help="fer2013.csv or a folder root/<class>/*.png")
    p.add_argument(
        "--usage",
        default="PrivateTest",
        help="FER-2013 rows to use (comma-separated Usage values, or 'all')",
    )
    p.add_argument("--rename", help="dataset class -> model label, e.g. female=woman,male=man")
    p.add_argument("--out", required=True, type=Path, help="directory for report.json, PNG")
    p.add_argument("--threads", type=int, default=1)
    return p


def main(argv: Sequence[str] | None = None) -> int:
    """Command-line entry point (``face-affect-eval``); prints the JSON report."""
    args = build_parser().parse_args(argv)
    classifier = load_classifier_manifest(args.model, threads=args.threads)
    usages = None if args.usage == "all" else args.usage.split(",")
    data = load_dataset(
        args.data,
        usages=usages if is_fer_csv(args.data) else None,
        size=classifier.size,
        interpolation=classifier.interpolation,
    )
    report = evaluate(classifier, data, _parse_rename(args.rename))
    args.out.mkdir(parents=True, exist_ok=True)
    payload = report.to_json()
    (args.out / "report.json").write_text(json.dumps(payload, indent=2) + "\n", encoding="utf-8")
    plot_confusion(
        report.confusion_normalised,
        report.labels,
        args.out / "confusion.png",
        title=f"{classifier.name}: accuracy {report.accuracy:.1%} (n={report.samples})",
    )
    print(
        json.dumps(
            {k: payload[k] for k in ("model", "dataset", "samples", "accuracy", "mean_recall")},
            indent=2,
        )
    )
    print(f"wrote {args.out / 'report.json'} and {args.out / 'confusion.png'}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
