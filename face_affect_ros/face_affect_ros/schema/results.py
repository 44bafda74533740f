"""One JSON form of a FrameResult, versioned, for every tool that writes results.

``face-affect-image --json``, ``face-affect-bag process --json`` and ``face-affect-demo``'s
``.jsonl`` all write one object per frame built by :func:`frame_to_dict`, so a consumer parses
one schema. Each tool adds its own envelope keys (which image, which bag message) next to the
schema's keys; :data:`ENVELOPE_KEYS` lists the ones in use. The schema is described in
docs/ARCHITECTURE.md ("Result JSON"); change :data:`SCHEMA` when a key changes meaning or goes.

Rounding is part of the schema: pixel values to 0.001 px, probabilities and scores to 1e-6
(far below what the models resolve, and what the sample bag's stored expectation uses).
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from face_affect_ros.core.detector import Detection
from face_affect_ros.core.results import FaceResult, FrameResult, StageTimings, clamped_roi

#: Name and version of the schema, the value of every record's ``"schema"`` key.
SCHEMA = "face_affect/v1"

#: Keys the tools add around the schema's: image path (image CLI); message index, bag and
#: header stamps, frame id, processing time, error (bag tool); latency (demo).
ENVELOPE_KEYS = (
    "image",
    "index",
    "bag_time_ns",
    "stamp_ns",
    "frame_id",
    "process_ms",
    "latency_ms",
    "error",
)

PIXEL_DIGITS = 3
PROB_DIGITS = 6


def _px(v: float) -> float:
    return round(float(v), PIXEL_DIGITS)


def _p(v: float) -> float:
    return round(float(v), PROB_DIGITS)


def face_to_dict(
    face: FaceResult,
    width: int,
    height: int,
    emotion_labels: tuple[str, ...],
    gender_labels: tuple[str, ...],
) -> dict[str, Any]:
    """JSON form of one face: box and published roi, score, landmarks, labels and scores.

    With age estimation on, also ``age_years``, ``age_spread`` and ``minor_probability``
    (absent when it is off).
    """
    det = face.detection
    age = (
        {}
        if face.age_years is None
        else {
            "age_years": _p(face.age_years),
            "age_spread": _p(face.age_spread),
            "minor_probability": _p(face.minor_probability),
        }
    )
    return {
        "track_id": face.track_id,
        "box": [_px(v) for v in det.box],
        "roi": list(clamped_roi(det.box, width, height)),
        "score": _p(det.score),
        "landmarks": [[_px(x), _px(y)] for x, y in det.landmarks],
        "emotion": face.emotion,
        "emotion_confidence": _p(face.emotion_confidence),
        "emotion_scores": {
            k: _p(v) for k, v in zip(emotion_labels, face.emotion_scores, strict=True)
        },
        "gender": face.gender,
        "gender_confidence": _p(face.gender_confidence),
        "gender_scores": {k: _p(v) for k, v in zip(gender_labels, face.gender_scores, strict=True)},
        **age,
    }


def frame_to_dict(result: FrameResult, **envelope: Any) -> dict[str, Any]:
    """JSON form of one frame; `envelope` keys (see ENVELOPE_KEYS) come first."""
    unknown = set(envelope) - set(ENVELOPE_KEYS)
    if unknown:
        raise ValueError(f"unknown envelope keys {sorted(unknown)} (add them to ENVELOPE_KEYS)")
    return {
        **envelope,
        "schema": SCHEMA,
        "width": result.width,
        "height": result.height,
        "emotion_labels": list(result.emotion_labels),
        "gender_labels": list(result.gender_labels),
        "faces": [
            face_to_dict(
                f, result.width, result.height, result.emotion_labels, result.gender_labels
            )
            for f in result.faces
        ],
    }


def frame_from_dict(record: Mapping[str, Any]) -> FrameResult:
    """The FrameResult of a :func:`frame_to_dict` record (timings are not stored: zeros).

    Raises:
        ValueError: the record is not of this schema or misses a key.
    """
    if record.get("schema") != SCHEMA:
        raise ValueError(f"not a {SCHEMA} record (schema={record.get('schema')!r})")
    try:
        emotion_labels = tuple(record["emotion_labels"])
        gender_labels = tuple(record["gender_labels"])
        faces = tuple(
            FaceResult(
                detection=Detection(
                    box=tuple(float(v) for v in f["box"]),
                    score=float(f["score"]),
                    landmarks=tuple((float(x), float(y)) for x, y in f["landmarks"]),
                ),
                emotion=f["emotion"],
                emotion_confidence=float(f["emotion_confidence"]),
                emotion_scores=tuple(float(f["emotion_scores"][k]) for k in emotion_labels),
                gender=f["gender"],
                gender_confidence=float(f["gender_confidence"]),
                gender_scores=tuple(float(f["gender_scores"][k]) for k in gender_labels),
                track_id=f.get("track_id", ""),
                age_years=_opt(f.get("age_years")),
                age_spread=_opt(f.get("age_spread")),
                minor_probability=_opt(f.get("minor_probability")),
            )
            for f in record["faces"]
        )
        return FrameResult(
            width=int(record["width"]),
            height=int(record["height"]),
            emotion_labels=emotion_labels,
            faces=faces,
            timings=StageTimings(0.0, 0.0, 0.0, 0.0),
            gender_labels=gender_labels,
        )
    except (KeyError, TypeError) as exc:
        raise ValueError(f"{SCHEMA} record is missing or mistypes {exc}") from exc


def _opt(value: Any) -> float | None:
    return None if value is None else float(value)
