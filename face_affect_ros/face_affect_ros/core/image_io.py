"""Turn raw camera buffers into the arrays the pipeline takes, without ROS.

Why here and not in a node: the rules of each pixel encoding (bytes per pixel, channel order, row
padding) are image math that plain pytest must reach, and the bag tool needs them too. The nodes
pass the fields of a sensor_msgs/Image or CompressedImage and get an array or a clear error.

Output is BGR uint8 HxWx3 for colour encodings and HxW for mono8: the two layouts the detector and
classifiers accept. Row padding (step > width * bytes per pixel) is handled by a strided view,
so bgr8 and mono8 frames are never copied.

Compressed frames come from the network, so nothing in them is trusted before it is checked
(see `read_compressed_header`): the JPEG segments and PNG chunks are walked in Python first, and
the frame is refused from its declared size, its structure or its chunk lengths before OpenCV
allocates anything. What OpenCV is then given can make it allocate at most the output image and
the codec's working buffers, all bounded by the pixel limit (see `DECODE_BYTES_PER_PIXEL`).
"""

from __future__ import annotations

import os
import re
import struct
import tempfile
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass

import cv2
import numpy as np

# Refuse frames above this many pixels: a corrupt header claiming 100000x100000 must not make the
# node allocate tens of gigabytes. 8192 x 8192 covers every camera a service robot carries.
DEFAULT_MAX_PIXELS = 8192 * 8192

# Worst-case bytes OpenCV allocates per pixel of an accepted compressed frame: the 3-byte BGR
# output plus, for a progressive JPEG, libjpeg's whole-image coefficient buffer (2 bytes per
# sample, at most 4 full-resolution components). Baseline JPEG and PNG need the output plus a few
# rows. So decoding never allocates more than max_pixels * DECODE_BYTES_PER_PIXEL bytes.
DECODE_BYTES_PER_PIXEL = 3 + 2 * 4

# Compressed formats accepted: exactly what compressed_image_transport publishes for a camera
# (its `format` field reads "<encoding>; jpeg compressed bgr8" / "...; png compressed bgr8", or
# plain "jpeg" / "png" from older versions). The bytes decide, never the free-form string.
COMPRESSED_FORMATS: tuple[str, ...] = ("jpeg", "png")

# A JPEG with more scans than this is refused: each scan of a progressive JPEG makes libjpeg walk
# the whole coefficient buffer, so a few kilobytes of empty scans cost seconds of CPU. libjpeg's
# own progressive mode writes 10 scans for colour, 6 for grey; libjpeg-turbo's documentation
# suggests a limit of 500 for untrusted input, we take a tighter one that no camera comes near.
MAX_JPEG_SCANS = 100

# libjpeg warnings that do not mean the pixels are damaged: a few junk bytes between segments
# (Logitech C270 / C910 and other USB cameras pad MJPEG frames with 1-10 bytes before restart
# markers, every frame, the picture intact) and an unknown JFIF minor version. Frames with only
# these are decoded and the warning reported. Measured on 752 damaged JPEGs (bench_reliability
# --parts policy): entropy data thrown out of step by a changed byte ends with 33 to 13,000
# "extraneous bytes", so more than MAX_PADDING_BYTES of them refuse the frame, as does any other
# decoder message.
MAX_PADDING_BYTES = 16
_EXTRANEOUS = re.compile(
    rb"^Corrupt JPEG data: (\d+) extraneous bytes before marker 0x[0-9a-f]{2}$"
)
_BENIGN_JFIF = re.compile(rb"^Warning: unknown JFIF revision number \d+\.\d+$")


def _benign(message: bytes) -> bool:
    m = _EXTRANEOUS.match(message)
    if m is not None:
        return int(m.group(1)) <= MAX_PADDING_BYTES
    return _BENIGN_JFIF.match(message) is not None


# Lines written to stderr by another thread while a decode had it redirected: rcutils' console
# format ("[WARN] [1700000000.123] [node]: ...", colourised or not) and Python tracebacks are
# given back to stderr, not taken for the codec's.
_FOREIGN_LINE = re.compile(
    rb"^((\x1b\[[0-9;]*m)*\[(DEBUG|INFO|WARN|ERROR|FATAL)\] \[|Traceback |  File \"|Exception )"
)

_IGNORE_ORIENTATION = cv2.IMREAD_IGNORE_ORIENTATION
_JPEG_SOI = b"\xff\xd8"
_PNG_SIGNATURE = b"\x89PNG\r\n\x1a\n"
# A marker inside JPEG entropy-coded data: FF followed by anything but a stuffed 00, a restart
# marker (D0-D7) or another fill FF.
_JPEG_MARKER_IN_SCAN = re.compile(rb"\xff[^\x00\xd0-\xd7\xff]")
_JPEG_SOF_SUPPORTED = {0xC0: "baseline", 0xC1: "extended sequential", 0xC2: "progressive"}
_JPEG_SOF_UNSUPPORTED = {
    0xC3: "lossless",
    0xC5: "hierarchical",
    0xC6: "hierarchical",
    0xC7: "hierarchical lossless",
    0xC9: "arithmetic",
    0xCA: "arithmetic progressive",
    0xCB: "arithmetic lossless",
    0xCD: "hierarchical arithmetic",
    0xCE: "hierarchical arithmetic",
    0xCF: "hierarchical arithmetic lossless",
}
# PNG colour type -> (allowed bit depths, samples per pixel).
_PNG_COLOUR_TYPES = {
    0: ({1, 2, 4, 8, 16}, 1),
    2: ({8, 16}, 3),
    3: ({1, 2, 4, 8}, 1),
    4: ({8, 16}, 2),
    6: ({8, 16}, 4),
}
# Chunks passed on to OpenCV; every other (ancillary) chunk is dropped before decoding: none
# changes the BGR pixels OpenCV returns, and dropping them keeps libpng's text/ICC decompression,
# EXIF orientation and APNG frames out of reach of a sender.
_PNG_KEPT_CHUNKS = {b"IHDR", b"PLTE", b"tRNS", b"IDAT", b"IEND"}
_PNG_MAX_CHUNK = 2**31 - 1  # the PNG specification's limit on a chunk length
# Deflate cannot expand more than 1032:1, so IDAT data this much smaller than the raw image cannot
# hold it: refused before decoding instead of decoded into a grey picture.
_DEFLATE_MAX_RATIO = 1032


class ImageDecodeError(ValueError):
    """A frame that cannot be turned into an image; the message says why.

    `reason` is a short, stable key for counters (`bad_image`, `too_large`, `corrupt`,
    `unsupported_encoding`); the message is for people.
    """

    reason = "bad_image"


class UnsupportedEncodingError(ImageDecodeError):
    """A well-formed frame in an encoding this package does not process (depth, bayer, ...)."""

    reason = "unsupported_encoding"


class ImageTooLargeError(ImageDecodeError):
    """A frame larger than the pixel limit, refused before its pixels were allocated."""

    reason = "too_large"


class CorruptImageError(ImageDecodeError):
    """A compressed frame that is malformed, truncated or that its decoder reports as damaged."""

    reason = "corrupt"


@dataclass(frozen=True)
class _Encoding:
    channels: int  # bytes per pixel (all supported encodings are 8-bit)
    to_bgr: int | None  # cv2 colour conversion code, None when used as is
    even_width: bool = False  # 4:2:2 packs two pixels in four bytes


# sensor_msgs/image_encodings names. "yuv422" is ROS's name for UYVY byte order;
# "yuv422_yuy2" and "yuyv" are YUYV.
ENCODINGS: dict[str, _Encoding] = {
    "bgr8": _Encoding(3, None),
    "rgb8": _Encoding(3, cv2.COLOR_RGB2BGR),
    "bgra8": _Encoding(4, cv2.COLOR_BGRA2BGR),
    "rgba8": _Encoding(4, cv2.COLOR_RGBA2BGR),
    "mono8": _Encoding(1, None),
    "8UC1": _Encoding(1, None),
    "8UC3": _Encoding(3, None),
    "yuv422": _Encoding(2, cv2.COLOR_YUV2BGR_UYVY, even_width=True),
    "uyvy": _Encoding(2, cv2.COLOR_YUV2BGR_UYVY, even_width=True),
    "yuv422_yuy2": _Encoding(2, cv2.COLOR_YUV2BGR_YUY2, even_width=True),
    "yuyv": _Encoding(2, cv2.COLOR_YUV2BGR_YUY2, even_width=True),
}
SUPPORTED_ENCODINGS: tuple[str, ...] = tuple(ENCODINGS)


def printable(text: object, limit: int = 64) -> str:
    """`text` made safe to put in a log line: control characters escaped, at most `limit` chars.

    Encodings and format strings come from whoever publishes on the camera topic; a log line must
    neither grow with them nor carry terminal escapes or fake newlines.
    """
    s = text.decode("utf-8", "replace") if isinstance(text, bytes | bytearray) else str(text)
    head = s[:limit]
    out = head.encode("unicode_escape").decode("ascii")
    if len(out) > limit:
        out = out[:limit]
    if len(s) > limit:
        out += f"...(+{len(s) - limit} chars)"
    return out


def decode_raw(
    encoding: str,
    width: int,
    height: int,
    step: int,
    data: bytes | bytearray | memoryview | np.ndarray,
    max_pixels: int = DEFAULT_MAX_PIXELS,
) -> np.ndarray:
    """Return the frame described by sensor_msgs/Image fields as BGR (HxWx3) or mono (HxW).

    Raises UnsupportedEncodingError for encodings not in SUPPORTED_ENCODINGS, ImageTooLargeError
    above `max_pixels`, and ImageDecodeError for zero dimensions, an odd width in a 4:2:2
    encoding and a data length that is not step x height. Nothing is allocated before the
    checks pass.
    """
    spec = ENCODINGS.get(encoding)
    if spec is None:
        raise UnsupportedEncodingError(
            f"unsupported encoding '{printable(encoding)}' "
            f"(supported: {', '.join(SUPPORTED_ENCODINGS)})"
        )
    if width <= 0 or height <= 0:
        raise ImageDecodeError(f"empty image: {width}x{height}")
    if width * height > max_pixels:
        raise ImageTooLargeError(f"image {width}x{height} exceeds the limit of {max_pixels} pixels")
    if spec.even_width and width % 2:
        raise ImageDecodeError(f"{encoding} packs pixel pairs: width {width} must be even")
    row = width * spec.channels
    if step < row:
        raise ImageDecodeError(f"step {step} is less than width x bytes per pixel = {row}")
    buf = np.frombuffer(data, dtype=np.uint8)
    if buf.size != step * height:
        raise ImageDecodeError(
            f"data length {buf.size} does not match step x height = {step} x {height} = "
            f"{step * height}"
        )
    rows = buf.reshape(height, step)[:, :row]
    image = rows.reshape(height, width, spec.channels)
    if spec.to_bgr is not None:
        return cv2.cvtColor(image, spec.to_bgr)
    return image[:, :, 0] if spec.channels == 1 else image


@dataclass(frozen=True)
class CompressedHeader:
    """What a compressed frame declares, read and checked before any pixel is decoded."""

    format: str  # "jpeg" | "png"
    width: int
    height: int
    detail: str  # e.g. "progressive, 3 components, 10 scans" / "8-bit colour, interlaced"


def read_compressed_header(
    data: bytes | bytearray | memoryview, max_pixels: int = DEFAULT_MAX_PIXELS
) -> CompressedHeader:
    """Check a JPEG or PNG frame's structure and declared size without decoding it.

    Raises UnsupportedEncodingError for any other format (TIFF, BMP, PGM, WebP, ...) and for
    JPEG/PNG variants a camera stream does not use (lossless, arithmetic, 12-bit JPEG; 16-bit
    grey PNG, which is depth), ImageTooLargeError when width x height exceeds `max_pixels`, and
    CorruptImageError for a structure that is malformed or truncated (segment or chunk lengths
    past the end of the data, a missing end marker, data too short to hold the declared image).
    Cost: one pass over the bytes in C (regex / slicing), about 0.1 ms for a 640x480 JPEG.
    """
    buf = bytes(data)
    if buf[:3] == _JPEG_SOI + b"\xff":
        return _jpeg_header(buf, max_pixels)
    if buf[:8] == _PNG_SIGNATURE:
        return _png_header(buf, max_pixels)[0]
    if not buf:
        raise CorruptImageError("empty compressed image")
    raise UnsupportedEncodingError(
        f"compressed data is neither JPEG nor PNG (starts with {buf[:8].hex(' ')}); "
        f"accepted: {', '.join(COMPRESSED_FORMATS)}"
    )


def decode_compressed(
    fmt: str,
    data: bytes | bytearray | memoryview | np.ndarray,
    max_pixels: int = DEFAULT_MAX_PIXELS,
    warnings: list[str] | None = None,
    exif_orientation: bool = False,
) -> np.ndarray:
    """Decode a sensor_msgs/CompressedImage (JPEG or PNG) to BGR, or raise ImageDecodeError.

    The header is checked first (`read_compressed_header`), so an oversized or malformed frame
    costs no pixel allocation. `fmt` names the format only loosely (drivers publish free-form
    strings); the bytes decide, except that a format naming a depth transport
    ("compressedDepth") is refused. Policy for damaged frames: whatever libjpeg / libpng report
    while decoding is captured instead of printed; a frame whose decoder reports damaged pixel
    data (premature end, bad Huffman code, CRC error, ...) is refused as CorruptImageError, since
    a face judged on a half-grey or shifted picture is wrong; warnings that leave the pixels
    intact (up to MAX_PADDING_BYTES junk bytes between segments, as some USB cameras write) are
    appended to `warnings` and the frame is returned. JPEG has no checksum: a changed byte that
    keeps the entropy data in step decodes without any message and cannot be detected here.

    EXIF orientation is ignored unless `exif_orientation` (photos in the CLI): a camera frame's
    pixel coordinates are those of the raster as sent, as compressed_image_transport decodes it.
    """
    if "compresseddepth" in str(fmt).lower():
        raise UnsupportedEncodingError(
            f"compressed format '{printable(fmt)}' is a depth image, not a camera image"
        )
    raw = data.tobytes() if isinstance(data, np.ndarray) else bytes(data)
    if not raw:
        raise CorruptImageError(f"empty compressed image (format '{printable(fmt)}')")
    if raw[:8] == _PNG_SIGNATURE:
        header, raw = _png_header(raw, max_pixels)
    else:
        header = read_compressed_header(raw, max_pixels)
    with _captured_stderr() as messages:
        try:
            image = cv2.imdecode(
                np.frombuffer(raw, dtype=np.uint8),
                cv2.IMREAD_COLOR if exif_orientation else cv2.IMREAD_COLOR | _IGNORE_ORIENTATION,
            )
        except cv2.error as exc:  # OpenCV raises for a few malformed streams instead of None
            messages.append(str(exc).strip().splitlines()[-1].encode())
            image = None
    damage = [m for m in messages if not _benign(m)]
    text = [printable(m, 120) for m in messages]
    if image is None or damage:
        why = "; ".join(printable(m, 120) for m in damage[:3]) or "the decoder failed"
        raise CorruptImageError(
            f"corrupt {header.format} {header.width}x{header.height}: {why} "
            f"(format '{printable(fmt)}')"
        )
    shapes = {(header.height, header.width)}
    if exif_orientation:
        shapes.add((header.width, header.height))
    if image.shape[:2] not in shapes:
        raise CorruptImageError(
            f"{header.format} decoded to {image.shape[1]}x{image.shape[0]}, header said "
            f"{header.width}x{header.height}"
        )
    if warnings is not None:
        warnings.extend(text)
    return image


def encode_bgr8(image: np.ndarray) -> tuple[int, int, int, bytes]:
    """Return (width, height, step, data) of a BGR uint8 image as a bgr8 sensor_msgs/Image."""
    if image.dtype != np.uint8 or image.ndim != 3 or image.shape[2] != 3:
        raise ValueError(f"expected HxWx3 uint8 BGR, got {image.dtype} {image.shape}")
    h, w = image.shape[:2]
    return w, h, w * 3, np.ascontiguousarray(image).tobytes()


# ---- JPEG ---------------------------------------------------------------------------------------
def _ceil(a: int, b: int) -> int:
    return -(-a // b)


def _check_size(fmt: str, width: int, height: int, max_pixels: int) -> None:
    if width * height > max_pixels:
        raise ImageTooLargeError(
            f"{fmt} declares {width}x{height}, which exceeds the limit of {max_pixels} pixels "
            "(refused from its header, nothing decoded)"
        )


def _jpeg_header(buf: bytes, max_pixels: int) -> CompressedHeader:
    """Walk the JPEG's segments up to its EOI; check SOF, the scan count and the data size."""
    n = len(buf)
    pos = 2
    sof: tuple[int, int, int, int, list[tuple[int, int]]] | None = None  # kind, w, h, nf, hv
    scans = 0
    entropy_bytes = 0
    while True:
        if pos + 2 > n:
            raise CorruptImageError("corrupt JPEG, truncated: no EOI marker")
        if buf[pos] != 0xFF:
            # libjpeg skips junk before a marker (with a warning the decoder reports); so do we.
            nxt = buf.find(b"\xff", pos)
            if nxt < 0:
                raise CorruptImageError("corrupt JPEG, truncated: no EOI marker")
            pos = nxt
            continue
        marker = buf[pos + 1]
        if marker == 0xFF:  # fill byte
            pos += 1
            continue
        if marker == 0xD9:  # EOI
            break
        if marker in (0x01,) or 0xD0 <= marker <= 0xD7:  # TEM / stray RST: no length
            pos += 2
            continue
        if marker == 0xD8:
            raise CorruptImageError("JPEG with a second SOI marker (several images in one frame)")
        if pos + 4 > n:
            raise CorruptImageError("corrupt JPEG, truncated: segment header past the end")
        (length,) = struct.unpack_from(">H", buf, pos + 2)
        end = pos + 2 + length
        if length < 2 or end > n:
            raise CorruptImageError(
                f"corrupt or truncated JPEG: segment 0xFF{marker:02X} claims {length} bytes, "
                f"{n - pos - 2} left"
            )
        seg = buf[pos + 4 : end]
        if marker in _JPEG_SOF_UNSUPPORTED:
            raise UnsupportedEncodingError(
                f"{_JPEG_SOF_UNSUPPORTED[marker]} JPEG (SOF 0xFF{marker:02X}) is not supported: "
                "baseline, extended and progressive Huffman JPEG only"
            )
        if marker in _JPEG_SOF_SUPPORTED:
            if sof is not None:
                raise CorruptImageError("JPEG with more than one SOF marker")
            sof = _jpeg_sof(marker, seg, max_pixels)
        elif marker == 0xDA:  # SOS, then entropy-coded data up to the next marker
            if sof is None:
                raise CorruptImageError("JPEG scan before its SOF marker")
            scans += 1
            if scans > MAX_JPEG_SCANS:
                raise CorruptImageError(f"JPEG with more than {MAX_JPEG_SCANS} scans")
            if not seg or length != 6 + 2 * seg[0] or not 1 <= seg[0] <= 4:
                raise CorruptImageError("JPEG scan header (SOS) is malformed")
            m = _JPEG_MARKER_IN_SCAN.search(buf, end)
            if m is None:
                raise CorruptImageError(
                    "corrupt JPEG, truncated: scan data runs to the end, no EOI marker"
                )
            entropy_bytes += m.start() - end
            pos = m.start()
            continue
        elif marker == 0xDC:  # DNL: height defined after the first scan; libjpeg refuses it
            raise UnsupportedEncodingError("JPEG with a DNL marker (height after the scan)")
        pos = end
    if sof is None or scans == 0:
        raise CorruptImageError("JPEG without an image (no SOF or no scan before EOI)")
    kind, width, height, nf, hv = sof
    hmax = max(h for h, _ in hv)
    vmax = max(v for _, v in hv)
    blocks = [_ceil(_ceil(width * h, hmax), 8) * _ceil(_ceil(height * v, vmax), 8) for h, v in hv]
    # Every block of a sequential scan costs at least 2 bits (a DC code and an EOB); the DC scan
    # of a progressive JPEG at least 1 bit per block of the component it codes.
    minimum = sum(blocks) // 4 if kind != 0xC2 else min(blocks) // 8
    if entropy_bytes < minimum:
        raise CorruptImageError(
            f"JPEG declares {width}x{height} but carries {entropy_bytes} bytes of image data; "
            f"at least {minimum} are needed (lying header or truncated frame)"
        )
    return CompressedHeader(
        "jpeg",
        width,
        height,
        f"{_JPEG_SOF_SUPPORTED[kind]}, {nf} component(s), {scans} scan(s)",
    )


def _jpeg_sof(
    marker: int, seg: bytes, max_pixels: int
) -> tuple[int, int, int, int, list[tuple[int, int]]]:
    if len(seg) < 6:
        raise CorruptImageError("JPEG SOF segment too short")
    precision, height, width, nf = struct.unpack_from(">BHHB", seg)
    if precision != 8:
        raise UnsupportedEncodingError(f"{precision}-bit JPEG is not supported (8-bit only)")
    if height == 0:
        raise UnsupportedEncodingError("JPEG with height 0 in SOF (DNL) is not supported")
    if width == 0:
        raise CorruptImageError("JPEG SOF declares width 0")
    if nf not in (1, 3, 4) or len(seg) != 6 + 3 * nf:
        raise CorruptImageError(f"JPEG SOF with {nf} components and length {len(seg) + 2}")
    hv = []
    for i in range(nf):
        h, v = seg[7 + 3 * i] >> 4, seg[7 + 3 * i] & 15
        if not (1 <= h <= 4 and 1 <= v <= 4):
            raise CorruptImageError(f"JPEG component {i} has sampling factors {h}x{v}")
        hv.append((h, v))
    _check_size("jpeg", width, height, max_pixels)
    return marker, width, height, nf, hv


# ---- PNG ----------------------------------------------------------------------------------------
def _png_header(buf: bytes, max_pixels: int) -> tuple[CompressedHeader, bytes]:
    """Walk every chunk; return the header and the PNG rebuilt from its critical chunks."""
    n = len(buf)
    pos = 8
    kept: list[bytes] = [_PNG_SIGNATURE]
    dropped = False
    ihdr: tuple[int, int, int, int, int] | None = None
    idat_bytes = 0
    idat_state = 0  # 0 before IDAT, 1 inside the IDAT run, 2 after it
    has_plte = False
    while True:
        if pos + 8 > n:
            raise CorruptImageError("corrupt PNG, truncated: no IEND chunk")
        length, ctype = struct.unpack_from(">I4s", buf, pos)
        if length > _PNG_MAX_CHUNK or pos + 12 + length > n:
            raise CorruptImageError(
                f"corrupt or truncated PNG: chunk {printable(ctype)} claims {length} bytes, "
                f"{max(n - pos - 12, 0)} left"
            )
        if not all(65 <= c <= 90 or 97 <= c <= 122 for c in ctype):
            raise CorruptImageError(f"PNG chunk type {ctype.hex()} is not four letters")
        end = pos + 12 + length
        if ihdr is None and ctype != b"IHDR":
            raise CorruptImageError("PNG does not start with IHDR")
        if ctype == b"IHDR":
            if ihdr is not None:
                raise CorruptImageError("PNG with more than one IHDR")
            ihdr = _png_ihdr(buf[pos + 8 : pos + 8 + length], max_pixels)
        elif ctype == b"IDAT":
            if idat_state == 2:
                raise CorruptImageError("PNG IDAT chunks are not consecutive")
            idat_state = 1
            idat_bytes += length
        elif idat_state == 1:
            idat_state = 2
        if ctype == b"PLTE":
            if length % 3 or not 3 <= length <= 768 or idat_state:
                raise CorruptImageError(f"PNG palette of {length} bytes")
            has_plte = True
        elif ctype == b"tRNS" and length > 256:
            raise CorruptImageError(f"PNG tRNS of {length} bytes")
        if ctype in _PNG_KEPT_CHUNKS:
            kept.append(buf[pos:end])
        elif ctype[0] & 0x20 == 0:  # an unknown critical chunk: libpng would refuse it too
            raise UnsupportedEncodingError(f"PNG with unknown critical chunk {printable(ctype)}")
        else:
            dropped = True
        pos = end
        if ctype == b"IEND":
            break
    width, height, depth, colour, interlace = ihdr
    if idat_bytes == 0:
        raise CorruptImageError("PNG without image data (no IDAT)")
    if colour == 3 and not has_plte:
        raise CorruptImageError("palette PNG without a PLTE chunk")
    samples = _PNG_COLOUR_TYPES[colour][1]
    raw_size = height * (1 + (width * samples * depth + 7) // 8)
    if idat_bytes * _DEFLATE_MAX_RATIO < raw_size:
        raise CorruptImageError(
            f"PNG declares {width}x{height} ({raw_size} bytes of filtered rows) but carries "
            f"{idat_bytes} bytes of compressed data: deflate cannot hold it (lying header or "
            "truncated frame)"
        )
    kinds = {0: "grey", 2: "colour", 3: "palette", 4: "grey+alpha", 6: "colour+alpha"}
    detail = f"{depth}-bit {kinds[colour]}" + (", interlaced" if interlace else "")
    header = CompressedHeader("png", width, height, detail)
    return header, (b"".join(kept) if dropped else buf[:pos])


def _png_ihdr(seg: bytes, max_pixels: int) -> tuple[int, int, int, int, int]:
    if len(seg) != 13:
        raise CorruptImageError(f"PNG IHDR of {len(seg)} bytes (13 expected)")
    width, height, depth, colour, compression, filt, interlace = struct.unpack(">IIBBBBB", seg)
    if not (1 <= width <= _PNG_MAX_CHUNK and 1 <= height <= _PNG_MAX_CHUNK):
        raise CorruptImageError(f"PNG declares {width}x{height}")
    if colour not in _PNG_COLOUR_TYPES or depth not in _PNG_COLOUR_TYPES[colour][0]:
        raise CorruptImageError(f"PNG colour type {colour} with bit depth {depth}")
    if compression or filt or interlace > 1:
        raise CorruptImageError(
            f"PNG compression {compression}, filter {filt}, interlace {interlace}"
        )
    if depth == 16 and colour in (0, 4):
        raise UnsupportedEncodingError(
            "16-bit grey PNG is a depth or mono16 image, not a camera image (refused as the "
            "raw 16UC1 / mono16 encodings are)"
        )
    _check_size("png", width, height, max_pixels)
    return width, height, depth, colour, interlace


# ---- decoder messages ---------------------------------------------------------------------------
_stderr_lock = threading.Lock()
_stderr_sink: int | None = None


@contextmanager
def _captured_stderr() -> Iterator[list[bytes]]:
    """Collect what native code writes to file descriptor 2 while the block runs.

    libjpeg and libpng report damage by printing to stderr, not to their caller; OpenCV passes
    neither on. To count those messages (and keep them out of the robot's logs) stderr is pointed
    at a temporary file for the length of one decode, under a lock, so concurrent decodes in one
    process take turns. A line another thread writes in that window in rcutils' format is given
    back to the real stderr; anything else is attributed to the decoder.
    """
    global _stderr_sink
    with _stderr_lock:
        lines: list[bytes] = []
        try:
            if _stderr_sink is None:
                fd, path = tempfile.mkstemp(prefix="face_affect_codec_")
                os.unlink(path)
                _stderr_sink = fd
            sink = _stderr_sink
            saved = os.dup(2)
        except OSError:  # no writable temp dir, or no fd 2 at all: decode without capturing
            yield lines
            return
        try:
            os.dup2(sink, 2)
            yield lines
        finally:
            os.dup2(saved, 2)
            os.close(saved)
            size = os.lseek(sink, 0, os.SEEK_END)
            if size:
                text = os.pread(sink, min(size, 1 << 16), 0)
                os.ftruncate(sink, 0)
                for line in text.splitlines():
                    if _FOREIGN_LINE.match(line):
                        os.write(2, line + b"\n")
                    elif line.strip():
                        lines.append(line.strip())
            os.lseek(sink, 0, os.SEEK_SET)
