"""Distinctiveness pruning: exact on constructed twin / opposite maps, angles by hand, CLI."""

from __future__ import annotations

import json
import math
from pathlib import Path

import numpy as np
import pytest

torch = pytest.importorskip(
    "torch", reason="torch is installed on Python 3.11 only (requirements/dev.in)"
)
pytest.importorskip("onnx")

from face_affect_ros.tools.inference import load_classifier_manifest  # noqa: E402
from face_affect_ros.tools.mini_xception import MiniXception  # noqa: E402
from face_affect_ros.tools.models import (  # noqa: E402
    SequentialFCN,
    count_parameters,
    feature_site,
    load_classifier,
)
from face_affect_ros.tools.prune import (  # noqa: E402
    main,
    normalise_activations,
    pairwise_angles,
    plan_pruning,
    predict,
    prune_by_distinctiveness,
)


def _randomise(model: torch.nn.Module, seed: int) -> torch.nn.Module:
    gen = torch.Generator().manual_seed(seed)
    with torch.no_grad():
        for m in model.modules():
            if isinstance(m, torch.nn.BatchNorm2d):
                m.weight.uniform_(0.5, 1.5, generator=gen)
                m.bias.normal_(0, 0.3, generator=gen)
                m.running_mean.normal_(0, 0.3, generator=gen)
                m.running_var.uniform_(0.5, 2.0, generator=gen)
    return model.eval()


def _copy_channel(conv, bn, src: int, dst: int, sign: float = 1.0) -> None:
    """Make output channel dst of conv + BN equal to sign * channel src."""
    with torch.no_grad():
        conv.weight[dst] = sign * conv.weight[src]
        if conv.bias is not None:
            conv.bias[dst] = sign * conv.bias[src]
        bn.weight[dst] = bn.weight[src]
        bn.running_var[dst] = bn.running_var[src]
        bn.bias[dst] = sign * bn.bias[src]
        bn.running_mean[dst] = sign * bn.running_mean[src]


def _small_fcn(seed: int = 0) -> SequentialFCN:
    torch.manual_seed(seed)
    return _randomise(SequentialFCN(num_classes=3, stages=((4, 3), (6, 3)), top_filters=6), seed)


def _inputs(n: int, seed: int, size: int = 32) -> torch.Tensor:
    return torch.rand(n, 1, size, size, generator=torch.Generator().manual_seed(seed)) * 2 - 1


def _logits(model: torch.nn.Module, x: torch.Tensor) -> torch.Tensor:
    model.return_logits = True
    try:
        with torch.no_grad():
            return model(x)
    finally:
        model.return_logits = False


def test_identical_maps_merge_exactly() -> None:
    model = _small_fcn()
    _copy_channel(model.top.conv, model.top.bn, src=2, dst=5)
    x = _inputs(40, 1)
    pruned, plan, angles = prune_by_distinctiveness(model, x, threshold=0.5)
    assert angles[2, 5] < 1e-3
    assert plan.events == [("merge", 2, 5, pytest.approx(angles[2, 5]))]
    assert plan.keep == [0, 1, 2, 3, 4]
    assert feature_site(pruned).channels == 5 and feature_site(model).channels == 6
    test = _inputs(20, 2)
    torch.testing.assert_close(_logits(pruned, test), _logits(model, test), atol=1e-5, rtol=0)


def test_opposite_maps_are_both_removed() -> None:
    model = _small_fcn(1)
    _copy_channel(model.top.conv, model.top.bn, src=1, dst=4, sign=-1.0)
    with torch.no_grad():  # equal outgoing weights: the pair's effects cancel exactly
        model.classifier.weight[:, 4] = model.classifier.weight[:, 1]
    x = _inputs(40, 3)
    pruned, plan, angles = prune_by_distinctiveness(model, x, threshold=0.5)
    assert angles[1, 4] > 179.999
    assert [e[:3] for e in plan.events] == [("pair", 1, 4)]
    assert plan.keep == [0, 2, 3, 5]
    test = _inputs(20, 4)
    torch.testing.assert_close(_logits(pruned, test), _logits(model, test), atol=1e-5, rtol=0)


def test_mini_xception_merge_cuts_both_branches() -> None:
    torch.manual_seed(2)
    model = _randomise(MiniXception(num_classes=7), 2)
    block = model.blocks.block4
    _copy_channel(block.sep2.pointwise, block.bn2, src=10, dst=77)
    _copy_channel(block.shortcut.conv, block.shortcut.bn, src=10, dst=77)
    x = _inputs(48, 5, size=64)
    pruned, plan, _ = prune_by_distinctiveness(model, x, threshold=0.5)
    assert [e[:3] for e in plan.events] == [("merge", 10, 77)]
    # one map fewer: pointwise 128 inputs + BN 2 + shortcut 64 inputs + BN 2 + class map 7x3x3
    assert count_parameters(model) - count_parameters(pruned) == 128 + 2 + 64 + 2 + 63
    test = _inputs(8, 6, size=64)
    np.testing.assert_allclose(predict(pruned, test), predict(model, test), atol=1e-5)


def test_angles_and_plan_by_hand() -> None:
    acts = np.array(
        [
            # a    b    c    d (constant)
            [0.0, 3.0, 0.0, 5.0],
            [1.0, 2.0, 0.0, 5.0],
            [2.0, 1.0, 1.0, 5.0],
            [3.0, 0.0, 1.0, 5.0],
        ]
    )
    n, constant = normalise_activations(acts)
    hand_a = np.array([-0.5, -1 / 6, 1 / 6, 0.5])  # (x - min) / (max - min) - 0.5
    hand_c = np.array([-0.5, -0.5, 0.5, 0.5])
    np.testing.assert_allclose(n[:, 0], hand_a)
    np.testing.assert_allclose(n[:, 1], -hand_a)
    np.testing.assert_allclose(n[:, 2], hand_c)
    assert constant.tolist() == [False, False, False, True]
    angles = pairwise_angles(n)
    cos_ac = hand_a @ hand_c / math.sqrt((hand_a @ hand_a) * (hand_c @ hand_c))
    assert cos_ac == pytest.approx(2 / math.sqrt(5))
    assert angles[0, 2] == pytest.approx(math.degrees(math.acos(cos_ac)))  # 26.565 deg
    assert angles[0, 2] == pytest.approx(math.degrees(math.atan(0.5)))
    assert angles[0, 1] == pytest.approx(180.0)
    assert angles[1, 2] == pytest.approx(180.0 - math.degrees(math.atan(0.5)))
    assert np.isnan(angles[3, :3]).all()
    np.testing.assert_allclose(np.diag(angles)[:3], 0.0, atol=1e-6)
    # 30 deg: d is constant; (a, b) complementary (most extreme) -> both go; (a, c) and (b, c)
    # are then skipped because a and b are gone.
    plan = plan_pruning(angles, 30.0, constant)
    assert [e[:3] for e in plan.events] == [("constant", 3, -1), ("pair", 0, 1)]
    assert plan.keep == [2]
    # a and c alone: 26.6 deg apart -> merged at 30 deg, kept at 20 deg.
    ac = angles[np.ix_([0, 2], [0, 2])]
    assert [e[:3] for e in plan_pruning(ac, 30.0).events] == [("merge", 0, 1)]
    assert plan_pruning(ac, 20.0).keep == [0, 1]


def test_cli_on_shipped_emotion_model(tmp_path: Path) -> None:
    assert (
        main(["--out", str(tmp_path), "--threshold", "40", "--sweep", "0,40,60", "--rounds", "1"])
        == 0
    )
    name = "emotion_mini_xception_pruned"
    report = json.loads((tmp_path / f"{name}_report.json").read_text())
    assert report["maps_before"] == 128
    assert report["maps_after"] == 128 - report["maps_pruned"] and report["maps_pruned"] > 0
    assert report["parameters_after"] < report["parameters_before"]
    assert report["onnx_vs_torch_max_abs_prob_diff"] < 1e-4
    assert set(report["speed_ms"]["pruned"]) == {"batch1_median_ms", "batch8_median_ms"}
    assert [r["threshold_deg"] for r in report["sweep"]] == [0, 40, 60]
    assert report["sweep"][0]["maps_pruned"] == 0 and report["sweep"][0]["heldout_agreement"] == 1
    assert (tmp_path / f"{name}_sweep.png").stat().st_size > 5000
    clf = load_classifier_manifest(tmp_path / f"{name}.json")  # runtime loader
    assert clf.labels[0] == "angry" and len(clf.labels) == 7
    # The saved checkpoint rebuilds the pruned architecture and matches the ONNX file.
    reloaded = load_classifier(tmp_path / f"{name}.pt")
    assert feature_site(reloaded.model).channels == report["maps_after"]
    crops = np.random.default_rng(0).integers(0, 256, (4, 64, 64), dtype=np.uint8)
    x = torch.from_numpy(crops.astype(np.float32) * (2 / 255) - 1)[:, None]
    np.testing.assert_allclose(clf.predict(crops), predict(reloaded.model, x), atol=1e-4)
