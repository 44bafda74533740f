"""Run the face pipeline over every frame of a bag's camera topic, offline.

Why offline: recorded data is processed at full CPU speed, frame by frame, with none of the
frame dropping a live node must do, so the result is reproducible and comparable with what the
node publishes when the same bag is replayed. The output bag holds the input topics unchanged
plus FaceAffectArray on ``/face_affect``, stamped like the images, built by the same conversion
function as the nodes' messages.
"""

from __future__ import annotations

import json
import logging
import os
import statistics
import time
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import IO, Any, Protocol

import cv2
import numpy as np
from rclpy.serialization import deserialize_message, serialize_message
from sensor_msgs.msg import CompressedImage, Image

from face_affect_ros.bag import storage as bs
from face_affect_ros.core.draw import draw_results
from face_affect_ros.core.image_io import DEFAULT_MAX_PIXELS
from face_affect_ros.core.pipeline import FrameResult, PipelineConfig
from face_affect_ros.nodes.convert import frame_result_to_msg, image_from_msg, roi_of, stamp_ns

_LOG = logging.getLogger(__name__)

#: Topic and type of the results added to the output bag (the node's default output topic).
OUTPUT_TOPIC = "/face_affect"
OUTPUT_TYPE = "face_affect_msgs/msg/FaceAffectArray"

#: rclpy classes of the image types, for deserialising raw CDR from the bag.
IMAGE_CLASSES: dict[str, type] = {
    "sensor_msgs/msg/Image": Image,
    "sensor_msgs/msg/CompressedImage": CompressedImage,
}

#: Video container suffix -> FourCC. Both work with opencv-python-headless (its bundled FFmpeg
#: has no H.264 encoder: 'avc1' fails to open).
VIDEO_CODECS: dict[str, str] = {".mp4": "mp4v", ".avi": "MJPG"}

#: Frame rate of the annotated video when the bag's own rate cannot be measured.
DEFAULT_VIDEO_FPS = 15.0

#: Bad frames whose reasons are kept for the report (the rest are only counted).
MAX_BAD_EXAMPLES = 5


class FrameProcessor(Protocol):
    """What the offline tool needs from the pipeline (a fake in tests, the real one otherwise)."""

    def process(self, image: np.ndarray) -> FrameResult:
        """Detect and classify every face of one frame."""


@dataclass
class BagSummary:
    """Counts and timings of one offline run: what the summary table and --json report."""

    input: str
    output: str
    image_topic: str
    image_type: str
    storage: str
    frames: int = 0
    bad_frames: int = 0
    frames_with_faces: int = 0
    faces: int = 0
    emotions: Counter[str] = field(default_factory=Counter)
    genders: Counter[str] = field(default_factory=Counter)
    process_ms: list[float] = field(default_factory=list)
    bad_examples: list[str] = field(default_factory=list)
    replaced_output_topic: bool = False
    wall_s: float = 0.0

    @property
    def processed(self) -> int:
        """Frames that were decoded and went through the pipeline."""
        return self.frames - self.bad_frames

    def percentile_ms(self, q: float) -> float:
        """Return the pipeline-time percentile `q` (0..100, interpolated); 0 if no frame."""
        if not self.process_ms:
            return 0.0
        return float(np.percentile(np.asarray(self.process_ms), q))

    @property
    def median_ms(self) -> float:
        """Median pipeline time per processed frame."""
        return statistics.median(self.process_ms) if self.process_ms else 0.0

    def as_dict(self) -> dict[str, Any]:
        """JSON-friendly form (used by tests and scripts)."""
        return {
            "input": self.input,
            "output": self.output,
            "image_topic": self.image_topic,
            "storage": self.storage,
            "frames": self.frames,
            "bad_frames": self.bad_frames,
            "frames_with_faces": self.frames_with_faces,
            "faces": self.faces,
            "emotions": dict(sorted(self.emotions.items())),
            "genders": dict(sorted(self.genders.items())),
            "median_ms": round(self.median_ms, 3),
            "p95_ms": round(self.percentile_ms(95), 3),
            "wall_s": round(self.wall_s, 3),
        }

    def table(self) -> str:
        """Human-readable summary table printed at the end of `face-affect-bag process`."""
        rows: list[tuple[str, str]] = [
            ("input", f"{self.input} ({self.image_topic}, {self.image_type.split('/')[-1]})"),
            ("output", f"{self.output} ({self.storage})"),
            ("frames", str(self.frames)),
            ("bad frames", str(self.bad_frames)),
            ("frames with faces", str(self.frames_with_faces)),
            ("faces", str(self.faces)),
        ]
        for label, n in sorted(self.emotions.items(), key=lambda kv: (-kv[1], kv[0])):
            rows.append((f"  emotion {label}", str(n)))
        for label, n in sorted(self.genders.items(), key=lambda kv: (-kv[1], kv[0])):
            rows.append((f"  gender {label}", str(n)))
        rows += [
            ("pipeline ms median", f"{self.median_ms:.1f}"),
            ("pipeline ms p95", f"{self.percentile_ms(95):.1f}"),
            ("wall time s", f"{self.wall_s:.1f}"),
        ]
        width = max(len(k) for k, _ in rows)
        lines = [f"{k:<{width}}  {v}" for k, v in rows]
        for reason in self.bad_examples:
            lines.append(f"bad frame: {reason}")
        if self.bad_frames > len(self.bad_examples):
            lines.append(f"... and {self.bad_frames - len(self.bad_examples)} more bad frame(s)")
        if self.replaced_output_topic:
            lines.append(f"note: the input's {OUTPUT_TOPIC} topic was replaced by the new results")
        return "\n".join(lines)


#: Node whose parameters (defaults, or a --params-file section) configure the offline pipeline.
NODE_NAME = "face_affect_node"


def node_parameters(params_file: str | os.PathLike[str] | None = None) -> dict[str, Any]:
    """Return face_affect_node's parameter values: its defaults, overridden by a params file.

    Why the node's parameters and not the core's defaults: replaying a bag into the node and
    processing it offline must give the same results, so both start from the same table
    (:mod:`face_affect_ros.nodes.params`). The file has the ``ros2 run --params-file`` layout;
    the section ``face_affect_node`` (or ``/face_affect_node``, ``/**``) is used.
    """
    from face_affect_ros.nodes import params as node_params

    values = {s.name: s.default for s in node_params.specs_for(NODE_NAME)}
    if params_file is None:
        return values
    from ruamel.yaml import YAML, YAMLError

    path = Path(params_file)
    try:
        doc = YAML(typ="safe").load(path.read_text(encoding="utf-8")) or {}
    except (OSError, UnicodeDecodeError, YAMLError) as exc:
        raise bs.BagError(f"{path}: cannot read parameters: {bs.one_line(exc)}") from exc
    section = None
    for key in (NODE_NAME, f"/{NODE_NAME}", "/**"):
        if isinstance(doc, dict) and isinstance(doc.get(key), dict):
            section = doc[key].get("ros__parameters")
            break
    if not isinstance(section, dict):
        raise bs.BagError(f"{path}: no '{NODE_NAME}: ros__parameters:' section")
    unknown = sorted(set(section) - set(values))
    if unknown:
        raise bs.BagError(f"{path}: unknown {NODE_NAME} parameter(s): {', '.join(unknown)}")
    values.update(section)
    return values


def pipeline_config(values: dict[str, Any]) -> PipelineConfig:
    """Return the core configuration of node parameter `values`, or raise BagError."""
    from face_affect_ros.nodes import params as node_params

    try:
        return node_params.pipeline_config(values)
    except (ValueError, TypeError) as exc:
        raise bs.BagError(f"invalid parameters: {bs.one_line(exc)}") from exc


def output_storage(input_storage: str, out: Path, requested: str | None) -> str:
    """Storage format of the output: --storage, else the output's suffix, else the input's."""
    by_suffix = {suffix: name for name, suffix in bs.STORAGE_SUFFIX.items()}
    implied = by_suffix.get(out.suffix)
    if requested is not None:
        bs.check_storage(requested)
        if implied is not None and implied != requested:
            raise bs.BagError(
                f"{out}: suffix '{out.suffix}' is {implied}, but --storage is {requested}"
            )
        return requested
    return implied or input_storage


def face_records(result: FrameResult) -> list[dict[str, Any]]:
    """JSON form of each face of a frame: detector box and published roi, labels, scores."""
    faces = []
    for face in result.faces:
        det = face.detection
        roi = roi_of(det.box, result.width, result.height)
        faces.append(
            {
                "box": [round(float(v), 3) for v in det.box],
                "roi": [roi.x_offset, roi.y_offset, roi.width, roi.height],
                "score": round(float(det.score), 6),
                "landmarks": [[round(float(x), 3), round(float(y), 3)] for x, y in det.landmarks],
                "emotion": face.emotion,
                "emotion_confidence": float(face.emotion_confidence),
                "emotion_scores": dict(
                    zip(result.emotion_labels, map(float, face.emotion_scores), strict=True)
                ),
                "gender": face.gender,
                "gender_confidence": float(face.gender_confidence),
                "gender_scores": dict(
                    zip(result.gender_labels, map(float, face.gender_scores), strict=True)
                ),
            }
        )
        if face.age_years is not None:
            faces[-1].update(
                age_years=float(face.age_years),
                age_spread=float(face.age_spread),
                minor_probability=float(face.minor_probability),
            )
    return faces


class _VideoSink:
    """Annotated frames into a cv2.VideoWriter, opened lazily at the first frame's size."""

    def __init__(self, path: Path, fps: float) -> None:
        fourcc = VIDEO_CODECS.get(path.suffix.lower())
        if fourcc is None:
            raise bs.BagError(
                f"{path}: unsupported video format '{path.suffix}' (use "
                + " or ".join(VIDEO_CODECS)
                + ")"
            )
        self.path = path
        self.fourcc = fourcc
        self.fps = fps
        self.size: tuple[int, int] | None = None
        self._writer: cv2.VideoWriter | None = None
        self.frames = 0

    def write(self, bgr: np.ndarray) -> None:
        size = (bgr.shape[1], bgr.shape[0])
        if self._writer is None:
            self._writer = cv2.VideoWriter(
                str(self.path), cv2.VideoWriter_fourcc(*self.fourcc), self.fps, size
            )
            if not self._writer.isOpened():
                raise bs.BagError(f"{self.path}: OpenCV cannot write {self.fourcc} video here")
            self.size = size
        elif size != self.size:
            bgr = cv2.resize(bgr, self.size, interpolation=cv2.INTER_AREA)
        self._writer.write(bgr)
        self.frames += 1

    def close(self) -> None:
        if self._writer is not None:
            self._writer.release()
            self._writer = None


def _video_fps(reader: Any, count: int) -> float:
    duration = reader.duration / 1e9 if reader.message_count else 0.0
    if count > 1 and duration > 0:
        return float(min(max((count - 1) / duration, 1.0), 120.0))
    return DEFAULT_VIDEO_FPS


def process_bag(
    input_path: str | os.PathLike[str],
    output_path: str | os.PathLike[str],
    pipeline: FrameProcessor | Callable[[], FrameProcessor],
    *,
    topic: str | None = None,
    storage: str | None = None,
    json_path: str | os.PathLike[str] | None = None,
    video_path: str | os.PathLike[str] | None = None,
    force: bool = False,
    progress: bool = False,
    max_pixels: int = DEFAULT_MAX_PIXELS,
) -> BagSummary:
    """Process every frame of the image topic of `input_path` into a new bag at `output_path`.

    `pipeline` is a FrameProcessor, or a factory called only after the bag was checked (so a
    bad bag is reported before seconds are spent loading models). Frames that cannot be
    deserialised or decoded are counted in the summary and skipped (no result message); a
    bag that cannot be read, an ambiguous topic or an unwritable output raise BagError. All
    outputs are written under temporary names and only appear when everything succeeded.
    """
    input_path, output_path = Path(input_path), Path(output_path)
    if output_path.resolve() == input_path.resolve():
        raise bs.BagError(f"{output_path}: the output must differ from the input")
    started = time.perf_counter()
    with bs.open_bag(input_path) as reader, bs.StagedOutputs(force=force) as staged:
        image_conn = bs.choose_image_topic(reader.connections, input_path, topic)
        in_storage = bs.bag_storage(input_path)
        out_storage = output_storage(in_storage, output_path, storage)
        summary = BagSummary(
            input=str(input_path),
            output=str(output_path),
            image_topic=image_conn.topic,
            image_type=image_conn.msgtype,
            storage=out_storage,
        )
        video = None
        if video_path is not None:
            video = _VideoSink(Path(video_path), _video_fps(reader, image_conn.msgcount))
            video.path = staged.file(video_path)
        json_file: IO[str] | None = None
        json_tmp = staged.file(json_path) if json_path is not None else None
        writer = bs.open_writer(staged.bag(output_path, out_storage), out_storage)
        try:
            if callable(pipeline) and not hasattr(pipeline, "process"):
                pipeline = pipeline()
            copied = {}
            for conn in reader.connections:
                if conn.topic == OUTPUT_TOPIC:
                    summary.replaced_output_topic = True
                    continue
                copied[conn.id] = bs.add_connection(writer, conn.topic, conn.msgtype, like=conn)
            out_conn = bs.add_connection(writer, OUTPUT_TOPIC, OUTPUT_TYPE)
            if json_tmp is not None:
                json_file = json_tmp.open("w", encoding="utf-8")
            msg_class = IMAGE_CLASSES[image_conn.msgtype]
            bar = _progress(image_conn.msgcount, progress)
            try:
                for conn, timestamp, raw in bs.iter_messages(reader, input_path):
                    if conn.id in copied:
                        writer.write(copied[conn.id], timestamp, raw)
                    if conn.id != image_conn.id:
                        continue
                    record = _process_frame(
                        summary, pipeline, msg_class, raw, timestamp, max_pixels, video
                    )
                    if record.message is not None:
                        writer.write(out_conn, timestamp, record.message)
                    if json_file is not None:
                        json_file.write(json.dumps(record.json) + "\n")
                    if bar is not None:
                        bar.update(1)
            finally:
                if bar is not None:
                    bar.close()
            writer.close()
        except BaseException:
            writer.abort()
            raise
        finally:
            if json_file is not None:
                json_file.close()
            if video is not None:
                video.close()
        summary.wall_s = time.perf_counter() - started
        staged.commit()
    return summary


@dataclass
class _Record:
    message: bytes | None
    json: dict[str, Any]


def _process_frame(
    summary: BagSummary,
    pipeline: FrameProcessor,
    msg_class: type,
    raw: bytes,
    timestamp: int,
    max_pixels: int,
    video: _VideoSink | None,
) -> _Record:
    index = summary.frames
    summary.frames += 1
    record: dict[str, Any] = {"index": index, "bag_time_ns": timestamp}
    try:
        msg = deserialize_message(raw, msg_class)
    except Exception as exc:  # rclpy raises several types for corrupt CDR
        return _bad(summary, record, f"frame {index}: undecodable message ({bs.one_line(exc)})")
    record["stamp_ns"] = stamp_ns(msg.header)
    record["frame_id"] = msg.header.frame_id
    try:
        image = image_from_msg(msg, max_pixels)
    except ValueError as exc:  # ImageDecodeError and UnsupportedEncodingError
        return _bad(summary, record, f"frame {index}: {bs.one_line(exc)}")
    t0 = time.perf_counter()
    result = pipeline.process(image)
    summary.process_ms.append((time.perf_counter() - t0) * 1e3)
    if result.faces:
        summary.frames_with_faces += 1
        summary.faces += len(result.faces)
        summary.emotions.update(f.emotion for f in result.faces)
        summary.genders.update(f.gender for f in result.faces)
    if video is not None:
        video.write(draw_results(image, result))
    record.update(
        width=result.width,
        height=result.height,
        process_ms=round(summary.process_ms[-1], 3),
        faces=face_records(result),
    )
    return _Record(serialize_message(frame_result_to_msg(msg.header, result)), record)


def _bad(summary: BagSummary, record: dict[str, Any], reason: str) -> _Record:
    summary.bad_frames += 1
    if len(summary.bad_examples) < MAX_BAD_EXAMPLES:
        summary.bad_examples.append(reason)
    _LOG.debug("bad frame: %s", reason)
    record["error"] = reason
    return _Record(None, record)


def _progress(total: int, enabled: bool) -> Any:
    if not enabled:
        return None
    from tqdm import tqdm

    return tqdm(total=total, unit="frame", leave=False)
