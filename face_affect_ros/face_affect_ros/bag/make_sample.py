"""Build the sample bag shipped in ``face_affect_ros/sample/`` from public-domain / CC0 pictures.

Why synthetic: the demo, the replay test and the offline tool need a bag that anyone may
redistribute, with real faces in it. This script moves a virtual 640x480 camera over a strip of
three scikit-image pictures (NASA's public-domain portrait of astronaut Eileen Collins, the CC0
"cameraman" by Lav Varshney and the CC0 cat "Chelsea" by Stefan van der Walt): zoom in on one
face, zoom out to show two, close in on the other, then pan to the cat for a stretch of frames
without a face. Every frame is a pure function of its index, so the output only changes when
scikit-image's pictures, OpenCV's JPEG encoder or this file change.

Run ``python -m face_affect_ros.bag.make_sample`` with the package installed (``make setup``) or
from the ``face_affect_ros/`` directory; ``--help`` for options. See
``face_affect_ros/sample/README.md``.
"""

from __future__ import annotations

import argparse
import itertools
import math
import sys
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path

import cv2
import numpy as np

from face_affect_ros.bag import storage as bs

#: Where the sample lives in a source checkout.
DEFAULT_OUTPUT = Path(__file__).resolve().parents[2] / "sample" / "face_affect_sample.mcap"

TOPIC = "/camera/image_raw/compressed"
MSGTYPE = "sensor_msgs/msg/CompressedImage"
FRAME_ID = "camera_color_optical_frame"
#: image_transport's compressed format string for a bgr8 camera.
FORMAT = "bgr8; jpeg compressed bgr8"
WIDTH, HEIGHT = 640, 480
RATE_HZ = 15
FRAMES = 60  # 4 s
JPEG_QUALITY = 85
#: First stamp: 2026-01-01T00:00:00Z, fixed so that the bag is reproducible.
START_NS = 1_767_225_600 * 1_000_000_000
#: Colour of the world outside the pictures (what the camera sees when it zooms out).
BACKGROUND_BGR = (48, 44, 40)
#: Dark gap between two pictures of the strip, in world pixels.
GAP = 64
PANEL_HEIGHT = 512


@dataclass(frozen=True)
class Key:
    """Camera pose at a key frame: view centre (world px), view width (world px), roll (deg)."""

    frame: int
    cx: float
    cy: float
    view_width: float
    roll_deg: float = 0.0


# Panels (x offsets): astronaut [0, 512), cameraman [576, 1088), cat [1152, ~1922).
# The astronaut's face is around (226, 122), the cameraman's around (804, 158).
KEYS: tuple[Key, ...] = (
    Key(0, 256, 250, 560),  # astronaut, head and shoulders
    Key(14, 236, 170, 360, 4.0),  # zoom in on her face, slight roll
    Key(24, 560, 250, 1120),  # zoom out: both people in view
    Key(32, 548, 240, 1060, -1.5),  # hold, with a little drift
    Key(41, 806, 200, 400, -3.0),  # close in on the cameraman
    Key(50, 1520, 256, 620),  # pan on to the cat: no face from here
    Key(59, 1560, 270, 540, 2.0),
)


def _smoothstep(t: float) -> float:
    return t * t * (3.0 - 2.0 * t)


def pose(frame: int, keys: Sequence[Key] = KEYS) -> Key:
    """Return the interpolated camera pose of `frame` (eased between key frames)."""
    if frame <= keys[0].frame:
        return keys[0]
    for a, b in itertools.pairwise(keys):
        if frame <= b.frame:
            t = _smoothstep((frame - a.frame) / (b.frame - a.frame))
            # Zoom is interpolated in log space so that it looks uniform.
            width = math.exp((1 - t) * math.log(a.view_width) + t * math.log(b.view_width))
            return Key(
                frame,
                a.cx + t * (b.cx - a.cx),
                a.cy + t * (b.cy - a.cy),
                width,
                a.roll_deg + t * (b.roll_deg - a.roll_deg),
            )
    return keys[-1]


def world() -> np.ndarray:
    """Return the BGR strip the virtual camera looks at (astronaut, cameraman, cat)."""
    from skimage import data

    astronaut = cv2.cvtColor(data.astronaut(), cv2.COLOR_RGB2BGR)
    cameraman = cv2.cvtColor(data.camera(), cv2.COLOR_GRAY2BGR)
    cat = cv2.cvtColor(data.chelsea(), cv2.COLOR_RGB2BGR)
    cat = cv2.resize(
        cat,
        (round(cat.shape[1] * PANEL_HEIGHT / cat.shape[0]), PANEL_HEIGHT),
        interpolation=cv2.INTER_CUBIC,
    )
    gap = np.empty((PANEL_HEIGHT, GAP, 3), np.uint8)
    gap[:] = BACKGROUND_BGR
    return np.ascontiguousarray(np.hstack([astronaut, gap, cameraman, gap, cat]))


def render(strip: np.ndarray, key: Key) -> np.ndarray:
    """Return the 640x480 BGR view of `strip` from camera pose `key`."""
    scale = WIDTH / key.view_width
    # Rotate by roll around the view centre, scale, then move the centre to the image centre.
    m = cv2.getRotationMatrix2D((key.cx, key.cy), key.roll_deg, scale)
    m[0, 2] += WIDTH / 2 - key.cx
    m[1, 2] += HEIGHT / 2 - key.cy
    return cv2.warpAffine(
        strip,
        m,
        (WIDTH, HEIGHT),
        flags=cv2.INTER_AREA if scale < 1 else cv2.INTER_LINEAR,
        borderMode=cv2.BORDER_CONSTANT,
        borderValue=BACKGROUND_BGR,
    )


def frames(count: int = FRAMES) -> Iterator[tuple[int, np.ndarray]]:
    """Yield (stamp ns, BGR frame) of the sample video."""
    strip = world()
    period_ns = 1_000_000_000 // RATE_HZ
    for i in range(count):
        yield START_NS + i * period_ns, render(strip, pose(i))


def compressed_cdr(stamp: int, bgr: np.ndarray) -> bytes:
    """Return the CDR bytes of a JPEG sensor_msgs/CompressedImage of `bgr` stamped `stamp` (ns).

    Serialised with rosbags, which zeroes the alignment padding (rclpy leaves whatever was in
    memory there), so that the same frame always gives the same bytes.
    """
    ok, jpeg = cv2.imencode(".jpg", bgr, [cv2.IMWRITE_JPEG_QUALITY, JPEG_QUALITY])
    if not ok:
        raise RuntimeError("OpenCV could not encode a JPEG")
    store = bs.typestore()
    types = store.types
    sec, nanosec = divmod(stamp, 1_000_000_000)
    header = types["std_msgs/msg/Header"](
        stamp=types["builtin_interfaces/msg/Time"](sec=sec, nanosec=nanosec), frame_id=FRAME_ID
    )
    msg = types[MSGTYPE](header=header, format=FORMAT, data=jpeg.reshape(-1))
    return bytes(store.serialize_cdr(msg, MSGTYPE))


def build(output: Path, count: int = FRAMES, force: bool = False) -> int:
    """Write the sample bag (a single .mcap file, or a bag directory) and return its size."""
    with bs.StagedOutputs(force=force) as staged:
        writer = bs.open_writer(staged.bag(output, "mcap"), "mcap")
        try:
            conn = bs.add_connection(writer, TOPIC, MSGTYPE)
            for stamp, bgr in frames(count):
                writer.write(conn, stamp, compressed_cdr(stamp, bgr))
            writer.close()
        except BaseException:
            writer.abort()
            raise
        staged.commit()
    return sum(p.stat().st_size for p in ([output] if output.is_file() else output.rglob("*")))


def main(argv: Sequence[str] | None = None) -> int:
    """Command line: build the sample bag."""
    parser = argparse.ArgumentParser(
        prog="python -m face_affect_ros.bag.make_sample", description=__doc__.split("\n\n")[0]
    )
    parser.add_argument(
        "--out",
        type=Path,
        default=DEFAULT_OUTPUT,
        help="output .mcap file or bag directory (default: %(default)s)",
    )
    parser.add_argument("--frames", type=int, default=FRAMES, help="number of frames (15 Hz)")
    parser.add_argument("--force", action="store_true", help="replace an existing output")
    args = parser.parse_args(argv)
    try:
        size = build(args.out, args.frames, args.force)
    except bs.BagError as exc:
        print(f"make_sample: error: {exc}", file=sys.stderr)
        return 1
    print(f"wrote {args.out}: {args.frames} frames at {RATE_HZ} Hz, {size / 1e6:.2f} MB")
    return 0


if __name__ == "__main__":
    sys.exit(main())
