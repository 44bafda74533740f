"""The converter reproduces the shipped models byte for byte, and the PyTorch model is exact.

Needs torch + h5py (the test environment has them on Python 3.11) and the upstream files, which
the repository keeps in upstream/ (so this runs on any fresh clone).
"""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

torch = pytest.importorskip(
    "torch", reason="torch is installed on Python 3.11 only (requirements/dev.in)"
)
pytest.importorskip("h5py")
onnx = pytest.importorskip("onnx")

from face_affect_ros.tools.mini_xception import (  # noqa: E402 - after the importorskips
    MaxPool2dSame,
    MiniXception,
    load_keras_hdf5,
    tf_same_padding,
)

PACKAGE_DIR = Path(__file__).resolve().parents[1]
MODELS_DIR = PACKAGE_DIR / "models"
UPSTREAM = PACKAGE_DIR.parent / "upstream"
EMOTION_H5 = UPSTREAM / "face_classification" / "fer2013_mini_XCEPTION.102-0.66.hdf5"

#: Manifests the converter writes (the dlib-models files are copied from a wheel instead, and
#: test_soft_biometrics.py checks them against it).
CONVERTED = sorted(
    p.name
    for p in MODELS_DIR.glob("*.json")
    if json.loads(p.read_text(encoding="utf-8"))["regenerate"].startswith(
        "python -m face_affect_ros.tools.convert"
    )
)


@pytest.fixture(scope="module")
def converted(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """Run the real command line in a subprocess, so its global torch settings stay there."""
    out = tmp_path_factory.mktemp("models")
    cmd = [sys.executable, "-m", "face_affect_ros.tools.convert"]
    subprocess.run(
        [*cmd, "--upstream", str(UPSTREAM), "--out", str(out)],
        cwd=PACKAGE_DIR,
        check=True,
        capture_output=True,
        text=True,
        timeout=600,
    )
    return out


@pytest.mark.parametrize("name", [n.replace(".json", ".onnx") for n in CONVERTED])
def test_onnx_is_byte_identical(converted: Path, name: str) -> None:
    shipped = (MODELS_DIR / name).read_bytes()
    fresh = (converted / name).read_bytes()
    if fresh != shipped:
        made_by = onnx.load_from_string(shipped).producer_version
        pytest.fail(
            f"{name}: regenerated file differs from the shipped one (shipped made by "
            f"torch {made_by}, this run has torch {torch.__version__}); rerun "
            "python -m face_affect_ros.tools.convert and commit the result if intended"
        )


@pytest.mark.parametrize("name", sorted(p.name for p in MODELS_DIR.glob("LICENSE.*")))
def test_licences_are_copied(converted: Path, name: str) -> None:
    assert (converted / name).read_bytes() == (MODELS_DIR / name).read_bytes()


@pytest.mark.parametrize("name", CONVERTED)
def test_manifests_are_regenerated(converted: Path, name: str) -> None:
    shipped = json.loads((MODELS_DIR / name).read_text(encoding="utf-8"))
    fresh = json.loads((converted / name).read_text(encoding="utf-8"))
    # The fidelity record names the onnxruntime that measured it; compare the numbers only.
    shipped_fid, fresh_fid = shipped.pop("fidelity", None), fresh.pop("fidelity", None)
    assert fresh == shipped
    assert (shipped_fid is None) == (fresh_fid is None)
    if shipped_fid:
        assert fresh_fid["top1_agreement"] == shipped_fid["top1_agreement"]
        assert fresh_fid["max_abs_prob_diff"] == pytest.approx(
            shipped_fid["max_abs_prob_diff"], abs=1e-6
        )


def test_tf_same_padding_is_asymmetric_like_tensorflow() -> None:
    # 3x3 stride-2 'same' pooling on the sizes the 64x64 model sees: 60, 30, 15, 8.
    assert tf_same_padding(60, 3, 2) == (0, 1)
    assert tf_same_padding(30, 3, 2) == (0, 1)
    assert tf_same_padding(15, 3, 2) == (1, 1)
    assert tf_same_padding(8, 3, 2) == (0, 1)
    # 1x1 stride-2 shortcut never pads, so nn.Conv2d(padding=0) is exact.
    assert all(tf_same_padding(n, 1, 2) == (0, 0) for n in range(1, 70))


def test_max_pool_same_windows() -> None:
    x = torch.arange(36, dtype=torch.float32).reshape(1, 1, 6, 6)
    y = MaxPool2dSame(3, 2)(x)
    # Windows start at rows/cols 0, 2, 4 (no top/left padding); the last one runs off the edge.
    expected = torch.tensor([[14.0, 16.0, 17.0], [26.0, 28.0, 29.0], [32.0, 34.0, 35.0]])
    assert torch.equal(y[0, 0], expected)
    neg = MaxPool2dSame(3, 2)(-torch.ones(1, 1, 6, 6))
    assert torch.equal(neg, -torch.ones(1, 1, 3, 3)), "padding must never win the max"


def test_model_is_tool_friendly() -> None:
    model = MiniXception(num_classes=3, in_channels=1).eval()
    names = dict(model.named_modules())
    assert isinstance(names["stem.relu1"], torch.nn.ReLU)
    assert isinstance(names["blocks.block4.relu"], torch.nn.ReLU)
    assert "blocks.block2.sep1.depthwise" in names and "blocks.block2.shortcut.conv" in names
    x = torch.zeros(2, 1, 64, 64)
    with torch.no_grad():
        probs = model(x)
        model.return_logits = True
        logits = model(x)
    assert probs.shape == logits.shape == (2, 3)
    torch.testing.assert_close(probs, torch.softmax(logits, dim=1))


def test_loader_uses_every_stored_value() -> None:
    model, info = load_keras_hdf5(EMOTION_H5)
    assert info.keras_version == "2.0.5"
    assert info.stored_values == 58423  # weights + BN statistics, as PROVENANCE.md says
    assert info.num_classes == 7 and info.filters == (16, 32, 64, 128)
    assert info.bn_epsilon == pytest.approx(1e-3)
    params = sum(p.numel() for p in model.parameters())
    buffers = sum(b.numel() for n, b in model.named_buffers() if not n.endswith("tracked"))
    assert params + buffers == info.stored_values
    assert not model.training


def test_keras_weights_in_torch_match_the_fixture() -> None:
    """The PyTorch model itself (not only the export) reproduces Keras on the real faces."""
    model, _ = load_keras_hdf5(EMOTION_H5)
    with np.load(PACKAGE_DIR / "test" / "fixtures" / "keras_reference.npz") as ref:
        crops, want = ref["inputs"][:16], ref["emotion"][:16]
    x = ((crops.astype(np.float32) / 255.0 - 0.5) * 2.0)[:, np.newaxis]
    with torch.no_grad():
        got = model(torch.from_numpy(x)).numpy()
    np.testing.assert_allclose(got, want, atol=1e-5)
