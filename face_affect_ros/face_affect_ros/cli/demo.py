"""``face-affect-demo`` (``make demo``): the whole ROS path on a moving camera sequence.

What it shows: ``face_affect_node`` starts as its own process with its default parameters (the
perception loop over time, as on a robot), a camera stream is replayed into it over DDS exactly
as a camera driver would publish, and every FaceAffectArray it publishes is printed as one live
line. The default stream is the moving sequence of :mod:`face_affect_ros.bag.make_moving`
(18 s at 30 Hz, built from the pictures the repository ships on the first run, with its ground
truth): faces that move, walk away to 20 px and enter far away at 24 px, a cat, an expression
change. At the end the annotated frames are written as a video, one annotated frame as a PNG and
the results as JSON lines to ``out/demo/``, and a summary is printed: for the moving sequence,
scored against its ground truth (faces found, far faces, the cat, id switches, labels settling).
The node is stopped with SIGINT like Ctrl-C. ``--bag`` replays another bag (e.g. the bundled
slideshow ``sample/face_affect_sample.mcap``).

The environment the node needs is set up here so that it works on a fresh clone after
``make setup``: Fast DDS with the package's large shared-memory profile (camera frames cross
processes), a random ROS_DOMAIN_ID and localhost-only discovery, each unless already set, so the
demo never talks to a robot on the network by accident.
"""

from __future__ import annotations

import argparse
import json
import os
import signal
import statistics
import subprocess
import sys
import threading
import time
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from face_affect_ros import ros_env

PROG = "face-affect-demo"
PACKAGE = "face_affect_ros"
# face_affect_ros/face_affect_ros/cli/demo.py -> face_affect_ros/, the ament package directory of
# a source checkout (it holds config/, sample/ and the face_affect_ros Python package).
_SOURCE_PACKAGE_DIR = Path(__file__).resolve().parents[2]

#: The sample bag, in the package's sample/ directory (source tree or installed share).
SAMPLE_BAG = "face_affect_sample.mcap"
#: The moving sequence, built into the output directory on first use (with its ground truth).
MOVING_BAG = "moving_sequence.mcap"
#: What a user should look at, printed before the replay of the moving sequence.
WHAT_TO_WATCH = """\
what to watch (live lines below, the video and the summary at the end):
  - each face keeps its id (face_1, face_2, ...) while it moves, shrinks and turns
  - labels settle: emotion is smoothed over 0.3 s, gender firms up (unknown -> woman / man)
    as a track is seen longer
  - the astronaut walks away to 20 px and is still followed; a stranger enters far away at
    24 px (from 9.5 s) and is found by the full-frame scan
  - the cat (from 11 s) gets no face: the verifier refuses it
  - the astronaut comes back and her expression changes at 15 s"""
FASTDDS_PROFILE = "fastdds_large_shm.xml"
DEFAULT_OUT = Path("out") / "demo"
#: Seconds to wait for the node to come up (loading three ONNX models on a busy CPU).
NODE_START_TIMEOUT_S = 60.0
#: After the last frame, stop waiting for results when none arrived for this long.
RESULT_IDLE_S = 2.0
#: ... or at the latest after this long.
RESULT_WAIT_MAX_S = 15.0
#: Seconds to wait for a /diagnostics message of the node from after the last frame (1 Hz).
DIAGNOSTICS_WAIT_S = 1.5
#: Node counters shown in the summary (diagnostics keys); error_* counters are added when present.
COUNTER_KEYS = ("received", "processed", "dropped_middleware", "dropped_stale", "dropped_rate")
#: Seconds the node gets to exit after SIGINT before SIGTERM, and again before SIGKILL.
NODE_STOP_TIMEOUT_S = 10.0


def package_file(subdir: str, name: str) -> Path:
    """Find a file shipped with the package: source tree first, then the installed share dir.

    Raises:
        FileNotFoundError: it is in neither place; the message lists where it looked.
    """
    from face_affect_ros.core.paths import find_package_path

    found, tried = find_package_path(
        PACKAGE, subdir, _SOURCE_PACKAGE_DIR / subdir, lambda d: (d / name).is_file()
    )
    if found is None:
        raise FileNotFoundError(f"{subdir}/{name} not found; looked in: " + ", ".join(tried))
    return found / name


def ros_environment(base: dict[str, str] | None = None) -> dict[str, str]:
    """Return the environment for the demo's ROS processes (see the module docstring).

    Variables already set are kept, so a developer can point the demo at another domain or
    middleware; PYTHONPATH gets the directory holding this package so that the node starts from
    a source checkout too.
    """
    env = dict(os.environ if base is None else base)
    env.setdefault("RMW_IMPLEMENTATION", "rmw_fastrtps_cpp")
    # Under the name the installed Fast DDS reads (Jazzy: FASTRTPS_..., Kilted: FASTDDS_...).
    ros_env.set_profile(env, package_file("config", FASTDDS_PROFILE), keep_existing=True)
    # 1..232: clear of 0 (what a robot's own graph uses), within what Fast DDS accepts.
    env.setdefault("ROS_DOMAIN_ID", str(ros_env.random_domain_id()))
    env.setdefault("ROS_AUTOMATIC_DISCOVERY_RANGE", "LOCALHOST")
    paths = [p for p in env.get("PYTHONPATH", "").split(os.pathsep) if p]
    if (_SOURCE_PACKAGE_DIR / PACKAGE / "__init__.py").is_file():
        paths.insert(0, str(_SOURCE_PACKAGE_DIR))
    if paths:
        env["PYTHONPATH"] = os.pathsep.join(dict.fromkeys(paths))
    env.setdefault("PYTHONUNBUFFERED", "1")
    return env


def node_command(image_topic: str, image_type: str, *extra_ros_args: str) -> list[str]:
    """Return the command line that starts face_affect_node on `image_topic`.

    A CompressedImage topic is subscribed with ``input_transport:=compressed``; the node's
    relative topic (``image`` or ``image/compressed``) is remapped to the bag's topic.
    """
    compressed = image_type.endswith("/CompressedImage")
    own = "image/compressed" if compressed else "image"
    return [
        sys.executable,
        "-m",
        "face_affect_ros.nodes.face_affect_node",
        "--ros-args",
        "-p",
        f"input_transport:={'compressed' if compressed else 'raw'}",
        "-r",
        f"{own}:={image_topic}",
        *extra_ros_args,
    ]


def stop_process(proc: subprocess.Popen, timeout: float = NODE_STOP_TIMEOUT_S) -> int:
    """Stop a ROS process like Ctrl-C would (SIGINT), escalating if it hangs; return its status."""
    if proc.poll() is None:
        for sig in (signal.SIGINT, signal.SIGTERM):
            proc.send_signal(sig)
            try:
                return proc.wait(timeout)
            except subprocess.TimeoutExpired:
                continue
        proc.kill()
    return proc.wait()


def msg_record(msg: Any, index: int | None, latency_ms: float | None) -> dict[str, Any]:
    """Return the JSON form of one received FaceAffectArray (one line of the demo's .jsonl).

    A face_affect/v1 record (:mod:`face_affect_ros.schema.results`) like the other tools'; the
    message carries the clamped ``roi``, so ``box`` is the roi too.
    """
    from face_affect_ros.nodes.messages import frame_result_from_msg, stamp_ns
    from face_affect_ros.schema.results import frame_to_dict

    return frame_to_dict(
        frame_result_from_msg(msg),
        index=index,
        stamp_ns=stamp_ns(msg.header),
        frame_id=msg.header.frame_id,
        latency_ms=None if latency_ms is None else round(latency_ms, 3),
    )


def live_line(t: float, index: int | None, msg: Any, latency_ms: float | None) -> str:
    """Return the compact line printed for each result: time, frame, faces and their labels."""
    frame = f"#{index:<3d}" if index is not None else "#?  "
    faces = "  ".join(
        f"[{f.emotion} {f.emotion_confidence:.2f} | {f.gender} {f.gender_confidence:.2f}]"
        for f in msg.faces
    )
    lat = f"{latency_ms:5.0f} ms" if latency_ms is not None else "    ? ms"
    return f"{t:6.2f}s {frame} {lat}  faces={len(msg.faces)}  {faces or '-'}"


@dataclass
class _Collected:
    """What the demo saw: published frames (raw CDR by stamp) and received results."""

    published: dict[int, tuple[int, bytes, float]] = field(default_factory=dict)  # stamp->(i,..)
    results: dict[int, Any] = field(default_factory=dict)  # stamp -> FaceAffectArray
    latencies_ms: dict[int, float] = field(default_factory=dict)  # stamp -> ms
    lock: threading.Lock = field(default_factory=threading.Lock)
    last_result: float = 0.0
    first_stamp: int | None = None
    last_publish_wall: float = 0.0  # time.time() of the last frame published
    node_counters: dict[str, str] = field(default_factory=dict)  # from the node's /diagnostics
    counters_wall: float = 0.0  # stamp of those diagnostics (seconds, system clock)


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog=PROG, description=__doc__.split("\n\n")[0])
    parser.add_argument(
        "--bag",
        type=Path,
        help="bag to replay (default: the moving sequence, built from the shipped pictures)",
    )
    parser.add_argument(
        "--seconds",
        type=float,
        default=None,
        help="length of the moving sequence in seconds (default: all 18 s)",
    )
    parser.add_argument("--out", type=Path, default=DEFAULT_OUT, help="output directory")
    parser.add_argument("--rate", type=float, default=1.0, help="replay speed factor")
    parser.add_argument("--topic", help="image topic (when the bag has several)")
    parser.add_argument(
        "--layout",
        choices=("single", "split"),
        default="single",
        help="face_affect_node alone (default), or camera_node -> detector_node -> "
        "classifier_node as `layout:=split` launches them",
    )
    parser.add_argument("--no-video", action="store_true", help="do not write the video")
    parser.add_argument("--quiet", action="store_true", help="no live line per result")
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    """Entry point of ``face-affect-demo``; returns the exit status (0 when results arrived)."""
    args = _parser().parse_args(argv)
    if not args.rate > 0:
        print(f"{PROG}: error: --rate must be > 0", file=sys.stderr)
        return 2
    if args.seconds is not None and not 0 < args.seconds <= 18.0:
        print(f"{PROG}: error: --seconds must be in (0, 18]", file=sys.stderr)
        return 2
    try:
        env = ros_environment()
    except FileNotFoundError as exc:
        print(f"{PROG}: error: {exc}", file=sys.stderr)
        return 1
    # This process joins the same graph: set the variables before rclpy loads the middleware.
    os.environ.update(env)
    from face_affect_ros.bag.storage import BagError

    try:
        return _run(args, env)
    except BagError as exc:
        print(f"{PROG}: error: {exc}", file=sys.stderr)
        return 1


def _run(args: argparse.Namespace, env: dict[str, str]) -> int:
    import rclpy
    from diagnostic_msgs.msg import DiagnosticArray
    from rclpy.executors import SingleThreadedExecutor
    from rclpy.qos import QoSProfile, ReliabilityPolicy
    from rclpy.signals import SignalHandlerOptions

    from face_affect_msgs.msg import FaceAffectArray
    from face_affect_ros.bag import storage as bs
    from face_affect_ros.bag.play import BagPlayer, PlayOptions

    out: Path = args.out
    out.mkdir(parents=True, exist_ok=True)
    truth = None
    if args.bag is None:
        bag, truth = moving_bag(out, args.seconds)
    else:
        bag = args.bag
        # A moving sequence written by bag/make_moving.py has its ground truth beside it.
        beside = Path(bag).with_suffix(".json")
        if Path(bag).suffix == ".mcap" and beside.is_file():
            truth = beside
    with bs.open_bag(bag) as reader:
        image = bs.choose_image_topic(reader.connections, bag, args.topic)
    node_log = out / "node.log"
    commands = layout_commands(args.layout, image.topic, image.msgtype)
    names = ", ".join(c[2].rsplit(".", 1)[-1] for c in commands)
    print(
        f"ROS_DOMAIN_ID={env['ROS_DOMAIN_ID']} {env['RMW_IMPLEMENTATION']}; "
        f"starting {names} on {image.topic} (log: {node_log})",
        flush=True,
    )

    stop = threading.Event()
    previous = {s: signal.signal(s, lambda *_: stop.set()) for s in (signal.SIGINT, signal.SIGTERM)}
    with node_log.open("w") as log:
        procs = [
            subprocess.Popen(
                # The nodes as a robot runs them: default parameters, the perception loop on.
                command,
                env=env,
                stdout=log,
                stderr=subprocess.STDOUT,
                stdin=subprocess.DEVNULL,
                # Own process group: a Ctrl-C in the terminal reaches only the demo, which then
                # stops the nodes itself in order.
                start_new_session=True,
            )
            for command in commands
        ]
    rclpy.init(signal_handler_options=SignalHandlerOptions.NO)
    node = rclpy.create_node("face_affect_demo")
    executor = SingleThreadedExecutor()
    executor.add_node(node)
    spinner = threading.Thread(target=executor.spin, name="demo_spin", daemon=True)
    seen = _Collected()
    t_start = time.monotonic()

    def on_result(msg: FaceAffectArray) -> None:
        now = time.monotonic()
        stamp = msg.header.stamp.sec * 1_000_000_000 + msg.header.stamp.nanosec
        with seen.lock:
            pub = seen.published.get(stamp)
            latency = (now - pub[2]) * 1e3 if pub is not None else None
            if latency is not None:
                seen.latencies_ms[stamp] = latency
            seen.results[stamp] = msg
            seen.last_result = now
            first = seen.first_stamp if seen.first_stamp is not None else stamp
        if not args.quiet:
            index = pub[0] if pub is not None else None
            print(live_line((stamp - first) / 1e9, index, msg, latency), flush=True)

    def on_diagnostics(msg: DiagnosticArray) -> None:
        for status in msg.status:
            # The node that takes the camera's frames has the input counters.
            if status.name.startswith(("/face_affect_node", "/camera_node")):
                values = {kv.key: kv.value for kv in status.values}
                wall = msg.header.stamp.sec + msg.header.stamp.nanosec * 1e-9
                with seen.lock:
                    seen.node_counters, seen.counters_wall = values, wall

    def on_publish(conn: Any, timestamp: int, raw: bytes) -> None:
        if conn.id != image.id:
            return
        from rclpy.serialization import deserialize_message

        from face_affect_ros.bag.play import message_class

        header = deserialize_message(raw, message_class(image.msgtype)).header
        stamp = header.stamp.sec * 1_000_000_000 + header.stamp.nanosec
        with seen.lock:
            if seen.first_stamp is None:
                seen.first_stamp = stamp
            seen.published[stamp] = (len(seen.published), raw, time.monotonic())
            seen.last_publish_wall = time.time()

    node.create_subscription(
        FaceAffectArray,
        "/face_affect",
        on_result,
        QoSProfile(depth=100, reliability=ReliabilityPolicy.RELIABLE),
    )
    node.create_subscription(DiagnosticArray, "/diagnostics", on_diagnostics, 10)
    spinner.start()
    status = 1
    try:
        if not _wait_for_node(node, procs, stop, node_log, split=args.layout == "split"):
            return 130 if stop.is_set() else 1
        print(f"node up after {time.monotonic() - t_start:.1f} s; replaying {bag}", flush=True)
        if truth is not None:
            print(WHAT_TO_WATCH, flush=True)
        options = PlayOptions(
            rate=args.rate,
            topics=(image.topic,),
            wait_for_subscribers=1,
            wait_timeout=NODE_START_TIMEOUT_S,
        )
        with BagPlayer(node, bag, options) as player:
            stats = player.play(stop, on_publish)
        _wait_for_results(seen, stop)
        _wait_for_counters(seen, stop)
        status = 130 if stop.is_set() else (0 if seen.results else 1)
    finally:
        codes = [stop_process(p) for p in procs]
        code = next((c for c in codes if c != 0), 0)
        executor.shutdown()
        node.destroy_node()
        rclpy.try_shutdown()
        spinner.join(timeout=5)
        for sig, handler in previous.items():
            signal.signal(sig, handler)
    if stop.is_set():
        print(f"{PROG}: interrupted", file=sys.stderr)
        return 130
    files = _write_outputs(seen, image.msgtype, out, not args.no_video)
    print(_summary(seen, stats.total, code, files))
    if truth is not None:
        try:
            print(_scored(seen, truth))
        except (OSError, ValueError, KeyError, TypeError) as exc:
            print(f"(not scored: {truth} is not a moving-sequence ground truth: {exc})")
    if not seen.results:
        print(f"{PROG}: error: no result from the node (see {node_log})", file=sys.stderr)
    return status


def moving_bag(out: Path, seconds: float | None) -> tuple[Path, Path]:
    """The moving sequence bag and its ground truth in `out`, built unless already there."""
    from face_affect_ros.bag import make_moving as mm

    seconds = mm.FACE_SECONDS if seconds is None else seconds
    if not 0 < seconds <= mm.FACE_SECONDS:
        raise ValueError(f"--seconds must be in (0, {mm.FACE_SECONDS:g}], got {seconds:g}")
    bag = out / MOVING_BAG
    truth = bag.with_suffix(".json")
    frames = round(seconds * mm.RATE_HZ)
    if bag.exists() and truth.exists():
        try:
            if len(json.loads(truth.read_text())["frames"]) == frames:
                return bag, truth
        except (OSError, ValueError, KeyError):
            pass  # unreadable: build it again
    print(f"building the moving sequence ({seconds:g} s at {mm.RATE_HZ} Hz) in {bag}", flush=True)
    return bag, mm.build(bag, seconds, force=True)


def _scored(seen: _Collected, truth_path: Path) -> str:
    """The node's results scored against the moving sequence's ground truth."""
    from face_affect_ros.bag import make_moving as mm
    from face_affect_ros.bag.sequence_metrics import MATCH_IOU, SequenceScore
    from face_affect_ros.core.tracking import box_iou
    from face_affect_ros.nodes.messages import frame_result_from_msg

    doc = json.loads(truth_path.read_text())
    score = SequenceScore(
        still_spans=mm.STILL_SPANS, change=("astronaut#2", mm.EXPRESSION_CHANGE_S)
    )
    far = [0, 0]  # frames with a far face (< 30 px) visible for 0.5 s, of them found
    first_seen: dict[str, float] = {}
    on_cat = 0
    scored = 0
    for frame in doc["frames"]:
        t, truth = frame["t"], frame["truth"]
        for g in truth:
            first_seen.setdefault(g["id"], t)
        msg = seen.results.get(frame["stamp_ns"])
        if msg is None:
            continue  # a frame the node skipped (counted in the node's counters)
        scored += 1
        faces = frame_result_from_msg(msg).faces
        score.add(t, truth, faces)
        for g in truth:
            overlap = max((box_iou(g["box"], f.detection.box) for f in faces), default=0.0)
            if g["kind"] == "nonface":
                on_cat += overlap >= MATCH_IOU
            elif g["box"][2] < 30 and t - first_seen[g["id"]] >= 0.5:
                far[0] += 1
                far[1] += overlap >= MATCH_IOU
    pct = lambda a, b: f"{100.0 * a / b:.1f} %" if b else "-"  # noqa: E731
    return "\n".join(
        [
            "",
            f"scored against the moving sequence's ground truth ({scored} of "
            f"{len(doc['frames'])} frames had a result)",
            f"  faces found         {pct(score.hits, score.eligible)} of faces >= 20 px "
            "(from 0.5 s after they appear)",
            f"  far faces < 30 px   found in {pct(far[1], far[0])} of their frames",
            f"  faces on the cat    {on_cat} frame(s)",
            f"  false tracks        {score.false_tracks}",
            f"  id switches         {score.id_switches}",
            f"  gender decided      {pct(score.gender_decided, score.gender_frames)} of frames "
            f"1 s after a face is first found (correct: "
            f"{pct(score.gender_correct, score.gender_frames)})",
            f"  emotion flicker     {score.flicker:.2f} label changes/s on still faces",
            "  expression change   "
            + (
                f"label changed {score.expression_delay:.2f} s after it"
                if score.expression_delay is not None
                else "not seen"
            ),
        ]
    )


def layout_commands(layout: str, image_topic: str, image_type: str) -> list[list[str]]:
    """Command lines of the nodes of `layout` on `image_topic`, as the launch file starts them."""
    if layout == "single":
        return [node_command(image_topic, image_type)]
    from face_affect_ros import bringup

    compressed = image_type.endswith("/CompressedImage")
    specs = bringup.node_specs(
        layout=layout,
        camera_topic=image_topic.removesuffix("/compressed") if compressed else image_topic,
        image_transport="compressed" if compressed else "raw",
    )
    return [spec.command() for spec in specs]


def _wait_for_node(
    node: Any,
    procs: list[subprocess.Popen],
    stop: threading.Event,
    log: Path,
    split: bool = False,
) -> bool:
    """Wait until the nodes' result publishers are discovered (they exist once configured)."""
    deadline = time.monotonic() + NODE_START_TIMEOUT_S
    while not stop.is_set():
        if node.count_publishers("/face_affect") > 0 and (
            not split or node.count_publishers("/face_affect/detections") > 0
        ):
            return True
        exited = next((p for p in procs if p.poll() is not None), None)
        if exited is not None:
            tail = log.read_text(errors="replace").strip().splitlines()[-1:] or ["(no output)"]
            print(
                f"{PROG}: error: a node exited ({exited.returncode}): {tail[0]}",
                file=sys.stderr,
            )
            return False
        if time.monotonic() > deadline:
            print(
                f"{PROG}: error: the nodes were not discovered after {NODE_START_TIMEOUT_S:g} s",
                file=sys.stderr,
            )
            return False
        stop.wait(0.05)
    return False


def _wait_for_results(seen: _Collected, stop: threading.Event) -> None:
    """Wait for the results of the last frames: all of them, or until none came for a while."""
    deadline = time.monotonic() + RESULT_WAIT_MAX_S
    start = time.monotonic()
    while not stop.is_set() and time.monotonic() < deadline:
        with seen.lock:
            done = set(seen.published) <= set(seen.results)
            idle = time.monotonic() - max(seen.last_result, start)
        if done or idle > RESULT_IDLE_S:
            return
        stop.wait(0.05)


def _wait_for_counters(seen: _Collected, stop: threading.Event) -> None:
    """Wait briefly for the node's diagnostics to cover the last frame (they come at 1 Hz)."""
    deadline = time.monotonic() + DIAGNOSTICS_WAIT_S
    while not stop.is_set() and time.monotonic() < deadline:
        with seen.lock:
            if seen.counters_wall > seen.last_publish_wall:
                return
        stop.wait(0.05)


def _write_outputs(seen: _Collected, image_type: str, out: Path, video: bool) -> list[Path]:
    import cv2
    from rclpy.serialization import deserialize_message

    from face_affect_ros.bag.play import message_class
    from face_affect_ros.bag.process import VIDEO_CODECS
    from face_affect_ros.core.draw import draw_results
    from face_affect_ros.core.image_io import DEFAULT_MAX_PIXELS, ImageDecodeError
    from face_affect_ros.nodes.messages import frame_result_from_msg, image_from_msg

    written = []
    jsonl = out / "face_affect_demo.jsonl"
    with jsonl.open("w", encoding="utf-8") as fh:
        for stamp, msg in sorted(seen.results.items()):
            pub = seen.published.get(stamp)
            latency = seen.latencies_ms.get(stamp)
            fh.write(json.dumps(msg_record(msg, pub[0] if pub else None, latency)) + "\n")
    written.append(jsonl)
    if not video or not seen.published:
        return written
    path = out / "face_affect_demo.mp4"
    writer = None
    fps = 15.0
    stamps = sorted(seen.published)
    if len(stamps) > 1 and stamps[-1] > stamps[0]:
        fps = min(max((len(stamps) - 1) / ((stamps[-1] - stamps[0]) / 1e9), 1.0), 120.0)
    best: tuple[int, Any] | None = None  # (faces, annotated frame) for the PNG
    try:
        for stamp in stamps:
            msg = deserialize_message(seen.published[stamp][1], message_class(image_type))
            try:
                frame = image_from_msg(msg, DEFAULT_MAX_PIXELS)
            except ImageDecodeError:
                continue
            result = seen.results.get(stamp)
            if result is not None:
                frame = draw_results(frame, frame_result_from_msg(result))
                if best is None or len(result.faces) >= best[0]:
                    best = (len(result.faces), frame)
            elif frame.ndim == 2:
                frame = cv2.cvtColor(frame, cv2.COLOR_GRAY2BGR)
            if writer is None:
                size = (frame.shape[1], frame.shape[0])
                fourcc = cv2.VideoWriter_fourcc(*VIDEO_CODECS[".mp4"])
                writer = cv2.VideoWriter(str(path), fourcc, fps, size)
            writer.write(frame)
    finally:
        if writer is not None:
            writer.release()
            written.append(path)
    if best is not None:
        # The last frame with the most faces: what the README shows.
        png = out / "face_affect_demo.png"
        if cv2.imwrite(str(png), best[1]):
            written.append(png)
    return written


def _summary(seen: _Collected, published: int, node_status: int, files: list[Path]) -> str:
    from collections import Counter

    results = list(seen.results.values())
    emotions: Counter[str] = Counter(f.emotion for m in results for f in m.faces)
    genders: Counter[str] = Counter(f.gender for m in results for f in m.faces)
    lat = sorted(seen.latencies_ms.values())
    lines = [
        "",
        "summary",
        f"  frames replayed     {published}",
        f"  results received    {len(results)}"
        + (f"  ({published - len(results)} frame(s) dropped)" if published > len(results) else ""),
        f"  frames with faces   {sum(1 for m in results if m.faces)}",
        f"  faces               {sum(len(m.faces) for m in results)}",
        "  emotions            "
        + (", ".join(f"{k} {v}" for k, v in emotions.most_common()) or "-"),
        "  genders             " + (", ".join(f"{k} {v}" for k, v in genders.most_common()) or "-"),
    ]
    if lat:
        p95 = lat[min(len(lat) - 1, round(0.95 * (len(lat) - 1)))]
        lines.append(
            f"  latency ms          median {statistics.median(lat):.1f}, p95 {p95:.1f} "
            "(publish to result, incl. JPEG decode)"
        )
    if seen.node_counters:
        keys = [k for k in COUNTER_KEYS if k in seen.node_counters]
        keys += sorted(k for k in seen.node_counters if k.startswith("error_"))
        lines.append(
            "  node counters       " + ", ".join(f"{k} {seen.node_counters[k]}" for k in keys)
        )
    lines.append(f"  node exit status    {node_status}")
    lines += [f"  wrote               {p}" for p in files]
    return "\n".join(lines)


if __name__ == "__main__":
    sys.exit(main())
