"""face-affect-bag process: the sample bag's results, the output bag, and every failure mode.

Runs the CLI's main() in-process (no ROS graph needed). Failures must exit non-zero with one
line on stderr that names the problem, and leave nothing behind that looks like an output.
"""

from __future__ import annotations

import contextlib
import io
import json
import shutil
from pathlib import Path

import cv2
import numpy as np
import pytest
from bag_helpers import (
    SAMPLE_BAG,
    SAMPLE_FRAMES,
    SAMPLE_TOPIC,
    compare_frames,
    frames_from_jsonl,
    load_expected,
)
from face_affect_ros.bag import make_sample
from face_affect_ros.bag import storage as bs
from face_affect_ros.bag.process import process_bag
from face_affect_ros.cli import bag as cli
from rclpy.serialization import deserialize_message, serialize_message
from rosbags.rosbag2 import Reader, Writer
from sensor_msgs.msg import CompressedImage, Image
from std_msgs.msg import String

from face_affect_msgs.msg import FaceAffectArray


def run_cli(*args: str) -> tuple[int, str, str]:
    out, err = io.StringIO(), io.StringIO()
    with contextlib.redirect_stdout(out), contextlib.redirect_stderr(err):
        status = cli.main([str(a) for a in args])
    return status, out.getvalue(), err.getvalue()


def messages(path: Path) -> dict[str, list[tuple[int, bytes]]]:
    with Reader(path) as reader:
        out: dict[str, list[tuple[int, bytes]]] = {}
        for conn, t, raw in reader.messages():
            out.setdefault(conn.topic, []).append((t, bytes(raw)))
        return out


def write_bag(
    path: Path, topics: dict[str, tuple[str, list[tuple[int, bytes]]]], storage: str = "mcap"
) -> Path:
    """A bag at `path` with raw CDR messages per topic: {topic: (msgtype, [(t, raw), ...])}."""
    with Writer(path, version=9, storage_plugin=bs.STORAGES[storage]) as writer:
        conns = {t: bs.add_connection(writer, t, mt) for t, (mt, _) in topics.items()}
        rows = sorted((t, topic, raw) for topic, (_, ms) in topics.items() for t, raw in ms)
        for t, topic, raw in rows:
            writer.write(conns[topic], t, raw)
    return path


def sample_frames(n: int) -> list[tuple[int, bytes]]:
    return messages(SAMPLE_BAG)[SAMPLE_TOPIC][:n]


def listing(directory: Path) -> set[str]:
    return {p.name for p in directory.iterdir()}


@pytest.fixture(scope="module")
def processed(tmp_path_factory: pytest.TempPathFactory) -> dict:
    tmp = tmp_path_factory.mktemp("processed")
    status, out, err = run_cli(
        "process",
        SAMPLE_BAG,
        "--out",
        tmp / "out",
        "--json",
        tmp / "out.jsonl",
        "--video",
        tmp / "out.mp4",
        "--no-progress",
    )
    return {"dir": tmp, "status": status, "stdout": out, "stderr": err}


def test_every_frame_mode_gives_per_frame_results_without_ids(
    processed: dict, tmp_path: Path
) -> None:
    status, _, err = run_cli(
        "process",
        SAMPLE_BAG,
        "--out",
        tmp_path / "out",
        "--json",
        tmp_path / "stills.jsonl",
        "--every-frame",
        "--no-progress",
    )
    assert status == 0, err
    stills = frames_from_jsonl(tmp_path / "stills.jsonl")
    loop = frames_from_jsonl(processed["dir"] / "out.jsonl")
    assert len(stills) == SAMPLE_FRAMES
    assert all(f["id"] == "" for faces in stills.values() for f in faces)
    assert {f["id"] for faces in loop.values() for f in faces} == {"face_1", "face_2"}
    # Per-frame mode abstains on gender where the loop has accumulated evidence.
    genders = [f["gender"] for faces in stills.values() for f in faces]
    assert "unknown" in genders
    assert "unknown" not in [f["gender"] for faces in loop.values() for f in faces]


def test_sample_bag_matches_stored_expectation(processed: dict) -> None:
    assert processed["status"] == 0, processed["stderr"]
    actual = frames_from_jsonl(processed["dir"] / "out.jsonl")
    expected = load_expected()
    assert len(actual) == len(expected) == SAMPLE_FRAMES
    assert compare_frames(expected, actual) == []
    # The sample is built to exercise one face, two faces and no face.
    counts = {len(f) for f in actual.values()}
    assert counts == {0, 1, 2}


def test_output_bag_has_input_topics_and_results_stamped_like_the_images(processed: dict) -> None:
    out = processed["dir"] / "out"
    assert (out / "metadata.yaml").is_file() and (out / "out.mcap").is_file()
    got = messages(out)
    images = got[SAMPLE_TOPIC]
    assert images == messages(SAMPLE_BAG)[SAMPLE_TOPIC]  # copied byte for byte
    results = got["/face_affect"]
    assert [t for t, _ in results] == [t for t, _ in images]
    for (_, raw_img), (_, raw_res) in zip(images, results, strict=True):
        header = deserialize_message(raw_img, CompressedImage).header
        msg = deserialize_message(raw_res, FaceAffectArray)
        assert msg.header == header
        assert (msg.image_width, msg.image_height) == (640, 480)
        assert list(msg.emotion_labels) == [
            "angry",
            "disgust",
            "fear",
            "happy",
            "sad",
            "surprise",
            "neutral",
        ]


def test_output_bag_carries_the_installed_message_definitions(processed: dict) -> None:
    with Reader(processed["dir"] / "out") as reader:
        conn = next(c for c in reader.connections if c.topic == "/face_affect")
    assert conn.msgtype == "face_affect_msgs/msg/FaceAffectArray"
    assert "MSG: face_affect_msgs/FaceAffect\n" in conn.msgdef.data
    assert "float32[] emotion_scores" in conn.msgdef.data
    # The hash rosidl generated for the built package (what `ros2 bag` would record).
    generated = bs.msgs_dir() / "FaceAffectArray.json"
    if generated.is_file():
        hashes = json.loads(generated.read_text())["type_hashes"]
        wanted = next(
            h["hash_string"]
            for h in hashes
            if h["type_name"] == "face_affect_msgs/msg/FaceAffectArray"
        )
        assert conn.digest == wanted
    else:
        assert conn.digest.startswith("RIHS01_")


def test_summary_table_and_json_lines(processed: dict) -> None:
    table = processed["stdout"]
    for row in (
        "frames              60",
        "bad frames          0",
        "frames with faces",
        "emotion happy",
        "gender woman",
        "pipeline ms median",
        "pipeline ms p95",
    ):
        assert row in table
    lines = (processed["dir"] / "out.jsonl").read_text().splitlines()
    assert len(lines) == SAMPLE_FRAMES
    first = json.loads(lines[0])
    assert first["index"] == 0 and first["width"] == 640 and first["process_ms"] > 0
    assert {"box", "roi", "landmarks", "emotion_scores", "gender_scores"} <= set(first["faces"][0])


def test_annotated_video(processed: dict) -> None:
    cap = cv2.VideoCapture(str(processed["dir"] / "out.mp4"))
    try:
        assert cap.isOpened()
        assert int(cap.get(cv2.CAP_PROP_FRAME_COUNT)) == SAMPLE_FRAMES
        ok, frame = cap.read()
        assert ok and frame.shape == (480, 640, 3)
    finally:
        cap.release()
    # Nothing else was left next to the outputs (no temporary files).
    assert listing(processed["dir"]) == {"out", "out.jsonl", "out.mp4"}


def test_sqlite3_output_and_reprocessing_replaces_results(tmp_path: Path) -> None:
    first = tmp_path / "first"
    status, _, err = run_cli(
        "process", SAMPLE_BAG, "--out", first, "--storage", "sqlite3", "--no-progress"
    )
    assert status == 0, err
    assert (first / "first.db3").is_file()
    # An output bag is valid input: sqlite3 in, sqlite3 out, old /face_affect replaced.
    second = tmp_path / "second.db3"
    status, out, err = run_cli("process", first, "--out", second, "--no-progress")
    assert status == 0, err
    assert "was replaced" in out
    assert second.is_file() and listing(tmp_path) == {"first", "second.db3"}
    got = messages(second)
    assert len(got["/face_affect"]) == len(got[SAMPLE_TOPIC]) == SAMPLE_FRAMES

    # Compared decoded: CDR alignment padding is not zeroed by rclpy, so bytes may differ.
    def decoded(rows: list[tuple[int, bytes]]) -> list[tuple[int, FaceAffectArray]]:
        return [(t, deserialize_message(raw, FaceAffectArray)) for t, raw in rows]

    assert decoded(got["/face_affect"]) == decoded(messages(first)["/face_affect"])


def test_bad_frames_are_counted_not_fatal(tmp_path: Path) -> None:
    frames = sample_frames(8)
    broken = []
    for i, (t, raw) in enumerate(frames):
        if i in (2, 5):  # valid message, JPEG bytes garbage
            msg = deserialize_message(raw, CompressedImage)
            msg.data = bytes(range(200))
            raw = serialize_message(msg)
        elif i == 6:  # the message itself cut short
            raw = raw[:20]
        broken.append((t, raw))
    bag = write_bag(tmp_path / "bad", {SAMPLE_TOPIC: ("sensor_msgs/msg/CompressedImage", broken)})
    status, out, err = run_cli(
        "process", bag, "--out", tmp_path / "out", "--json", tmp_path / "out.jsonl", "--no-progress"
    )
    assert status == 0, err
    assert "bad frames          3" in out
    assert "frame 2: compressed data is neither JPEG nor PNG" in out
    assert "frame 6: undecodable message" in out
    records = [json.loads(x) for x in (tmp_path / "out.jsonl").read_text().splitlines()]
    assert [("error" in r) for r in records] == [i in (2, 5, 6) for i in range(8)]
    assert len(messages(tmp_path / "out")["/face_affect"]) == 5


def test_raw_image_topic_and_topic_choice(tmp_path: Path) -> None:
    raw_frames = []
    for t, raw in sample_frames(3):
        comp = deserialize_message(raw, CompressedImage)
        bgr = cv2.imdecode(np.frombuffer(bytes(comp.data), np.uint8), cv2.IMREAD_COLOR)
        img = Image(header=comp.header, height=480, width=640, encoding="bgr8", step=640 * 3)
        img.data = bgr.tobytes()
        raw_frames.append((t, serialize_message(img)))
    bag = write_bag(
        tmp_path / "two",
        {
            "/cam/image_raw": ("sensor_msgs/msg/Image", raw_frames),
            SAMPLE_TOPIC: ("sensor_msgs/msg/CompressedImage", sample_frames(3)),
        },
    )
    status, out, err = run_cli(
        "process", bag, "--out", tmp_path / "out", "--topic", "/cam/image_raw", "--no-progress"
    )
    assert status == 0, err
    assert "(/cam/image_raw, Image)" in out
    got = messages(tmp_path / "out")
    assert len(got["/face_affect"]) == 3 and len(got[SAMPLE_TOPIC]) == 3


def _truncated(tmp: Path) -> list[str]:
    path = tmp / "truncated.mcap"
    data = SAMPLE_BAG.read_bytes()
    path.write_bytes(data[: len(data) // 2])
    return [str(path)]


def _corrupt_db3(tmp: Path) -> list[str]:
    bag = write_bag(
        tmp / "corrupt",
        {SAMPLE_TOPIC: ("sensor_msgs/msg/CompressedImage", sample_frames(4))},
        storage="sqlite3",
    )
    db = bag / "corrupt.db3"
    db.write_bytes(
        bytes(np.random.default_rng(0).integers(0, 256, db.stat().st_size, dtype=np.uint8))
    )
    return [str(bag)]


def _no_image_topic(tmp: Path) -> list[str]:
    chat = [(i, serialize_message(String(data=f"hello {i}"))) for i in range(3)]
    return [str(write_bag(tmp / "chat", {"/chatter": ("std_msgs/msg/String", chat)}))]


def _two_image_topics(tmp: Path) -> list[str]:
    frames = sample_frames(2)
    return [
        str(
            write_bag(
                tmp / "two",
                {
                    "/left/image/compressed": ("sensor_msgs/msg/CompressedImage", frames),
                    "/right/image/compressed": ("sensor_msgs/msg/CompressedImage", frames),
                },
            )
        )
    ]


def _unknown_storage(tmp: Path) -> list[str]:
    bag = tmp / "weird"
    shutil.copytree(
        write_bag(
            tmp / "src", {SAMPLE_TOPIC: ("sensor_msgs/msg/CompressedImage", sample_frames(2))}
        ),
        bag,
    )
    shutil.rmtree(tmp / "src")
    meta = bag / "metadata.yaml"
    meta.write_text(
        meta.read_text().replace("storage_identifier: mcap", "storage_identifier: rosbag_v2")
    )
    return [str(bag)]


def _ros1_bag(tmp: Path) -> list[str]:
    path = tmp / "old.bag"
    path.write_bytes(b"#ROSBAG V2.0\n" + bytes(100))
    return [str(path)]


def _unknown_output_storage(tmp: Path) -> list[str]:
    return [str(SAMPLE_BAG), "--storage", "hdf5"]


def _missing_input(tmp: Path) -> list[str]:
    return [str(tmp / "nothing_here.mcap")]


def _unknown_topic(tmp: Path) -> list[str]:
    return [str(SAMPLE_BAG), "--topic", "/camera/depth"]


def _bad_video_suffix(tmp: Path) -> list[str]:
    return [str(SAMPLE_BAG), "--video", str(tmp / "out.gif")]


@pytest.mark.parametrize(
    ("make", "message"),
    [
        (_truncated, "corrupt or truncated bag"),
        (_corrupt_db3, "corrupt or truncated bag"),
        (
            _no_image_topic,
            "no image topic (sensor_msgs/Image or CompressedImage); topics: "
            "/chatter [std_msgs/msg/String]",
        ),
        (
            _two_image_topics,
            "several image topics, choose one with --topic: "
            "/left/image/compressed [sensor_msgs/msg/CompressedImage], "
            "/right/image/compressed",
        ),
        (_unknown_storage, "unknown storage format 'rosbag_v2' (supported: mcap, sqlite3)"),
        (_ros1_bag, "unknown storage format '.bag'"),
        (_unknown_output_storage, "unknown storage format 'hdf5' (supported: mcap, sqlite3)"),
        (_missing_input, "no such bag"),
        (_unknown_topic, "no topic '/camera/depth' (topics: /camera/image_raw/compressed"),
        (_bad_video_suffix, "unsupported video format '.gif'"),
    ],
    ids=lambda v: getattr(v, "__name__", "")[1:] or None,
)
def test_errors_are_one_line_and_leave_no_output(tmp_path: Path, make, message: str) -> None:
    args = make(tmp_path)
    before = listing(tmp_path)
    status, out, err = run_cli(
        "process",
        *args,
        "--out",
        tmp_path / "out",
        "--json",
        tmp_path / "out.jsonl",
        "--no-progress",
    )
    assert status == 1
    assert out == ""
    assert err.count("\n") == 1 and err.startswith("face-affect-bag: error: "), err
    assert message in err
    assert listing(tmp_path) == before


def test_existing_output_needs_force(tmp_path: Path) -> None:
    bag = write_bag(
        tmp_path / "in", {SAMPLE_TOPIC: ("sensor_msgs/msg/CompressedImage", sample_frames(2))}
    )
    (tmp_path / "out").mkdir()
    (tmp_path / "out" / "keep.txt").write_text("mine")
    status, _, err = run_cli("process", bag, "--out", tmp_path / "out", "--no-progress")
    assert status == 1 and "out exists; remove it or pass --force" in err
    assert (tmp_path / "out" / "keep.txt").is_file()
    status, _, err = run_cli("process", bag, "--out", tmp_path / "out", "--force", "--no-progress")
    assert status == 0, err
    assert listing(tmp_path / "out") == {"metadata.yaml", "out.mcap"}
    assert listing(tmp_path) == {"in", "out"}


class _FailingPipeline:
    """Fails on the 4th frame, like a crash or Ctrl-C halfway through a long bag."""

    def __init__(self, exc: BaseException) -> None:
        from face_affect_ros.core.pipeline import FaceAffectPipeline

        self._real = FaceAffectPipeline()
        self._exc = exc
        self.calls = 0

    def process(self, image: np.ndarray):
        self.calls += 1
        if self.calls == 4:
            raise self._exc
        return self._real.process(image)


@pytest.mark.parametrize("exc", [RuntimeError("boom"), KeyboardInterrupt()])
def test_failure_midway_leaves_no_partial_output(tmp_path: Path, exc: BaseException) -> None:
    bag = write_bag(
        tmp_path / "in", {SAMPLE_TOPIC: ("sensor_msgs/msg/CompressedImage", sample_frames(6))}
    )
    with pytest.raises(type(exc)):
        process_bag(
            bag,
            tmp_path / "out",
            _FailingPipeline(exc),
            json_path=tmp_path / "o.jsonl",
            video_path=tmp_path / "o.mp4",
        )
    assert listing(tmp_path) == {"in"}


def test_sample_bag_is_what_make_sample_builds(tmp_path: Path) -> None:
    """The shipped sample is reproducible: rebuilding its first frames gives the same bytes."""
    out = tmp_path / "sample.mcap"
    assert make_sample.main(["--out", str(out), "--frames", "6"]) == 0
    rebuilt = messages(out)[SAMPLE_TOPIC]
    assert rebuilt == sample_frames(6)
    with Reader(SAMPLE_BAG) as reader:
        assert reader.message_count == SAMPLE_FRAMES
        # rosbags counts the duration inclusively (last - first + 1 ns).
        assert reader.duration == (SAMPLE_FRAMES - 1) * (10**9 // make_sample.RATE_HZ) + 1
    assert SAMPLE_BAG.stat().st_size < 4_000_000


def test_hostile_frames_in_a_bag_are_refused_and_counted(tmp_path: Path) -> None:
    # Issue 13: decompression bombs, a lying header and BMP payloads inside a real bag; every
    # one is refused before decoding and counted, the good frames between them are processed,
    # and the report stays bounded (examples, not one line per bad frame).
    import hostile_inputs as hostile

    payloads = [
        hostile.png_idat_length(0xFFFFFFFF),
        hostile.jpeg_lying_sof(30000, 30000),
        hostile.png_raw(20000, 20000, bytes(100)),
        hostile.bmp(hostile.smooth_image(64, 48)),
    ] * 3
    frames = sample_frames(len(payloads) + 2)
    mixed = []
    for i, (t, raw) in enumerate(frames):
        if 0 < i <= len(payloads):
            msg = deserialize_message(raw, CompressedImage)
            msg.data = payloads[i - 1]
            raw = serialize_message(msg)
        mixed.append((t, raw))
    bag = write_bag(
        tmp_path / "hostile", {SAMPLE_TOPIC: ("sensor_msgs/msg/CompressedImage", mixed)}
    )
    status, out, err = run_cli("process", bag, "--out", tmp_path / "out", "--no-progress")
    assert status == 0, err
    assert f"bad frames          {len(payloads)}" in out
    assert "IDAT claims 4294967295 bytes" in out and "neither JPEG nor PNG" in out
    assert len(out.splitlines()) < 40
    assert len(messages(tmp_path / "out")["/face_affect"]) == 2


#: Python packages of a ROS installation: none may be importable for `face-affect-bag process`.
ROS_MODULES = (
    "rclpy",
    "rcl_interfaces",
    "rosidl_runtime_py",
    "builtin_interfaces",
    "std_msgs",
    "sensor_msgs",
    "diagnostic_msgs",
    "lifecycle_msgs",
    "face_affect_msgs",
)

_BLOCKED_RUN = """
import importlib.abc, sys
BLOCKED = set(sys.argv[1].split(","))
class Block(importlib.abc.MetaPathFinder):
    def find_spec(self, name, path=None, target=None):
        if name.split(".")[0] in BLOCKED:
            raise ImportError(f"{name} is blocked (no ROS here)")
        return None
sys.meta_path.insert(0, Block())
from face_affect_ros.cli import bag
status = bag.main(sys.argv[2:])
loaded = sorted(m for m in sys.modules if m.split(".")[0] in BLOCKED)
print("LOADED", ",".join(loaded))
sys.exit(status)
"""


def test_process_runs_without_ros_installed(tmp_path: Path) -> None:
    import subprocess
    import sys

    proc = subprocess.run(
        [
            sys.executable,
            "-c",
            _BLOCKED_RUN,
            ",".join(ROS_MODULES),
            "process",
            str(SAMPLE_BAG),
            "--out",
            str(tmp_path / "out"),
            "--json",
            str(tmp_path / "out.jsonl"),
            "--no-progress",
        ],
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert proc.returncode == 0, proc.stderr[-3000:]
    assert "LOADED \n" in proc.stdout, proc.stdout  # nothing of ROS was imported
    # Same results as with ROS importable (and as the stored expectation).
    assert compare_frames(load_expected(), frames_from_jsonl(tmp_path / "out.jsonl")) == []
    # The results bag it wrote reads back with rclpy as FaceAffectArray messages.
    rows = messages(tmp_path / "out")["/face_affect"]
    assert len(rows) == SAMPLE_FRAMES
    first = deserialize_message(rows[0][1], FaceAffectArray)
    assert list(first.gender_labels) == ["woman", "man"] and len(first.faces) == 1


def test_seed_gender_model_and_age_run_end_to_end(tmp_path: Path) -> None:
    # The seed gender model stays selectable; age adds its three fields to every face.
    out, jsonl = tmp_path / "seed.mcap", tmp_path / "seed.jsonl"
    status, _, err = run_cli(
        "process", str(SAMPLE_BAG), "--out", str(out), "--json", str(jsonl),
        "--gender-model", "gender_mini_xception", "--age", "--no-progress",
    )  # fmt: skip
    assert status == 0, err
    records = [json.loads(line) for line in jsonl.read_text().splitlines()]
    faces = [f for r in records for f in r["faces"]]
    assert faces and all({"age_years", "age_spread", "minor_probability"} <= set(f) for f in faces)
    # The astronaut (first 20 frames) is an adult woman to both the seed model and the age model.
    astronaut = [f for r in records[:20] for f in r["faces"]]
    assert sum(f["gender"] == "woman" for f in astronaut) >= 18
    assert all(20 < f["age_years"] < 45 and f["minor_probability"] < 0.05 for f in astronaut)
    msgs = messages(out)["/face_affect"]
    first = deserialize_message(msgs[0][1], FaceAffectArray).faces[0]
    assert first.age_years == pytest.approx(astronaut[0]["age_years"], abs=1e-4)
