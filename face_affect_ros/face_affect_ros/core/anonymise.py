"""Mask faces in frames so a recording or a stream can be shared: what to mask, where, and how.

Why in the core: the offline bag tool (``face-affect-bag anonymise``) and a live node option
mask with the same functions, and whether a mask hides a face is image math that plain pytest
must reach. Nothing here imports ROS.

Three parts:

* :func:`mask_faces` / :func:`mask_all`: the masks. ``blur`` and ``pixelate`` keep only a few
  cells of colour across a face (:data:`CELLS_PER_FACE`, relative to the face, not a fixed kernel
  in pixels: a fixed kernel leaves a large face recognisable and over-blurs a small one), so no
  deblurring or downscale / upscale can bring back more than those few numbers per face; ``solid``
  paints a fill value. Shape ``ellipse`` (default) or ``box``, inflated by ``margin``.
* :func:`recall_configs`: the perception loop pushed for recall (a scan every 0.1 s at twice
  the frame's size, the scan's lowest threshold, a verifier that lets doubtful faces through),
  since an offline tool has the time that a live node does not, and a masked non-face costs
  little while a missed face is the failure.
* :class:`FaceTimeline`: the tool sees the whole recording, so it collects every track's boxes
  over time first (pass 1), then answers "which boxes to mask at time t" (pass 2) with each track
  interpolated over the frames it was missed in and padded before it was first found and after
  it was lost (extrapolated with its velocity, growing with the time from the last sighting).
* :class:`LookBack`: the live stream's version of that padding before a face is first found,
  for a stream held back by a few tenths of a second (``anonymise_delay``).

What cannot be promised: a face no detector finds in any frame of its track is not masked.
"""

from __future__ import annotations

import bisect
import math
from collections import deque
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, field
from typing import Any

import cv2
import numpy as np

Box = tuple[float, float, float, float]

#: Mask modes and shapes.
MODES: tuple[str, ...] = ("blur", "pixelate", "solid")
SHAPES: tuple[str, ...] = ("ellipse", "box")
#: Pixelate by default: of the three modes, the one independent detectors found the fewest faces
#: in (see :data:`CELLS_PER_FACE`), and like the others it keeps nothing finer than the cells.
DEFAULT_MODE = "pixelate"
#: Ellipse by default: it covers the face with less of the scene than a box; the margin below
#: was measured for it (bench/bench_anonymise.py --sweep).
DEFAULT_SHAPE = "ellipse"
#: Mask size / detector box size (each side, about the box centre). YuNet's box runs from the
#: brows to the chin, so a tight mask leaves the hair and the head's outline around a smooth oval,
#: which a detector still takes for a face: with blur at 3 cells YuNet s (2x, >= 0.5) found 68 of
#: 255 masked faces of the moving sequence at margin 1.3, 22 at 1.6, 0 at 2.0 (pixelate: 1, 0, 0;
#: solid: 0 at all three). bench/bench_anonymise.py --sweep, README.
DEFAULT_MARGIN = 2.0
#: Cells of colour kept across the face's width by each mode (the mask's own extent, margin
#: included, keeps the same cell size): no eye, nose or mouth is resolved (an eye is a fifth of
#: a face's width), so no deblurring or upscaling can bring one back. Chosen by re-detection
#: (bench/bench_anonymise.py --modes: the same boxes masked in each mode at margin 2.0; YuNet s
#: 2x >= 0.5 and CenterFace >= 0.2; moving sequence every 3rd frame, far composites, held-out
#: composites and held-out sequence every 3rd frame, 1202 face-frames): a blur keeping 2 cells
#: leaves a smooth skin-coloured oval with the hair's dark top that both detectors still call a
#: face (14 and 16 found), 1 cell 1 and 2; pixelation at 3 cells 0 and 4, at 2 cells 0 and 1 (a
#: face the loop never found, not a mask); solid 0 and 3.
CELLS_PER_FACE: dict[str, float] = {"blur": 1.0, "pixelate": 2.0}
#: Blur with an ellipse: the blur fades out over this fraction of the mask's size outside it.
#: Off: a fade of 0.15 removed 1 of the 2 masks YuNet s (2x) took for a face on the moving
#: sequence, but CenterFace (>= 0.2) then found 9 soft skin-coloured blobs where it found 0.
BLUR_FADE = 0.0
#: Fill of the solid mode and of frames that could not be processed.
DEFAULT_FILL = 0
#: Seconds a track is padded before its first and after its last sighting. On the moving
#: sequence 9 of 765 face-frames (faces walking in, half visible) are left uncovered without
#: padding, 0 with 0.25 s or more; 1 s keeps a margin for slower entrances (a face turning
#: towards the camera) at the cost of masking where a face was about to be or had just been
#: (171 extra boxes over 540 frames, 33 at 0.25 s).
DEFAULT_PAD_S = 1.0
#: Growth of a padded box per second away from the sighting (relative to its size): the further
#: from where the face was seen, the less sure where it is.
PAD_GROWTH_PER_S = 0.5
#: Velocity used to extrapolate a padded box is measured over this much of the track's end.
_VELOCITY_SPAN_S = 0.5
#: A padded box moves at most this many face widths per second (a bad velocity estimate must not
#: throw the mask off the face).
_MAX_SPEED_FACES_PER_S = 3.0


def _check(mode: str, shape: str, margin: float) -> None:
    if mode not in MODES:
        raise ValueError(f"mask mode must be one of {', '.join(MODES)}, got {mode!r}")
    if shape not in SHAPES:
        raise ValueError(f"mask shape must be one of {', '.join(SHAPES)}, got {shape!r}")
    if not (isinstance(margin, (int, float)) and math.isfinite(margin) and 0.5 <= margin <= 5.0):
        raise ValueError(f"mask margin must be a number in [0.5, 5], got {margin!r}")


def _check_image(image: np.ndarray) -> None:
    if not isinstance(image, np.ndarray) or image.dtype != np.uint8 or image.ndim not in (2, 3):
        raise ValueError(
            "expected a uint8 HxW or HxWxC image, got "
            f"{getattr(image, 'dtype', type(image))} {getattr(image, 'shape', '')}"
        )
    if image.shape[0] == 0 or image.shape[1] == 0:
        raise ValueError(f"empty image {image.shape}")


def mask_region(box: Sequence[float], margin: float) -> Box:
    """The region masked for a face `box` (x, y, w, h): scaled by `margin` about its centre."""
    x, y, w, h = (float(v) for v in box)
    cx, cy = x + w / 2, y + h / 2
    mw, mh = w * margin, h * margin
    return (cx - mw / 2, cy - mh / 2, mw, mh)


def _coarse(roi: np.ndarray, cell: float, mode: str, aspect: float = 1.0) -> np.ndarray:
    """`roi` reduced to cells of `cell` rows (`cell / aspect` columns) and brought back."""
    rh, rw = roi.shape[:2]
    cw, ch = max(1, round(rw * aspect / cell)), max(1, round(rh / cell))
    small = cv2.resize(roi, (cw, ch), interpolation=cv2.INTER_AREA)
    if mode == "pixelate":
        out = cv2.resize(small, (rw, rh), interpolation=cv2.INTER_NEAREST)
    else:
        out = cv2.resize(small, (rw, rh), interpolation=cv2.INTER_LINEAR)
        ky, kx = max(1, int(cell) | 1), max(1, int(cell / aspect) | 1)
        # A box filter one cell wide smooths the bilinear ridges; O(1) per pixel at any size.
        out = cv2.blur(out, (kx, ky), borderType=cv2.BORDER_REPLICATE)
    return out.reshape(roi.shape)


def _fill(roi: np.ndarray, fill: int | Sequence[int]) -> np.ndarray:
    out = np.empty_like(roi)
    out[...] = np.asarray(fill, dtype=np.uint8) if not isinstance(fill, int) else fill
    return out


def mask_faces(
    image: np.ndarray,
    boxes: Iterable[Sequence[float]],
    mode: str = DEFAULT_MODE,
    shape: str = DEFAULT_SHAPE,
    margin: float = DEFAULT_MARGIN,
    fill: int | Sequence[int] = DEFAULT_FILL,
    pixel_aspect: float = 1.0,
) -> np.ndarray:
    """Return a copy of `image` with every face box (x, y, w, h, px) masked.

    `image`: uint8 HxW or HxWxC, any channel order (masking is per channel, so an RGB, BGRA or
    packed-YUV view is masked in place of its encoding without a colour conversion). Pixels
    outside the masks are unchanged. `fill` (solid mode): a value, or one per channel.
    `pixel_aspect`: image pixels per stored column (2 for a 4:2:2 macro-pixel view, whose boxes
    are given in columns), so cells stay square in the picture.
    Raises ValueError on a bad mode, shape, margin or image.
    """
    _check(mode, shape, margin)
    _check_image(image)
    out = image.copy()
    ih, iw = image.shape[:2]
    for box in boxes:
        fw = float(box[2])
        x, y, w, h = mask_region(box, margin)
        ex, ey, ew, eh = mask_extent(box, margin, mode, shape)
        fade = ex < x
        x0, y0 = max(0, math.floor(ex)), max(0, math.floor(ey))
        x1, y1 = min(iw, math.ceil(ex + ew)), min(ih, math.ceil(ey + eh))
        if x1 <= x0 or y1 <= y0 or fw <= 0:
            continue
        roi = out[y0:y1, x0:x1]
        if mode == "solid":
            masked = _fill(roi, fill)
        else:
            # Cells relative to the face (not the margin): the same detail is removed whatever
            # the margin; the region around the face is coarsened too.
            cell = max(fw * pixel_aspect / CELLS_PER_FACE[mode], 1.0)
            masked = _coarse(image[y0:y1, x0:x1], cell, mode, pixel_aspect)
        if shape == "box":
            roi[...] = masked
            continue
        sel = np.zeros((y1 - y0, x1 - x0), np.uint8)
        centre = (round((x + w / 2 - x0) * 16), round((y + h / 2 - y0) * 16))
        axes = (max(1, round(w / 2 * 16)), max(1, round(h / 2 * 16)))
        cv2.ellipse(sel, centre, axes, 0, 0, 360, 255, -1, cv2.LINE_8, 4)
        if fade:
            # Full mask inside the ellipse, fading out beyond it: no crisp oval outline.
            sigma = (x - ex) / 2.0
            alpha = cv2.GaussianBlur(sel.astype(np.float32) / 255.0, (0, 0), sigma)
            alpha = np.minimum(alpha * 2.0, 1.0)
            alpha[sel > 0] = 1.0
            if roi.ndim == 3:
                alpha = alpha[:, :, None]
            roi[...] = np.rint(alpha * masked + (1.0 - alpha) * roi).astype(np.uint8)
            continue
        on = sel.astype(bool)
        roi[on] = masked[on]
    return out


def mask_extent(box: Sequence[float], margin: float, mode: str, shape: str) -> Box:
    """The region a face's mask changes: :func:`mask_region`, plus the fade of a blurred ellipse.

    The fade (:data:`BLUR_FADE`, off by default) would soften a blurred ellipse's crisp outline,
    which YuNet at a low threshold sometimes calls a face; it makes CenterFace call the soft
    blob a face more often, so it is measured and left off.
    """
    x, y, w, h = mask_region(box, margin)
    if mode != "blur" or shape != "ellipse":
        return (x, y, w, h)
    f = BLUR_FADE * max(w, h)
    return (x - f, y - f, w + 2 * f, h + 2 * f)


def mask_all(
    image: np.ndarray, mode: str = DEFAULT_MODE, fill: int | Sequence[int] = DEFAULT_FILL
) -> np.ndarray:
    """Return `image` masked whole: the fail-closed answer for a frame that was not processed.

    blur / pixelate keep :data:`CELLS_PER_FACE` cells across the frame's shorter side, so even a
    face that fills the frame keeps no more detail than a masked face; solid paints `fill`.
    """
    _check(mode, "box", 1.0)
    _check_image(image)
    if mode == "solid":
        return _fill(image, fill)
    ih, iw = image.shape[:2]
    return _coarse(image, max(min(iw, ih) / CELLS_PER_FACE[mode], 1.0), mode)


# ------------------------------------------------------------------------ recall-first perception
#: Detector settings of the anonymiser's perception loop (see :func:`recall_configs`).
#: Scan threshold: the verifier decides face / not face; a lower scan threshold only adds
#: candidates for it. Pasted lfw faces of 40-48 px (no hair, no head outline) score 0.07-0.2 on
#: YuNet n at the 2x scan while YuNet s finds them: at 0.3, 3 of 360 far-composite faces were
#: never masked; at 0.05 (the loop's lowest), 0 (10 times the candidates on the moving sequence,
#: ~1 ms each: 6 ms more per scan).
ANON_SCAN_THRESHOLD = 0.05
#: Re-finding a known face in its window: lower than the live default, the track is verified.
ANON_TRACK_THRESHOLD = 0.3
#: Scan input / frame size: 2 finds far faces the frame's own size misses (lfw faces pasted at
#: 20-27 px into 640x480 stills: 21 of 41 found at 1x, 38 of 41 at 2x; 16-19 px: 3 and 10 of
#: 18), at 4x the pass-1 CPU (640x480: 18.0 vs 4.5 ms / frame; both passes 50 vs 153 frames / s;
#: bench/bench_anonymise.py). 1 is the fast option.
ANON_SCAN_SCALE = 2.0
#: Largest scan input (width): the scan runs at `scan_scale` times the frame's size up to this
#: (a 1280x720 frame is scanned at its own size).
ANON_MAX_SCAN_WIDTH = 1280
#: Seconds between two full-frame scans: every 3rd frame at 30 Hz. A face the scan finds late is
#: masked back to where it appeared by the temporal padding; measured on the moving sequence
#: (scan x2): every frame 63 ms / frame and 1 face of 765 found again by YuNet s 2x, every 0.1 s
#: 19 ms and 1 (with the blur's fade), every 0.2 s 10 ms and 2.
ANON_SCAN_PERIOD = 0.1
#: Verifier threshold of the anonymiser's loop: lower than the live default
#: (:data:`~face_affect_ros.core.verify.DEFAULT_VERIFY_THRESHOLD`, 0.8, chosen so that the emotion
#: model never sees a non-face), since a masked non-face costs little and a missed face is the
#: failure. Far-composite faces YuNet s (2x) finds scored 0.62 and 0.74 on the verifier's look;
#: at 0.5 more of the scenery is masked (bench/bench_anonymise.py counts it: "false masks").
ANON_VERIFY_THRESHOLD = 0.5
#: Classification is not needed to mask: the lowest rate the loop accepts (once per 10 s).
ANON_CLASSIFY_RATE = 0.1


def scan_size(
    width: int,
    height: int,
    scale: float = ANON_SCAN_SCALE,
    max_width: int = ANON_MAX_SCAN_WIDTH,
) -> tuple[int, int]:
    """Scan input for a frame: `scale` x its size (at most `max_width` wide), multiples of 32."""
    s = min(scale, max_width / max(width, 1))
    return (max(32, round(width * s / 32) * 32), max(32, round(height * s / 32) * 32))


def recall_configs(
    width: int,
    height: int,
    scan_period: float = ANON_SCAN_PERIOD,
    scan_threshold: float = ANON_SCAN_THRESHOLD,
    track_threshold: float = ANON_TRACK_THRESHOLD,
    scan_scale: float = ANON_SCAN_SCALE,
    verify_threshold: float = ANON_VERIFY_THRESHOLD,
    intra_op_threads: int = 1,
) -> tuple[object, object]:
    """(PipelineConfig, TemporalConfig) of a perception loop pushed for recall, for a frame size.

    Why these: a scan every 0.1 s (never skipped on a still scene; 0 = every frame) finds a face
    within 0.1 s of appearing, instead of up to 0.3 s (2 s on a still scene) later, and the
    timeline's padding masks it back to then; at twice the frame's size a 20 px face is 40 px.
    Lower thresholds give more candidates; the verifier, at a lower threshold than live, still
    refuses most non-faces (bench/bench_anonymise.py counts the false masks that remain).
    ``scan_scale`` 2 (default) scans a 640x480 frame at 1280x960, for faces under 25 px.
    """
    from face_affect_ros.core.pipeline import PipelineConfig
    from face_affect_ros.core.temporal import TemporalConfig

    config = PipelineConfig(
        tracking=True, intra_op_threads=intra_op_threads, verify_threshold=verify_threshold
    )
    temporal = TemporalConfig(
        scan_period=scan_period,
        scan_input_size=scan_size(width, height, scan_scale),
        scan_threshold=scan_threshold,
        track_threshold=track_threshold,
        scan_idle_period=0.0,
        classify_rate=ANON_CLASSIFY_RATE,
        # Every due detector look runs (no template follow stands in for one): a follow keeps
        # the box's size and can lag a face entering at the frame's edge, and a mask that lags
        # leaks (bench_anonymise's held-out sequence: 1 face-frame with stand-ins, 0 without).
        track_follow_confidence=0.0,
    )
    return config, temporal


#: (track id, box) of every face found in one frame.
Localised = list[tuple[str, Box]]


def localise(loop: object, image: np.ndarray, stamp: float) -> Localised:
    """The one place that asks the localisation half where the faces are (no classification)."""
    frame = loop.step(image, stamp)  # type: ignore[attr-defined]
    return sightings(frame.faces)


def sightings(faces: Iterable[Any]) -> Localised:
    """(track id, box) of a frame's faces (the loop's tracked faces or a result's faces).

    What the timeline (:class:`FaceTimeline`) and the live look-back (:class:`LookBack`) record;
    "" for a face without a track id.
    """
    return [(f.track_id or "", tuple(float(v) for v in f.detection.box)) for f in faces]


def make_loop(width: int, height: int, **kwargs: float) -> object:
    """The perception loop's localisation half for frames of this size (:func:`recall_configs`).

    Masking needs where the faces are, not what they express: the affect half is not run.
    """
    from face_affect_ros.core.localise import LocalisationLoop
    from face_affect_ros.core.stages import DetectorStage

    config, temporal = recall_configs(width, height, **kwargs)
    stage = DetectorStage(config)  # type: ignore[arg-type]
    return LocalisationLoop(config, temporal, verifier=lambda: stage.verifier)  # type: ignore[arg-type]


@dataclass
class _TrackPath:
    stamps: list[float] = field(default_factory=list)
    boxes: list[Box] = field(default_factory=list)

    def velocity(self, end: bool) -> tuple[float, float]:
        """Box-centre velocity (px / s) over the first or last :data:`_VELOCITY_SPAN_S`."""
        if len(self.stamps) < 2:
            return (0.0, 0.0)
        if end:
            i1 = len(self.stamps) - 1
            i0 = bisect.bisect_left(self.stamps, self.stamps[i1] - _VELOCITY_SPAN_S)
            i0 = min(i0, i1 - 1)
        else:
            i0 = 0
            i1 = bisect.bisect_right(self.stamps, self.stamps[0] + _VELOCITY_SPAN_S) - 1
            i1 = max(i1, 1)
        dt = self.stamps[i1] - self.stamps[i0]
        if dt <= 0:
            return (0.0, 0.0)
        (ax, ay, aw, ah), (bx, by, bw, bh) = self.boxes[i0], self.boxes[i1]
        vx = (bx + bw / 2 - ax - aw / 2) / dt
        vy = (by + bh / 2 - ay - ah / 2) / dt
        limit = _MAX_SPEED_FACES_PER_S * max(aw, bw)
        speed = math.hypot(vx, vy)
        if speed > limit > 0:
            vx, vy = vx * limit / speed, vy * limit / speed
        return (vx, vy)


def _moved(box: Box, v: tuple[float, float], dt: float, growth: float) -> Box:
    x, y, w, h = box
    s = 1.0 + growth * abs(dt)
    cx, cy = x + w / 2 + v[0] * dt, y + h / 2 + v[1] * dt
    return (cx - w * s / 2, cy - h * s / 2, w * s, h * s)


def _lerp_box(a: Box, b: Box, u: float) -> Box:
    return tuple(p + (q - p) * u for p, q in zip(a, b, strict=True))  # type: ignore[return-value]


class FaceTimeline:
    """Every track's boxes over a whole recording; the boxes to mask at any time (two passes).

    Pass 1: :meth:`add` each frame's faces (from :func:`localise`) with its stamp, in time order.
    Pass 2: :meth:`boxes_at` gives, for a frame's stamp, a box for every track alive then:
    where it was found in that frame; between two sightings (a missed frame) interpolated;
    within ``pad_s`` before its first and after its last sighting, extrapolated with the
    track's velocity and grown by ``growth`` per second (the face was there before a detector
    was sure of it, and is still there after the last sighting while it turns away or leaves).
    Memory: one box per track per frame (no images).
    """

    def __init__(self, pad_s: float = DEFAULT_PAD_S, growth: float = PAD_GROWTH_PER_S) -> None:
        if not (math.isfinite(pad_s) and 0.0 <= pad_s <= 60.0):
            raise ValueError(f"pad must be in [0, 60] s, got {pad_s!r}")
        if not (math.isfinite(growth) and 0.0 <= growth <= 10.0):
            raise ValueError(f"pad growth must be in [0, 10] per s, got {growth!r}")
        self.pad_s = pad_s
        self.growth = growth
        self._paths: dict[str, _TrackPath] = {}
        self._anonymous = 0
        self._spans: list[tuple[float, float, _TrackPath]] | None = None

    @property
    def tracks(self) -> int:
        """Tracks seen so far."""
        return len(self._paths)

    def add(self, stamp: float, faces: Localised) -> None:
        """Record the faces found in the frame at `stamp` (seconds; increasing per track)."""
        self._spans = None
        for track_id, box in faces:
            key = track_id
            if not key:  # no track id (per-frame mode): a track of its own
                self._anonymous += 1
                key = f"#{self._anonymous}"
            path = self._paths.setdefault(key, _TrackPath())
            if path.stamps and stamp < path.stamps[-1]:
                # Time went backwards (the loop restarted its ids): a new track.
                self._anonymous += 1
                key = f"{key}#{self._anonymous}"
                path = self._paths.setdefault(key, _TrackPath())
            path.stamps.append(float(stamp))
            path.boxes.append(tuple(float(v) for v in box))  # type: ignore[arg-type]

    def _ensure_spans(self) -> list[tuple[float, float, _TrackPath]]:
        if self._spans is None:
            self._spans = [
                (p.stamps[0] - self.pad_s, p.stamps[-1] + self.pad_s, p)
                for p in self._paths.values()
                if p.stamps
            ]
        return self._spans

    def boxes_at(self, stamp: float) -> list[Box]:
        """Boxes to mask in the frame at `stamp` (one per track alive or padded then)."""
        out: list[Box] = []
        for lo, hi, path in self._ensure_spans():
            if not lo - 1e-6 <= stamp <= hi + 1e-6:
                continue
            st = path.stamps
            if stamp < st[0]:
                out.append(_moved(path.boxes[0], path.velocity(False), stamp - st[0], self.growth))
            elif stamp > st[-1]:
                out.append(_moved(path.boxes[-1], path.velocity(True), stamp - st[-1], self.growth))
            else:
                i = bisect.bisect_left(st, stamp)
                if st[i] == stamp or i == 0:
                    out.append(path.boxes[i])
                else:
                    u = (stamp - st[i - 1]) / (st[i] - st[i - 1])
                    out.append(_lerp_box(path.boxes[i - 1], path.boxes[i], u))
        return out


def timeline_of(
    frames: Iterable[tuple[float, np.ndarray]],
    loop_factory: Callable[[int, int], object] = make_loop,
    pad_s: float = DEFAULT_PAD_S,
) -> FaceTimeline:
    """Pass 1 over (stamp s, image) frames of one stream: the timeline of its faces.

    The loop is built at the first frame (its scan runs at the frame's size).
    """
    timeline = FaceTimeline(pad_s)
    loop = None
    for stamp, image in frames:
        if loop is None:
            loop = loop_factory(image.shape[1], image.shape[0])
        timeline.add(stamp, localise(loop, image, stamp))
    return timeline


#: A track id not seen for this long is forgotten by :class:`LookBack` (the tracker never reuses
#: an id; a track is dropped after ``track_lost_after``, ~1 s).
_LOOKBACK_FORGET_S = 10.0


class LookBack:
    """A live stream's frames held back `delay_s`, masked also for faces found after them.

    Why: a live frame is masked with the tracks of that frame, so a face entering the view is
    not masked in the frames before the loop first finds it (at 640x480 a face pasted into a
    still scene was published after a median 0.11 s, at most 0.29 s: bench/bench_appear.py),
    which the bag tool covers by padding every track before its first sighting. A frame held
    back `delay_s` is released once the frames after it were looked at, with its own (live)
    boxes plus every track first found within `delay_s` after it, extrapolated back to it with
    the track's velocity and grown with the time, as the bag tool pads (:class:`FaceTimeline`).
    Costs: `delay_s` of latency on the anonymised stream only, and the held frames' memory.

    Use: :meth:`push` each processed frame in stamp order; it returns the frames now due, in
    order, each with the boxes to mask (None: mask it whole, fail closed). :meth:`drain` on
    stop: the held frames, which must not be published unmasked.
    """

    def __init__(
        self, delay_s: float, growth: float = PAD_GROWTH_PER_S, max_held: int = 300
    ) -> None:
        if not (math.isfinite(delay_s) and 0.0 < delay_s <= 10.0):
            raise ValueError(f"look-back delay must be in (0, 10] s, got {delay_s!r}")
        if max_held < 1:
            raise ValueError(f"max_held must be >= 1, got {max_held!r}")
        self.delay_s = float(delay_s)
        self.growth = float(growth)
        #: At most this many frames are held (a camera whose stamps stop advancing must not
        #: fill the memory): the oldest goes out early, with what is known by then.
        self.max_held = int(max_held)
        self.released_early = 0
        self._held: deque[tuple[float, Any, list[Box] | None]] = deque()
        self._firsts: dict[str, _TrackPath] = {}  # tracks' first sightings, until released past
        self._last_seen: dict[str, float] = {}  # every track id seen lately (not new again)
        self._anonymous = 0
        self._last_stamp: float | None = None

    @property
    def held(self) -> int:
        """Frames held, not yet due."""
        return len(self._held)

    def push(
        self,
        stamp: float,
        item: Any,
        boxes: Sequence[Box] | None,
        sightings: Iterable[tuple[str, Box]] = (),
    ) -> list[tuple[Any, list[Box] | None]]:
        """Hold `item` (the frame at `stamp`, s) with its live `boxes`; return the frames now due.

        `sightings`: (track id, box) of every face found in this frame ("" for a detection
        without a track: a track of its own). A stamp earlier than the previous one (a replayed
        bag looping, a camera restart) starts over: the frames held are returned masked whole.
        """
        stamp = float(stamp)
        out: list[tuple[Any, list[Box] | None]] = []
        if self._last_stamp is not None and stamp < self._last_stamp:
            out = [(held, None) for held in self.drain()]
        self._last_stamp = stamp
        for track_id, box in sightings:
            key = track_id
            if not key:
                self._anonymous += 1
                key = f"#{self._anonymous}"
            if key not in self._last_seen:
                self._firsts[key] = _TrackPath()
            self._last_seen[key] = stamp
            path = self._firsts.get(key)
            if path is not None and (not path.stamps or stamp - path.stamps[0] <= _VELOCITY_SPAN_S):
                path.stamps.append(stamp)
                path.boxes.append(tuple(float(v) for v in box))  # type: ignore[arg-type]
        self._held.append((stamp, item, None if boxes is None else [tuple(b) for b in boxes]))
        due = stamp - self.delay_s + 1e-6  # frames up to this stamp have been looked past
        while self._held and (self._held[0][0] <= due or len(self._held) > self.max_held):
            if self._held[0][0] > due:
                self.released_early += 1
            held_stamp, held_item, live = self._held.popleft()
            out.append((held_item, None if live is None else live + self._lead_in(held_stamp)))
            # A track first found at or before this frame can lead into no later frame.
            self._firsts = {k: p for k, p in self._firsts.items() if p.stamps[0] > held_stamp}
        self._last_seen = {
            k: t for k, t in self._last_seen.items() if stamp - t <= _LOOKBACK_FORGET_S
        }
        return out

    def _lead_in(self, stamp: float) -> list[Box]:
        """Boxes at `stamp` of the tracks first found within `delay_s` after it."""
        out = []
        for path in self._firsts.values():
            first = path.stamps[0]
            if stamp < first <= stamp + self.delay_s + 1e-6:
                out.append(_moved(path.boxes[0], path.velocity(False), stamp - first, self.growth))
        return out

    def drain(self) -> list[Any]:
        """Take every held frame out (stop, or time going back); none may be published unmasked."""
        items = [item for _, item, _ in self._held]
        self._held.clear()
        self._firsts.clear()
        self._last_seen.clear()
        self._last_stamp = None
        return items
