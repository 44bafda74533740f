"""The localisation half of the perception loop: where every face is, under a stable track id.

Why a half of its own: it needs only the face detector (and the verifier), so the split layout's
``detector_node`` runs it and publishes track ids with its detections, and ``classifier_node``
runs the affect half (:mod:`.affect`) on those tracks; ``face_affect_node`` composes both in one
process (:class:`~face_affect_ros.core.temporal.PerceptionLoop`). Whichever way the package
runs, faces are found the same way.

What it does each frame (see :mod:`.temporal` for the why of each step):

* every known track is found again: by template matching between two detector looks
  (:func:`~face_affect_ros.core.motion.follow_template`), else by YuNet on a small window around
  where it is predicted (:class:`~face_affect_ros.core.window.WindowDetector`), widened once if
  missed. A detector look is due on every frame the track is due for classification
  (``classify_rate``), so the affect half always crops from detector landmarks, and
  ``track_look_rate`` times a second, unless a template follow correlating at least
  ``track_follow_confidence`` stands in for it;
* a full-frame scan at ``scan_input_size`` runs every ``scan_period`` seconds unless nothing
  changed outside the known faces (then at least every ``scan_idle_period``), and at once when
  most of the frame changed since the previous frame (a cut in a recording, the robot turning
  its head fast: ``cut_fraction``), so new faces appear within a frame or two;
* a frame larger than ``scan_input_size`` (an HD camera) also gets native looks every
  ``scan_tile_period`` on frames without a whole-frame scan: far faces of a few tens of pixels
  that the whole-frame scan sees at a half or a third of their size. The parts of the picture
  that changed since their last native look, outside the known people, are scanned at 1.5x
  when they fit one scan's pixels (a far face that scores about the threshold at its own size
  scores 0.8-0.9 there); else one tile (:mod:`.tiles`) at native resolution, changed tiles
  first, oldest first; on the first frames of a stream every tile once, one per frame. Frames
  that fit the scan input are scanned exactly as before (no tiles);
* a new track takes the look and classification schedule of the oldest face in view, so all
  faces' window looks and classifications run batched on the same frames;
* a scan detection that is no known face is a candidate; the face / not-face verifier
  (:mod:`.verify`) must accept it before it becomes a track ``face_<n>``;
* a track not found for ``track_lost_after`` seconds is retired; its id is never reused (ids
  restart at ``face_1`` only when the stream restarts: a stamp earlier than the previous one).

Everything is a function of the frames and their stamps: same sequence, same tracks.
"""

from __future__ import annotations

import math
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass

import cv2
import numpy as np

from face_affect_ros.core.config import PipelineConfig, session_kwargs
from face_affect_ros.core.detector import Detection, FaceDetector, check_image
from face_affect_ros.core.loop_config import (
    EPS,
    REGION_MARGIN,
    REGION_MAX_FRACTION,
    LoopCounters,
    TemporalConfig,
)
from face_affect_ros.core.motion import (
    CHANGE_BLOCK,
    ChangeMap,
    changed_blocks,
    changed_outside,
    face_template,
    follow_template,
)
from face_affect_ros.core.results import FaceResult
from face_affect_ros.core.tiles import (
    Tile,
    block_span,
    changed_regions,
    coarse_scale,
    tile_grid,
    zoom_grid,
)
from face_affect_ros.core.tracking import box_iou
from face_affect_ros.core.verify import FaceVerifier
from face_affect_ros.core.window import WindowDetector, box_centre

# A window result continues the track if it overlaps the predicted box this much.
_CONTINUE_IOU = 0.2
# Scan detections overlapping a track this much are that track.
_SAME_FACE_IOU = 0.3
# Two tracks on one face (IoU above this): the younger one is dropped.
_DUPLICATE_IOU = 0.5
# A tile detection this close to a side shared with another tile (fraction of its size, at least
# 4 px) is a face the side cuts: left to the neighbour (or the whole-frame scan).
_CUT_MARGIN = 0.15
# Native looks at a changed part of an HD frame scale it up this much when it fits one scan's
# pixels so: far faces of 16-20 px score 0.0-0.8 at their own size, 0.8-0.9 at 1.5x (bench_hd).
REGION_ZOOM = 1.5
# A known face's person, in face widths left / heights up / widths right / heights down: hair
# above, shoulders beside, the torso below (native looks ignore changes there).
PERSON_EXTENT = (1.0, 0.75, 1.0, 3.0)
# After a due scan was skipped (nothing changed), the gate checks again this fraction of
# scan_period later, not on the very next frame (LocalisationLoop._scan_due).
GATE_RECHECK_FRACTION = 1.0 / 3.0
# A template match continues the track only if it correlates at least this well.
_FOLLOW_MIN_CORRELATION = 0.7


def check_stamp(stamp: object) -> float:
    """`stamp` as float seconds; ValueError if it is not a finite number."""
    if isinstance(stamp, bool) or not isinstance(stamp, (int, float)) or not math.isfinite(stamp):
        raise ValueError(f"stamp must be a finite number of seconds, got {stamp!r}")
    return float(stamp)


def due(last: float | None, stamp: float, rate: float) -> bool:
    """True if something done at `last` (None: never) at `rate` per second is due at `stamp`.

    The one schedule rule of both halves: the localisation half forces a detector look on the
    frames the affect half classifies, so they must agree on which frames those are.
    """
    return last is None or stamp - last >= 1.0 / rate - EPS


@dataclass(frozen=True)
class TrackedFace:
    """One face of one frame under its track id, in original-image pixels."""

    track_id: str
    detection: Detection
    #: True if the detector (window or scan) found the face in this frame; False if it was
    #: followed by template matching (then the box keeps the last look's size and the landmarks
    #: moved with it).
    looked: bool = True

    @classmethod
    def of(cls, face: FaceResult) -> TrackedFace:
        """The tracked face of a published result (its id, detection and look)."""
        return cls(face.track_id, face.detection, face.detector_look)


@dataclass(frozen=True)
class LocalisedFrame:
    """The faces found in one frame, in track order (oldest track first)."""

    width: int
    height: int
    faces: tuple[TrackedFace, ...]
    #: Wall time of the localisation in milliseconds.
    localise_ms: float
    #: True if a full-frame scan ran on this frame.
    scanned: bool = False
    #: The scan tile (x, y, w, h) scanned on this frame, if any.
    tile: Tile | None = None


class _Track:
    """A face followed over frames (localisation state only; affect lives in the affect half)."""

    __slots__ = (
        "born",
        "classify_mark",
        "detection",
        "look",
        "looked_at",
        "looked_now",
        "seen_now",
        "stamp",
        "template",
        "track_id",
        "velocity",
    )

    def __init__(
        self,
        track_id: str,
        detection: Detection,
        stamp: float,
        template: np.ndarray | None,
    ) -> None:
        self.track_id = track_id
        self.detection = detection
        self.stamp = stamp  # last time found
        self.born = stamp
        self.velocity = (0.0, 0.0)  # px / s of the box centre
        self.seen_now = True
        self.looked_now = True
        # When the affect half last classified it (the same schedule rule, see `due`).
        self.classify_mark: float | None = None
        self.looked_at: float | None = stamp  # last detector (window or scan) look
        self.template = template  # grey face patch of that look
        self.look: tuple[Detection, float] | None = None  # that look's detection and stamp

    def predicted_box(self, stamp: float) -> tuple[float, float, float, float]:
        x, y, w, h = self.detection.box
        dt = min(max(0.0, stamp - self.stamp), 0.5)
        return (x + self.velocity[0] * dt, y + self.velocity[1] * dt, w, h)

    def observe(
        self, detection: Detection, stamp: float, since: tuple[Detection, float] | None = None
    ) -> None:
        """Found at `stamp`; the velocity is updated from `since` (detection, stamp) if given.

        Template follows pass ``since`` = None and keep the velocity: their shifts are coarse
        (a pixel of a 24 px template), so velocity is measured between two detector looks.
        """
        if since is not None and stamp - since[1] > 0.0:
            dt = stamp - since[1]
            (ox, oy), (nx, ny) = box_centre(since[0].box), box_centre(detection.box)
            vx, vy = (nx - ox) / dt, (ny - oy) / dt
            # Damped: a single jittery box does not throw the next window off.
            self.velocity = (0.5 * (self.velocity[0] + vx), 0.5 * (self.velocity[1] + vy))
        self.detection, self.stamp, self.seen_now = detection, stamp, True


class LocalisationLoop:
    """Frames in time order -> faces with stable track ids (no classification).

    `verifier` is a callable returning the face / not-face verifier in force (None: off), so a
    runtime change of the detector stage's verifier applies at once. One instance per camera
    stream and thread.

    Raises:
        ModelError: the detector model or manifest is missing, corrupt or inconsistent.
    """

    def __init__(
        self,
        config: PipelineConfig,
        temporal: TemporalConfig,
        verifier: Callable[[], FaceVerifier | None] | None = None,
        counters: LoopCounters | None = None,
    ) -> None:
        self.config = config
        self.temporal = temporal
        self._verifier = verifier if verifier is not None else lambda: None
        self.counters = counters if counters is not None else LoopCounters()
        self._tracks: list[_Track] = []
        self._next_id = 1
        self._last_scan: float | None = None
        self._recheck_at: float | None = None  # see _scan_due
        self._last_stamp: float | None = None
        self._changes = ChangeMap()
        self._previous_thumb: np.ndarray | None = None
        self._frame_thumb: np.ndarray | None = None  # this step's ChangeMap.thumbnail
        self._tiles = _TileRotation()
        manifest = config.manifest_path(config.detector_model)
        self._scan = FaceDetector(
            manifest,
            input_size=temporal.scan_input_size,
            score_threshold=temporal.scan_threshold,
            nms_threshold=config.nms_threshold,
            min_face_size=config.min_face_size,
            max_faces=config.max_faces,
            **session_kwargs(config),
        )
        self._window = WindowDetector(
            manifest,
            face_px=temporal.track_face_px,
            window_scale=temporal.track_window_scale,
            score_threshold=temporal.track_threshold,
            **session_kwargs(config),
        )

    # ------------------------------------------------------------------ public
    def reset(self) -> None:
        """Forget every track (a new stream, or time went backwards); ids restart at face_1."""
        self._tracks = []
        self._next_id = 1
        self._last_scan = None
        self._recheck_at = None
        self._last_stamp = None
        self._changes.reset()
        self._previous_thumb = None
        self._tiles = _TileRotation()

    def adopt(self, previous: LocalisationLoop) -> None:
        """Continue `previous`'s tracks (a runtime parameter change keeps ids and positions)."""
        self._tracks = previous._tracks
        self._next_id = previous._next_id
        self._last_scan = previous._last_scan
        self._recheck_at = previous._recheck_at
        self._last_stamp = previous._last_stamp
        self._changes = previous._changes
        self._previous_thumb = previous._previous_thumb
        self._tiles = previous._tiles
        self.counters = previous.counters

    def warm_up(self) -> None:
        """Run the scan and window detectors once on a blank frame (no state is touched).

        Why: onnxruntime's first run of a session allocates its buffers and is several times
        slower than the next; done at configure, the first camera frames are not late (and a
        split node does not skip the frames that arrive meanwhile).
        """
        w, h = self.temporal.scan_input_size
        blank = np.zeros((h, w, 3), np.uint8)
        self._scan.detect(blank)
        self._window.find(blank, (w / 2, h / 2), 48.0, 1.0)

    def mask_boxes(self) -> list[tuple[float, float, float, float]] | None:
        """Where every live track is in the last frame, for masking; None before any scan.

        A track found in the frame gives its box, one missed in it its predicted box (a face
        the detector lost for a frame is still there). None (no scan yet, so no face can have
        been found): the caller masks the whole frame (fail closed).
        """
        stamp = self._last_stamp
        if self._last_scan is None or stamp is None:
            return None
        return [
            tuple(t.detection.box) if t.seen_now else t.predicted_box(stamp) for t in self._tracks
        ]

    def providers_in_use(self) -> dict[str, str]:
        """{model (role): execution provider that runs it} of the scan and window detectors."""
        out = {f"{k} (scan)": v for k, v in self._scan.providers_in_use().items()}
        out.update({f"{k} (window)": v for k, v in self._window.providers_in_use().items()})
        return out

    @property
    def track_count(self) -> int:
        """Tracks alive (found in this frame or briefly missed)."""
        return len(self._tracks)

    def step(self, image: np.ndarray, stamp: float) -> LocalisedFrame:
        """Find the faces of the frame taken at `stamp` (seconds, any epoch, increasing).

        A stamp earlier than the previous one starts a new stream (tracks reset).

        Raises:
            ValueError: the image is not a uint8 mono / BGR / BGRA frame, or the stamp is not a
                finite number.
        """
        stamp = check_stamp(stamp)
        t0 = time.perf_counter()
        image = check_image(image)
        if self._last_stamp is not None and stamp < self._last_stamp:
            self.reset()
        self._last_stamp = stamp
        self._frame_thumb = None
        self._refind(image, stamp)
        scanned = False
        if self._is_cut(image):
            # Most of the picture changed at once: the known faces are likely gone and new ones
            # are there now; waiting for scan_period would hide them for up to that long.
            self.counters.cuts += 1
            self._last_scan = stamp
            self._changes.set_reference(self._thumbnail(image))
            self._scan_frame(image, stamp)
            scanned = True
        elif self._scan_due(stamp):
            region = self._scan_wanted(image, stamp)
            if region is not None:
                self._last_scan = stamp
                self._scan_frame(image, stamp, region)
                scanned = True
            else:
                self.counters.scans_skipped += 1
                self._recheck_at = stamp + GATE_RECHECK_FRACTION * self.temporal.scan_period
        tile = None if scanned else self._scan_tile(image, stamp)
        lost_after = self.temporal.track_lost_after
        self._tracks = [t for t in self._tracks if stamp - t.stamp <= lost_after + EPS]
        faces = []
        leader, newborn = None, []
        for track in self._tracks:
            if not track.seen_now:
                continue
            if track.classify_mark is None:
                newborn.append(track)
            elif leader is None:
                leader = track
            if due(track.classify_mark, stamp, self.temporal.classify_rate):
                track.classify_mark = stamp
            faces.append(TrackedFace(track.track_id, track.detection, track.looked_now))
        if leader is not None:
            # A new face keeps the schedule of the oldest face in view (the same rule as
            # `AffectLoop._align_schedule`): their window looks and classifications then fall
            # on the same frames, one batched model run each instead of one per phase.
            for track in newborn:
                track.classify_mark, track.looked_at = leader.classify_mark, leader.looked_at
        return LocalisedFrame(
            width=int(image.shape[1]),
            height=int(image.shape[0]),
            faces=tuple(faces),
            localise_ms=(time.perf_counter() - t0) * 1e3,
            scanned=scanned,
            tile=tile,
        )

    # ------------------------------------------------------------------ stages
    def _scan_due(self, stamp: float) -> bool:
        """True if a scan is due (``scan_period`` since the last one, and a recheck is due).

        After a due scan was skipped on a still scene, the next check waits
        :data:`GATE_RECHECK_FRACTION` of a period.

        Why the recheck interval: the gate's thumbnail reads the whole frame (0.1 ms at
        640x480, 0.6 ms at 1920x1080); checked on every frame of a still scene it was the
        largest cost of an HD frame. A face that appears is still found within one
        ``scan_period`` (a third of a period later at most than checking every frame), and a
        cut is checked on every frame regardless.
        """
        if self._last_scan is None:
            return True
        if stamp - self._last_scan < self.temporal.scan_period - EPS:
            return False
        return self._recheck_at is None or stamp >= self._recheck_at - EPS

    def _thumbnail(self, image: np.ndarray) -> np.ndarray:
        """The frame's change-map thumbnail, computed once per step.

        The scan gate and the HD native looks both read it on a frame where a due scan was
        skipped (~0.16 ms at 640x480, several times that in HD).
        """
        if self._frame_thumb is None:
            self._frame_thumb = ChangeMap.thumbnail(image)
        return self._frame_thumb

    def _is_cut(self, image: np.ndarray) -> bool:
        """True if at least ``cut_fraction`` of the frame's blocks changed since the last frame."""
        if self.temporal.cut_fraction <= 0.0:
            self._previous_thumb = None
            return False
        thumb = ChangeMap.coarse_thumbnail(image)
        previous, self._previous_thumb = self._previous_thumb, thumb
        if previous is None or previous.shape != thumb.shape:
            return False
        changed = np.count_nonzero(np.abs(thumb - previous) > self._changes.level)
        return changed >= self.temporal.cut_fraction * thumb.size

    def _scan_wanted(self, image: np.ndarray, stamp: float) -> Tile | None:
        """What a due scan covers: None (skipped), the whole frame, or the changed region.

        A due scan runs unless nothing changed outside the known faces since the last one: a
        face can only appear where the picture changes, so on a still scene the scan waits up
        to ``scan_idle_period`` (then runs anyway, on the whole frame: a face the last scan
        missed gets another look). When it runs because something changed, and the changed
        blocks (grown by :data:`REGION_MARGIN`) cover at most :data:`REGION_MAX_FRACTION` of a
        frame, only that region is scanned (``scan_regions``), at the frame's own resolution: a
        frame the scan sees at full resolution (640x480), or a larger one (HD) when the region
        has at most the scan input's pixel count (then it costs at most a scan, at the
        resolution of the tiles).
        """
        height, width = image.shape[:2]
        whole = (0, 0, width, height)
        idle = self.temporal.scan_idle_period
        if idle <= 0.0:
            return whole
        thumb = self._thumbnail(image)
        boxes = [t.detection.box for t in self._tracks if t.seen_now]
        if self._last_scan is None or stamp - self._last_scan >= idle - EPS:
            self._changes.set_reference(thumb)
            return whole
        changed = self._changes.changed_box(thumb, boxes)
        if changed is None:
            return None
        self._changes.set_reference(thumb)
        scale = coarse_scale(width, height, self.temporal.scan_input_size)
        if not self.temporal.scan_regions or scale > 1.0:
            return whole
        x0, y0 = max(0, changed[0] - REGION_MARGIN), max(0, changed[1] - REGION_MARGIN)
        x1 = min(width, changed[2] + REGION_MARGIN)
        y1 = min(height, changed[3] + REGION_MARGIN)
        area = (x1 - x0) * (y1 - y0)
        in_w, in_h = self.temporal.scan_input_size
        if area > REGION_MAX_FRACTION * width * height or (scale < 1.0 and area > in_w * in_h):
            return whole
        return (x0, y0, x1 - x0, y1 - y0)

    def _follow(
        self, image: np.ndarray, track: _Track, predicted: tuple[float, float, float, float]
    ) -> bool:
        """Between two detector looks, follow the face by template matching (True if found).

        A detector look is due on every frame the track is due for classification (the
        classifier's crops need the detector's landmarks), and at ``track_look_rate``: that one
        a follow correlating at least ``track_follow_confidence`` stands in for (the face is
        where the template says and looks as it did; bench_temporal). A weak match falls back
        to the look.
        """
        rate = self.temporal.track_look_rate
        stamp = self._last_stamp
        if rate <= 0.0 or track.template is None or track.looked_at is None or stamp is None:
            return False
        if due(track.classify_mark, stamp, self.temporal.classify_rate):
            return False
        look_due = stamp - track.looked_at >= 1.0 / rate - EPS
        confident = self.temporal.track_follow_confidence
        if look_due and confident <= 0.0:
            return False
        found = follow_template(image, track.template, predicted)
        needed = max(confident, _FOLLOW_MIN_CORRELATION) if look_due else _FOLLOW_MIN_CORRELATION
        if found is None or found[2] < needed:
            return False
        dx, dy, _ = found
        det = track.detection
        # The predicted box moved by (dx, dy); landmarks keep their place in the box.
        ox, oy = predicted[0] + dx - det.box[0], predicted[1] + dy - det.box[1]
        track.observe(
            Detection(
                box=(det.box[0] + ox, det.box[1] + oy, det.box[2], det.box[3]),
                score=det.score,
                landmarks=tuple((x + ox, y + oy) for x, y in det.landmarks),
            ),
            stamp,
            since=None,
        )
        self.counters.follows += 1
        return True

    def _looked(self, image: np.ndarray, track: _Track, det: Detection, stamp: float) -> None:
        since = track.look if track.look is not None else (track.detection, track.stamp)
        track.observe(det, stamp, since)
        track.look = (det, stamp)
        track.looked_at = stamp
        track.looked_now = True
        if self.temporal.track_look_rate > 0.0:
            track.template = face_template(image, det.box)

    def _refind(self, image: np.ndarray, stamp: float) -> None:
        pending: list[tuple[_Track, tuple[float, float, float, float]]] = []
        for track in self._tracks:
            track.seen_now = False
            track.looked_now = False
            predicted = track.predicted_box(stamp)
            if not self._follow(image, track, predicted):
                pending.append((track, predicted))
        # Every track not followed gets a window look, all windows in one detector run; a missed
        # one (a fast move, a zoom) one more look at twice the window's side, same input size,
        # before it counts as unseen in this frame. Same detections as one look per track.
        for widen, min_iou in ((1.0, _CONTINUE_IOU), (2.0, 0.0)):
            if widen > 1.0:
                # A track unseen for longer than track_lost_after (a stalled stream, a pause in a
                # bag, stills) gets no wide look: where it went is unknown, and a wide look took
                # a face-like patch nearby for it, after which the scan skipped the real face on
                # that spot as known (bench_anonymise's stills). Found on the spot it continues;
                # else it is retired below and the scan looks for faces anew.
                lost_after = self.temporal.track_lost_after + EPS
                pending = [(t, p) for t, p in pending if stamp - t.stamp <= lost_after]
            if not pending:
                break
            self.counters.window_looks += len(pending)
            found = self._window.find_many(
                image, [(box_centre(p), p[2], widen) for _, p in pending]
            )
            missed = []
            for (track, predicted), dets in zip(pending, found, strict=True):
                best = self._best(dets, predicted, widen, min_iou)
                if best is None:
                    missed.append((track, predicted))
                else:
                    self._looked(image, track, best, stamp)
            pending = missed
        # Two tracks that converged on one face: keep the older (lower id, earlier born).
        kept: list[_Track] = []
        for track in self._tracks:
            if track.seen_now and any(
                k.seen_now and box_iou(k.detection.box, track.detection.box) > _DUPLICATE_IOU
                for k in kept
            ):
                continue
            kept.append(track)
        self._tracks = kept

    @staticmethod
    def _best(
        found: Sequence[Detection],
        predicted: Sequence[float],
        widen: float,
        min_iou: float,
    ) -> Detection | None:
        """The window's face that best continues `predicted` (IoU, then nearest centre)."""
        cx, cy = box_centre(predicted)
        best, best_key = None, None
        for det in found:
            iou = box_iou(det.box, predicted)
            dx, dy = box_centre(det.box)
            dist = math.hypot(dx - cx, dy - cy) / max(predicted[2], 1.0)
            # Only a face of similar size continues (a box 5x the face's, overlapping it, took
            # a track onto the scenery once the face was gone: bench_anonymise's held-out
            # sequence); without overlap, only within one window side.
            ratio = det.box[2] / max(predicted[2], 1.0)
            if iou < min_iou or not 0.5 < ratio < 2.0 or (iou == 0.0 and dist > widen * 1.5):
                continue
            key = (iou, -dist)
            if best_key is None or key > best_key:
                best, best_key = det, key
        return best

    def _scan_tile(self, image: np.ndarray, stamp: float) -> Tile | None:
        """Native looks at an HD frame, every ``scan_tile_period`` (None: none this frame).

        What is looked at: :meth:`_TileRotation.looks` (the changed parts, upscaled, when they
        fit one scan's pixels; else a tile). Detections as :meth:`_part_detections` gives them.
        Returns the first part looked at.
        """
        period = self.temporal.scan_tile_period
        if period <= 0.0:
            return None
        rotation = self._tiles
        tiles = rotation.grid(image.shape[1], image.shape[0], self.temporal.scan_input_size)
        if not tiles:
            return None
        # A tile never scanned since the stream started goes on the next frame, not after a
        # period: the first second of a stream is when every face is new.
        if (
            rotation.last is not None
            and stamp - rotation.last < period - EPS
            and None not in rotation.scanned
        ):
            return None
        rotation.last = stamp
        thumb = self._thumbnail(image)
        boxes = [t.detection.box for t in self._tracks if t.seen_now]
        looks = rotation.looks(
            thumb, boxes, stamp, self.temporal.scan_idle_period, self._changes.level
        )
        if not looks:
            self.counters.tiles_skipped += 1
            return None
        threshold = self.temporal.scan_tile_threshold
        for part, zoom in looks:
            if zoom == 1.0 and part in tiles:
                self.counters.tile_scans += 1
            else:
                self.counters.region_looks += 1
            self._admit(image, stamp, self._part_detections(image, part, threshold, zoom))
        return looks[0][0]

    def _scan_frame(self, image: np.ndarray, stamp: float, region: Tile | None = None) -> None:
        self.counters.scans += 1
        if region is None or region == (0, 0, image.shape[1], image.shape[0]):
            self._admit(image, stamp, self._scan.detect(image))
            return
        self.counters.region_scans += 1
        self._admit(image, stamp, self._part_detections(image, region, None))

    def _part_detections(
        self, image: np.ndarray, part: Tile, threshold: float | None, zoom: float = 1.0
    ) -> list[Detection]:
        """Scan detections in a part of the frame (a tile, a changed region) at its resolution.

        `zoom` > 1 scales the part up first (bilinear): far faces of 16-20 px score 0.0-0.8 at
        their own size and 0.8-0.9 at 1.5x (bench_hd's faces, measured once), so a small changed
        part is looked at larger. In frame pixels. A detection within 15 % of its size (at least
        4 px) of a side of the part that is not the frame's is a face that side cuts: left out
        (a tile's neighbour, or the whole-frame scan, sees it whole; a changed region is grown
        so that what changed is well inside it). So are candidates that are a known face:
        beside one and of its size (a tile's lower threshold lets the odd face-like patch by a
        face through: hair, an ear, measured once in bench_hd), or mostly inside one (a part of
        a large face).
        """
        x, y, w, h = part
        height, width = image.shape[:2]
        crop = image[y : y + h, x : x + w]
        sx = sy = 1.0
        if zoom != 1.0:
            zw, zh = max(1, round(w * zoom)), max(1, round(h * zoom))
            crop = cv2.resize(crop, (zw, zh), interpolation=cv2.INTER_LINEAR)
            sx, sy = w / zw, h / zh
        found = []
        for det in self._scan.detect(crop, native=True, score_threshold=threshold):
            bx, by, bw, bh = det.box
            bx, by, bw, bh = bx * sx, by * sy, bw * sx, bh * sy
            # YuNet puts the box of a face cut by the part's side a few pixels inside it.
            mx, my = max(4.0, _CUT_MARGIN * bw), max(4.0, _CUT_MARGIN * bh)
            if (
                (x > 0 and bx < mx)
                or (y > 0 and by < my)
                or (x + w < width and bx + bw > w - mx)
                or (y + h < height and by + bh > h - my)
            ):
                continue
            box = (bx + x, by + y, bw, bh)
            if any(t.seen_now and _same_face(t.detection.box, box) for t in self._tracks):
                continue
            found.append(
                Detection(
                    box=box,
                    score=det.score,
                    landmarks=tuple((lx * sx + x, ly * sy + y) for lx, ly in det.landmarks),
                )
            )
        return found

    def _admit(self, image: np.ndarray, stamp: float, detections: Sequence[Detection]) -> None:
        """Scan detections: known faces continue their tracks, verified new ones start tracks."""
        for det in detections:
            if any(
                t.seen_now and box_iou(t.detection.box, det.box) >= _SAME_FACE_IOU
                for t in self._tracks
            ):
                continue
            missed = [
                (box_iou(t.predicted_box(stamp), det.box), i)
                for i, t in enumerate(self._tracks)
                if not t.seen_now
            ]
            best = max(missed, default=(0.0, -1))
            # A scan detection continues a track its window lost only if it is as sure as a
            # window look must be (a scan pushed for recall returns weak blobs too; without
            # this they carried lost tracks onto the scenery); a weaker one is a candidate.
            if best[0] >= _SAME_FACE_IOU and det.score >= self.temporal.track_threshold:
                # A track its window lost (fast motion, a blur): the scan found it again.
                self._looked(image, self._tracks[best[1]], det, stamp)
                continue
            self.counters.candidates += 1
            verifier = self._verifier()
            if verifier is not None and not verifier.accept(image, det):
                self.counters.refused += 1
                continue
            template = (
                face_template(image, det.box) if self.temporal.track_look_rate > 0.0 else None
            )
            self._tracks.append(_Track(f"face_{self._next_id}", det, stamp, template))
            self._next_id += 1
            self.counters.tracks_started += 1


def _same_face(known: Sequence[float], box: Sequence[float]) -> bool:
    """True if `box` is the face `known`: beside it and of its size, or mostly inside it.

    Beside: centred within one width, width ratio 0.5-2; mostly: half its area.
    """
    (kx, ky), (bx, by) = box_centre(known), box_centre(box)
    ratio = box[2] / max(known[2], 1.0)
    if 0.5 < ratio < 2.0 and math.hypot(bx - kx, by - ky) < max(known[2], box[2]):
        return True
    iw = min(known[0] + known[2], box[0] + box[2]) - max(known[0], box[0])
    ih = min(known[1] + known[3], box[1] + box[3]) - max(known[1], box[1])
    return iw > 0 and ih > 0 and iw * ih >= 0.5 * box[2] * box[3]


class _TileRotation:
    """What an HD frame's native looks cover next: changed parts, else a tile (:mod:`.tiles`).

    Every block of the change map remembers the thumbnail value it had when a native look
    (a tile or a changed part) last covered it wholly, and when. A block that moved by more
    than the change level since then, outside every known person, is where a face may have
    appeared that no native look has seen yet.
    """

    def __init__(self) -> None:
        self.key: tuple[int, int, tuple[int, int]] | None = None
        self.tiles: tuple[Tile, ...] = ()
        self.budget = 0  # pixels of one scan: what one period's native looks may cost
        self.last: float | None = None  # stamp of the last due period (looked or skipped)
        self.scanned: list[float | None] = []  # per tile: when it was last scanned
        self.zoom_tiles: tuple[Tile, ...] = ()  # tiles of one scan's pixels at REGION_ZOOM
        self.zoom_scanned: list[float | None] = []  # per zoomed tile: when it was looked at
        self.idle_last: float | None = None  # last zoomed look on a still picture
        self.native: np.ndarray | None = None  # per block: thumbnail at its last native look
        self.looked: np.ndarray | None = None  # per block: stamp of that look (-inf: never)

    def grid(self, width: int, height: int, input_size: tuple[int, int]) -> tuple[Tile, ...]:
        """The tiles of a frame of this size (a new size starts a new rotation)."""
        key = (width, height, tuple(input_size))
        if key != self.key:
            self.key = key
            self.tiles = tile_grid(width, height, input_size)
            self.budget = input_size[0] * input_size[1]
            self.scanned = [None] * len(self.tiles)
            self.zoom_tiles = zoom_grid(width, height, input_size, REGION_ZOOM)
            self.zoom_scanned = [None] * len(self.zoom_tiles)
            self.native = self.looked = None
        return self.tiles

    def looks(
        self,
        thumb: np.ndarray,
        boxes: Sequence[Sequence[float]],
        stamp: float,
        idle: float,
        level: float,
    ) -> list[tuple[Tile, float]]:
        """The parts to scan now, each with its zoom (marked looked at); empty: none.

        The blocks changed since their last native look outside every known person
        (:func:`person_boxes`) are grouped into parts (:func:`~.tiles.changed_regions`, grown
        by :data:`REGION_MARGIN`). If the part that waited longest fits one scan's pixels at
        :data:`REGION_ZOOM` (or at a smaller zoom of at least 1), it is scanned so, with as
        many of the others as still fit; a part looked at larger finds the far faces a tile at
        native resolution finds only now and then (their score hovers about the threshold).
        Else (a pan, the first frames: most of the picture changed) a tile at native
        resolution: :meth:`pick`.
        """
        self._reference(thumb)
        mask = changed_blocks(thumb, self.native, level, person_boxes(boxes), 0.0)
        if mask is not None and mask.any() and idle > 0.0:
            height, width = self.key[1], self.key[0]  # type: ignore[index]
            parts = changed_regions(mask, CHANGE_BLOCK, REGION_MARGIN, width, height)
            looked = self.looked
            ages = []
            for part in parts:
                x0, y0, x1, y1 = block_span(part, CHANGE_BLOCK, thumb.shape)
                ages.append(float(looked[y0:y1, x0:x1].min()) if x1 > x0 and y1 > y0 else -np.inf)
            order = sorted(range(len(parts)), key=lambda i: (ages[i], i))
            chosen: list[tuple[Tile, float]] = []
            cost = 0.0
            for i in order:
                area = parts[i][2] * parts[i][3]
                zoom = min(REGION_ZOOM, math.sqrt(self.budget / max(area, 1)))
                if zoom < 1.0:
                    if not chosen:
                        break  # the oldest change is too large for a part: a tile
                    continue
                if cost + area * zoom * zoom > self.budget:
                    continue
                chosen.append((parts[i], zoom))
                cost += area * zoom * zoom
            if chosen:
                for part, _ in chosen:
                    self._mark(part, thumb, stamp)
                for i, tile in enumerate(self.tiles):
                    if self.scanned[i] is None:
                        x0, y0, x1, y1 = block_span(tile, CHANGE_BLOCK, thumb.shape)
                        if np.isfinite(looked[y0:y1, x0:x1]).all():
                            self.scanned[i] = stamp  # the parts covered all of it
                return chosen
        index = self.pick(thumb, boxes, stamp, idle, level)
        if index is not None:
            return [(self.tiles[index], 1.0)]
        zoomed = self._zoom_look(thumb, stamp, idle)
        return [] if zoomed is None else [(zoomed, REGION_ZOOM)]

    def _zoom_look(self, thumb: np.ndarray, stamp: float, idle: float) -> Tile | None:
        """On a picture with no change to look at: a zoomed tile, scanned at :data:`REGION_ZOOM`.

        Zoomed tiles cover the frame in pieces of one scan's pixels at that zoom (9 in 720p, 25
        in 1080p); one is looked at per ``idle`` seconds, the longest unlooked first (what the
        native-resolution tiles' revisits of a still picture cost before). Why: a far face that
        scores below the threshold at native resolution (two of bench_hd's eight 16 px faces)
        is never found by native-resolution tiles, and with nobody moving no changed part
        brings it a zoomed look; a zoomed tile does, within one rotation (18 s in 720p, 50 s in
        1080p at the default ``scan_idle_period``). Looking at every zoomed tile at once after a
        stream starts found them within 1.35 / 3.75 s but cost 1.28x / 1.58x the 640x480 loop's
        CPU in bench_hd's 8 s scenes (1.17x / 1.35x without).
        """
        if idle <= 0.0 or not self.zoom_tiles:
            return None
        if self.idle_last is not None and stamp - self.idle_last < idle - EPS:
            return None
        first = min(
            range(len(self.zoom_tiles)),
            key=lambda i: (self.zoom_scanned[i] is not None, self.zoom_scanned[i] or 0.0, i),
        )
        last = self.zoom_scanned[first]
        if last is not None and stamp - last < idle - EPS:
            return None
        self.idle_last = self.zoom_scanned[first] = stamp
        tile = self.zoom_tiles[first]
        self._mark(tile, thumb, stamp)
        return tile

    def _reference(self, thumb: np.ndarray) -> None:
        """Per-block native reference and look times, made anew for a thumbnail of a new shape.

        Every block starts never looked at (+inf reference: it counts as changed).
        """
        if self.native is None or self.native.shape != thumb.shape or self.looked is None:
            self.native = np.full(thumb.shape, np.inf, np.float32)
            self.looked = np.full(thumb.shape, -np.inf)

    def _mark(self, part: Tile, thumb: np.ndarray, stamp: float) -> None:
        """The blocks wholly inside `part` were looked at natively at `stamp`."""
        assert self.native is not None and self.looked is not None
        x0, y0, x1, y1 = block_span(part, CHANGE_BLOCK, thumb.shape)
        self.native[y0:y1, x0:x1] = thumb[y0:y1, x0:x1]
        self.looked[y0:y1, x0:x1] = stamp

    def pick(
        self,
        thumb: np.ndarray,
        boxes: Sequence[Sequence[float]],
        stamp: float,
        idle: float,
        level: float,
    ) -> int | None:
        """The tile to scan now (marked scanned), or None.

        The tiles never scanned or changed outside the known persons (:func:`person_boxes`)
        since their blocks' last native look, the longest unscanned first (every tile when
        ``idle`` is 0). A still picture gets zoomed tiles instead (:meth:`_zoom_look`).
        """
        self._reference(thumb)
        order = sorted(
            range(len(self.tiles)),
            key=lambda i: (self.scanned[i] is not None, self.scanned[i] or 0.0, i),
        )
        persons = person_boxes(boxes)
        pick = None
        for i in order:
            last = self.scanned[i]
            if (
                last is None
                or idle <= 0.0
                or changed_outside(thumb, self.native, level, persons, 0.0, self.tiles[i])
            ):
                pick = i
                break
        if pick is not None:
            self.scanned[pick] = stamp
            self._mark(self.tiles[pick], thumb, stamp)
        return pick


def person_boxes(boxes: Sequence[Sequence[float]]) -> list[tuple[float, float, float, float]]:
    """Where each known face's person is: the face grown by :data:`PERSON_EXTENT`.

    A change there is most likely that person moving (hair, shoulders, a nod), not a new face:
    native looks leave it alone (the whole-frame scan does not, and a face beside a known one
    changes blocks outside its person too).
    """
    left, up, right, down = PERSON_EXTENT
    return [
        (x - left * w, y - up * h, (1 + left + right) * w, (1 + up + down) * h)
        for x, y, w, h in boxes
    ]
