"""Evaluation: metrics against a hand count for a model whose predictions are known, a trained model
end to end through the command line, and a shipped model by name."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest

torch = pytest.importorskip(
    "torch", reason="torch is installed on Python 3.11 only (requirements/dev.in)"
)
pytest.importorskip("onnx")
pytest.importorskip("matplotlib")

from face_affect_ros.tools import synthetic  # noqa: E402
from face_affect_ros.tools.datasets import load_image_folder  # noqa: E402
from face_affect_ros.tools.evaluate import (  # noqa: E402
    confusion_matrix,
    evaluate,
    main,
    normalise_rows,
)
from face_affect_ros.tools.inference import load_classifier_manifest  # noqa: E402
from face_affect_ros.tools.models import export_model  # noqa: E402
from face_affect_ros.tools.train import TrainConfig, train  # noqa: E402

STRIPS = ("a", "b", "c", "d")


class BrightestStrip(torch.nn.Module):
    """Predicts which of four horizontal strips is brightest: a model with known predictions."""

    def __init__(self) -> None:
        super().__init__()
        self.pool = torch.nn.AdaptiveAvgPool2d((4, 1))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return torch.softmax(40.0 * torch.flatten(self.pool(x), 1), dim=1)


def strip_image(k: int, rng: np.random.Generator) -> np.ndarray:
    img = rng.integers(30, 70, (64, 64)).astype(np.uint8)
    img[16 * k : 16 * (k + 1)] = rng.integers(180, 230)
    return img


@pytest.fixture(scope="module")
def strip_model(tmp_path_factory: pytest.TempPathFactory) -> Path:
    out = tmp_path_factory.mktemp("strip")
    _, manifest, _ = export_model(
        BrightestStrip(),
        out,
        "strip",
        "emotion",
        STRIPS,
        {"test": "known predictions"},
        regenerate="test",
    )
    return manifest


def test_metrics_match_a_hand_count(strip_model: Path, tmp_path: Path) -> None:
    rng = np.random.default_rng(0)
    # (true folder label, brightest strip = the prediction, how many): class 'd' has no samples
    # but is predicted; 'a' is often confused with 'b' and 'd'.
    plan = [("a", 0, 5), ("a", 1, 3), ("a", 3, 2), ("b", 1, 6), ("c", 2, 4), ("c", 0, 1)]
    images, labels, preds = [], [], []
    names = ("a", "b", "c")
    for true, strip, n in plan:
        for _ in range(n):
            images.append(strip_image(strip, rng))
            labels.append(names.index(true))
            preds.append(strip)
    synthetic.write_image_folder(tmp_path / "data", np.stack(images), np.array(labels), names)

    clf = load_classifier_manifest(strip_model)
    report = evaluate(clf, load_image_folder(tmp_path / "data"))

    hand = np.zeros((4, 4), dtype=int)
    for true, strip, n in plan:
        hand[STRIPS.index(true), strip] += n
    assert report.confusion.tolist() == hand.tolist()
    assert report.accuracy == pytest.approx((5 + 6 + 4) / 21)
    rows = report.confusion_normalised
    np.testing.assert_allclose(rows[:3].sum(axis=1), 1.0)
    np.testing.assert_allclose(rows[0], [0.5, 0.3, 0.0, 0.2])
    assert rows[3].tolist() == [0, 0, 0, 0]  # no 'd' samples
    pc = report.per_class
    assert pc["a"]["recall"] == pytest.approx(0.5)
    assert pc["a"]["precision"] == pytest.approx(5 / 6)  # 5 right of 6 predicted 'a'
    assert pc["b"]["precision"] == pytest.approx(6 / 9)
    assert pc["d"]["recall"] is None and pc["d"]["precision"] == 0.0
    assert pc["d"]["support"] == 0 and pc["d"]["predicted"] == 2
    payload = report.to_json()
    json.dumps(payload, allow_nan=False)  # valid JSON: undefined values are null
    assert payload["mean_recall"] == pytest.approx((0.5 + 1.0 + 0.8) / 3)


def test_confusion_helpers() -> None:
    counts = confusion_matrix(np.array([0, 0, 1, 2]), np.array([0, 1, 1, 1]), 3)
    assert counts.tolist() == [[1, 1, 0], [0, 1, 0], [0, 1, 0]]
    np.testing.assert_allclose(normalise_rows(counts).sum(axis=1), 1.0)
    with pytest.raises(ValueError, match="outside"):
        confusion_matrix(np.array([0, 3]), np.array([0, 0]), 3)


def test_trained_model_end_to_end_via_cli(tmp_path: Path) -> None:
    names = ("centre_disc", "horizontal_bar")
    images, labels = synthetic.make_dataset(24, 64, names, seed=5)
    synthetic.write_image_folder(tmp_path / "train", images, labels, names)
    test_images, test_labels = synthetic.make_dataset(15, 48, names, seed=6)  # other size too
    synthetic.write_image_folder(tmp_path / "test", test_images, test_labels, names)
    result = train(
        TrainConfig(
            data=str(tmp_path / "train"),
            out=str(tmp_path / "run"),
            task="gender",
            epochs=4,
            batch_size=8,
            bn_momentum=0.3,
            progress=False,
        )
    )
    out = tmp_path / "eval"
    assert (
        main(
            [
                "--model",
                str(result.manifest_path),
                "--data",
                str(tmp_path / "test"),
                "--out",
                str(out),
            ]
        )
        == 0
    )
    report = json.loads((out / "report.json").read_text())
    assert report["samples"] == 30
    assert report["accuracy"] > 0.8, result.history
    np.testing.assert_allclose(np.sum(report["confusion_normalised"], axis=1), 1.0, atol=1e-3)
    # The report's accuracy is what the model does through the manifest contract.
    clf = load_classifier_manifest(result.manifest_path)
    data = load_image_folder(tmp_path / "test", names)
    manual = float((clf.predict(data.images).argmax(1) == data.labels).mean())
    assert report["accuracy"] == pytest.approx(manual)
    assert (out / "confusion.png").stat().st_size > 5000


def test_shipped_model_by_name_on_fer_csv(tmp_path: Path) -> None:
    images, labels = synthetic.make_dataset(3, 48, seed=7)
    csv_path = synthetic.write_fer_csv(
        tmp_path / "fer.csv", images, labels, ["PrivateTest"] * len(labels)
    )
    assert (
        main(
            [
                "--model",
                "emotion_mini_xception",
                "--data",
                str(csv_path),
                "--out",
                str(tmp_path / "e"),
            ]
        )
        == 0
    )
    report = json.loads((tmp_path / "e" / "report.json").read_text())
    assert report["samples"] == 21
    assert len(report["confusion_counts"]) == 7
    assert sum(map(sum, report["confusion_counts"])) == 21
    assert list(report["per_class"]) == report["labels"]
