"""Run the face pipeline over every frame of a bag's camera topic, offline.

Why offline: recorded data is processed at full CPU speed, frame by frame, with none of the
frame dropping a live node must do, so the result is reproducible and comparable with what the
node publishes when the same bag is replayed. By default every frame goes through the same
perception loop as face_affect_node (:class:`~face_affect_ros.core.temporal.PerceptionLoop`:
tracks, scans on a schedule, per-track estimates), clocked by the images' header stamps (the
bag's receive time for an unstamped frame), so processing a recording offline gives the
``FaceAffectArray`` sequence the node publishes when the recording is replayed into it at a rate
it keeps up with. A bag of unrelated stills is processed with ``tracking`` off (every frame
independent: ``face-affect-bag process --every-frame``).

The output bag holds the input topics unchanged plus FaceAffectArray on ``/face_affect``,
stamped like the images, built by the same conversion function as the nodes' messages.
``--json`` writes one :mod:`face_affect_ros.schema.results` record per frame (an ``error``
record for a frame that could not be used).
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

from face_affect_ros.bag import storage as bs
from face_affect_ros.core import image_io
from face_affect_ros.core.draw import draw_results
from face_affect_ros.core.image_io import DEFAULT_MAX_PIXELS
from face_affect_ros.core.loop_config import TemporalConfig, loop_stamp
from face_affect_ros.core.pipeline import FrameResult, PipelineConfig
from face_affect_ros.schema import params as params_table
from face_affect_ros.schema.messages import face_affect_array_fields
from face_affect_ros.schema.results import SCHEMA, frame_to_dict

_LOG = logging.getLogger(__name__)

#: Topic and type of the results added to the output bag (the node's default output topic).
OUTPUT_TOPIC = "/face_affect"
OUTPUT_TYPE = "face_affect_msgs/msg/FaceAffectArray"

#: Message types of camera frames the tool reads (deserialised with rosbags' typestore).
COMPRESSED_TYPE = "sensor_msgs/msg/CompressedImage"

#: Video container suffix -> FourCC. Both work with opencv-python-headless (its bundled FFmpeg
#: has no H.264 encoder: 'avc1' fails to open).
VIDEO_CODECS: dict[str, str] = {".mp4": "mp4v", ".avi": "MJPG"}

#: Frame rate of the annotated video when the bag's own rate cannot be measured.
DEFAULT_VIDEO_FPS = 15.0

#: Bad frames whose reasons are kept for the report (the rest are only counted).
MAX_BAD_EXAMPLES = 5


class FrameProcessor(Protocol):
    """What the offline tool needs from the pipeline: a PerceptionLoop (or a fake in tests)."""

    def step(self, image: np.ndarray, stamp: float) -> FrameResult:
        """Detect and classify every face of the frame taken at `stamp` (seconds)."""


class StillProcessor(Protocol):
    """A per-frame processor (FaceAffectPipeline): no notion of time."""

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
    #: Input topics left out of the output bag (their type cannot be written), with why.
    not_copied: list[str] = field(default_factory=list)
    messages_not_copied: int = 0
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
            "not_copied": list(self.not_copied),
            "messages_not_copied": self.messages_not_copied,
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
        lines += [f"warning: {why}" for why in self.not_copied]
        if self.messages_not_copied:
            lines.append(f"warning: {self.messages_not_copied} message(s) of those topics left out")
        return "\n".join(lines)


#: Node whose parameters (defaults, or a --params-file section) configure the offline pipeline.
NODE_NAME = "face_affect_node"


def node_parameters(params_file: str | os.PathLike[str] | None = None) -> dict[str, Any]:
    """Return face_affect_node's parameter values: its defaults, overridden by a params file.

    Why the node's parameters and not the core's defaults: replaying a bag into the node and
    processing it offline must give the same results, so both start from the same table
    (:mod:`face_affect_ros.schema.params`). See :func:`~face_affect_ros.schema.params.node_values`
    for the file's layout.
    """
    try:
        return params_table.node_values(NODE_NAME, params_file)
    except params_table.ParamsFileError as exc:
        raise bs.BagError(str(exc)) from exc


def pipeline_config(values: dict[str, Any]) -> PipelineConfig:
    """Return the core configuration of node parameter `values`, or raise BagError."""
    try:
        return params_table.pipeline_config(values)
    except (ValueError, TypeError) as exc:
        raise bs.BagError(f"invalid parameters: {bs.one_line(exc)}") from exc


def temporal_config(values: dict[str, Any]) -> TemporalConfig:
    """Return the perception loop's configuration of node parameter `values`, or BagError."""
    try:
        return params_table.temporal_config(values)
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
    pipeline: FrameProcessor | StillProcessor | Callable[[], FrameProcessor | StillProcessor],
    *,
    topic: str | None = None,
    storage: str | None = None,
    json_path: str | os.PathLike[str] | None = None,
    video_path: str | os.PathLike[str] | None = None,
    force: bool = False,
    progress: bool = False,
    max_pixels: int = DEFAULT_MAX_PIXELS,
    should_stop: Callable[[], bool] | None = None,
) -> BagSummary:
    """Process every frame of the image topic of `input_path` into a new bag at `output_path`.

    `pipeline` is a FrameProcessor (frames in bag order with their header stamps: the
    perception loop), a StillProcessor (every frame on its own), or a factory of either called
    only after the bag was checked (so a bad bag is reported before seconds are spent loading
    models). Frames that cannot be
    deserialised or decoded are counted in the summary and skipped (no result message); a
    bag that cannot be read, an ambiguous topic or an unwritable output raise BagError. All
    outputs are written under temporary names and only appear when everything succeeded.
    `should_stop` is asked after the models load and between frames; when it says so, the run
    stops with KeyboardInterrupt and nothing is written (how the CLI handles SIGINT / SIGTERM).
    """

    def check_stop() -> None:
        if should_stop is not None and should_stop():
            raise KeyboardInterrupt

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
            if not hasattr(pipeline, "step"):
                pipeline = _Stills(pipeline)
            check_stop()
            copied = {}
            for conn in reader.connections:
                if conn.topic == OUTPUT_TOPIC:
                    summary.replaced_output_topic = True
                    continue
                try:
                    copied[conn.id] = bs.add_connection(writer, conn.topic, conn.msgtype, like=conn)
                except bs.UndescribedTypeError as exc:
                    if conn.id == image_conn.id:
                        raise  # never: image types are standard
                    summary.not_copied.append(str(exc))
            out_conn = bs.add_connection(writer, OUTPUT_TOPIC, OUTPUT_TYPE)
            if json_tmp is not None:
                json_file = json_tmp.open("w", encoding="utf-8")
            codec = _Codec(image_conn.msgtype)
            bar = _progress(image_conn.msgcount, progress)
            try:
                for conn, timestamp, raw in bs.iter_messages(reader, input_path):
                    check_stop()
                    if conn.id in copied:
                        writer.write(copied[conn.id], timestamp, raw)
                    elif conn.topic != OUTPUT_TOPIC:
                        summary.messages_not_copied += 1
                    if conn.id != image_conn.id:
                        continue
                    record = _process_frame(
                        summary, pipeline, codec, raw, timestamp, max_pixels, video
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


class _Codec:
    """CDR <-> messages with rosbags' typestore (no rclpy: the tool runs without ROS installed).

    The result message's values come from :mod:`face_affect_ros.schema.messages`, the same
    function the nodes' rclpy messages are filled from.
    """

    def __init__(self, image_type: str) -> None:
        self.store = bs.typestore()
        self.image_type = image_type
        types = self.store.types
        self._array = types[OUTPUT_TYPE]
        self._face = types["face_affect_msgs/msg/FaceAffect"]
        self._roi = types["sensor_msgs/msg/RegionOfInterest"]
        self._pose = types["geometry_msgs/msg/Pose"]
        self._point = types["geometry_msgs/msg/Point"]
        self._quaternion = types["geometry_msgs/msg/Quaternion"]

    def image(self, raw: bytes) -> Any:
        """The image message of CDR bytes (raises on corrupt CDR)."""
        return self.store.deserialize_cdr(raw, self.image_type)

    def decode(self, msg: Any, max_pixels: int) -> np.ndarray:
        """BGR or mono array of the message; ImageDecodeError (a ValueError) if unusable."""
        if self.image_type == COMPRESSED_TYPE:
            return image_io.decode_compressed(msg.format, bytes(msg.data), max_pixels)
        return image_io.decode_raw(
            msg.encoding, msg.width, msg.height, msg.step, bytes(msg.data), max_pixels
        )

    def result(self, header: Any, result: FrameResult) -> bytes:
        """CDR bytes of the FaceAffectArray of `result` with the image's `header`."""
        fields = face_affect_array_fields(result)
        faces = []
        for face in fields.pop("faces"):
            face["roi"] = self._roi(**face["roi"], do_rectify=False)
            for key in ("landmarks", "emotion_scores", "gender_scores"):
                face[key] = np.asarray(face[key], dtype=np.float32)
            # The bag tool reads no camera_info: the 3D fields say so (pose_valid false).
            pose = face["head_pose"]
            face["head_pose"] = self._pose(
                position=self._point(**pose["position"]),
                orientation=self._quaternion(**pose["orientation"]),
            )
            faces.append(self._face(**face))
        msg = self._array(header=header, faces=faces, **fields)
        return bytes(self.store.serialize_cdr(msg, OUTPUT_TYPE))


class _Stills:
    """A StillProcessor seen as a FrameProcessor (the stamp is not used)."""

    def __init__(self, processor: StillProcessor) -> None:
        self.processor = processor

    def step(self, image: np.ndarray, stamp: float) -> FrameResult:
        return self.processor.process(image)


@dataclass
class _Record:
    message: bytes | None
    json: dict[str, Any]


def _process_frame(
    summary: BagSummary,
    pipeline: FrameProcessor,
    codec: _Codec,
    raw: bytes,
    timestamp: int,
    max_pixels: int,
    video: _VideoSink | None,
) -> _Record:
    index = summary.frames
    summary.frames += 1
    record: dict[str, Any] = {"index": index, "bag_time_ns": timestamp}
    try:
        msg = codec.image(raw)
    except Exception as exc:  # rosbags raises several types for corrupt CDR
        return _bad(summary, record, f"frame {index}: undecodable message ({bs.one_line(exc)})")
    record["stamp_ns"] = msg.header.stamp.sec * 1_000_000_000 + msg.header.stamp.nanosec
    record["frame_id"] = msg.header.frame_id
    try:
        image = codec.decode(msg, max_pixels)
    except ValueError as exc:  # ImageDecodeError and UnsupportedEncodingError
        return _bad(summary, record, f"frame {index}: {bs.one_line(exc)}")
    stamp = loop_stamp(msg.header.stamp.sec, msg.header.stamp.nanosec)
    t0 = time.perf_counter()
    # An unstamped frame: the bag's receive time keeps the loop's clock moving forward.
    result = pipeline.step(image, stamp if stamp > 0 else timestamp * 1e-9)
    summary.process_ms.append((time.perf_counter() - t0) * 1e3)
    if result.faces:
        summary.frames_with_faces += 1
        summary.faces += len(result.faces)
        summary.emotions.update(f.emotion for f in result.faces)
        summary.genders.update(f.gender for f in result.faces)
    if video is not None:
        video.write(draw_results(image, result))
    record = frame_to_dict(result, **record, process_ms=round(summary.process_ms[-1], 3))
    return _Record(codec.result(msg.header, result), record)


def _bad(summary: BagSummary, record: dict[str, Any], reason: str) -> _Record:
    summary.bad_frames += 1
    if len(summary.bad_examples) < MAX_BAD_EXAMPLES:
        summary.bad_examples.append(reason)
    _LOG.debug("bad frame: %s", reason)
    record["error"] = reason
    return _Record(None, {**record, "schema": SCHEMA})


def _progress(total: int, enabled: bool) -> Any:
    if not enabled:
        return None
    from tqdm import tqdm

    return tqdm(total=total, unit="frame", leave=False)
