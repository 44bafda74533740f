"""Build a video-like 640x480 test sequence with ground truth (faces moving, a cat, non-faces).

Faces that move, recede, enter, leave and change expression, a cat, and a stretch of non-face
footage.

Why: the sample bag is a slideshow of still photos; the temporal loop (issue 12) must be measured
on faces that move, shrink to ~20 px as if walking away, appear and disappear, on a face whose
expression changes, and on many frames of things that are not faces. Only pictures the project
already ships are used (scikit-image's public-domain astronaut Eileen Collins, the CC0 cameraman
and Chelsea the cat, plus CC0 / public-domain skimage pictures as scenery; see sample/README.md).
Every frame is a pure function of its index, and the ground truth (boxes, identities, genders,
expressions) is computed from the same placement, so the sequence needs no shipping: tests and
``bench/bench_temporal.py`` rebuild it, ``python -m face_affect_ros.bag.make_moving --out x.mcap``
writes it as a bag with ``x.json`` (ground truth) beside it.

Face sequence (``FACE_SECONDS`` = 18 s at 30 Hz), by time:

* 0-3 s: the astronaut, still (sub-pixel sway only), face 110 px wide: flicker and gender;
* 3-9 s: she walks away: face 110 -> 20 px while moving right and up; 9-10.5 s she stands far
  away at 20 px; 10.5-11.5 s she leaves the frame on the right;
* 2-9 s: the cameraman enters from the left (70 px), walks right while shrinking, stands still
  at 55 px (5-7 s: his expression is ambiguous for the model, sad / neutral), walks on to
  40 px and leaves on the left;
* 9.5-11.5 s: the cameraman again, far away (24 px), walking in from the right edge: a new
  face small from its first frame (``cameraman#2``);
* 11-18 s: Chelsea the cat (a non-face that YuNet at 256x192 took for a face) in view;
* 12-18 s: the astronaut comes back (a new appearance: a new identity number ``astronaut#2``),
  still at 100 px; at 15 s her expression changes (mouth corners pulled down: the emotion model
  moves from happy to angry on this edit), the moment ``EXPRESSION_CHANGE_S``.

Non-face footage (``nonface_frames``): a virtual camera pans and zooms over a strip of pictures
without faces (the cat, coffee, rocket, clock, coins, moon, immunohistochemistry, hubble).
"""

from __future__ import annotations

import argparse
import json
import math
import sys
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path

import cv2
import numpy as np

WIDTH, HEIGHT = 640, 480
RATE_HZ = 30
FACE_SECONDS = 18.0
EXPRESSION_CHANGE_S = 15.0
JPEG_QUALITY = 85
START_NS = 1_767_225_600 * 1_000_000_000
TOPIC = "/camera/image_raw/compressed"
MSGTYPE = "sensor_msgs/msg/CompressedImage"

# Face boxes (x, y, w, h) in the source pictures (512x512): the YuNet box at full resolution,
# written down so that the ground truth does not depend on a model.
ASTRONAUT_FACE = (178.0, 65.0, 91.0, 111.0)
CAMERAMAN_FACE = (198.0, 114.0, 60.0, 83.0)
# The cat's head in skimage's chelsea (451x300), for the non-face ground truth.
CAT_HEAD = (110.0, 10.0, 240.0, 210.0)


@dataclass(frozen=True)
class Sprite:
    """A picture cut out with context, its feathered alpha mask and the face box inside it."""

    image: np.ndarray  # BGR
    alpha: np.ndarray  # float32 [0, 1]
    face: tuple[float, float, float, float]


@dataclass(frozen=True)
class Placement:
    """Where a sprite is in one frame: face centre (frame px) and face width (px)."""

    sprite: str
    identity: str
    cx: float
    cy: float
    width: float


#: Faces that stand still (identity, from s, to s): where label flicker is measured.
STILL_SPANS = (
    ("astronaut#1", 0.5, 3.0),
    ("cameraman#1", 5.5, 7.0),
    ("astronaut#2", 13.0, EXPRESSION_CHANGE_S),
)


def _bgr(rgb: np.ndarray) -> np.ndarray:
    if rgb.ndim == 2:
        return cv2.cvtColor(rgb, cv2.COLOR_GRAY2BGR)
    return cv2.cvtColor(rgb, cv2.COLOR_RGB2BGR)


def _cut(image: np.ndarray, face: Sequence[float], context: float) -> Sprite:
    x, y, w, h = face
    x0, y0 = max(0, int(x - context * w)), max(0, int(y - context * h))
    x1 = min(image.shape[1], int(x + w + context * w))
    y1 = min(image.shape[0], int(y + h + context * h))
    crop = np.ascontiguousarray(image[y0:y1, x0:x1])
    alpha = np.zeros(crop.shape[:2], np.float32)
    border = max(2, int(0.15 * min(crop.shape[:2])))
    alpha[border:-border, border:-border] = 1.0
    alpha = cv2.GaussianBlur(alpha, (0, 0), border / 2.0)
    return Sprite(crop, alpha, (x - x0, y - y0, w, h))


def frown(image: np.ndarray, face: Sequence[float]) -> np.ndarray:
    """The picture with the face's mouth corners pulled down (a smile turned into a frown)."""
    x, y, w, h = face
    out = image.copy()
    # Mouth region of the astronaut's face box (landmarks: corners at ~0.29 / 0.71 of w, 0.7 h).
    mx0, mx1 = int(x + 0.16 * w), int(x + 0.84 * w)
    my0, my1 = int(y + 0.58 * h), int(y + 0.86 * h)
    region = out[my0:my1, mx0:mx1].copy()
    rh, rw = region.shape[:2]
    xs = np.arange(rw, dtype=np.float32)
    shift = 0.18 * h * ((xs - rw / 2) / (rw / 2)) ** 2
    map_x = np.tile(xs, (rh, 1))
    map_y = (np.arange(rh, dtype=np.float32)[:, None] - shift[None, :]).astype(np.float32)
    out[my0:my1, mx0:mx1] = cv2.remap(
        region, map_x, map_y, cv2.INTER_LINEAR, borderMode=cv2.BORDER_REPLICATE
    )
    return out


@lru_cache(maxsize=1)
def sprites() -> dict[str, Sprite]:
    """The sprites of the face sequence (built once per process)."""
    from skimage import data

    astronaut = _bgr(data.astronaut())
    cat = _bgr(data.chelsea())
    return {
        "astronaut": _cut(astronaut, ASTRONAUT_FACE, 0.7),
        "astronaut_frown": _cut(frown(astronaut, ASTRONAUT_FACE), ASTRONAUT_FACE, 0.7),
        "cameraman": _cut(_bgr(data.camera()), CAMERAMAN_FACE, 0.7),
        "cat": _cut(cat, CAT_HEAD, 0.25),
    }


@lru_cache(maxsize=1)
def background() -> np.ndarray:
    """The scene behind the people: skimage's rocket picture, dimmed and softened."""
    from skimage import data

    rocket = cv2.resize(_bgr(data.rocket()), (WIDTH, HEIGHT), interpolation=cv2.INTER_AREA)
    return cv2.GaussianBlur(rocket, (0, 0), 1.2) // 4 * 3


def _lerp(a: float, b: float, t: float) -> float:
    return a + (b - a) * min(1.0, max(0.0, t))


def _loglerp(a: float, b: float, t: float) -> float:
    return math.exp(_lerp(math.log(a), math.log(b), t))


def placements(t: float) -> list[Placement]:
    """Everything in view at time `t` (s) of the face sequence, back to front."""
    out: list[Placement] = []
    sway = 0.4 * math.sin(2 * math.pi * 0.5 * t)  # sub-pixel: the picture is never frozen
    # The astronaut's first appearance.
    if t < 3.0:
        out.append(Placement("astronaut", "astronaut#1", 320 + sway, 220, 110))
    elif t < 9.0:
        u = (t - 3.0) / 6.0
        out.append(
            Placement(
                "astronaut",
                "astronaut#1",
                _lerp(320, 470, u),
                _lerp(220, 180, u),
                _loglerp(110, 20, u),
            )
        )
    elif t < 10.5:
        out.append(Placement("astronaut", "astronaut#1", 470 + sway, 180, 20))
    elif t < 11.5:
        out.append(Placement("astronaut", "astronaut#1", _lerp(470, 680, t - 10.5), 180, 20))
    # The cameraman walks in from the left and out again.
    if 2.0 <= t < 4.0:
        out.append(Placement("cameraman", "cameraman#1", _lerp(-40, 150, (t - 2) / 2), 300, 70))
    elif 4.0 <= t < 5.0:
        u = t - 4.0
        out.append(
            Placement("cameraman", "cameraman#1", _lerp(150, 200, u), 300, _loglerp(70, 55, u))
        )
    elif 5.0 <= t < 7.0:  # stands still: a face whose expression is ambiguous (sad / neutral)
        out.append(Placement("cameraman", "cameraman#1", 200 + sway, 300, 55))
    elif 7.0 <= t < 8.0:
        u = t - 7.0
        out.append(
            Placement("cameraman", "cameraman#1", _lerp(200, 250, u), 300, _loglerp(55, 40, u))
        )
    elif 8.0 <= t < 9.0:
        out.append(Placement("cameraman", "cameraman#1", _lerp(250, -40, t - 8.0), 300, 40))
    # Someone far away walks in from the right at 24 px (found only by the full-frame scan).
    if 9.5 <= t < 11.5:
        out.append(Placement("cameraman", "cameraman#2", _lerp(652, 380, (t - 9.5) / 2.0), 120, 24))
    # The cat, then the astronaut back, whose expression changes.
    if t >= 11.0:
        out.append(Placement("cat", "cat", 500 + sway, 330, 180))
    if t >= 12.0:
        enter = _lerp(-80, 200, (t - 12.0) / 0.5)
        sprite = "astronaut" if t < EXPRESSION_CHANGE_S else "astronaut_frown"
        out.append(Placement(sprite, "astronaut#2", enter + sway, 220, 100))
    return out


def _paste(frame: np.ndarray, sprite: Sprite, place: Placement) -> tuple[float, ...]:
    """Blend `sprite` into `frame` with its face at `place`; return the face box in the frame."""
    fx, fy, fw, fh = sprite.face
    scale = place.width / fw
    image, alpha, level = sprite.image, sprite.alpha, 1.0
    # Area-like shrinking: halve first (pyrDown) while the scale is below one half.
    while scale / level < 0.5 and min(image.shape[:2]) > 8:
        image, alpha, level = cv2.pyrDown(image), cv2.pyrDown(alpha), level / 2.0
    s = scale / level
    cx_src, cy_src = (fx + fw / 2) * level, (fy + fh / 2) * level
    m = np.array([[s, 0.0, place.cx - s * cx_src], [0.0, s, place.cy - s * cy_src]])
    warped = cv2.warpAffine(image, m, (WIDTH, HEIGHT), flags=cv2.INTER_LINEAR)
    a = cv2.warpAffine(alpha, m, (WIDTH, HEIGHT), flags=cv2.INTER_LINEAR)[:, :, None]
    frame[:] = (frame * (1.0 - a) + warped * a).astype(np.uint8)
    w, h = place.width, fh * scale
    return (place.cx - w / 2, place.cy - h / 2, w, h)


def _visible_fraction(box: Sequence[float]) -> float:
    x, y, w, h = box
    iw = max(0.0, min(x + w, WIDTH) - max(x, 0.0))
    ih = max(0.0, min(y + h, HEIGHT) - max(y, 0.0))
    return iw * ih / (w * h) if w * h > 0 else 0.0


def render(t: float) -> tuple[np.ndarray, list[dict]]:
    """The frame at time `t` of the face sequence and its ground truth.

    Ground truth: one dict per face or non-face with at least half of its box in the frame:
    ``id``, ``kind`` ("face" / "nonface"), ``box`` [x, y, w, h], and for faces ``gender`` and
    ``expression`` ("happy" before the change, "frown" after, "neutral" for the cameraman).
    """
    frame = background().astype(np.float32)
    truth = []
    table = sprites()
    for place in placements(t):
        box = _paste(frame, table[place.sprite], place)
        if _visible_fraction(box) < 0.5:
            continue
        item: dict = {"id": place.identity, "box": [round(v, 2) for v in box]}
        if place.sprite == "cat":
            item["kind"] = "nonface"
        else:
            item["kind"] = "face"
            item["gender"] = "man" if place.sprite == "cameraman" else "woman"
            item["expression"] = {"astronaut": "happy", "astronaut_frown": "frown"}.get(
                place.sprite, "neutral"
            )
        truth.append(item)
    return np.clip(frame, 0, 255).astype(np.uint8), truth


def jpeg_round_trip(bgr: np.ndarray) -> np.ndarray:
    """The frame as a camera's compressed stream delivers it (JPEG encode + decode)."""
    ok, data = cv2.imencode(".jpg", bgr, [cv2.IMWRITE_JPEG_QUALITY, JPEG_QUALITY])
    if not ok:
        raise RuntimeError("OpenCV could not encode a JPEG")
    return cv2.imdecode(data, cv2.IMREAD_COLOR)


def face_frames(
    seconds: float = FACE_SECONDS, rate: float = RATE_HZ, jpeg: bool = True
) -> Iterator[tuple[float, np.ndarray, list[dict]]]:
    """Yield (t seconds, BGR frame, ground truth) of the face sequence."""
    for i in range(round(seconds * rate)):
        t = i / rate
        frame, truth = render(t)
        yield t, (jpeg_round_trip(frame) if jpeg else frame), truth


@lru_cache(maxsize=1)
def _nonface_strip() -> np.ndarray:
    from skimage import data

    names = ("chelsea", "coffee", "rocket", "clock", "coins", "moon", "immunohistochemistry")
    panels = []
    for name in names:
        img = _bgr(getattr(data, name)())
        img = cv2.resize(img, (round(img.shape[1] * 480 / img.shape[0]), 480))
        panels += [img, np.full((480, 48, 3), 40, np.uint8)]
    return np.ascontiguousarray(np.hstack(panels))


def nonface_frames(
    count: int, rate: float = RATE_HZ, jpeg: bool = True
) -> Iterator[tuple[float, np.ndarray]]:
    """Yield (t seconds, BGR frame) of a slow pan over pictures without faces."""
    strip = _nonface_strip()
    span = strip.shape[1] - WIDTH
    for i in range(count):
        t = i / rate
        u = (0.5 - 0.5 * math.cos(2 * math.pi * t / 40.0)) * span  # there and back in 40 s
        zoom = 1.0 + 0.25 * (0.5 - 0.5 * math.cos(2 * math.pi * t / 13.0))
        cx, cy = u + WIDTH / 2, HEIGHT / 2
        m = np.array([[zoom, 0.0, WIDTH / 2 - zoom * cx], [0.0, zoom, HEIGHT / 2 - zoom * cy]])
        frame = cv2.warpAffine(strip, m, (WIDTH, HEIGHT), flags=cv2.INTER_LINEAR)
        yield t, (jpeg_round_trip(frame) if jpeg else frame)


def build(output: Path, seconds: float = FACE_SECONDS, force: bool = False) -> Path:
    """Write the face sequence as a CompressedImage bag and its ground truth beside it.

    Returns the ground-truth JSON path (``output`` with suffix ``.json``).
    """
    from face_affect_ros.bag import make_sample
    from face_affect_ros.bag import storage as bs

    truth_path = output.with_suffix(".json")
    records = []
    with bs.StagedOutputs(force=force) as staged:
        writer = bs.open_writer(staged.bag(output, "mcap"), "mcap")
        try:
            conn = bs.add_connection(writer, TOPIC, MSGTYPE)
            for i, (t, frame, truth) in enumerate(face_frames(seconds, jpeg=False)):
                stamp = START_NS + round(i * 1e9 / RATE_HZ)
                writer.write(conn, stamp, make_sample.compressed_cdr(stamp, frame))
                records.append({"frame": i, "t": round(t, 6), "stamp_ns": stamp, "truth": truth})
            writer.close()
        except BaseException:
            writer.abort()
            raise
        staged.commit()
    meta = {
        "rate_hz": RATE_HZ,
        "width": WIDTH,
        "height": HEIGHT,
        "expression_change_s": EXPRESSION_CHANGE_S,
        "frames": records,
    }
    truth_path.write_text(json.dumps(meta, indent=None, separators=(",", ":")))
    return truth_path


def main(argv: Sequence[str] | None = None) -> int:
    """Command line: write the moving sequence bag and its ground truth."""
    parser = argparse.ArgumentParser(
        prog="python -m face_affect_ros.bag.make_moving", description=__doc__.split("\n\n")[0]
    )
    parser.add_argument("--out", type=Path, required=True, help="output .mcap file")
    parser.add_argument("--seconds", type=float, default=FACE_SECONDS)
    parser.add_argument("--force", action="store_true", help="replace an existing output")
    args = parser.parse_args(argv)
    from face_affect_ros.bag.storage import BagError

    try:
        truth = build(args.out, args.seconds, args.force)
    except BagError as exc:
        print(f"make_moving: error: {exc}", file=sys.stderr)
        return 1
    print(f"wrote {args.out} and {truth}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
