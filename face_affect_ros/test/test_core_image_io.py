"""core.image_io: every supported encoding decodes to the same BGR picture; bad frames raise."""

from __future__ import annotations

import cv2
import numpy as np
import pytest
from face_affect_ros.core import frames, image_io


@pytest.fixture(scope="module")
def bgr() -> np.ndarray:
    rng = np.random.default_rng(0)
    # Smooth content so chroma-subsampled YUV round trips stay close.
    small = rng.integers(0, 256, (6, 8, 3), dtype=np.uint8)
    return cv2.resize(small, (64, 48), interpolation=cv2.INTER_LINEAR)


def _raw(image: np.ndarray, pad: int = 0) -> tuple[int, bytes]:
    h = image.shape[0]
    rows = image.reshape(h, -1)
    padded = np.zeros((h, rows.shape[1] + pad), np.uint8)
    padded[:, : rows.shape[1]] = rows
    return padded.shape[1], padded.tobytes()


@pytest.mark.parametrize(
    ("encoding", "convert"),
    [
        ("bgr8", None),
        ("rgb8", cv2.COLOR_BGR2RGB),
        ("bgra8", cv2.COLOR_BGR2BGRA),
        ("rgba8", cv2.COLOR_BGR2RGBA),
    ],
)
@pytest.mark.parametrize("pad", [0, 5])
def test_colour_encodings_decode_to_bgr(bgr, encoding, convert, pad) -> None:
    src = bgr if convert is None else cv2.cvtColor(bgr, convert)
    step, data = _raw(src, pad)
    out = image_io.decode_raw(encoding, 64, 48, step, data)
    assert out.shape == (48, 64, 3) and out.dtype == np.uint8
    np.testing.assert_array_equal(out, bgr)


def test_mono8_is_2d(bgr) -> None:
    gray = cv2.cvtColor(bgr, cv2.COLOR_BGR2GRAY)
    step, data = _raw(gray, pad=3)
    out = image_io.decode_raw("mono8", 64, 48, step, data)
    assert out.shape == (48, 64)
    np.testing.assert_array_equal(out, gray)


@pytest.mark.parametrize("encoding", ["yuv422", "uyvy", "yuv422_yuy2", "yuyv"])
def test_yuv422_decodes_close_to_source(bgr, encoding) -> None:
    # Build the packed YUV 4:2:2 buffer from the BGR source by hand (BT.601, as OpenCV decodes).
    b, g, r = (bgr[..., i].astype(np.float64) for i in range(3))
    y = 0.299 * r + 0.587 * g + 0.114 * b
    u = (b - y) * 0.564 + 128
    v = (r - y) * 0.713 + 128
    u2 = (u[:, 0::2] + u[:, 1::2]) / 2
    v2 = (v[:, 0::2] + v[:, 1::2]) / 2
    packed = np.zeros((48, 32, 4))
    if encoding in ("yuv422", "uyvy"):
        packed[..., 0], packed[..., 1], packed[..., 2], packed[..., 3] = (
            u2,
            y[:, 0::2],
            v2,
            y[:, 1::2],
        )
    else:
        packed[..., 0], packed[..., 1], packed[..., 2], packed[..., 3] = (
            y[:, 0::2],
            u2,
            y[:, 1::2],
            v2,
        )
    data = np.clip(np.round(packed), 0, 255).astype(np.uint8).tobytes()
    out = image_io.decode_raw(encoding, 64, 48, 128, data)
    assert out.shape == (48, 64, 3)
    err = np.abs(out.astype(int) - bgr.astype(int)).mean()
    # OpenCV decodes with video-range coefficients, hence a few levels off; the other byte order
    # (the bug this guards against) is far worse.
    other = "yuyv" if encoding in ("yuv422", "uyvy") else "uyvy"
    wrong = image_io.decode_raw(other, 64, 48, 128, data)
    assert err < 10
    assert np.abs(wrong.astype(int) - bgr.astype(int)).mean() > 3 * err


@pytest.mark.parametrize(
    ("encoding", "width", "height", "step", "size", "match"),
    [
        ("16UC1", 4, 4, 8, 32, "unsupported encoding '16UC1'"),
        ("bayer_rggb8", 4, 4, 4, 16, "unsupported encoding"),
        ("bgr8", 0, 4, 0, 0, "empty image"),
        ("bgr8", 4, 4, 12, 47, "data length 47 does not match"),
        ("bgr8", 4, 4, 11, 44, "step 11 is less than"),
        ("mono8", 100_000, 100_000, 100_000, 1, "exceeds the limit"),
    ],
)
def test_bad_frames_raise_with_reason(encoding, width, height, step, size, match) -> None:
    with pytest.raises(image_io.ImageDecodeError, match=match):
        image_io.decode_raw(encoding, width, height, step, bytes(size))


def test_unsupported_is_distinguishable() -> None:
    with pytest.raises(image_io.UnsupportedEncodingError):
        image_io.decode_raw("32FC1", 2, 2, 8, bytes(16))


def test_compressed_roundtrip_and_corrupt(bgr) -> None:
    ok, png = cv2.imencode(".png", bgr)
    assert ok
    np.testing.assert_array_equal(image_io.decode_compressed("png", png.tobytes()), bgr)
    ok, jpg = cv2.imencode(".jpg", bgr)
    with pytest.raises(image_io.ImageDecodeError, match="corrupt"):
        image_io.decode_compressed("jpeg", b"\xff\xd8" + bytes(range(256)) * 4 + b"\xff\xd9")
    with pytest.raises(image_io.ImageDecodeError, match="truncated JPEG"):
        image_io.decode_compressed("jpeg", jpg.tobytes()[: len(jpg) // 2])
    assert image_io.decode_compressed("jpeg", jpg.tobytes() + bytes(4)).shape == bgr.shape
    with pytest.raises(image_io.ImageDecodeError, match="empty"):
        image_io.decode_compressed("jpeg", b"")


def test_latest_frame_keeps_newest_and_counts_drops() -> None:
    slot: frames.LatestFrame[int] = frames.LatestFrame()
    assert slot.put(1) is False
    assert slot.put(2) is True
    assert slot.put(3) is True
    assert slot.take(0) == 3
    assert (slot.received, slot.dropped) == (3, 2)
    assert slot.take(0.01) is None
    slot.close()
    assert slot.take(None) is None  # returns at once after close


def test_rate_limiter_caps_rate() -> None:
    limiter = frames.RateLimiter(10.0)
    times = np.arange(0, 2.0, 1 / 30)  # 30 Hz for 2 s
    accepted = sum(limiter.allow(float(t)) for t in times)
    assert 19 <= accepted <= 21
    limiter.max_rate = 0.0
    assert all(limiter.allow(float(t)) for t in times)
    with pytest.raises(ValueError, match="max_rate"):
        limiter.max_rate = -1


def test_stamp_cache_bounded_and_counts() -> None:
    cache: frames.StampCache[str] = frames.StampCache(2)
    cache.put(1, "a")
    cache.put(2, "b")
    cache.put(3, "c")
    assert len(cache) == 2 and cache.evicted == 1
    assert cache.pop(1) is None and cache.misses == 1
    assert cache.pop(3) == "c"
    assert cache.pop(3) is None and cache.misses == 2
