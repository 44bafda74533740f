"""End-to-end training on small synthetic datasets in both formats (seconds, not minutes).

The data have a learnable signal (a bright pattern at a class-specific place, see
tools/synthetic.py), so a working trainer must beat chance by far in a few epochs; the exported
model must load through the runtime's manifest loader and agree with PyTorch.
"""

from __future__ import annotations

import csv
import json
from pathlib import Path

import numpy as np
import pytest

torch = pytest.importorskip(
    "torch", reason="torch is installed on Python 3.11 only (requirements/dev.in)"
)
pytest.importorskip("onnx")

from face_affect_ros.tools import synthetic  # noqa: E402
from face_affect_ros.tools.datasets import (  # noqa: E402
    FER2013_LABELS,
    DatasetError,
    load_fer2013_csv,
    load_image_folder,
    stratified_split,
)
from face_affect_ros.tools.inference import load_classifier_manifest  # noqa: E402
from face_affect_ros.tools.models import (  # noqa: E402
    SequentialFCN,
    count_parameters,
    load_classifier,
    read_checkpoint,
)
from face_affect_ros.tools.train import (  # noqa: E402
    LOG_COLUMNS,
    AugmentConfig,
    TrainConfig,
    augment_batch,
    main,
    normalise,
    train,
)

NO_AUG = AugmentConfig(0.0, 0.0, 0.0, False, 0.0, 0.0)


@pytest.fixture(scope="module")
def fer_csv(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """7 classes x 30 images, 48x48, 70/15/15 % Training/PublicTest/PrivateTest."""
    images, labels = synthetic.make_dataset(30, 48, seed=1)
    path = tmp_path_factory.mktemp("fer") / "fer2013.csv"
    return synthetic.write_fer_csv(path, images, labels, synthetic.fer_usages(len(labels)))


@pytest.fixture(scope="module")
def folder(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """3 classes x 30 PNGs at 64x64 in root/<class>/."""
    names = synthetic.PATTERNS[:3]
    images, labels = synthetic.make_dataset(30, 64, names, seed=2)
    return synthetic.write_image_folder(tmp_path_factory.mktemp("folder"), images, labels, names)


@pytest.fixture(scope="module")
def fer_run(fer_csv: Path, tmp_path_factory: pytest.TempPathFactory):
    out = tmp_path_factory.mktemp("fer_run")
    cfg = TrainConfig(
        data=str(fer_csv),
        out=str(out),
        arch="mini_xception",
        epochs=4,
        batch_size=16,
        bn_momentum=0.3,  # few steps: let BN running statistics catch up (see docs)
        progress=False,
    )
    return cfg, train(cfg)


@pytest.fixture(scope="module")
def folder_run(folder: Path, tmp_path_factory: pytest.TempPathFactory):
    out = tmp_path_factory.mktemp("folder_run")
    order = ["centre_disc", "top_band", "bottom_band"]  # not the sorted order
    cfg = TrainConfig(
        data=str(folder),
        out=str(out),
        arch="sequential_fcn",
        task="emotion",
        labels=order,
        input_size=48,
        epochs=4,
        batch_size=16,
        bn_momentum=0.3,
        progress=False,
    )
    return cfg, train(cfg)


def _check_run(cfg: TrainConfig, result, labels: tuple[str, ...], chance: float) -> None:
    out = Path(cfg.out)
    history = result.history
    assert len(history) == cfg.epochs
    assert history[-1]["train_loss"] < 0.5 * history[0]["train_loss"]
    assert history[-1]["train_accuracy"] > history[0]["train_accuracy"]
    assert result.best_val_accuracy > chance + 0.4

    with (out / "train_log.csv").open(newline="") as handle:
        rows = list(csv.DictReader(handle))
    assert tuple(rows[0]) == LOG_COLUMNS
    assert [int(r["epoch"]) for r in rows] == list(range(1, cfg.epochs + 1))
    assert float(rows[0]["train_loss"]) == pytest.approx(history[0]["train_loss"])
    for name in ("best.pt", "last.pt"):
        assert read_checkpoint(out / name)["labels"] == list(labels)
    assert read_checkpoint(out / "last.pt")["epoch"] == cfg.epochs

    # The exported model loads by manifest (runtime loader when present) and agrees with torch.
    clf = load_classifier_manifest(result.manifest_path)
    assert clf.labels == labels
    manifest = json.loads(result.manifest_path.read_text())
    assert manifest["input"]["shape"] == ["N", 1, cfg.input_size, cfg.input_size]
    assert manifest["input"]["scale"] == pytest.approx(2 / 255)
    assert manifest["input"]["offset"] == -1.0
    assert manifest["outputs"][0]["activation"] == "softmax"
    assert manifest["training"]["best_epoch"] == result.best_epoch

    best = load_classifier(out / "best.pt")
    best.model.return_logits = False
    rng = np.random.default_rng(0)
    crops = rng.integers(0, 256, (10, cfg.input_size, cfg.input_size), dtype=np.uint8)
    with torch.no_grad():
        want = best.model(normalise(torch.from_numpy(crops).float()[:, None])).numpy()
    got = clf.predict(crops)
    assert np.abs(got - want).max() < 1e-4
    assert result.onnx_max_abs_diff < 1e-4


def test_fer_csv_mini_xception_learns_and_exports(fer_run) -> None:
    cfg, result = fer_run
    _check_run(cfg, result, FER2013_LABELS, chance=1 / 7)
    assert result.test_accuracy is not None and result.test_accuracy > 0.5
    assert result.parameters == 56951  # the upstream emotion model's trainable parameters


def test_folder_sequential_fcn_learns_and_exports(folder_run) -> None:
    cfg, result = folder_run
    _check_run(cfg, result, tuple(cfg.labels), chance=1 / 3)


def test_runtime_loader_accepts_trained_model(fer_run) -> None:
    core = pytest.importorskip("face_affect_ros.core.manifest")
    manifest = core.load_manifest(fer_run[1].manifest_path)
    assert manifest.output("probabilities").labels == FER2013_LABELS


def test_sequential_fcn_matches_paper_size() -> None:
    model = SequentialFCN(num_classes=7)
    convs = [m for m in model.modules() if isinstance(m, torch.nn.Conv2d)]
    assert len(convs) == 10  # nine feature convolutions + the class-map convolution
    conv_params = sum(p.numel() for m in convs for p in m.parameters())
    assert conv_params == 639991
    assert count_parameters(model) == 641463  # + BN scales and shifts


def test_training_is_deterministic_and_resumes_exactly(fer_csv: Path, tmp_path: Path) -> None:
    """Two epochs in one go == one epoch, then --resume for the second (bit for bit)."""
    images, labels = synthetic.make_dataset(6, 48, seed=3)
    data = synthetic.write_fer_csv(tmp_path / "tiny.csv", images, labels, ["Training"] * 42)
    common = ["--data", str(data), "--batch-size", "16", "--quiet", "--val-fraction", "0.3"]
    assert main([*common, "--out", str(tmp_path / "a"), "--epochs", "2"]) == 0
    main([*common, "--out", str(tmp_path / "b"), "--epochs", "1"])
    main([*common, "--out", str(tmp_path / "b"), "--epochs", "2", "--resume"])
    a = read_checkpoint(tmp_path / "a" / "last.pt")["state_dict"]
    b = read_checkpoint(tmp_path / "b" / "last.pt")["state_dict"]
    assert a.keys() == b.keys()
    for key in a:
        assert torch.equal(a[key], b[key]), key
    with (tmp_path / "b" / "train_log.csv").open() as handle:
        assert len(list(csv.DictReader(handle))) == 2
    onnx_a = (tmp_path / "a" / "emotion_mini_xception_trained.onnx").read_bytes()
    onnx_b = (tmp_path / "b" / "emotion_mini_xception_trained.onnx").read_bytes()
    assert onnx_a == onnx_b


def test_augmentation_is_seeded_and_bounded() -> None:
    x = torch.from_numpy(synthetic.make_dataset(2, 64, seed=4)[0]).float()[:, None]
    cfg = AugmentConfig()
    a = augment_batch(x, cfg, torch.Generator().manual_seed(7))
    b = augment_batch(x, cfg, torch.Generator().manual_seed(7))
    c = augment_batch(x, cfg, torch.Generator().manual_seed(8))
    assert torch.equal(a, b) and not torch.equal(a, c)
    assert a.shape == x.shape and a.min() >= 0 and a.max() <= 255
    assert torch.allclose(augment_batch(x, NO_AUG, torch.Generator()), x)
    flip_only = AugmentConfig(0.0, 0.0, 0.0, True, 0.0, 0.0)
    y = augment_batch(x, flip_only, torch.Generator().manual_seed(0))
    for i in range(len(x)):  # every image is either unchanged or exactly mirrored
        assert torch.allclose(y[i], x[i], atol=1e-3) or torch.allclose(
            y[i], x[i].flip(-1), atol=1e-3
        )


def test_dataset_loaders(fer_csv: Path, folder: Path, tmp_path: Path) -> None:
    train_set = load_fer2013_csv(fer_csv, ("Training",), size=64)
    assert train_set.images.shape[1:] == (64, 64) and train_set.class_names == FER2013_LABELS
    assert len(train_set) == 147
    data = load_image_folder(folder, ["top_band", "centre_disc", "bottom_band"])
    assert data.class_names == ("top_band", "centre_disc", "bottom_band")
    assert np.bincount(data.labels).tolist() == [30, 30, 30]
    tr, va = stratified_split(data.labels, 0.2, seed=0)
    assert not set(tr) & set(va) and np.bincount(data.labels[va]).tolist() == [6, 6, 6]
    bad = tmp_path / "bad.csv"
    bad.write_text("emotion,pixels,Usage\n3,1 2 3,Training\n")
    with pytest.raises(DatasetError, match="not a square"):
        load_fer2013_csv(bad)
    with pytest.raises(DatasetError, match="no folder for classes"):
        load_image_folder(folder, ["woman", "man"])
