r"""Far faces in HD camera frames: the loop's scan tiles against the alternatives (issue 20).

A robot's head camera is often 1280x720 or 1920x1080; people 8-10 m away have faces ~16-24 px
wide in the camera's pixels. The loop's whole-frame scan fits the frame into 640x480, so these
faces are a half or a third of that in the scan. This benchmark streams such scenes at 30 Hz
and runs, side by side in one process on the very same frames (each frame rendered once, every
loop stepped on it in turn; the frame sizes interleaved frame by frame, so the CPU ratio of an
HD loop to the 640x480 loop is measured under the same load):

* ``old``: the loop without native looks and region scans (``scan_tile_period=0``,
  ``scan_regions=False``): the behaviour before issue 20;
* ``tiles``: the loop with its defaults: native looks every ``scan_tile_period`` between
  whole-frame scans (the changed parts at 1.5x, else a native-resolution tile), and scans of the
  changed region at native resolution when it has at most the scan input's pixel count;
* ``tiles 0.3``: the same with native looks at the whole-frame scan's own period;
* ``regions only``: region scans without native looks (``scan_tile_period=0``);
* ``native``: the whole frame scanned at its own resolution every ``scan_period``
  (``scan_input_size`` = the frame size, no region scans): the brute-force alternative.

Scenes: 8 real faces (``--faces bench``: scikit-image's astronaut and cameraman, matplotlib's
Grace Hopper, with hair and shoulders, feathered edges, some mirrored; ``--faces heldout``: the
six people of insightface's t1.jpg, Biden and Obama from ``bench/get_face_photos.sh``'s photos in
/tmp/face_photos, on other scenery) of one width (16, 20, 24, 32 px) spread over the frame (some
on tile borders; ``--seed`` moves them), each drifting slowly (6-12 px / s), JPEG round trip;
``--seconds`` per scene. A 640x480 stream of the same faces runs the loop for reference
(640x480 frames have no native looks). Non-face footage: the pan over the moving sequence's
non-face pictures (the cat, coffee, clock, ...) rendered at each HD size, ``--nonface`` frames.

Reported per mode, frame size and face width: recall (face-frames where the face is published,
from ``--grace`` s after the scene starts), the median and worst time until each face is first
published, false tracks (track ids that never match a face; on non-face footage: every track),
and the loop's CPU per frame (thread time of ``PerceptionLoop.step``: mean = the CPU a frame
costs on average, scans included; median = a frame without a scan), and each HD mode's mean CPU
over the 640x480 loop's.

    PYTHONPATH=face_affect_ros .venv-jazzy/bin/python bench/bench_hd.py [--seconds 5] \\
        [--sizes 16 20 24 32] [--nonface 300] [--faces heldout --seed 1000 --out hd_heldout]

Writes bench/results/hd.json (or ``--out``).
"""

from __future__ import annotations

import argparse
import math
import sys
import time
from dataclasses import dataclass
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "face_affect_ros"))

import cv2
import numpy as np
from benchlib import summarize, table, write_results
from face_affect_ros.bag import make_moving as mm
from face_affect_ros.core.detector import FaceDetector
from face_affect_ros.core.paths import models_dir
from face_affect_ros.core.temporal import PerceptionLoop, TemporalConfig
from face_affect_ros.core.tiles import tile_grid

RATE_HZ = 30
#: The held-out run's scenery (other pictures than the bench's, the moon among them: a face-like
#: non-face the verifier refuses).
HELDOUT_BACKGROUND = ("coins", "moon", "page", "immunohistochemistry")
FACES_PER_SCENE = 8
SIZES = ((640, 480), (1280, 720), (1920, 1080))


def modes(width: int, height: int) -> dict[str, TemporalConfig]:
    """The loops compared on frames of this size (640x480: the reference loop only)."""
    if (width, height) == (640, 480):
        return {"old": TemporalConfig()}
    return {
        "old": TemporalConfig(scan_tile_period=0.0, scan_regions=False),
        "tiles": TemporalConfig(),
        "tiles 0.3": TemporalConfig(scan_tile_period=0.3),
        "regions only": TemporalConfig(scan_tile_period=0.0),
        "native": TemporalConfig(
            scan_input_size=(width, height), scan_tile_period=0.0, scan_regions=False
        ),
    }


@dataclass
class Person:
    sprite: mm.Sprite
    scaled: np.ndarray  # BGR, at the scene's face width
    alpha: np.ndarray  # float32 HxWx1
    face: tuple[float, float, float, float]  # face box inside `scaled`
    x: float  # top-left of `scaled` in the frame at t = 0
    y: float
    vx: float
    vy: float

    def at(self, t: float) -> tuple[int, int]:
        return round(self.x + self.vx * t), round(self.y + self.vy * t)


def sprites() -> list[mm.Sprite]:
    """Real faces with context: astronaut, cameraman (make_moving's boxes) and Grace Hopper."""
    import matplotlib

    table_ = mm.sprites()
    hopper = cv2.imread(str(Path(matplotlib.get_data_path()) / "sample_data" / "grace_hopper.jpg"))
    det = FaceDetector(models_dir() / "yunet_n_dynamic.json", input_size=(512, 600))
    box = det.detect(hopper)[0].box
    out = [table_["astronaut"], table_["cameraman"], mm._cut(hopper, box, 0.7)]
    flipped = []
    for s in out:
        x, y, w, h = s.face
        face = (s.image.shape[1] - x - w, y, w, h)
        flipped.append(mm.Sprite(s.image[:, ::-1].copy(), s.alpha[:, ::-1].copy(), face))
    return out + flipped


def heldout_sprites(photo_dir: Path = Path("/tmp/face_photos")) -> list[mm.Sprite]:
    """Faces the loop was not tuned on: 8 people from bench/get_face_photos.sh's photos.

    The six of insightface's group photo t1.jpg, Biden and Obama from face_recognition's tests
    (``sh bench/get_face_photos.sh /tmp/face_photos``), with the same context as the bench's
    faces (0.7 face sizes each side, clipped).
    """
    from facesets import photos

    faces = [f for f in photos(photo_dir) if f.source.split(":")[1].split("#")[0] in HELDOUT]
    if len(faces) < FACES_PER_SCENE:
        raise SystemExit(f"held-out faces: run sh bench/get_face_photos.sh {photo_dir} first")
    return [mm._cut(f.image, f.detection.box, 0.7) for f in faces[:FACES_PER_SCENE]]


#: The held-out photos (bench/get_face_photos.sh): 6 + 1 + 1 faces of 8 people.
HELDOUT = ("biden.jpg", "obama3.jpg", "t1.jpg")


def background(width: int, height: int, names: tuple[str, ...] | None = None) -> np.ndarray:
    """scikit-image scenery (rocket, coffee, hubble, text) tiled and dimmed, no faces."""
    from skimage import data

    names = names or ("rocket", "coffee", "hubble_deep_field", "text")
    panels = [mm._bgr(getattr(data, n)()) for n in names]
    half = (width // 2, height // 2)
    quads = [cv2.resize(p, half, interpolation=cv2.INTER_AREA) for p in panels]
    frame = np.vstack([np.hstack(quads[:2]), np.hstack(quads[2:])])
    frame = cv2.resize(frame, (width, height))
    return (cv2.GaussianBlur(frame, (0, 0), 1.0) // 4 * 3).astype(np.uint8)


def scene(
    width: int,
    height: int,
    face_px: int,
    seed: int,
    table_: list[mm.Sprite] | None = None,
    still: bool = False,
) -> list[Person]:
    """8 faces of `face_px` spread over the frame (a jittered 4x2 grid), each drifting slowly."""
    rng = np.random.default_rng(seed)
    table_ = table_ if table_ is not None else sprites()
    people = []
    for k in range(FACES_PER_SCENE):
        s = table_[k % len(table_)]
        scale = face_px / s.face[2]
        image, alpha = s.image, s.alpha
        while scale < 0.5 and min(image.shape[:2]) > 8:
            image, alpha, scale = cv2.pyrDown(image), cv2.pyrDown(alpha), scale * 2
        size = (max(1, round(image.shape[1] * scale)), max(1, round(image.shape[0] * scale)))
        scaled = cv2.resize(image, size, interpolation=cv2.INTER_AREA)
        a = cv2.resize(alpha, size, interpolation=cv2.INTER_AREA)[:, :, None]
        f = face_px / s.face[2]
        face = (s.face[0] * f, s.face[1] * f, s.face[2] * f, s.face[3] * f)
        col, row = k % 4, k // 4
        cw, ch = width / 4, height / 2
        x = (col + rng.uniform(0.15, 0.85)) * cw - size[0] / 2
        y = (row + rng.uniform(0.2, 0.8)) * ch - size[1] / 2
        angle = rng.uniform(0, 2 * math.pi)
        speed = 0.0 if still else rng.uniform(6, 12)
        x = min(max(x, 0), width - size[0] - 1)
        y = min(max(y, 0), height - size[1] - 1)
        people.append(
            Person(s, scaled, a, face, x, y, speed * math.cos(angle), speed * math.sin(angle))
        )
    return people


def render(bg: np.ndarray, people: list[Person], t: float) -> tuple[np.ndarray, list[tuple]]:
    frame = bg.copy()
    height, width = frame.shape[:2]
    truth = []
    for p in people:
        h, w = p.scaled.shape[:2]
        x, y = p.at(t)
        x, y = min(max(x, 0), width - w), min(max(y, 0), height - h)
        roi = frame[y : y + h, x : x + w]
        roi[:] = (roi * (1.0 - p.alpha) + p.scaled * p.alpha).astype(np.uint8)
        truth.append((x + p.face[0], y + p.face[1], p.face[2], p.face[3]))
    return mm.jpeg_round_trip(frame), truth


def nonface(width: int, height: int, count: int):
    """The moving sequence's non-face pan, rendered at `width` x `height`."""
    strip = mm._nonface_strip()
    span = strip.shape[1] - 640
    for i in range(count):
        t = i / RATE_HZ
        u = (0.5 - 0.5 * math.cos(2 * math.pi * t / 40.0)) * span
        zoom = (1.0 + 0.25 * (0.5 - 0.5 * math.cos(2 * math.pi * t / 13.0))) * height / 480
        cx, cy = u + 320, 240
        m = np.array([[zoom, 0.0, width / 2 - zoom * cx], [0.0, zoom, height / 2 - zoom * cy]])
        frame = cv2.warpAffine(strip, m, (width, height), flags=cv2.INTER_LINEAR)
        yield t, mm.jpeg_round_trip(frame)


def nonface_stream(width: int, height: int, count: int):
    """:func:`nonface` as (t, frame, no face boxes)."""
    for t, frame in nonface(width, height, count):
        yield t, frame, []


def matches(truth: tuple, box: tuple) -> bool:
    tx, ty, tw, th = truth
    bx, by, bw, bh = box
    d = math.hypot(bx + bw / 2 - tx - tw / 2, by + bh / 2 - ty - th / 2)
    return d < 0.6 * tw and 0.5 < bw / tw < 2.0


class Score:
    def __init__(self, grace: float) -> None:
        self.grace = grace
        self.eligible = 0
        self.found = 0
        self.first: dict[int, float] = {}
        self.track_hits: dict[str, int] = {}
        self.cpu: list[float] = []

    def add(self, t: float, truth: list[tuple], faces, cpu_ms: float) -> None:
        self.cpu.append(cpu_ms)
        for f in faces:
            self.track_hits.setdefault(f.track_id, 0)
        for i, tb in enumerate(truth):
            hit = [f for f in faces if matches(tb, f.detection.box)]
            for f in hit:
                self.track_hits[f.track_id] += 1
            if hit and i not in self.first:
                self.first[i] = t
            if t >= self.grace - 1e-9:
                self.eligible += 1
                self.found += bool(hit)

    @property
    def false_tracks(self) -> int:
        return sum(1 for v in self.track_hits.values() if v == 0)


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--seconds", type=float, default=5.0, help="seconds per scene")
    ap.add_argument("--sizes", type=int, nargs="*", default=[16, 20, 24, 32], help="face px")
    ap.add_argument("--frames", nargs="*", default=[f"{w}x{h}" for w, h in SIZES])
    ap.add_argument("--nonface", type=int, default=300, help="non-face frames per HD size")
    ap.add_argument("--grace", type=float, default=0.5, help="s before recall counts")
    ap.add_argument("--modes", nargs="*", default=None, help="subset of the modes")
    ap.add_argument("--seed", type=int, default=0, help="added to each scene's layout seed")
    ap.add_argument(
        "--faces",
        default="bench",
        help="'bench': astronaut, cameraman, Grace Hopper; 'heldout': other faces (facesets)",
    )
    ap.add_argument("--out", default="hd", help="results name (bench/results/<out>.json)")
    ap.add_argument(
        "--still", action="store_true", help="people standing still (no drift): idle looks only"
    )
    args = ap.parse_args()
    rows, payload = [], {}
    n = round(args.seconds * RATE_HZ)
    frame_sizes = [tuple(int(v) for v in size.split("x")) for size in args.frames]
    loops: dict[tuple[int, int], dict[str, PerceptionLoop]] = {}
    backgrounds = {}
    for width, height in frame_sizes:
        configs = modes(width, height)
        if args.modes:
            configs = {k: v for k, v in configs.items() if k in args.modes}
        loops[(width, height)] = {name: PerceptionLoop(None, cfg) for name, cfg in configs.items()}
        backgrounds[(width, height)] = background(
            width, height, None if args.faces == "bench" else HELDOUT_BACKGROUND
        )
        for loop in loops[(width, height)].values():  # warm-up: sessions, plans of this size
            for t in (0.0, 0.5, 1.0):
                loop.step(backgrounds[(width, height)], -10.0 + t)
    table_ = sprites() if args.faces == "bench" else heldout_sprites()
    start = 0.0
    for face_px in args.sizes:
        # Every frame size's scene of this face width, stepped interleaved frame by frame: each
        # loop of each size gets the i-th frame in turn, so load drift hits all of them alike.
        streams = {}
        for width, height in frame_sizes:
            people = scene(
                width, height, face_px, args.seed + face_px * 7 + width, table_, args.still
            )
            bg = backgrounds[(width, height)]
            streams[(width, height)] = stream(bg, people, n)
        scores = run_interleaved(loops, streams, args.grace, start)
        start += args.seconds + 10.0
        for size in frame_sizes:
            label = f"{size[0]}x{size[1]}"
            for name, sc in scores[size].items():
                firsts = [sc.first.get(i, math.inf) for i in range(FACES_PER_SCENE)]
                entry = {
                    "recall": sc.found / max(sc.eligible, 1),
                    "eligible": sc.eligible,
                    "first_found_s": firsts,
                    "false_tracks": sc.false_tracks,
                    "cpu_ms": summarize(sc.cpu),
                    "cpu_mean_ms": float(np.mean(sc.cpu)),
                }
                payload.setdefault(label, {}).setdefault(name, {})[str(face_px)] = entry
                missed = sum(1 for f in firsts if f == math.inf)
                rows.append(
                    [
                        label,
                        len(tile_grid(*size, TemporalConfig().scan_input_size)),
                        name,
                        face_px,
                        f"{100 * entry['recall']:.1f}",
                        f"{np.median(firsts):.2f} / "
                        + (f"{max(firsts):.2f}" if not missed else f"{missed} never"),
                        sc.false_tracks,
                        f"{np.mean(sc.cpu):.2f} / {np.median(sc.cpu):.2f}",
                    ]
                )
        print(f"{face_px} px: done", flush=True)
    hd = [s for s in frame_sizes if s[0] * s[1] > 640 * 480]
    if hd and args.nonface:
        streams = {(w, h): ((t, f, []) for t, f in nonface(w, h, args.nonface)) for w, h in hd}
        scores = run_interleaved({s: loops[s] for s in hd}, streams, 0.0, start + 1000.0)
        for size in hd:
            label = f"{size[0]}x{size[1]}"
            for name, sc in scores[size].items():
                tracks = len(sc.track_hits)
                entry = {
                    "false_tracks": tracks,
                    "frames": args.nonface,
                    "cpu_ms": summarize(sc.cpu),
                    "cpu_mean_ms": float(np.mean(sc.cpu)),
                }
                payload[label][name]["nonface"] = entry
                rows.append(
                    [
                        label,
                        len(tile_grid(*size, TemporalConfig().scan_input_size)),
                        name,
                        "non-face",
                        "-",
                        "-",
                        f"{tracks} / {args.nonface} frames",
                        f"{np.mean(sc.cpu):.2f} / {np.median(sc.cpu):.2f}",
                    ]
                )
        print("non-face: done", flush=True)
    rows.sort(
        key=lambda r: (int(r[0].split("x")[0]), list(modes(1280, 720)).index(r[2]), str(r[3]))
    )
    headers = [
        "frame",
        "tiles",
        "mode",
        "face px",
        f"recall % (from {args.grace} s)",
        "first found s: median / worst",
        "false tracks",
        "CPU ms / frame: mean / median",
    ]
    print()
    print(table(headers, rows))
    ratios = cpu_ratios(payload, args.sizes)
    if ratios:
        print()
        print(table(["frame", "mode", "CPU mean / 640x480 loop's, per face px", "all"], ratios))
    path = write_results(
        args.out,
        {
            "results": payload,
            "seconds": args.seconds,
            "grace_s": args.grace,
            "seed": args.seed,
            "faces": args.faces,
            "still": args.still,
        },
    )
    print(f"wrote {path}")
    return 0


def cpu_ratios(payload: dict, sizes: list[int]) -> list[list]:
    """Rows: each HD mode's mean CPU per frame over the 640x480 loop's, scene by scene."""
    ref = payload.get("640x480", {}).get("old")
    if ref is None:
        return []
    rows = []
    for label, by_mode in payload.items():
        if label == "640x480":
            continue
        for name, entries in by_mode.items():
            per = [entries[str(px)]["cpu_mean_ms"] / ref[str(px)]["cpu_mean_ms"] for px in sizes]
            total = sum(entries[str(px)]["cpu_mean_ms"] for px in sizes) / sum(
                ref[str(px)]["cpu_mean_ms"] for px in sizes
            )
            rows.append([label, name, " / ".join(f"{r:.2f}" for r in per), f"{total:.2f}"])
    return rows


def stream(bg: np.ndarray, people: list[Person], n: int):
    """`n` frames at RATE_HZ of `people` on `bg`: (t, frame, true face boxes)."""
    for i in range(n):
        yield (i / RATE_HZ, *render(bg, people, i / RATE_HZ))


def run_interleaved(loops: dict, streams: dict, grace: float, start: float) -> dict:
    """Step every loop of every frame size on its stream, frame i of each size in turn."""
    scores = {size: {name: Score(grace) for name in by_mode} for size, by_mode in loops.items()}
    for by_mode in loops.values():
        for loop in by_mode.values():
            loop.reset()
    iterators = {size: iter(stream) for size, stream in streams.items()}
    while iterators:
        for size in list(iterators):
            item = next(iterators[size], None)
            if item is None:
                del iterators[size]
                continue
            t, frame, truth = item
            for name, loop in loops[size].items():
                c0 = time.thread_time()
                result = loop.step(frame, start + t)
                scores[size][name].add(t, truth, result.faces, (time.thread_time() - c0) * 1e3)
    return scores


if __name__ == "__main__":
    sys.exit(main())
