"""face-affect-bag anonymise: faces gone, everything else kept, failures withheld, never leaked.

Real bags written with rosbags (both storages), real frames (the moving sequence), real models,
the CLI's main() in-process. Each check compares with the input so it can fail for its reason:
the same re-detection finds the faces in the input; the frames before a track's first detection
are unmasked without padding.
"""

from __future__ import annotations

import contextlib
import io
import json
from pathlib import Path
from typing import Any

import cv2
import numpy as np
import pytest
from face_affect_ros.bag import make_moving as mm
from face_affect_ros.bag import storage as bs
from face_affect_ros.cli import bag as cli
from face_affect_ros.core.detector import FaceDetector
from face_affect_ros.core.paths import models_dir
from face_affect_ros.core.tracking import box_iou
from rosbags.interfaces import (
    ConnectionExtRosbag2,
    Qos,
    QosDurability,
    QosHistory,
    QosLiveliness,
    QosReliability,
    QosTime,
)
from rosbags.rosbag2 import Reader, Writer

START_NS = 1_767_225_600 * 1_000_000_000
RATE = 30
#: The moving sequence from 2.5 s to 3.5 s: the astronaut walking away, the cameraman entering.
T0, T1 = 2.5, 3.5
COMPRESSED = "/camera/image_raw/compressed"
RAW = "/camera/rgb"
PNG = "/camera/png"
YUV = "/camera/yuv"
CHATTER = "/chatter"
STRING = "std_msgs/msg/String"
IMAGE = "sensor_msgs/msg/Image"
COMPRESSED_TYPE = "sensor_msgs/msg/CompressedImage"
#: QoS of the input's camera topic (sensor data, as ros2 bag record writes it), to be kept.
QOS = [
    Qos(
        QosHistory.KEEP_LAST,
        5,
        QosReliability.BEST_EFFORT,
        QosDurability.VOLATILE,
        QosTime(0, 0),
        QosTime(0, 0),
        QosLiveliness.AUTOMATIC,
        QosTime(0, 0),
        False,
    )
]


def run_cli(*args: object) -> tuple[int, str, str]:
    out, err = io.StringIO(), io.StringIO()
    with contextlib.redirect_stdout(out), contextlib.redirect_stderr(err):
        status = cli.main([str(a) for a in args])
    return status, out.getvalue(), err.getvalue()


def store():
    return bs.typestore()


def header(ns: int) -> Any:
    types = store().types
    sec, nanosec = divmod(ns, 1_000_000_000)
    return types["std_msgs/msg/Header"](
        stamp=types["builtin_interfaces/msg/Time"](sec=sec, nanosec=nanosec), frame_id="cam"
    )


def compressed(ns: int, bgr: np.ndarray, ext: str = ".jpg", fmt: str = "jpeg") -> bytes:
    ok, data = cv2.imencode(ext, bgr)
    assert ok
    msg = store().types[COMPRESSED_TYPE](header=header(ns), format=fmt, data=data.reshape(-1))
    return bytes(store().serialize_cdr(msg, COMPRESSED_TYPE))


def raw_image(ns: int, pixels: np.ndarray, encoding: str, pad: int = 0) -> bytes:
    h, w = pixels.shape[:2]
    row = pixels.reshape(h, -1)
    step = row.shape[1] + pad
    data = np.zeros((h, step), np.uint8)
    data[:, : row.shape[1]] = row
    data[:, row.shape[1] :] = 0xAB  # padding bytes the output must keep
    msg = store().types[IMAGE](
        header=header(ns),
        height=h,
        width=w,
        encoding=encoding,
        is_bigendian=0,
        step=step,
        data=data.reshape(-1),
    )
    return bytes(store().serialize_cdr(msg, IMAGE))


def string(text: str) -> bytes:
    msg = store().types[STRING](data=text)
    return bytes(store().serialize_cdr(msg, STRING))


def bgr_to_yuyv(bgr: np.ndarray) -> np.ndarray:
    """Pack a BGR frame as YUYV (Y0 U Y1 V): H x W x 2 bytes."""
    return cv2.cvtColor(bgr, cv2.COLOR_BGR2YUV_YUY2)


def moving_frames(t0: float = T0, t1: float = T1) -> list[tuple[int, np.ndarray, list]]:
    out = []
    for i in range(round(t0 * RATE), round(t1 * RATE)):
        t = i / RATE
        frame, truth = mm.render(t)
        faces = [tuple(x["box"]) for x in truth if x["kind"] == "face"]
        out.append((START_NS + round(t * 1e9), frame, faces))
    return out


def write_bag(
    path: Path,
    topics: dict[str, tuple[str, list[tuple[int, bytes]]]],
    storage: str,
    qos: dict[str, list[Qos]] | None = None,
) -> Path:
    with Writer(path, version=9, storage_plugin=bs.STORAGES[storage]) as writer:
        conns = {}
        for topic, (msgtype, _) in topics.items():
            conns[topic] = writer.add_connection(
                topic,
                msgtype,
                typestore=store(),
                offered_qos_profiles=(qos or {}).get(topic, []),
            )
        rows = sorted((t, topic, raw) for topic, (_, ms) in topics.items() for t, raw in ms)
        for t, topic, raw in rows:
            writer.write(conns[topic], t, raw)
    return path


def read(path: Path) -> tuple[dict[str, Any], dict[str, list[tuple[int, bytes]]], str]:
    with Reader(path) as reader:
        conns = {c.topic: c for c in reader.connections}
        msgs: dict[str, list[tuple[int, bytes]]] = {}
        for conn, t, raw in reader.messages():
            msgs.setdefault(conn.topic, []).append((t, bytes(raw)))
    return conns, msgs, bs.bag_storage(path)


def decode(raw: bytes, msgtype: str) -> np.ndarray:
    msg = store().deserialize_cdr(raw, msgtype)
    if msgtype == COMPRESSED_TYPE:
        return cv2.imdecode(np.frombuffer(bytes(msg.data), np.uint8), cv2.IMREAD_COLOR)
    from face_affect_ros.core.image_io import decode_raw

    return decode_raw(msg.encoding, msg.width, msg.height, msg.step, bytes(msg.data))


class Redetector:
    """YuNet s on the frame upscaled 2x, threshold 0.5: the independent check of the bench."""

    def __init__(self) -> None:
        self.det = FaceDetector(
            models_dir() / "yunet_s_dynamic.json", input_size=(1280, 960), score_threshold=0.5
        )

    def found(self, bgr: np.ndarray, faces: list) -> int:
        big = cv2.resize(bgr, (1280, 960), interpolation=cv2.INTER_CUBIC)
        boxes = [tuple(v / 2 for v in d.box) for d in self.det.detect(big)]
        n = 0
        for f in faces:
            if any(
                box_iou(b, f) >= 0.3
                or (
                    f[0] <= b[0] + b[2] / 2 <= f[0] + f[2]
                    and f[1] <= b[1] + b[3] / 2 <= f[1] + f[3]
                )
                for b in boxes
            ):
                n += 1
        return n


@pytest.fixture(scope="module")
def redetector() -> Redetector:
    return Redetector()


def moving_topics() -> dict[str, tuple[str, list[tuple[int, bytes]]]]:
    frames = moving_frames()
    jpeg = [(ns, compressed(ns, f)) for ns, f, _ in frames]
    rgb = [(ns, raw_image(ns, f[:, :, ::-1], "rgb8", pad=4)) for ns, f, _ in frames]
    png = [(ns, compressed(ns, f, ".png", "png")) for ns, f, _ in frames[::6]]
    yuv = [(ns, raw_image(ns, bgr_to_yuyv(f), "yuyv")) for ns, f, _ in frames[::6]]
    chatter = [(ns + 1000, string(f"tick {i} \u00e9")) for i, (ns, _, _) in enumerate(frames)]
    return {
        COMPRESSED: (COMPRESSED_TYPE, jpeg),
        RAW: (IMAGE, rgb),
        PNG: (COMPRESSED_TYPE, png),
        YUV: (IMAGE, yuv),
        CHATTER: (STRING, chatter),
    }


@pytest.fixture(scope="module", params=["mcap", "sqlite3"])
def anonymised(request, tmp_path_factory) -> dict[str, Any]:
    tmp = tmp_path_factory.mktemp(f"anon_{request.param}")
    src = write_bag(tmp / "in", moving_topics(), request.param, qos={COMPRESSED: QOS})
    status, out, err = run_cli("anonymise", src, "--out", tmp / "out", "--json", tmp / "r.json")
    return {
        "status": status,
        "stdout": out,
        "stderr": err,
        "input": read(src),
        "output": read(tmp / "out"),
        "report": json.loads((tmp / "r.json").read_text()),
        "storage": request.param,
    }


def test_runs_clean_and_reports_per_topic(anonymised) -> None:
    assert anonymised["status"] == 0, anonymised["stderr"]
    topics = {t["topic"]: t for t in anonymised["report"]["topics"]}
    assert set(topics) == {COMPRESSED, RAW, PNG, YUV}
    n = round((T1 - T0) * RATE)
    assert topics[COMPRESSED]["frames"] == topics[RAW]["frames"] == n
    assert topics[COMPRESSED]["faces_masked"] >= n  # one or two faces in every frame
    assert all(t["withheld_masked"] == t["withheld_dropped"] == 0 for t in topics.values())
    assert "faces masked" in anonymised["stdout"] and COMPRESSED in anonymised["stdout"]


@pytest.mark.parametrize("topic", [COMPRESSED, RAW, PNG, YUV])
def test_faces_in_output_are_not_found_by_yunet_at_high_resolution(
    anonymised, redetector, topic: str
) -> None:
    truth = {ns: faces for ns, _, faces in moving_frames()}
    _, before, _ = anonymised["input"]
    _, after, _ = anonymised["output"]
    msgtype = COMPRESSED_TYPE if topic in (COMPRESSED, PNG) else IMAGE
    step = 2 if topic in (COMPRESSED, RAW) else 1
    faces_in = sum(redetector.found(decode(r, msgtype), truth[t]) for t, r in before[topic][::step])
    faces_out = sum(redetector.found(decode(r, msgtype), truth[t]) for t, r in after[topic][::step])
    total = sum(len(truth[t]) for t, _ in before[topic][::step])
    assert faces_in >= 0.9 * total  # the detector finds them in the input
    assert faces_out == 0


def test_non_image_messages_byte_identical_timestamps_and_types_kept(anonymised) -> None:
    conns_in, before, _ = anonymised["input"]
    conns_out, after, _ = anonymised["output"]
    assert set(after) == set(before)
    assert {t: c.msgtype for t, c in conns_out.items()} == {
        t: c.msgtype for t, c in conns_in.items()
    }
    assert after[CHATTER] == before[CHATTER]  # bytes and bag timestamps
    for topic in (COMPRESSED, RAW, PNG, YUV):
        assert [t for t, _ in after[topic]] == [t for t, _ in before[topic]]
        msgtype = conns_in[topic].msgtype
        for (_, a), (_, b) in zip(before[topic], after[topic], strict=True):
            ma, mb = store().deserialize_cdr(a, msgtype), store().deserialize_cdr(b, msgtype)
            assert ma.header == mb.header
            if msgtype == IMAGE:
                assert (ma.encoding, ma.width, ma.height, ma.step) == (
                    mb.encoding,
                    mb.width,
                    mb.height,
                    mb.step,
                )
                # Row padding kept byte for byte.
                pa = np.asarray(ma.data).reshape(ma.height, ma.step)[:, ma.width * 2 :]
                pb = np.asarray(mb.data).reshape(mb.height, mb.step)[:, mb.width * 2 :]
                if topic == RAW:
                    assert np.array_equal(pa[:, -4:], pb[:, -4:])
            else:
                assert ma.format == mb.format
                magic = bytes(np.asarray(ma.data)[:4])
                assert bytes(np.asarray(mb.data)[:4]) == magic  # JPEG stays JPEG, PNG PNG


def test_metadata_qos_definitions_and_storage_kept(anonymised) -> None:
    conns_in, _, storage_in = anonymised["input"]
    conns_out, _, storage_out = anonymised["output"]
    assert storage_out == storage_in == anonymised["storage"]
    for topic, c in conns_in.items():
        o = conns_out[topic]
        assert o.msgdef.data == c.msgdef.data and o.digest == c.digest
        assert isinstance(o.ext, ConnectionExtRosbag2)
        assert o.ext.serialization_format == c.ext.serialization_format == "cdr"
        assert o.ext.offered_qos_profiles == c.ext.offered_qos_profiles
    assert conns_out[COMPRESSED].ext.offered_qos_profiles  # the recorded QoS, not an empty one


def _corrupt_bag(tmp: Path) -> Path:
    frames = moving_frames(2.5, 2.8)
    jpeg = [(ns, compressed(ns, f)) for ns, f, _ in frames]
    rgb = [(ns, raw_image(ns, f, "bgr8")) for ns, f, _ in frames]
    # Frame 3: the JPEG cut in half (header intact, pixels not); frame 5 of the raw topic: its
    # data one row short of step x height; frame 6: not CDR at all.
    msg = store().deserialize_cdr(jpeg[3][1], COMPRESSED_TYPE)
    cut = store().types[COMPRESSED_TYPE](
        header=msg.header, format=msg.format, data=np.asarray(msg.data)[: len(msg.data) // 2]
    )
    jpeg[3] = (jpeg[3][0], bytes(store().serialize_cdr(cut, COMPRESSED_TYPE)))
    img = store().deserialize_cdr(rgb[5][1], IMAGE)
    short = store().types[IMAGE](
        header=img.header,
        height=img.height,
        width=img.width,
        encoding="bgr8",
        is_bigendian=0,
        step=img.step,
        data=np.asarray(img.data)[: -img.step],
    )
    rgb[5] = (rgb[5][0], bytes(store().serialize_cdr(short, IMAGE)))
    rgb[6] = (rgb[6][0], b"\x00\x01garbage")
    return write_bag(tmp / "in", {COMPRESSED: (COMPRESSED_TYPE, jpeg), RAW: (IMAGE, rgb)}, "mcap")


def test_corrupt_frames_are_written_fully_masked_and_the_exit_status_says_so(
    tmp_path: Path,
) -> None:
    src = _corrupt_bag(tmp_path)
    status, out, err = run_cli("anonymise", src, "--out", tmp_path / "out", "--mode", "solid")
    assert status == cli.EXIT_WITHHELD, err
    assert "withheld" in err and "frame 3" in out and "frame 5" in out
    _, before, _ = read(src)
    _, after, _ = read(tmp_path / "out")
    # The cut JPEG: a frame of the same size, same format, all black.
    t3, _cut = before[COMPRESSED][3]
    ((_t3o, masked),) = [(t, r) for t, r in after[COMPRESSED] if t == t3]
    img = decode(masked, COMPRESSED_TYPE)
    assert img.shape == (480, 640, 3) and img.max() <= 8
    # The short raw frame: the header's size, all fill; the garbage one cannot be described:
    # dropped (and counted).
    t5, _ = before[RAW][5]
    (raw5,) = [r for t, r in after[RAW] if t == t5]
    m5 = store().deserialize_cdr(raw5, IMAGE)
    assert len(m5.data) == m5.step * m5.height and not np.asarray(m5.data).any()
    assert len(after[RAW]) == len(before[RAW]) - 1
    assert "1 dropped" in out


def test_on_failure_drop_drops_and_still_says_so(tmp_path: Path) -> None:
    src = _corrupt_bag(tmp_path)
    status, _out, err = run_cli("anonymise", src, "--out", tmp_path / "out", "--on-failure", "drop")
    assert status == cli.EXIT_WITHHELD, err
    _, before, _ = read(src)
    _, after, _ = read(tmp_path / "out")
    assert len(after[COMPRESSED]) == len(before[COMPRESSED]) - 1
    assert len(after[RAW]) == len(before[RAW]) - 2


def test_bag_without_image_topic_is_an_error(tmp_path: Path) -> None:
    src = write_bag(tmp_path / "in", {CHATTER: (STRING, [(START_NS, string("hello"))])}, "sqlite3")
    status, _, err = run_cli("anonymise", src, "--out", tmp_path / "out")
    assert status == cli.EXIT_ERROR
    assert "no image topic" in err and not (tmp_path / "out").exists()


def test_unselected_image_topics_are_named_in_a_warning(tmp_path: Path) -> None:
    frames = moving_frames(2.5, 2.6)
    src = write_bag(
        tmp_path / "in",
        {
            COMPRESSED: (COMPRESSED_TYPE, [(ns, compressed(ns, f)) for ns, f, _ in frames]),
            RAW: (IMAGE, [(ns, raw_image(ns, f, "bgr8")) for ns, f, _ in frames]),
        },
        "mcap",
    )
    status, out, err = run_cli("anonymise", src, "--out", tmp_path / "out", "--topics", RAW)
    assert status == 0, err
    assert f"image topic {COMPRESSED} not selected: copied unmasked" in out
    _, before, _ = read(src)
    _, after, _ = read(tmp_path / "out")
    assert after[COMPRESSED] == before[COMPRESSED] and after[RAW] != before[RAW]


def _uncovered_face(n: int = 40) -> list[tuple[int, np.ndarray, tuple[float, ...]]]:
    """The astronaut's face (80 px) uncovered from the left by a board sliding right, 30 Hz.

    Each frame's third item is the face's uncovered part (x, y, w, h): half a face is already
    a face someone can recognise, but not yet one a detector finds. The board takes 36 frames:
    the anonymiser's recall thresholds find the face early, and the test needs frames before.
    """
    from skimage import data

    src = np.ascontiguousarray(data.astronaut()[:, :, ::-1])
    head = src[6:266, 118:334]  # benchlib.ASTRONAUT_HEAD
    fx, fy, fw, fh = 178 - 118, 66 - 6, 96, 113  # benchlib.ASTRONAUT_FACE in the head
    s = 80 / fw
    hw, hh = round(head.shape[1] * s), round(head.shape[0] * s)
    base = cv2.resize(np.ascontiguousarray(data.rocket()[:, :, ::-1]), (640, 480))
    x0, y0 = 320 - hw // 2, 240 - hh // 2
    base[y0 : y0 + hh, x0 : x0 + hw] = cv2.resize(head, (hw, hh), interpolation=cv2.INTER_AREA)
    face = (x0 + fx * s, y0 + fy * s, fw * s, fh * s)
    frames = []
    for i in range(n):
        frame = base.copy()
        edge = round(face[0] + face[2] * i / (n - 4))  # the board's left edge
        frame[y0 - 10 : y0 + hh + 10, edge : x0 + hw + 40] = (90, 90, 90)
        seen = (face[0], face[1], max(0.0, min(edge - face[0], face[2])), face[3])
        frames.append((START_NS + round(i * 1e9 / RATE), frame, seen))
    return frames


def test_temporal_padding_masks_the_face_before_its_first_detection(tmp_path: Path) -> None:
    frames = _uncovered_face()
    src = write_bag(
        tmp_path / "in",
        {RAW: (IMAGE, [(ns, raw_image(ns, f, "bgr8")) for ns, f, _ in frames])},
        "mcap",
    )
    status, _, err = run_cli("anonymise", src, "--out", tmp_path / "nopad", "--pad", "0")
    assert status == 0, err
    status, _, err = run_cli("anonymise", src, "--out", tmp_path / "pad", "--pad", "1.0")
    assert status == 0, err
    _, before, _ = read(src)
    _, nopad, _ = read(tmp_path / "nopad")
    _, pad, _ = read(tmp_path / "pad")
    # Frames before the first detection: written unchanged without padding.
    first = next(
        i for i, ((_, a), (_, b)) in enumerate(zip(before[RAW], nopad[RAW], strict=True)) if a != b
    )
    assert first >= 3, "the test needs faces too small to detect in the first frames"
    # With padding, the uncovered part of the face in those frames is masked.
    checked = 0
    for i in range(first):
        x, y, w, h = (round(v) for v in frames[i][2])
        if w < 8:
            continue
        img_in = decode(before[RAW][i][1], IMAGE)[y : y + h, x : x + w]
        assert np.array_equal(img_in, decode(nopad[RAW][i][1], IMAGE)[y : y + h, x : x + w])
        masked = decode(pad[RAW][i][1], IMAGE)[y : y + h, x : x + w]
        changed = np.any(masked != img_in, axis=2).mean()
        assert changed > 0.8, (i, w, changed)
        checked += 1
    assert checked >= 2, "the test needs partly uncovered faces the detector misses"


def test_anonymise_runs_without_ros_installed(tmp_path: Path) -> None:
    import subprocess
    import sys

    from test_bag_offline import _BLOCKED_RUN, ROS_MODULES

    frames = moving_frames(2.5, 2.7)
    src = write_bag(
        tmp_path / "in",
        {COMPRESSED: (COMPRESSED_TYPE, [(ns, compressed(ns, f)) for ns, f, _ in frames])},
        "mcap",
    )
    proc = subprocess.run(
        [
            sys.executable,
            "-c",
            _BLOCKED_RUN,
            ",".join(ROS_MODULES),
            "anonymise",
            str(src),
            "--out",
            str(tmp_path / "out"),
        ],
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert proc.returncode == 0, proc.stderr[-3000:]
    assert "LOADED \n" in proc.stdout, proc.stdout  # nothing of ROS was imported
    _, after, _ = read(tmp_path / "out")
    assert len(after[COMPRESSED]) == len(frames)


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (("--margin", "0.1"), "margin"),
        (("--pad", "-1"), "pad"),
        (("--scan-scale", "9"), "--scan-scale"),
    ],
)
def test_bad_options_are_usage_errors_before_the_bag_is_read(
    tmp_path: Path, args: tuple[str, ...], message: str
) -> None:
    status, _, err = run_cli("anonymise", tmp_path / "missing.mcap", "--out", tmp_path / "o", *args)
    assert status == cli.EXIT_USAGE and message in err
    assert not (tmp_path / "o").exists()


THING = "my_robot_msgs/msg/Thing"


def _pre_iron_bag(path: Path, storage: str) -> tuple[Path, str, list[bytes]]:
    """A bag as ROS 2 Humble records it: an image topic and a topic of a custom message type.

    Written with rosbags (which writes only metadata version 8 and 9), then made what Humble's
    rosbag2 writes: metadata version 5 with no type hashes and, in sqlite3, no definitions (a
    Humble mcap bag keeps the definition in its schema). Returns the bag, the RIHS01 hash of the
    custom type, and its messages' bytes.
    """
    import re
    import sqlite3

    from rosbags.typesys import Stores, get_types_from_msg, get_typestore

    custom = get_typestore(Stores.ROS2_HUMBLE)
    custom.register(get_types_from_msg("int32 count\nstring note", THING))
    things = [
        bytes(custom.serialize_cdr(custom.types[THING](count=i, note="x" * i), THING))
        for i in range(4)
    ]
    frames = moving_frames(2.5, 2.5 + len(things) / RATE)
    assert len(frames) == len(things)
    with Writer(path, version=8, storage_plugin=bs.STORAGES[storage]) as writer:
        image = writer.add_connection(RAW, IMAGE, typestore=store())
        thing = writer.add_connection("/thing", THING, typestore=custom)
        for i, (ns, frame, _) in enumerate(frames):
            writer.write(image, ns, raw_image(ns, frame, "bgr8"))
            writer.write(thing, ns, things[i])
    meta = path / "metadata.yaml"
    # The key's line, and the lines its long value is folded onto.
    text = re.sub(r"(?m)^ *type_description_hash:.*\n(?: +[^ :\n][^:\n]*\n)*", "", meta.read_text())
    meta.write_text(text.replace("version: 8", "version: 5", 1))
    if storage == "sqlite3":
        with contextlib.closing(sqlite3.connect(next(path.glob("*.db3")))) as db:
            db.execute("update topics set type_description_hash = ''")
            db.execute("delete from message_definitions")
            db.commit()
    with Reader(path) as reader:  # what the tools get: no hash; a definition in mcap only
        conn = next(c for c in reader.connections if c.topic == "/thing")
        assert conn.digest == "" and bool(conn.msgdef.data) == (storage == "mcap")
    return path, custom.hash_rihs01(THING), things


@pytest.mark.parametrize("command", ["anonymise", "process"])
def test_pre_iron_custom_type_is_copied_with_its_definition_and_computed_hash(
    tmp_path: Path, command: str
) -> None:
    src, rihs01, things = _pre_iron_bag(tmp_path / "in", "mcap")
    status, out, err = run_cli(command, src, "--out", tmp_path / "out")
    assert status == cli.EXIT_OK, err
    assert "not copied" not in out
    with Reader(tmp_path / "out") as reader:
        conn = next(c for c in reader.connections if c.topic == "/thing")
        assert conn.digest == rihs01 and "string note" in conn.msgdef.data
        copied = [bytes(raw) for c, _, raw in reader.messages() if c.topic == "/thing"]
    assert copied == things


@pytest.mark.parametrize("command", ["anonymise", "process"])
def test_custom_type_without_definition_is_left_out_with_a_warning_and_the_run_goes_on(
    tmp_path: Path, command: str
) -> None:
    src, _, things = _pre_iron_bag(tmp_path / "in", "sqlite3")
    report = tmp_path / "report.json"
    status, out, err = run_cli(command, src, "--out", tmp_path / "out", "--json", report)
    assert status == cli.EXIT_OK, err
    assert "Traceback" not in err
    assert f"warning: topic '/thing' [{THING}] not copied" in out, out
    assert "no definition" in out
    with Reader(tmp_path / "out") as reader:
        topics = {c.topic: c.msgcount for c in reader.connections}
    assert "/thing" not in topics and topics[RAW] == 4
    if command == "anonymise":  # the report counts what was left out
        summary = json.loads(report.read_text())
        assert summary["messages_not_copied"] == len(things)
        assert summary["not_copied"] and "/thing" in summary["not_copied"][0]
