"""Hostile compressed and raw frames, generated (never stored), for tests and bench_reliability.

Each generator builds the smallest input that showed a failure, or a family of inputs around it
(lying headers, chunk lengths, many scans), from a real encoded image whose header is then
rewritten. The issue's cases (13) are `png_dims`, `jpeg_dims`, `jpeg_lying_sof` and
`png_idat_length`; the others are our own.
"""

from __future__ import annotations

import struct
import zlib

import cv2
import numpy as np


def smooth_image(width: int, height: int, seed: int = 0) -> np.ndarray:
    """A BGR picture with some texture (encodes like a camera frame, not like noise)."""
    rng = np.random.default_rng(seed)
    small = rng.integers(0, 256, (max(height // 16, 2), max(width // 16, 2), 3), dtype=np.uint8)
    return cv2.resize(small, (width, height), interpolation=cv2.INTER_LINEAR)


def jpeg(image: np.ndarray, quality: int = 90, progressive: bool = False) -> bytes:
    """JPEG bytes of `image` as OpenCV (and so compressed_image_transport) writes them."""
    params = [cv2.IMWRITE_JPEG_QUALITY, quality, cv2.IMWRITE_JPEG_PROGRESSIVE, int(progressive)]
    ok, buf = cv2.imencode(".jpg", image, params)
    assert ok
    return buf.tobytes()


def png(image: np.ndarray, level: int = 3) -> bytes:
    """PNG bytes of `image` (8 or 16 bit, grey or colour, as the array is)."""
    ok, buf = cv2.imencode(".png", image, [cv2.IMWRITE_PNG_COMPRESSION, level])
    assert ok
    return buf.tobytes()


def chunk(ctype: bytes, payload: bytes) -> bytes:
    """One PNG chunk with a correct CRC."""
    return (
        struct.pack(">I", len(payload))
        + ctype
        + payload
        + struct.pack(">I", zlib.crc32(ctype + payload) & 0xFFFFFFFF)
    )


def png_raw(
    width: int,
    height: int,
    rows: bytes,
    depth: int = 8,
    colour: int = 2,
    interlace: int = 0,
    extra: bytes = b"",
    level: int = 9,
) -> bytes:
    """A PNG from already-filtered rows, with any IHDR (lying or not) and extra chunks."""
    ihdr = struct.pack(">IIBBBBB", width, height, depth, colour, 0, 0, interlace)
    return (
        b"\x89PNG\r\n\x1a\n"
        + chunk(b"IHDR", ihdr)
        + extra
        + chunk(b"IDAT", zlib.compress(rows, level))
        + chunk(b"IEND", b"")
    )


def png_dims(width: int = 20000, height: int = 20000) -> bytes:
    """A real, valid PNG of width x height, all black: a zlib bomb (20000^2 is ~390 KB)."""
    row = b"\x00" * (1 + width * 3)
    comp = zlib.compressobj(9)
    parts = [comp.compress(row) for _ in range(height)]
    parts.append(comp.flush())
    ihdr = struct.pack(">IIBBBBB", width, height, 8, 2, 0, 0, 0)
    return (
        b"\x89PNG\r\n\x1a\n"
        + chunk(b"IHDR", ihdr)
        + chunk(b"IDAT", b"".join(parts))
        + chunk(b"IEND", b"")
    )


def png_idat_length(length: int = 0xFFFFFFFF) -> bytes:
    """A 1x1 PNG whose IDAT chunk claims `length` bytes (69 bytes in all)."""
    good = png_raw(1, 1, b"\x00\x00\x00\x00")
    pos = 8 + 25  # signature + IHDR chunk
    return good[:pos] + struct.pack(">I", length) + good[pos + 4 :]


def set_jpeg_size(data: bytes, width: int, height: int) -> bytes:
    """`data` with its SOF's width and height replaced (a lying header)."""
    pos = 2
    while pos < len(data):
        marker = data[pos + 1]
        (length,) = struct.unpack_from(">H", data, pos + 2)
        if marker in (0xC0, 0xC1, 0xC2):
            return data[: pos + 5] + struct.pack(">HH", height, width) + data[pos + 9 :]
        pos += 2 + length
    raise ValueError("no SOF")


def jpeg_dims(width: int = 12000, height: int = 12000, quality: int = 75) -> bytes:
    """A real JPEG of width x height (flat content, so a few MB)."""
    return jpeg(np.full((height, width, 3), 128, np.uint8), quality)


def jpeg_lying_sof(width: int = 30000, height: int = 30000, seed: int = 0) -> bytes:
    """A 640x480 JPEG (~45 KB) whose SOF says width x height."""
    return set_jpeg_size(jpeg(smooth_image(640, 480, seed)), width, height)


def jpeg_many_scans(scans: int = 2000, size: int = 2048) -> bytes:
    """A progressive JPEG whose last scan is repeated `scans` times (a CPU bomb)."""
    data = jpeg(smooth_image(size, size), progressive=True)
    last = data.rfind(b"\xff\xda")
    body = data[last:-2]
    return data[:last] + body * scans + b"\xff\xd9"


def jpeg_two_sof() -> bytes:
    """A JPEG with a second SOF (declaring 30000x30000) inserted before its first scan."""
    data = jpeg(smooth_image(64, 48))
    sos = data.find(b"\xff\xda")
    sof = (
        b"\xff\xc0\x00\x11\x08"
        + struct.pack(">HH", 30000, 30000)
        + b"\x03\x01\x22\x00\x02\x11\x01\x03\x11\x01"
    )
    return data[:sos] + sof + data[sos:]


def bmp(image: np.ndarray) -> bytes:
    ok, buf = cv2.imencode(".bmp", image)
    assert ok
    return buf.tobytes()


def pgm(image: np.ndarray) -> bytes:
    ok, buf = cv2.imencode(".pgm", cv2.cvtColor(image, cv2.COLOR_BGR2GRAY))
    assert ok
    return buf.tobytes()


def mutate(data: bytes, n_bytes: int, rng: np.random.Generator, keep: int = 0) -> bytes:
    """`data` with `n_bytes` random bytes replaced at random positions after the first `keep`."""
    out = bytearray(data)
    positions = rng.integers(keep, len(out), n_bytes)
    out_vals = rng.integers(0, 256, n_bytes)
    for p, v in zip(positions, out_vals, strict=True):
        out[p] = v
    return bytes(out)


_ADAM7 = [
    (0, 0, 8, 8),
    (4, 0, 8, 8),
    (0, 4, 4, 8),
    (2, 0, 4, 4),
    (0, 2, 2, 4),
    (1, 0, 2, 2),
    (0, 1, 1, 2),
]


def png_interlaced(image: np.ndarray) -> bytes:
    """An Adam7-interlaced 8-bit RGB PNG of a BGR image (OpenCV cannot write one)."""
    rgb = image[:, :, ::-1]
    h, w = rgb.shape[:2]
    rows = []
    for x0, y0, dx, dy in _ADAM7:
        sub = rgb[y0::dy, x0::dx]
        if sub.size == 0:
            continue
        for r in sub:
            rows.append(b"\x00" + r.tobytes())
    return png_raw(w, h, b"".join(rows), interlace=1)


def png_palette(indices: np.ndarray, palette: np.ndarray) -> bytes:
    """An 8-bit palette PNG: `indices` HxW uint8 into `palette` Nx3 RGB."""
    h, w = indices.shape
    rows = b"".join(b"\x00" + r.tobytes() for r in indices)
    return png_raw(w, h, rows, colour=3, extra=chunk(b"PLTE", palette.astype(np.uint8).tobytes()))


def png_grey_alpha(grey: np.ndarray, alpha: np.ndarray) -> bytes:
    """An 8-bit grey+alpha PNG."""
    h, w = grey.shape
    ga = np.stack([grey, alpha], axis=-1)
    rows = b"".join(b"\x00" + r.tobytes() for r in ga)
    return png_raw(w, h, rows, colour=4)
