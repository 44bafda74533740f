"""Guided back-propagation: exact zeros where the input cannot matter, equality with a numpy hand
computation, equality with the plain gradient when there is no ReLU, and the CLI grid."""

from __future__ import annotations

from pathlib import Path

import cv2
import numpy as np
import pytest

torch = pytest.importorskip(
    "torch", reason="torch is installed on Python 3.11 only (requirements/dev.in)"
)
from face_affect_ros.tools.explain import (  # noqa: E402
    guided_backprop,
    guided_relus,
    main,
    saliency_for_crop,
    saliency_to_uint8,
)
from face_affect_ros.tools.mini_xception import MiniXception  # noqa: E402
from face_affect_ros.tools.models import save_checkpoint  # noqa: E402
from torch import nn  # noqa: E402


def _seeded(module: nn.Module, seed: int) -> nn.Module:
    gen = torch.Generator().manual_seed(seed)
    with torch.no_grad():
        for p in module.parameters():
            p.copy_(torch.randn(p.shape, generator=gen) * 0.5)
    return module.double()


def test_zero_outside_receptive_field() -> None:
    # A 2x2 kernel with stride 4 never looks at rows / columns 2 and 3 of each 4-pixel cell.
    model = _seeded(
        nn.Sequential(nn.Conv2d(1, 4, 2, stride=4), nn.ReLU(), nn.Flatten(), nn.Linear(64, 3)), 0
    )
    x = torch.randn(2, 1, 16, 16, dtype=torch.float64, generator=torch.Generator().manual_seed(1))
    for cls in range(3):
        sal = guided_backprop(model, x, cls)
        unseen = (np.arange(16) % 4 >= 2)[:, None] | (np.arange(16) % 4 >= 2)[None, :]
        assert (sal[:, 0][:, torch.from_numpy(unseen)] == 0).all()
    assert (guided_backprop(model, x, 0)[:, 0][:, torch.from_numpy(~unseen)] != 0).any()


class Masked(nn.Module):
    def __init__(self) -> None:
        super().__init__()
        mask = torch.ones(1, 1, 12, 12, dtype=torch.float64)
        mask[..., 3:7, 5:10] = 0
        self.register_buffer("mask", mask)
        self.conv = nn.Conv2d(1, 3, 3, padding=1)
        self.relu = nn.ReLU()
        self.fc = nn.Linear(3 * 144, 2)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.fc(torch.flatten(self.relu(self.conv(x * self.mask)), 1))


def test_zero_where_input_is_masked() -> None:
    model = _seeded(Masked(), 2)
    x = torch.randn(1, 1, 12, 12, dtype=torch.float64, generator=torch.Generator().manual_seed(3))
    sal = guided_backprop(model, x, 1)[0, 0]
    assert (sal[3:7, 5:10] == 0).all()
    assert (sal != 0).sum() > 20


def _numpy_guided(x, w1, b1, w2, b2, wfc, cls):
    """Guided back-prop through conv3x3 - ReLU - conv2x2 - ReLU - linear, by hand."""
    c1, k1 = w1.shape[0], w1.shape[2]
    h1 = x.shape[0] - k1 + 1
    z1 = np.zeros((c1, h1, h1))
    for c in range(c1):
        for y in range(h1):
            for xx in range(h1):
                z1[c, y, xx] = b1[c] + np.sum(w1[c, 0] * x[y : y + k1, xx : xx + k1])
    a1 = np.maximum(z1, 0)
    c2, k2 = w2.shape[0], w2.shape[2]
    h2 = h1 - k2 + 1
    z2 = np.zeros((c2, h2, h2))
    for o in range(c2):
        for y in range(h2):
            for xx in range(h2):
                z2[o, y, xx] = b2[o] + np.sum(w2[o] * a1[:, y : y + k2, xx : xx + k2])
    # backward, guided: at each ReLU keep the gradient only where it is positive AND the
    # forward input was positive
    g_a2 = wfc[cls].reshape(c2, h2, h2)
    g_z2 = np.where(z2 > 0, np.maximum(g_a2, 0), 0.0)
    g_a1 = np.zeros_like(a1)
    for o in range(c2):
        for y in range(h2):
            for xx in range(h2):
                g_a1[:, y : y + k2, xx : xx + k2] += w2[o] * g_z2[o, y, xx]
    g_z1 = np.where(z1 > 0, np.maximum(g_a1, 0), 0.0)
    g_x = np.zeros_like(x)
    for c in range(c1):
        for y in range(h1):
            for xx in range(h1):
                g_x[y : y + k1, xx : xx + k1] += w1[c, 0] * g_z1[c, y, xx]
    return g_x


def test_equals_hand_computation() -> None:
    model = _seeded(
        nn.Sequential(
            nn.Conv2d(1, 2, 3),
            nn.ReLU(),
            nn.Conv2d(2, 2, 2),
            nn.ReLU(),
            nn.Flatten(),
            nn.Linear(18, 3),
        ),
        4,
    )
    x = torch.randn(1, 1, 6, 6, dtype=torch.float64, generator=torch.Generator().manual_seed(5))
    w = [p.detach().numpy() for p in model.parameters()]
    for cls in range(3):
        got = guided_backprop(model, x, cls)[0, 0].numpy()
        want = _numpy_guided(x[0, 0].numpy(), w[0], w[1], w[2], w[3], w[4], cls)
        np.testing.assert_allclose(got, want, rtol=1e-10, atol=1e-12)
    plain = guided_backprop(model, x, 0, guided=False)[0, 0].numpy()
    assert not np.allclose(plain, guided_backprop(model, x, 0)[0, 0].numpy())  # test has teeth


def test_without_relu_equals_plain_gradient() -> None:
    model = _seeded(
        nn.Sequential(
            nn.Conv2d(1, 3, 3),
            nn.Tanh(),
            nn.Conv2d(3, 2, 3),
            nn.Sigmoid(),
            nn.Flatten(),
            nn.Linear(2 * 4 * 4, 4),
        ),
        6,
    )
    x = torch.randn(3, 1, 8, 8, dtype=torch.float64, generator=torch.Generator().manual_seed(7))
    with guided_relus(model) as hooked:
        assert hooked == 0
    xr = x.clone().requires_grad_(True)
    (want,) = torch.autograd.grad(model(xr)[:, 2].sum(), xr)
    assert torch.equal(guided_backprop(model, x, 2), want)


def test_feature_map_target_and_model_left_unchanged() -> None:
    torch.manual_seed(0)
    model = MiniXception(num_classes=7)
    model.train()
    crop = np.random.default_rng(0).integers(0, 256, (80, 70), dtype=np.uint8)
    sal = saliency_for_crop(model, crop, 3)
    assert sal.shape == (64, 64) and sal.dtype == np.float32 and np.isfinite(sal).all()
    assert np.abs(sal).max() > 0
    assert model.training and model.return_logits is False
    assert all(not m._backward_hooks and not m._forward_hooks for m in model.modules())
    x = torch.from_numpy(crop[:64, :64].astype(np.float32) / 127.5 - 1)[None, None]
    fmap = guided_backprop(model, x, 5, layer="blocks.block4")
    assert fmap.shape == x.shape and torch.isfinite(fmap).all()
    with pytest.raises(ValueError, match="no layer"):
        guided_backprop(model, x, 0, layer="nope")
    assert saliency_to_uint8(np.zeros((4, 4))).tolist() == [[128] * 4] * 4


def test_cli_grid_with_shipped_weights(tmp_path: Path) -> None:
    out = tmp_path / "grid.png"
    assert main(["--count", "3", "--out", str(out)]) == 0
    img = cv2.imread(str(out))
    assert img is not None and img.shape[0] > 200 and img.shape[1] > 200


def test_cli_grid_with_checkpoint_and_image_folder(tmp_path: Path) -> None:
    torch.manual_seed(1)
    model = MiniXception(num_classes=2)
    ckpt = tmp_path / "model.pt"
    save_checkpoint(
        ckpt, model, "mini_xception", {"num_classes": 2}, ("woman", "man"), "gender", 64
    )
    faces = tmp_path / "faces"
    faces.mkdir()
    rng = np.random.default_rng(2)
    for i in range(2):
        cv2.imwrite(str(faces / f"{i}.png"), rng.integers(0, 256, (50, 50), dtype=np.uint8))
    out = tmp_path / "grid.png"
    assert (
        main(["--model", str(ckpt), "--images", str(faces), "--all-classes", "--out", str(out)])
        == 0
    )
    assert cv2.imread(str(out)) is not None
