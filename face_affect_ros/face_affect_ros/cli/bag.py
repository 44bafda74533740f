"""``face-affect-bag``: process a rosbag2 bag offline, or play one into a live ROS graph.

    face-affect-bag process IN --out OUT [--topic T] [--json FILE] [--video FILE]
    face-affect-bag anonymise IN --out OUT [--topics T ...] [--mode M] [--on-failure mask|drop]
    face-affect-bag play BAG [--rate R] [--loop] [--topics T ...] [--wait-for-subscribers N]

Errors are one line on stderr with a non-zero exit status (1: the bag or an output is the
problem, 2: the command line, 3: anonymise wrote its output but withheld frames it could not
process (fully masked or dropped, listed in the report), 130: interrupted), so scripts and CI
can tell what went wrong.
The logic lives in :mod:`face_affect_ros.bag`; this module only parses arguments and prints.
"""

from __future__ import annotations

import argparse
import signal
import sys
import threading
from collections.abc import Sequence
from pathlib import Path

PROG = "face-affect-bag"

#: Exit statuses.
EXIT_OK, EXIT_ERROR, EXIT_USAGE, EXIT_INTERRUPTED = 0, 1, 2, 130
#: anonymise: the output was written, but some frames were withheld (masked whole or dropped).
EXIT_WITHHELD = 3


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog=PROG, description=__doc__.split("\n\n")[0])
    sub = parser.add_subparsers(dest="command", required=True, metavar="{process,anonymise,play}")

    p = sub.add_parser(
        "process",
        help="run face detection, emotion and gender over every frame of a bag",
        description="Run face_affect_node's perception loop over every frame of the bag's image "
        "topic, clocked by the header stamps (what the node publishes when the bag is replayed "
        "into it), and write a new bag with the input topics plus FaceAffectArray on "
        "/face_affect (stamped like the images). Outputs only appear when the run succeeds.",
    )
    p.add_argument("input", type=Path, metavar="IN", help="bag directory, .mcap or .db3 file")
    p.add_argument(
        "--out",
        required=True,
        type=Path,
        metavar="OUT",
        help="output bag directory (or a single .mcap / .db3 file)",
    )
    p.add_argument(
        "--topic", help="image topic to process (required when the bag has several image topics)"
    )
    p.add_argument("--json", type=Path, metavar="FILE", help="also write one JSON line per frame")
    p.add_argument(
        "--video", type=Path, metavar="FILE", help="also write an annotated video (.mp4 or .avi)"
    )
    p.add_argument(
        "--storage", metavar="FORMAT", help="output storage: mcap or sqlite3 (default: as input)"
    )
    p.add_argument(
        "--params-file",
        type=Path,
        metavar="YAML",
        help="face_affect_node parameters (ros2 --params-file layout) instead of the defaults",
    )
    p.add_argument(
        "--gender-model",
        metavar="NAME",
        help="gender model (manifest name or path), overriding the parameters: e.g. "
        "gender_mini_xception, the seed model (default: the node's, gender_dlib_v1)",
    )
    p.add_argument(
        "--age",
        action="store_true",
        help="also estimate apparent age (the node's age parameter)",
    )
    p.add_argument(
        "--every-frame",
        action="store_true",
        help="process every frame on its own (tracking off), for bags of unrelated stills; "
        "default: the node's perception loop over time, clocked by the header stamps",
    )
    p.add_argument("--force", action="store_true", help="replace existing outputs")
    p.add_argument("--no-progress", action="store_true", help="no progress bar")

    a = sub.add_parser(
        "anonymise",
        help="write a copy of a bag with every face in its image topics masked",
        description="Mask the faces of every image topic (sensor_msgs/Image, CompressedImage "
        "JPEG / PNG): two passes, the perception loop pushed for recall, tracks padded in time. "
        "Every other message is copied byte for byte; types, timestamps, headers, QoS profiles "
        "and storage are kept. A frame that cannot be processed is fully masked (or dropped) "
        f"and the exit status is {EXIT_WITHHELD}. What it cannot promise: a face no detector "
        "finds is not masked; check the output before publishing it.",
    )
    a.add_argument("input", type=Path, metavar="IN", help="bag directory, .mcap or .db3 file")
    a.add_argument(
        "--out", required=True, type=Path, metavar="OUT", help="output bag (directory or file)"
    )
    a.add_argument(
        "--topics",
        nargs="+",
        metavar="T",
        help="image topics to anonymise (default: all; "
        "the others are copied unmasked, with a warning)",
    )
    from face_affect_ros.core import anonymise as an

    a.add_argument(
        "--mode",
        choices=an.MODES,
        default=an.DEFAULT_MODE,
        help=f"mask (default {an.DEFAULT_MODE})",
    )
    a.add_argument(
        "--shape",
        choices=an.SHAPES,
        default=an.DEFAULT_SHAPE,
        help=f"mask shape (default {an.DEFAULT_SHAPE})",
    )
    a.add_argument(
        "--margin",
        type=float,
        default=an.DEFAULT_MARGIN,
        help=f"mask size / face box size (default {an.DEFAULT_MARGIN}, measured)",
    )
    a.add_argument(
        "--pad",
        type=float,
        default=an.DEFAULT_PAD_S,
        metavar="S",
        help="seconds each face track is also masked before it was first found and after it "
        f"was lost (default {an.DEFAULT_PAD_S})",
    )
    a.add_argument(
        "--scan-scale",
        type=float,
        default=an.ANON_SCAN_SCALE,
        metavar="X",
        help="full-frame scans at X times the frame size, up to 1280 px wide (default "
        f"{an.ANON_SCAN_SCALE}: finds faces under 25 px; 1: 3x faster at 640x480, misses "
        "more far faces)",
    )
    a.add_argument(
        "--on-failure",
        choices=("mask", "drop"),
        default="mask",
        help="a frame that cannot be processed is written fully masked (default) or dropped",
    )
    a.add_argument(
        "--storage", metavar="FORMAT", help="output storage: mcap or sqlite3 (default: as input)"
    )
    a.add_argument("--json", type=Path, metavar="FILE", help="also write the report as JSON")
    a.add_argument("--force", action="store_true", help="replace an existing output")

    q = sub.add_parser(
        "play",
        help="publish a bag's messages at the recorded rate, like ros2 bag play",
        description="Publish a bag's messages into the ROS graph at the recorded rate (raw CDR, "
        "no decoding). Image topics are published best effort (sensor-data QoS), other topics "
        "reliable. Ctrl-C or SIGTERM stops cleanly.",
    )
    q.add_argument("bag", type=Path, metavar="BAG", help="bag directory, .mcap or .db3 file")
    q.add_argument("--rate", type=float, default=1.0, help="speed factor (default 1.0)")
    q.add_argument("--loop", action="store_true", help="play again and again until stopped")
    q.add_argument("--topics", nargs="+", metavar="T", help="play only these topics")
    q.add_argument(
        "--wait-for-subscribers",
        type=int,
        default=0,
        metavar="N",
        help="before starting, wait until each image topic has N subscribers (discovery)",
    )
    q.add_argument(
        "--wait-timeout",
        type=float,
        default=30.0,
        metavar="S",
        help="fail if the subscribers are not there after S seconds (<= 0: wait forever)",
    )
    q.add_argument(
        "--image-reliability",
        default="best_effort",
        choices=("best_effort", "reliable"),
        help="QoS reliability of image topics (default best_effort)",
    )
    return parser


def _error(message: str) -> None:
    print(f"{PROG}: error: {message}", file=sys.stderr)


def _process(args: argparse.Namespace) -> int:
    from face_affect_ros.bag import process as bp
    from face_affect_ros.core.manifest import ModelError
    from face_affect_ros.core.pipeline import FaceAffectPipeline
    from face_affect_ros.core.temporal import PerceptionLoop
    from face_affect_ros.entry import DeferredSignals

    # SIGINT and SIGTERM set a flag that process_bag checks between frames; it then unwinds
    # (KeyboardInterrupt, raised by our own code), so the temporary outputs are removed. Never
    # raised from the handler: an exception raised inside a C extension's call (onnxruntime
    # loading the models) made Python exit with -2 after the clean message (measured).
    signals = DeferredSignals()
    values = bp.node_parameters(args.params_file)
    if args.gender_model:
        values["gender_model"] = args.gender_model
    if args.age:
        values["age"] = True
    if args.every_frame:
        values["tracking"] = False
    config = bp.pipeline_config(values)
    temporal = bp.temporal_config(values)

    def make_pipeline() -> PerceptionLoop:
        try:
            return PerceptionLoop(pipeline=FaceAffectPipeline(config), temporal=temporal)
        except ModelError as exc:
            from face_affect_ros.bag.storage import BagError

            raise BagError(f"cannot load models: {exc}") from exc

    summary = bp.process_bag(
        args.input,
        args.out,
        make_pipeline,
        topic=args.topic,
        storage=args.storage,
        json_path=args.json,
        video_path=args.video,
        force=args.force,
        progress=not args.no_progress and sys.stderr.isatty(),
        max_pixels=int(values["max_image_pixels"]),
        should_stop=lambda: signals.received is not None,
    )
    print(summary.table())
    return EXIT_OK


def _anonymise(args: argparse.Namespace) -> int:
    import json

    from face_affect_ros.bag import anonymise as ba
    from face_affect_ros.entry import DeferredSignals

    signals = DeferredSignals()
    try:
        options = ba.MaskOptions(
            mode=args.mode,
            shape=args.shape,
            margin=args.margin,
            pad_s=args.pad,
            on_failure=args.on_failure,
        )
    except ValueError as exc:
        _error(str(exc))
        return EXIT_USAGE
    if not 0.5 <= args.scan_scale <= 4.0:
        _error(f"--scan-scale must be in [0.5, 4], got {args.scan_scale}")
        return EXIT_USAGE
    from face_affect_ros.core import anonymise as an

    def make_loop(width: int, height: int) -> object:
        return an.make_loop(width, height, scan_scale=args.scan_scale)

    report = ba.anonymise_bag(
        args.input,
        args.out,
        options,
        loop_factory=make_loop,
        topics=args.topics,
        storage=args.storage,
        force=args.force,
        should_stop=lambda: signals.received is not None,
    )
    print(report.table())
    if args.json is not None:
        args.json.write_text(json.dumps(report.as_dict(), indent=1) + "\n", encoding="utf-8")
    if report.withheld:
        _error(f"{report.withheld} frame(s) withheld (fully masked or dropped): see above")
        return EXIT_WITHHELD
    return EXIT_OK


def _play(args: argparse.Namespace) -> int:
    import rclpy
    from rclpy.signals import SignalHandlerOptions

    from face_affect_ros.bag.play import BagPlayer, PlayOptions, describe

    try:
        options = PlayOptions(
            rate=args.rate,
            loop=args.loop,
            topics=tuple(args.topics) if args.topics else None,
            wait_for_subscribers=args.wait_for_subscribers,
            wait_timeout=args.wait_timeout,
            image_reliability=args.image_reliability,
        )
    except ValueError as exc:
        _error(str(exc))
        return EXIT_USAGE
    stop = threading.Event()
    # Our own handlers: rclpy's would shut the context down under a publish in progress.
    previous = {s: signal.signal(s, lambda *_: stop.set()) for s in (signal.SIGINT, signal.SIGTERM)}
    rclpy.init(signal_handler_options=SignalHandlerOptions.NO)
    node = rclpy.create_node("face_affect_bag_player")
    try:
        with BagPlayer(node, args.bag, options) as player:
            print(describe(player, options), flush=True)
            for topic, reason in sorted(player.skipped.items()):
                print(f"skipping {topic}: {reason}", flush=True)
            if options.wait_for_subscribers:
                print(f"waiting for {options.wait_for_subscribers} subscriber(s)", flush=True)
            stats = player.play(stop)
    finally:
        node.destroy_node()
        rclpy.try_shutdown()
        for sig, handler in previous.items():
            signal.signal(sig, handler)
    state = "stopped" if stats.interrupted else "done"
    print(f"{state}: published {stats.total} messages in {stats.wall_s:.1f} s", flush=True)
    return EXIT_OK


def main(argv: Sequence[str] | None = None) -> int:
    """Entry point of ``face-affect-bag``; returns the exit status."""
    args = _parser().parse_args(argv)
    from face_affect_ros.bag.storage import BagError

    try:
        if args.command == "anonymise":
            return _anonymise(args)
        return _process(args) if args.command == "process" else _play(args)
    except BagError as exc:
        _error(str(exc))
        return EXIT_ERROR
    except OSError as exc:  # disk full, permissions, ... while writing the outputs
        _error(" ".join(str(exc).split()))
        return EXIT_ERROR
    except KeyboardInterrupt:
        _error("interrupted; no output written")
        return EXIT_INTERRUPTED


if __name__ == "__main__":
    sys.exit(main())
