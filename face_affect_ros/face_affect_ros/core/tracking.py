"""Face tracks across frames: stable ids, and optional smoothing of emotion over time.

Why: a behaviour that greets or comforts a person needs to know that the face in this frame is
the one it was talking to, and the emotion model's per-frame labels flicker (a known weakness of
the published model). Tracking is greedy IoU matching, which is enough at camera rates where a
face moves a fraction of its size between frames; ids are `face_<n>` in order of appearance, so
they are deterministic for a given sequence of frames (tests and bag replays can compare them).

Smoothing is an exponential moving average of each track's emotion probabilities. It is off by
default: published scores are then exactly the model's for that frame. With smoothing on, the
published scores are the track's running estimate, and its label and confidence follow them.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np

#: A detection continues a track when their boxes overlap at least this much (IoU).
DEFAULT_IOU_THRESHOLD = 0.3
#: A track survives this many frames without a matching face (a blink, a missed detection).
DEFAULT_MAX_MISSED = 5


def box_iou(a: Sequence[float], b: Sequence[float]) -> float:
    """Intersection over union of two (x, y, w, h) boxes."""
    ax1, ay1, bx1, by1 = a[0] + a[2], a[1] + a[3], b[0] + b[2], b[1] + b[3]
    iw = max(0.0, min(ax1, bx1) - max(a[0], b[0]))
    ih = max(0.0, min(ay1, by1) - max(a[1], b[1]))
    inter = iw * ih
    union = a[2] * a[3] + b[2] * b[3] - inter
    return inter / union if union > 0 else 0.0


@dataclass
class _Track:
    track_id: str
    box: tuple[float, float, float, float]
    scores: np.ndarray | None = None
    missed: int = 0


class FaceTracker:
    """Assigns track ids to the faces of consecutive frames of one camera.

    `update` takes the faces of a frame (anything with a `.detection.box`, e.g. FaceResult) and
    returns the id of each, in order. State is per camera stream: use one tracker per stream.
    """

    def __init__(
        self,
        iou_threshold: float = DEFAULT_IOU_THRESHOLD,
        max_missed: int = DEFAULT_MAX_MISSED,
        smoothing: float = 0.0,
    ) -> None:
        if not 0.0 < iou_threshold <= 1.0:
            raise ValueError(f"iou_threshold must be in (0, 1], got {iou_threshold}")
        if max_missed < 0:
            raise ValueError(f"max_missed must be >= 0, got {max_missed}")
        if not 0.0 <= smoothing < 1.0:
            raise ValueError(f"smoothing must be in [0, 1), got {smoothing}")
        self.iou_threshold = iou_threshold
        self.max_missed = max_missed
        self.smoothing = smoothing
        self._tracks: list[_Track] = []
        self._next_id = 1

    def reset(self) -> None:
        """Forget every track (a new stream); ids start again at face_1."""
        self._tracks = []
        self._next_id = 1

    def assign(self, boxes: Sequence[Sequence[float]]) -> list[str]:
        """Track ids for the boxes of one frame, matching the best-overlapping pairs first."""
        pairs = sorted(
            (
                (box_iou(t.box, b), ti, bi)
                for ti, t in enumerate(self._tracks)
                for bi, b in enumerate(boxes)
            ),
            reverse=True,
        )
        ids: list[str | None] = [None] * len(boxes)
        used: set[int] = set()
        for iou, ti, bi in pairs:
            if iou < self.iou_threshold:
                break
            if ti in used or ids[bi] is not None:
                continue
            used.add(ti)
            track = self._tracks[ti]
            track.box, track.missed = tuple(boxes[bi]), 0
            ids[bi] = track.track_id
        for ti, track in enumerate(self._tracks):
            if ti not in used:
                track.missed += 1
        self._tracks = [t for t in self._tracks if t.missed <= self.max_missed]
        for bi, box in enumerate(boxes):
            if ids[bi] is None:
                track = _Track(f"face_{self._next_id}", tuple(box))
                self._next_id += 1
                self._tracks.append(track)
                ids[bi] = track.track_id
        return [i for i in ids if i is not None]

    def smooth(self, track_id: str, scores: np.ndarray) -> np.ndarray:
        """The track's running emotion estimate after this frame's `scores` (EMA)."""
        track = next((t for t in self._tracks if t.track_id == track_id), None)
        if track is None or self.smoothing == 0.0:
            return scores
        if track.scores is None or track.scores.shape != scores.shape:
            track.scores = np.asarray(scores, dtype=np.float64)
        else:
            track.scores = self.smoothing * track.scores + (1 - self.smoothing) * scores
        return track.scores

    def update(self, faces: Sequence, emotion_labels: Sequence[str]) -> list:
        """Faces (FaceResult) with `track_id` set, and emotion smoothed when enabled.

        `emotion_labels` is the order of the faces' emotion_scores (to relabel smoothed scores).
        """
        ids = self.assign([f.detection.box for f in faces])
        out = []
        for face, track_id in zip(faces, ids, strict=True):
            changes: dict = {"track_id": track_id}
            if self.smoothing > 0.0:
                scores = self.smooth(track_id, np.asarray(face.emotion_scores, np.float64))
                best = int(np.argmax(scores))
                changes.update(
                    emotion_scores=tuple(float(p) for p in scores),
                    emotion_confidence=float(scores[best]),
                    emotion=emotion_labels[best],
                )
            out.append(dataclasses.replace(face, **changes))
        return out
