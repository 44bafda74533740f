"""Scores of a perception run against the moving sequence's ground truth (make_moving).

Why here: the benchmark (bench/bench_temporal.py) and the tests compute the same numbers, so
the definitions live in one place. Inputs are plain: per frame, the time, the ground-truth list
of :func:`face_affect_ros.bag.make_moving.render` and the published faces (FaceResult-like:
``detection.box``, ``track_id``, ``emotion``, ``gender``).

Definitions (issue 12's targets):

* recall: ground-truth faces >= 20 px wide, counted from 0.5 s after the identity first appears,
  matched by a published face (IoU >= 0.3);
* false tracks: distinct published track ids (per-frame mode: published faces) that never match
  a ground-truth face, per 1,000 frames;
* id switches: times a ground-truth identity is matched by a different track id than the one
  that matched it last;
* flicker: emotion label changes between consecutive matched frames of a still face, per
  second of that face being matched (``flicker_all``: the same over every matched face);
* gender decided: share of matched frames, 1 s or more after the identity's first match, whose
  gender is not ``unknown`` (and the share that is correct);
* expression delay: seconds from the change until the matched face's label first differs from
  the label it had before.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field

from face_affect_ros.core.tracking import box_iou

MATCH_IOU = 0.3


@dataclass
class SequenceScore:
    """Accumulates one run; read the properties at the end."""

    still_spans: Sequence[tuple[str, float, float]] = ()  # (identity, t0, t1) of still faces
    change: tuple[str, float] | None = None  # (identity, time of the expression change)
    frames: int = 0
    eligible: int = 0
    hits: int = 0
    _first_seen: dict[str, float] = field(default_factory=dict)
    _first_match: dict[str, float] = field(default_factory=dict)
    _last_track: dict[str, str] = field(default_factory=dict)
    id_switches: int = 0
    _track_ok: dict[str, bool] = field(default_factory=dict)
    false_faces: int = 0  # per-frame count of unmatched published faces
    _label: dict[str, str] = field(default_factory=dict)
    label_changes: int = 0
    still_time: float = 0.0
    gender_frames: int = 0
    gender_decided: int = 0
    gender_correct: int = 0
    _any_label: dict[str, str] = field(default_factory=dict)
    all_changes: int = 0
    all_time: float = 0.0
    _before_change: str | None = None
    expression_delay: float | None = None
    period: float = 1.0 / 30.0

    def add(self, t: float, truth: Sequence[dict], faces: Sequence) -> None:
        """Score one frame: its time, ground truth and published faces."""
        self.frames += 1
        gt_faces = [g for g in truth if g["kind"] == "face"]
        for g in gt_faces:
            self._first_seen.setdefault(g["id"], t)
        pairs = sorted(
            (
                (box_iou(g["box"], f.detection.box), gi, fi)
                for gi, g in enumerate(gt_faces)
                for fi, f in enumerate(faces)
            ),
            reverse=True,
        )
        match: dict[int, int] = {}
        used: set[int] = set()
        for iou, gi, fi in pairs:
            if iou < MATCH_IOU:
                break
            if gi in match or fi in used:
                continue
            match[gi] = fi
            used.add(fi)
        for fi, face in enumerate(faces):
            key = face.track_id or f"frame{self.frames}:{fi}"
            self._track_ok[key] = self._track_ok.get(key, False) or fi in used
            if fi not in used:
                self.false_faces += 1
        for gi, g in enumerate(gt_faces):
            ident = g["id"]
            if g["box"][2] >= 20.0 and t - self._first_seen[ident] >= 0.5:
                self.eligible += 1
                self.hits += gi in match
            if gi not in match:
                continue
            face = faces[match[gi]]
            if face.track_id:
                last = self._last_track.get(ident)
                if last is not None and last != face.track_id:
                    self.id_switches += 1
                self._last_track[ident] = face.track_id
            previous_any = self._any_label.get(ident)
            if previous_any is not None:
                self.all_changes += previous_any != face.emotion
                self.all_time += self.period
            self._any_label[ident] = face.emotion
            first = self._first_match.setdefault(ident, t)
            if t - first >= 1.0:
                self.gender_frames += 1
                self.gender_decided += face.gender != "unknown"
                self.gender_correct += face.gender == g.get("gender")
            if any(i == ident and t0 <= t < t1 for i, t0, t1 in self.still_spans):
                previous = self._label.get(ident)
                if previous is not None:
                    self.label_changes += previous != face.emotion
                    self.still_time += self.period
                self._label[ident] = face.emotion
            elif self.change is not None and ident == self.change[0]:
                if t < self.change[1]:
                    self._before_change = face.emotion
                elif (
                    self.expression_delay is None
                    and self._before_change is not None
                    and face.emotion != self._before_change
                ):
                    self.expression_delay = t - self.change[1]

    @property
    def recall(self) -> float:
        """Share of eligible ground-truth faces (>= 20 px, 0.5 s after appearing) found."""
        return self.hits / self.eligible if self.eligible else float("nan")

    @property
    def false_tracks(self) -> int:
        """Track ids (per-frame mode: faces) that never matched a ground-truth face."""
        return sum(not ok for ok in self._track_ok.values())

    @property
    def false_per_1000(self) -> float:
        """False tracks per 1,000 frames."""
        return 1000.0 * self.false_tracks / self.frames if self.frames else float("nan")

    @property
    def flicker(self) -> float:
        """Emotion label changes per second on the still faces."""
        return self.label_changes / self.still_time if self.still_time else float("nan")

    @property
    def flicker_all(self) -> float:
        """Emotion label changes per second over every matched face (moving ones included)."""
        return self.all_changes / self.all_time if self.all_time else float("nan")

    @property
    def gender_decided_share(self) -> float:
        """Share of matched frames (after the first second) with a gender decided."""
        return self.gender_decided / self.gender_frames if self.gender_frames else float("nan")

    @property
    def gender_correct_share(self) -> float:
        """Share of matched frames (after the first second) with the right gender."""
        return self.gender_correct / self.gender_frames if self.gender_frames else float("nan")
