"""core.image_io: every supported encoding decodes to the same BGR picture; bad frames raise."""

from __future__ import annotations

import os
import subprocess
import sys
import textwrap
import zlib
from pathlib import Path

import cv2
import hostile_inputs as H  # noqa: N812
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
    with pytest.raises(image_io.ImageDecodeError, match="neither JPEG nor PNG"):
        image_io.decode_compressed("jpeg", b"\xff\xd8" + bytes(range(256)) * 4 + b"\xff\xd9")
    with pytest.raises(image_io.ImageDecodeError, match="corrupt JPEG, truncated"):
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


# ---- hostile compressed frames (issue 13) --------------------------------------------------------
# Every refusal below must happen before OpenCV's decoder runs: a spy on cv2.imdecode proves it.


@pytest.fixture
def imdecode_calls(monkeypatch) -> list[int]:
    calls: list[int] = []
    real = cv2.imdecode

    def spy(buf, flags):
        calls.append(len(buf))
        return real(buf, flags)

    monkeypatch.setattr(image_io.cv2, "imdecode", spy)
    return calls


def _refused(data: bytes, reason: str, max_pixels: int = image_io.DEFAULT_MAX_PIXELS, fmt="x"):
    with pytest.raises(image_io.ImageDecodeError) as info:
        image_io.decode_compressed(fmt, data, max_pixels)
    assert info.value.reason == reason, str(info.value)
    return str(info.value)


def test_issue_bombs_refused_from_the_header(imdecode_calls) -> None:
    # The issue's four cases, at the smallest size that keeps each one's shape: a real PNG and a
    # real JPEG over the limit (scaled down with the limit), a 640x480 JPEG whose SOF says
    # 30000x30000, and the 69-byte PNG whose IDAT claims 0xFFFFFFFF bytes.
    assert "refused from its header" in _refused(H.png_dims(1100, 1000), "too_large", 1_000_000)
    assert "1200x1200" in _refused(H.jpeg_dims(1200, 1200), "too_large", 1_000_000)
    assert "30000x30000" in _refused(H.jpeg_lying_sof(30000, 30000), "too_large")
    idat = H.png_idat_length(0xFFFFFFFF)
    assert len(idat) == 69
    assert "IDAT claims 4294967295 bytes" in _refused(idat, "corrupt")
    assert imdecode_calls == []


@pytest.mark.parametrize("seed", range(3))
def test_random_lying_jpeg_sizes_never_decode_past_the_limit(seed, imdecode_calls) -> None:
    rng = np.random.default_rng(seed)
    good = H.jpeg(H.smooth_image(64, 48, seed))
    limit = 200_000
    for _ in range(60):
        w, h = (int(v) for v in rng.integers(1, 65536, 2))
        data = H.set_jpeg_size(good, w, h)
        before = len(imdecode_calls)
        try:
            out = image_io.decode_compressed("jpeg", data, limit)
        except image_io.ImageDecodeError as exc:
            assert exc.reason in ("too_large", "corrupt"), str(exc)
            if w * h > limit:
                assert exc.reason == "too_large" and len(imdecode_calls) == before
        else:
            assert out.shape[:2] == (h, w) and w * h <= limit


@pytest.mark.parametrize("seed", range(3))
def test_random_png_chunk_lengths_are_checked_against_the_data(seed, imdecode_calls) -> None:
    rng = np.random.default_rng(seed)
    good = H.png(H.smooth_image(32, 24, seed))
    for _ in range(100):
        data = bytearray(good)
        pos = 8 + 25  # the chunk after IHDR
        data[pos : pos + 4] = int(rng.integers(len(good), 2**32)).to_bytes(4, "big")
        _refused(bytes(data), "corrupt")
    w, h = (int(v) for v in rng.integers(1, 2**31, 2))
    lying = H.png_raw(w, h, b"\x00" * 10)
    assert _refused(lying, "too_large" if w * h > image_io.DEFAULT_MAX_PIXELS else "corrupt")
    assert imdecode_calls == []


def test_in_limit_lying_headers_refused_before_decoding(imdecode_calls) -> None:
    # Within the pixel limit but the data cannot hold the picture: refused without decoding
    # (a 45 KB JPEG claiming 8000x8000 would otherwise cost ~200 MB and seconds of grey fill).
    assert "at least" in _refused(H.jpeg_lying_sof(8000, 8000), "corrupt")
    assert "deflate cannot hold it" in _refused(H.png_raw(8000, 8000, b"\x00" * 100), "corrupt")
    assert imdecode_calls == []


def test_jpeg_structure_bombs(imdecode_calls) -> None:
    assert "more than one SOF" in _refused(H.jpeg_two_sof(), "corrupt")
    assert "scans" in _refused(H.jpeg_many_scans(image_io.MAX_JPEG_SCANS + 5, 64), "corrupt")
    # 12-bit, lossless and arithmetic JPEGs: well-formed, not what a camera stream carries.
    base = H.jpeg(H.smooth_image(32, 32))
    sof = base.find(b"\xff\xc0")
    for marker, word in ((b"\xff\xc3", "lossless"), (b"\xff\xc9", "arithmetic")):
        _refused(base[:sof] + marker + base[sof + 2 :], "unsupported_encoding")
        assert word in str(_refused(base[:sof] + marker + base[sof + 2 :], "unsupported_encoding"))
    twelve = bytearray(base)
    twelve[sof + 4] = 12
    assert "12-bit" in _refused(bytes(twelve), "unsupported_encoding")
    assert imdecode_calls == []


def test_progressive_jpeg_decodes_like_baseline(bgr) -> None:
    base = image_io.decode_compressed("jpeg", H.jpeg(bgr, 95))
    prog = image_io.decode_compressed("jpeg", H.jpeg(bgr, 95, progressive=True))
    assert prog.shape == base.shape
    assert np.abs(prog.astype(int) - base.astype(int)).mean() < 2
    header = image_io.read_compressed_header(H.jpeg(bgr, 95, progressive=True))
    assert header.detail.startswith("progressive") and (header.width, header.height) == (64, 48)


def test_png_variants_decode_exactly(bgr) -> None:
    np.testing.assert_array_equal(image_io.decode_compressed("png", H.png_interlaced(bgr)), bgr)
    np.testing.assert_array_equal(
        image_io.decode_compressed("png", H.png(bgr.astype(np.uint16) * 257)), bgr
    )
    rng = np.random.default_rng(1)
    palette = rng.integers(0, 256, (16, 3), dtype=np.uint8)
    idx = rng.integers(0, 16, (48, 64), dtype=np.uint8)
    out = image_io.decode_compressed("png", H.png_palette(idx, palette))
    np.testing.assert_array_equal(out, palette[idx][:, :, ::-1])
    grey = bgr[:, :, 1].copy()
    out = image_io.decode_compressed("png", H.png_grey_alpha(grey, 255 - grey))
    np.testing.assert_array_equal(out, np.dstack([grey] * 3))


def test_png_ancillary_chunks_dropped_before_decoding(bgr) -> None:
    # A zTXt "bomb" and an APNG control chunk do not reach libpng; the picture is the same.
    good = H.png(bgr)
    extra = H.chunk(b"zTXt", b"k\x00\x00" + zlib.compress(b"\x00" * 50_000_000, 9))
    extra += H.chunk(b"acTL", b"\x00\x00\x00\x02\x00\x00\x00\x00")
    data = good[:33] + extra + good[33:]
    np.testing.assert_array_equal(image_io.decode_compressed("png", data), bgr)


def test_sixteen_bit_grey_png_is_depth_and_refused() -> None:
    depth = np.arange(48 * 64, dtype=np.uint16).reshape(48, 64)
    assert "depth" in _refused(H.png(depth), "unsupported_encoding")
    assert "depth" in _refused(
        H.png(np.zeros((4, 4, 3), np.uint8)),
        "unsupported_encoding",
        fmt="16UC1; compressedDepth png",
    )


@pytest.mark.parametrize("kind", ["bmp", "pgm", "tiff", "webp", "garbage"])
def test_only_jpeg_and_png_are_accepted(bgr, kind, imdecode_calls) -> None:
    # The issue: BMP and PGM payloads were decoded although only JPEG and PNG are documented.
    if kind == "garbage":
        data = bytes(range(256))
    else:
        ext = {"bmp": ".bmp", "pgm": ".pgm", "tiff": ".tiff", "webp": ".webp"}[kind]
        src = cv2.cvtColor(bgr, cv2.COLOR_BGR2GRAY) if kind == "pgm" else bgr
        ok, buf = cv2.imencode(ext, src)
        assert ok
        data = buf.tobytes()
    assert "neither JPEG nor PNG" in _refused(data, "unsupported_encoding")
    assert imdecode_calls == []


def test_truncated_frames_refused_at_every_cut(bgr) -> None:
    for data in (H.jpeg(bgr), H.png(bgr), H.jpeg(bgr, progressive=True)):
        for cut in range(1, len(data) - 1, max(1, len(data) // 40)):
            with pytest.raises(image_io.ImageDecodeError):
                image_io.decode_compressed("x", data[:cut])


def test_damaged_jpeg_refused_and_decoder_noise_captured(bgr, capfd) -> None:
    # One changed byte in the entropy-coded data: libjpeg prints "Corrupt JPEG data: ..." and
    # still returns a picture. The frame is refused, the message is in the error, not on stderr.
    good = H.jpeg(H.smooth_image(320, 240))
    sos = good.find(b"\xff\xda")
    rng = np.random.default_rng(0)
    reasons = []
    for _ in range(40):
        data = H.mutate(good, 3, rng, keep=sos + 20)
        try:
            image_io.decode_compressed("jpeg", data)
        except image_io.ImageDecodeError as exc:
            reasons.append(str(exc))
    assert any("Corrupt JPEG data" in r or "Huffman" in r for r in reasons), reasons[:3]
    assert capfd.readouterr().err == ""


def test_junk_between_segments_is_decoded_and_reported(bgr, capfd) -> None:
    # Some USB cameras pad each MJPEG frame before EOI; libjpeg skips the junk with a warning.
    good = H.jpeg(bgr)
    padded = good[:-2] + b"\x00\x11\x22" + good[-2:]
    warnings: list[str] = []
    out = image_io.decode_compressed("jpeg", padded, warnings=warnings)
    np.testing.assert_array_equal(out, image_io.decode_compressed("jpeg", good))
    assert warnings and "extraneous bytes" in warnings[0]
    # Entropy data thrown out of step by a changed byte ends with tens to thousands of
    # "extraneous" bytes: beyond MAX_PADDING_BYTES the frame is damaged and refused.
    junk = bytes(range(1, image_io.MAX_PADDING_BYTES + 2))
    assert "extraneous" in _refused(good[:-2] + junk + good[-2:], "corrupt")
    assert capfd.readouterr().err == ""


def test_other_threads_log_lines_survive_the_capture(capfd) -> None:
    with image_io._captured_stderr() as lines:
        os.write(2, b"[WARN] [1700000000.1] [node]: from another thread\n")
        os.write(2, b"\x1b[33m[WARN] [1700000000.2] [node]: coloured\x1b[0m\n")
        os.write(2, b"libpng warning: from the codec\n")
    assert lines == [b"libpng warning: from the codec"]
    err = capfd.readouterr().err
    assert "from another thread" in err and "coloured" in err


@pytest.mark.parametrize("encoding", ["yuv422", "uyvy", "yuv422_yuy2", "yuyv"])
@pytest.mark.parametrize("width", [1, 3, 7])
def test_odd_width_yuv_is_a_bad_image(encoding, width) -> None:
    # Was an OpenCV assertion counted as error_processing with an ERROR line.
    with pytest.raises(image_io.ImageDecodeError, match="must be even") as info:
        image_io.decode_raw(encoding, width, 2, width * 2, bytes(width * 4))
    assert info.value.reason == "bad_image"


def test_hostile_encoding_string_is_bounded_in_the_message() -> None:
    with pytest.raises(image_io.UnsupportedEncodingError) as info:
        image_io.decode_raw("\x1b[31m" + "z" * 10_000, 2, 2, 4, bytes(8))
    assert len(str(info.value)) < 400 and "\x1b" not in str(info.value)


def test_bombs_stay_within_memory_in_a_capped_process(tmp_path) -> None:
    # The issue's real cases at full size, decoded in a child whose address space is capped at
    # 600 MB over its start: a decoder that allocated the declared image would fail there.
    script = tmp_path / "child.py"
    script.write_text(
        textwrap.dedent(
            f"""
            import resource, sys
            sys.path.insert(0, {str(Path(__file__).parent)!r})
            import hostile_inputs as H
            from face_affect_ros.core import image_io
            cases = [H.png_idat_length(), H.jpeg_lying_sof(30000, 30000),
                     H.set_jpeg_size(H.jpeg_dims(1200, 1200), 12000, 12000),
                     H.png_raw(20000, 20000, bytes(1000))]
            soft, hard = resource.getrlimit(resource.RLIMIT_AS)
            vm = int(open("/proc/self/statm").read().split()[0]) * resource.getpagesize()
            resource.setrlimit(resource.RLIMIT_AS, (vm + 600 * 2**20, hard))
            for data in cases:
                try:
                    image_io.decode_compressed("x", data)
                    print("decoded")
                except image_io.ImageDecodeError as exc:
                    print(exc.reason)
            """
        )
    )
    out = subprocess.run([sys.executable, str(script)], capture_output=True, text=True, timeout=120)
    assert out.returncode == 0, out.stderr[-2000:]
    assert out.stdout.split() == ["corrupt", "too_large", "too_large", "too_large"]


def test_stamp_gap_counter_estimates_frames_lost_before_the_node() -> None:
    gaps = frames.StampGapCounter()
    period = 33_333_333  # 30 Hz
    rng = np.random.default_rng(0)
    stamps = [int(i * period + rng.normal(0, 2e6)) for i in range(300)]
    lost = set(rng.choice(np.arange(10, 300), 60, replace=False).tolist())
    for i, s in enumerate(stamps):
        if i not in lost:
            gaps.observe(s)
    assert abs(gaps.missing - 60) <= 3  # runs of neighbours are one gap of several periods
    before = gaps.missing
    gaps.observe(stamps[-1] - 10**9)  # backwards: a bag loop, not losses
    gaps.observe(stamps[-1] + 10 * 10**9)  # a 10 s pause, not 300 lost frames
    assert gaps.missing == before and gaps.restarts == 2
    # Bursty stamps (pairs 1 ms apart every 33 ms): no steady period, nothing made up.
    bursty = frames.StampGapCounter()
    for i in range(200):
        bursty.observe(i // 2 * period + (i % 2) * 1_000_000)
    assert bursty.missing == 0
    # A camera that halves its rate is followed, not counted as losing every other frame.
    slower = frames.StampGapCounter()
    for i in range(60):
        slower.observe(i * period)
    for i in range(200):
        slower.observe(60 * period + i * 2 * period)
    assert slower.missing == 0 and slower.observe(60 * period + 200 * 2 * period) == 0


def test_fuzzed_compressed_frames_only_raise_decode_errors(bgr, capfd) -> None:
    # 3,000 mutated / truncated / spliced JPEG and PNG frames: each either decodes to the size
    # its header declares (within the limit) or raises ImageDecodeError; nothing reaches stderr.
    rng = np.random.default_rng(7)
    sources = [H.jpeg(bgr), H.jpeg(bgr, progressive=True), H.png(bgr), H.png_interlaced(bgr)]
    outcomes: dict[str, int] = {}
    for k in range(3000):
        src = sources[k % len(sources)]
        choice = k % 3
        if choice == 0:
            data = H.mutate(src, int(rng.integers(1, 40)), rng, keep=2)
        elif choice == 1:
            data = src[: int(rng.integers(0, len(src)))]
        else:
            cut = int(rng.integers(0, len(src)))
            other = sources[int(rng.integers(0, len(sources)))]
            data = src[:cut] + other[int(rng.integers(0, len(other))) :]
        try:
            out = image_io.decode_compressed("x", data, max_pixels=100_000)
        except image_io.ImageDecodeError as exc:
            outcomes[exc.reason] = outcomes.get(exc.reason, 0) + 1
        else:
            assert out.dtype == np.uint8 and out.shape[0] * out.shape[1] <= 100_000
            outcomes["decoded"] = outcomes.get("decoded", 0) + 1
    assert outcomes.get("corrupt", 0) > 1000, outcomes
    assert capfd.readouterr().err == ""


def test_fuzzed_raw_frames_only_raise_decode_errors() -> None:
    rng = np.random.default_rng(8)
    names = [*image_io.SUPPORTED_ENCODINGS, "16UC1", "", "bgr8\x00"]
    for _ in range(3000):
        enc = names[int(rng.integers(0, len(names)))]
        w, h = int(rng.integers(0, 40)), int(rng.integers(0, 40))
        step = int(rng.integers(0, 200))
        data = bytes(int(rng.integers(0, 5000)))
        if rng.random() < 0.3:  # a consistent length, so the conversion itself runs
            data = bytes(step * h)
        try:
            out = image_io.decode_raw(enc, w, h, step, data, max_pixels=1000)
        except image_io.ImageDecodeError:
            continue
        assert out.shape[:2] == (h, w)
