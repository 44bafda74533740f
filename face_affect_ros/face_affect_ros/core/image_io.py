"""Turn raw camera buffers into the arrays the pipeline takes, without ROS.

Why here and not in a node: the rules of each pixel encoding (bytes per pixel, channel order, row
padding) are image math that plain pytest must reach, and the bag tool needs them too. The nodes
pass the fields of a sensor_msgs/Image or CompressedImage and get an array or a clear error.

Output is BGR uint8 HxWx3 for colour encodings and HxW for mono8: the two layouts the detector and
classifiers accept. Row padding (step > width * bytes per pixel) is handled by a strided view,
so bgr8 and mono8 frames are never copied.
"""

from __future__ import annotations

from dataclasses import dataclass

import cv2
import numpy as np

# Refuse frames above this many pixels: a corrupt header claiming 100000x100000 must not make the
# node allocate tens of gigabytes. 8192 x 8192 covers every camera a service robot carries.
DEFAULT_MAX_PIXELS = 8192 * 8192


_JPEG_SOI, _JPEG_EOI, _JPEG_TAIL = b"\xff\xd8", b"\xff\xd9", 32


class ImageDecodeError(ValueError):
    """A frame that cannot be turned into an image; the message says why."""


class UnsupportedEncodingError(ImageDecodeError):
    """A well-formed frame in an encoding this package does not process (depth, bayer, ...)."""


@dataclass(frozen=True)
class _Encoding:
    channels: int  # bytes per pixel (all supported encodings are 8-bit)
    to_bgr: int | None  # cv2 colour conversion code, None when used as is


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
    "yuv422": _Encoding(2, cv2.COLOR_YUV2BGR_UYVY),
    "uyvy": _Encoding(2, cv2.COLOR_YUV2BGR_UYVY),
    "yuv422_yuy2": _Encoding(2, cv2.COLOR_YUV2BGR_YUY2),
    "yuyv": _Encoding(2, cv2.COLOR_YUV2BGR_YUY2),
}
SUPPORTED_ENCODINGS: tuple[str, ...] = tuple(ENCODINGS)


def decode_raw(
    encoding: str,
    width: int,
    height: int,
    step: int,
    data: bytes | bytearray | memoryview | np.ndarray,
    max_pixels: int = DEFAULT_MAX_PIXELS,
) -> np.ndarray:
    """Return the frame described by sensor_msgs/Image fields as BGR (HxWx3) or mono (HxW).

    Raises UnsupportedEncodingError for encodings not in SUPPORTED_ENCODINGS and ImageDecodeError
    for zero or oversized dimensions and for a data length that is not step x height.
    """
    spec = ENCODINGS.get(encoding)
    if spec is None:
        raise UnsupportedEncodingError(
            f"unsupported encoding '{encoding}' (supported: {', '.join(SUPPORTED_ENCODINGS)})"
        )
    if width <= 0 or height <= 0:
        raise ImageDecodeError(f"empty image: {width}x{height}")
    if width * height > max_pixels:
        raise ImageDecodeError(f"image {width}x{height} exceeds the limit of {max_pixels} pixels")
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


def decode_compressed(
    fmt: str,
    data: bytes | bytearray | memoryview | np.ndarray,
    max_pixels: int = DEFAULT_MAX_PIXELS,
) -> np.ndarray:
    """Decode a sensor_msgs/CompressedImage (JPEG or PNG) to BGR, or raise ImageDecodeError.

    `fmt` is only used in messages: OpenCV recognises the codec from the bytes themselves, which
    is more robust than the free-form format strings drivers publish.
    """
    buf = np.frombuffer(data, dtype=np.uint8)
    if buf.size == 0:
        raise ImageDecodeError(f"empty compressed image (format '{fmt}')")
    # libjpeg decodes a truncated JPEG without error, filling the missing rows with grey; a face
    # judged on half a frame is wrong, so a JPEG must end with its EOI marker (FF D9), allowing
    # for the few padding bytes some encoders append.
    if buf[:2].tobytes() == _JPEG_SOI and _JPEG_EOI not in buf[-_JPEG_TAIL:].tobytes():
        raise ImageDecodeError(f"corrupt compressed image: truncated JPEG (format '{fmt}')")
    image = cv2.imdecode(buf, cv2.IMREAD_COLOR)
    if image is None:
        raise ImageDecodeError(f"corrupt or unsupported compressed image (format '{fmt}')")
    if image.shape[0] * image.shape[1] > max_pixels:
        raise ImageDecodeError(
            f"image {image.shape[1]}x{image.shape[0]} exceeds the limit of {max_pixels} pixels"
        )
    return image


def encode_bgr8(image: np.ndarray) -> tuple[int, int, int, bytes]:
    """Return (width, height, step, data) of a BGR uint8 image as a bgr8 sensor_msgs/Image."""
    if image.dtype != np.uint8 or image.ndim != 3 or image.shape[2] != 3:
        raise ValueError(f"expected HxWx3 uint8 BGR, got {image.dtype} {image.shape}")
    h, w = image.shape[:2]
    return w, h, w * 3, np.ascontiguousarray(image).tobytes()
