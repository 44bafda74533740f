"""Rewrite a rosbag2 bag with every face in its image topics masked, failing closed.

Why a tool of its own: a recording made where people live and work cannot be shared with their
faces in it. The bag is read twice: pass 1 runs the perception loop, pushed for recall, over each
image topic and keeps only boxes (:class:`~face_affect_ros.core.anonymise.FaceTimeline`: every
track, interpolated over missed frames and padded in time before it was first found and after
it was lost); pass 2 copies every message, masking the frames that have boxes. Memory holds
boxes, never decoded frames.

What is kept: every non-image message byte for byte (the raw serialized bytes are copied), every
message's type, bag timestamp and header, each topic's message definition and offered QoS
profiles, the storage format and the serialization format. A frame with no face to mask is
copied byte for byte too (no re-encoding). A masked frame keeps its encoding: raw images are
masked in their own pixel layout (rgb8 as rgb8, packed YUV as packed YUV, row padding kept);
compressed ones are re-encoded in the same format (JPEG at :data:`JPEG_QUALITY`, PNG lossless).

Fail closed: a frame that cannot be deserialised, decoded, processed or re-encoded is never
written as it was. It is replaced by a fully masked frame of the same size and encoding when its
header says what that is (the pixels if they decoded, else the fill), or dropped (``on_failure``
"drop", or when nothing in it says its size), and counted as withheld. A bag without an image
topic is an error.
"""

from __future__ import annotations

import dataclasses
import logging
import os
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import cv2
import numpy as np

from face_affect_ros.bag import storage as bs
from face_affect_ros.core import anonymise as an
from face_affect_ros.core import image_io
from face_affect_ros.core.image_io import DEFAULT_MAX_PIXELS

_LOG = logging.getLogger(__name__)

COMPRESSED_TYPE = "sensor_msgs/msg/CompressedImage"
#: JPEG quality of re-encoded compressed frames (the original's is not recorded in the frame).
JPEG_QUALITY = 95
#: What to do with a frame that could not be processed.
ON_FAILURE = ("mask", "drop")
#: Reasons of withheld frames kept per topic for the report (the rest are counted).
MAX_EXAMPLES = 5

# Solid fill per raw encoding, in the encoding's own byte layout (black, opaque). Packed YUV is
# masked as (W/2) x 4 macro-pixels: UYVY = U Y0 V Y1, YUYV = Y0 U Y1 V (video-range black).
_FILL: dict[str, tuple[int, ...]] = {
    "bgra8": (0, 0, 0, 255),
    "rgba8": (0, 0, 0, 255),
    "yuv422": (128, 16, 128, 16),
    "uyvy": (128, 16, 128, 16),
    "yuv422_yuy2": (16, 128, 16, 128),
    "yuyv": (16, 128, 16, 128),
}


class FrameError(Exception):
    """A frame that cannot be masked as it should be; the message says why."""


@dataclass
class TopicReport:
    """Counts of one image topic."""

    topic: str
    msgtype: str
    frames: int = 0
    faces_masked: int = 0
    frames_no_face: int = 0
    withheld_masked: int = 0
    withheld_dropped: int = 0
    tracks: int = 0
    examples: list[str] = field(default_factory=list)

    @property
    def withheld(self) -> int:
        """Frames replaced by a full mask or dropped because they could not be processed."""
        return self.withheld_masked + self.withheld_dropped

    def fail(self, index: int, reason: str, dropped: bool) -> None:
        """Count frame `index` as withheld (masked whole or dropped) because of `reason`."""
        if dropped:
            self.withheld_dropped += 1
        else:
            self.withheld_masked += 1
        if len(self.examples) < MAX_EXAMPLES:
            action = "dropped" if dropped else "fully masked"
            self.examples.append(f"{self.topic} frame {index}: {reason} ({action})")

    def as_dict(self) -> dict[str, Any]:
        """JSON-friendly counts."""
        return {
            "topic": self.topic,
            "type": self.msgtype,
            "frames": self.frames,
            "faces_masked": self.faces_masked,
            "frames_no_face": self.frames_no_face,
            "withheld_masked": self.withheld_masked,
            "withheld_dropped": self.withheld_dropped,
            "tracks": self.tracks,
        }


@dataclass
class AnonymiseReport:
    """What one run did, per image topic; printed by ``face-affect-bag anonymise``."""

    input: str
    output: str
    storage: str
    topics: dict[str, TopicReport] = field(default_factory=dict)
    not_anonymised: list[str] = field(default_factory=list)
    messages_copied: int = 0
    #: Topics left out of the output (their type cannot be written), with why; their messages.
    not_copied: list[str] = field(default_factory=list)
    messages_not_copied: int = 0
    wall_s: float = 0.0

    @property
    def withheld(self) -> int:
        """Frames withheld over all topics (non-zero: the CLI exits with EXIT_WITHHELD)."""
        return sum(t.withheld for t in self.topics.values())

    @property
    def frames(self) -> int:
        """Image frames over all anonymised topics."""
        return sum(t.frames for t in self.topics.values())

    def as_dict(self) -> dict[str, Any]:
        """JSON-friendly form (tests, scripts)."""
        return {
            "input": self.input,
            "output": self.output,
            "storage": self.storage,
            "topics": [t.as_dict() for t in self.topics.values()],
            "not_anonymised": list(self.not_anonymised),
            "messages_copied": self.messages_copied,
            "not_copied": list(self.not_copied),
            "messages_not_copied": self.messages_not_copied,
            "withheld": self.withheld,
            "wall_s": round(self.wall_s, 3),
        }

    def table(self) -> str:
        """Human-readable report: one row per image topic, then the withheld frames' reasons."""
        head = ("topic", "frames", "faces masked", "no face found", "withheld", "tracks")
        rows = [
            (
                t.topic,
                str(t.frames),
                str(t.faces_masked),
                str(t.frames_no_face),
                f"{t.withheld} ({t.withheld_masked} masked, {t.withheld_dropped} dropped)"
                if t.withheld
                else "0",
                str(t.tracks),
            )
            for t in self.topics.values()
        ]
        widths = [max(len(r[i]) for r in [head, *rows]) for i in range(len(head))]
        lines = [f"input   {self.input}", f"output  {self.output} ({self.storage})"]
        for r in [head, *rows]:
            lines.append("  ".join(c.ljust(w) for c, w in zip(r, widths, strict=True)).rstrip())
        for topic in self.not_anonymised:
            lines.append(f"warning: image topic {topic} not selected: copied unmasked")
        lines += [f"warning: {why}" for why in self.not_copied]
        for t in self.topics.values():
            lines += [f"withheld: {e}" for e in t.examples]
            more = t.withheld - len(t.examples)
            if more > 0:
                lines.append(f"... and {more} more withheld frame(s) on {t.topic}")
        lines.append(
            f"{self.frames} frames, {self.messages_copied} other messages copied"
            + (f" ({self.messages_not_copied} not)" if self.messages_not_copied else "")
            + ", "
            f"{self.wall_s:.1f} s ({self.frames / max(self.wall_s, 1e-9):.1f} frames/s)"
        )
        return "\n".join(lines)


@dataclass(frozen=True)
class MaskOptions:
    """How faces are masked and what happens to frames that cannot be processed."""

    mode: str = an.DEFAULT_MODE
    shape: str = an.DEFAULT_SHAPE
    margin: float = an.DEFAULT_MARGIN
    pad_s: float = an.DEFAULT_PAD_S
    on_failure: str = "mask"

    def __post_init__(self) -> None:
        # The core's checks, so a bad option fails before the bag is read.
        an.mask_faces(np.zeros((1, 1), np.uint8), (), self.mode, self.shape, self.margin)
        an.FaceTimeline(self.pad_s)
        if self.on_failure not in ON_FAILURE:
            raise ValueError(f"on_failure must be one of {', '.join(ON_FAILURE)}")


class _Frames:
    """CDR <-> image messages of one type, with the masking done in each frame's own encoding."""

    def __init__(self, msgtype: str, max_pixels: int) -> None:
        self.store = bs.typestore()
        self.msgtype = msgtype
        self.compressed = msgtype == COMPRESSED_TYPE
        self.max_pixels = max_pixels

    def message(self, raw: bytes) -> Any:
        try:
            return self.store.deserialize_cdr(raw, self.msgtype)
        except Exception as exc:  # rosbags raises several types for corrupt CDR
            raise FrameError(f"undecodable message ({bs.one_line(exc)})") from exc

    def serialize(self, msg: Any) -> bytes:
        return bytes(self.store.serialize_cdr(msg, self.msgtype))

    def image(self, msg: Any) -> np.ndarray:
        """BGR / mono pixels for the perception loop; FrameError if unusable."""
        try:
            if self.compressed:
                return image_io.decode_compressed(msg.format, bytes(msg.data), self.max_pixels)
            return image_io.decode_raw(
                msg.encoding, msg.width, msg.height, msg.step, bytes(msg.data), self.max_pixels
            )
        except ValueError as exc:
            raise FrameError(bs.one_line(exc)) from exc

    def masked(self, msg: Any, boxes: Sequence[an.Box] | None, opts: MaskOptions) -> Any:
        """The message with `boxes` masked (None: the whole frame); FrameError if impossible."""
        if self.compressed:
            return self._masked_compressed(msg, boxes, opts)
        return self._masked_raw(msg, boxes, opts)

    # -- raw: masked in the encoding's own layout, padding bytes kept
    def _masked_raw(self, msg: Any, boxes: Sequence[an.Box] | None, opts: MaskOptions) -> Any:
        self.image(msg)  # the same checks as pass 1: encoding, size, step, data length
        spec = image_io.ENCODINGS.get(msg.encoding)
        if spec is None:  # image() refuses unknown encodings; kept explicit for the reader
            raise FrameError(f"unsupported encoding {image_io.printable(msg.encoding)}")
        h, w, step = int(msg.height), int(msg.width), int(msg.step)
        data = np.frombuffer(bytes(msg.data), np.uint8).copy()
        # A view of the pixels in the encoding's own layout, row padding left out (and kept).
        if spec.even_width:  # 4:2:2: W/2 macro-pixels of 4 bytes
            shape, strides, aspect = (h, w // 2, 4), (step, 4, 1), 2.0
        elif spec.channels == 1:
            shape, strides, aspect = (h, w), (step, 1), 1.0
        else:
            shape, strides, aspect = (h, w, spec.channels), (step, spec.channels, 1), 1.0
        view = np.ndarray(shape, np.uint8, data, 0, strides)
        fill = _FILL.get(msg.encoding, an.DEFAULT_FILL)
        if boxes is None:
            view[...] = an.mask_all(view, opts.mode, fill)
        else:
            cols = [(x / aspect, y, bw / aspect, bh) for x, y, bw, bh in boxes]
            view[...] = an.mask_faces(
                view, cols, opts.mode, opts.shape, opts.margin, fill, pixel_aspect=aspect
            )
        return dataclasses.replace(msg, data=data)

    def blank_raw(self, msg: Any) -> Any:
        """A fully masked raw frame from the header alone (the data could not be used)."""
        h, w, step = int(msg.height), int(msg.width), int(msg.step)
        spec = image_io.ENCODINGS.get(msg.encoding)
        bpp = spec.channels if spec is not None else 1
        if h <= 0 or w <= 0 or w * h > self.max_pixels or step < w or step > w * 16:
            raise FrameError(f"header {w}x{h} step {step} does not say the frame's size")
        row = np.zeros(step, np.uint8)
        fill = _FILL.get(msg.encoding)
        if fill is not None and spec is not None:
            row[: w * bpp] = np.tile(np.asarray(fill, np.uint8), w * bpp // len(fill))
        data = np.tile(row, h)
        return dataclasses.replace(msg, data=data)

    # -- compressed: decode, mask, encode in the same format
    def _masked_compressed(
        self, msg: Any, boxes: Sequence[an.Box] | None, opts: MaskOptions
    ) -> Any:
        raw = bytes(msg.data)
        image = self.image(msg)
        if boxes is None:
            out = an.mask_all(image, opts.mode)
        else:
            out = an.mask_faces(image, boxes, opts.mode, opts.shape, opts.margin)
        return dataclasses.replace(msg, data=self._encode(raw, out))

    def blank_compressed(self, msg: Any) -> Any:
        """A fully masked frame of the size and format its header declares."""
        raw = bytes(msg.data)
        size = _declared_size(raw)
        if size is None or size[0] * size[1] > self.max_pixels:
            raise FrameError("no readable JPEG / PNG header: the frame's size is unknown")
        blank = np.zeros((size[1], size[0], 3), np.uint8)
        return dataclasses.replace(msg, data=self._encode(raw, blank))

    def _encode(self, original: bytes, image: np.ndarray) -> np.ndarray:
        is_png = original[:8] == b"\x89PNG\r\n\x1a\n"
        grey = _grey_original(original, is_png)
        if grey and image.ndim == 3:
            image = cv2.cvtColor(image, cv2.COLOR_BGR2GRAY)
        try:
            if is_png:
                ok, buf = cv2.imencode(".png", image)
            else:
                ok, buf = cv2.imencode(".jpg", image, [cv2.IMWRITE_JPEG_QUALITY, JPEG_QUALITY])
        except cv2.error as exc:
            raise FrameError(f"cannot re-encode ({bs.one_line(exc)})") from exc
        if not ok:
            raise FrameError("cannot re-encode")
        return np.asarray(buf, np.uint8).reshape(-1)

    def blank(self, msg: Any) -> Any:
        return self.blank_compressed(msg) if self.compressed else self.blank_raw(msg)


def _declared_size(data: bytes) -> tuple[int, int] | None:
    """(width, height) a JPEG's SOF or a PNG's IHDR declares, even if the rest is damaged.

    Lenient on purpose (unlike image_io.read_compressed_header, which refuses a truncated
    frame): a frame cut short still says how large a fully masked replacement must be.
    """
    if data[:8] == b"\x89PNG\r\n\x1a\n" and data[12:16] == b"IHDR" and len(data) >= 24:
        w, h = int.from_bytes(data[16:20], "big"), int.from_bytes(data[20:24], "big")
        return (w, h) if w > 0 and h > 0 else None
    if data[:2] != b"\xff\xd8":
        return None
    i = 2
    while i + 9 < len(data) and data[i] == 0xFF:
        marker = data[i + 1]
        if 0xC0 <= marker <= 0xCF and marker not in (0xC4, 0xC8, 0xCC):
            h = int.from_bytes(data[i + 5 : i + 7], "big")
            w = int.from_bytes(data[i + 7 : i + 9], "big")
            return (w, h) if w > 0 and h > 0 else None
        i += 2 + int.from_bytes(data[i + 2 : i + 4], "big")
    return None


def _grey_original(data: bytes, is_png: bool) -> bool:
    """Whether a JPEG / PNG holds one grey channel (re-encoded grey, as it came)."""
    if is_png:
        return len(data) > 25 and data[25] in (0, 4)  # IHDR colour type: grey, grey + alpha
    i = 2
    while i + 9 < len(data) and data[i] == 0xFF:
        marker = data[i + 1]
        length = int.from_bytes(data[i + 2 : i + 4], "big")
        if 0xC0 <= marker <= 0xCF and marker not in (0xC4, 0xC8, 0xCC):
            return data[i + 9] == 1  # SOF: number of components
        i += 2 + length
    return False


def _select(connections: Sequence[Any], path: Path, topics: Sequence[str] | None) -> list[Any]:
    images = bs.image_connections(connections)
    if topics:
        chosen = []
        for topic in topics:
            chosen.append(bs.choose_image_topic(connections, path, topic))
        return chosen
    if not images:
        raise bs.BagError(
            f"{path}: no image topic (sensor_msgs/Image or CompressedImage) to anonymise"
        )
    return images


def anonymise_bag(
    input_path: str | os.PathLike[str],
    output_path: str | os.PathLike[str],
    options: MaskOptions | None = None,
    *,
    topics: Sequence[str] | None = None,
    storage: str | None = None,
    force: bool = False,
    max_pixels: int = DEFAULT_MAX_PIXELS,
    loop_factory: Callable[[int, int], object] = an.make_loop,
    should_stop: Callable[[], bool] | None = None,
) -> AnonymiseReport:
    """Write `input_path` to `output_path` with the faces of its image topics masked.

    `topics`: the image topics to anonymise (default: all of them; other image topics are
    copied unmasked and named in the report's warnings). `loop_factory(width, height)` makes
    the perception loop of a topic at its first frame (:func:`~face_affect_ros.core.anonymise.
    make_loop` by default). Raises BagError for a bag that cannot be read, has no image topic,
    or an output that cannot be written; frames that cannot be processed are withheld and
    counted (see the module docstring), never raised. The output appears only on success.
    """
    opts = options if options is not None else MaskOptions()
    input_path, output_path = Path(input_path), Path(output_path)
    if output_path.resolve() == input_path.resolve():
        raise bs.BagError(f"{output_path}: the output must differ from the input")

    def check_stop() -> None:
        if should_stop is not None and should_stop():
            raise KeyboardInterrupt

    from face_affect_ros.bag.process import output_storage

    started = time.perf_counter()
    with bs.open_bag(input_path) as reader, bs.StagedOutputs(force=force) as staged:
        chosen = _select(reader.connections, input_path, topics)
        out_storage = output_storage(bs.bag_storage(input_path), output_path, storage)
        report = AnonymiseReport(str(input_path), str(output_path), out_storage)
        chosen_ids = {c.id for c in chosen}
        for conn in chosen:
            report.topics.setdefault(conn.topic, TopicReport(conn.topic, conn.msgtype))
        report.not_anonymised = sorted(
            {c.topic for c in bs.image_connections(reader.connections)} - set(report.topics)
        )
        codecs = {c.id: _Frames(c.msgtype, max_pixels) for c in chosen}

        # Pass 1: boxes of every track over time, per topic; frames that failed.
        timelines: dict[str, an.FaceTimeline] = {}
        failed: dict[str, set[int]] = {}
        loops: dict[str, object] = {}
        counts: dict[str, int] = {}
        for conn, timestamp, raw in bs.iter_messages(reader, input_path, chosen):
            check_stop()
            topic = conn.topic
            index = counts.get(topic, 0)
            counts[topic] = index + 1
            timeline = timelines.setdefault(topic, an.FaceTimeline(opts.pad_s))
            try:
                image = codecs[conn.id].image(codecs[conn.id].message(raw))
                if topic not in loops:
                    loops[topic] = loop_factory(image.shape[1], image.shape[0])
                timeline.add(timestamp / 1e9, an.localise(loops[topic], image, timestamp / 1e9))
            except FrameError:
                failed.setdefault(topic, set()).add(index)  # pass 2 says why
            except Exception as exc:  # the loop failed on a frame it was given
                _LOG.debug("%s frame %d: processing failed: %s", topic, index, exc)
                failed.setdefault(topic, set()).add(index)
        loops.clear()

        # Pass 2: copy everything, mask the frames.
        writer = bs.open_writer(staged.bag(output_path, out_storage), out_storage)
        try:
            out_conns = {}
            for c in reader.connections:
                try:
                    out_conns[c.id] = bs.add_connection(writer, c.topic, c.msgtype, like=c)
                except bs.UndescribedTypeError as exc:
                    if c.id in chosen_ids:
                        raise  # never: image types are standard
                    report.not_copied.append(str(exc))
            counts.clear()
            for conn, timestamp, raw in bs.iter_messages(reader, input_path):
                check_stop()
                if conn.id not in chosen_ids:
                    if conn.id in out_conns:
                        writer.write(out_conns[conn.id], timestamp, raw)
                        report.messages_copied += 1
                    else:
                        report.messages_not_copied += 1
                    continue
                topic = conn.topic
                index = counts.get(topic, 0)
                counts[topic] = index + 1
                out = _pass2_frame(
                    codecs[conn.id],
                    report.topics[topic],
                    index,
                    raw,
                    timelines.get(topic, an.FaceTimeline(opts.pad_s)).boxes_at(timestamp / 1e9),
                    index in failed.get(topic, ()),
                    opts,
                )
                if out is not None:
                    writer.write(out_conns[conn.id], timestamp, out)
            writer.close()
        except BaseException:
            writer.abort()
            raise
        for topic, timeline in timelines.items():
            report.topics[topic].tracks = timeline.tracks
        report.wall_s = time.perf_counter() - started
        staged.commit()
    return report


def _pass2_frame(
    frames: _Frames,
    report: TopicReport,
    index: int,
    raw: bytes,
    boxes: list[an.Box],
    failed: bool,
    opts: MaskOptions,
) -> bytes | None:
    """The bytes to write for one frame (None: dropped); counts it in `report`."""
    report.frames += 1
    reason = "processing failed" if failed else ""
    msg = None
    if not failed:
        try:
            if not boxes:
                report.frames_no_face += 1
                return raw  # nothing to mask: the frame as recorded, byte for byte
            msg = frames.message(raw)
            out = frames.serialize(frames.masked(msg, boxes, opts))
            report.faces_masked += len(boxes)
            return out
        except FrameError as exc:
            reason = str(exc)
        except Exception as exc:  # any other failure: withheld all the same
            reason = f"masking failed ({bs.one_line(exc)})"
        if not boxes:  # counted as no-face above, but it is withheld
            report.frames_no_face -= 1
    if opts.on_failure == "drop":
        report.fail(index, reason, dropped=True)
        return None
    try:
        if msg is None:
            msg = frames.message(raw)
        try:
            out = frames.serialize(frames.masked(msg, None, opts))  # pixels decode: mask all
        except FrameError:
            out = frames.serialize(frames.blank(msg))  # from the header alone
        report.fail(index, reason, dropped=False)
        return out
    except Exception as exc:  # nothing says what the frame was: it cannot be written
        report.fail(index, f"{reason}; {bs.one_line(exc)}", dropped=True)
        return None
