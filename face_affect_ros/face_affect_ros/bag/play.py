"""Publish a bag's messages into a live ROS graph at the recorded rate, like ``ros2 bag play``.

Why our own player: ``ros2 bag`` is not installable everywhere this package runs (pip-installed
ROS wheels), and the demo and the replay test need a player they can start in-process, that waits
for its subscribers by discovery instead of by a fixed delay, and that stops cleanly on a signal.
Messages are published as the raw CDR bytes read from the bag (rclpy publishes serialised data
directly), so nothing is decoded on the way.
"""

from __future__ import annotations

import importlib
import logging
import os
import threading
import time
from collections import Counter
from collections.abc import Callable
from contextlib import ExitStack
from dataclasses import dataclass, field
from pathlib import Path

from rclpy.duration import Duration
from rclpy.node import Node
from rclpy.publisher import Publisher
from rclpy.qos import (
    DurabilityPolicy,
    HistoryPolicy,
    QoSProfile,
    ReliabilityPolicy,
)
from rosbags.interfaces import Connection

from face_affect_ros.bag import storage as bs

_LOG = logging.getLogger(__name__)

#: Camera topics: best effort like sensor-data QoS, so that any camera subscriber matches (a
#: reliable subscriber does not match; use image_reliability="reliable" for those), with a short
#: history so a slow subscriber gets recent frames rather than a backlog.
IMAGE_DEPTH = 5
#: Every other topic: reliable, which matches reliable and best-effort subscribers alike.
OTHER_DEPTH = 10
#: How long to wait at the end for reliable subscribers to acknowledge the last messages.
ACK_TIMEOUT_S = 2.0
#: Poll period while waiting for subscribers (discovery runs in the middleware's threads).
DISCOVERY_POLL_S = 0.05

#: Called after each publish with (connection, bag timestamp ns, raw CDR).
PublishHook = Callable[[Connection, int, bytes], None]


def message_class(msgtype: str) -> type:
    """Return the rclpy message class of a ROS 2 type name like ``sensor_msgs/msg/Image``.

    Raises:
        ImportError: the interface package is not installed for Python.
    """
    package, kind, name = msgtype.split("/") if msgtype.count("/") == 2 else ("", "", "")
    if kind != "msg":
        raise ImportError(f"'{msgtype}' is not a message type")
    module = importlib.import_module(f"{package}.msg")
    try:
        return getattr(module, name)
    except AttributeError as exc:
        raise ImportError(f"{package}.msg has no message {name}") from exc


def topic_qos(msgtype: str, image_reliability: str = "best_effort") -> QoSProfile:
    """Return the QoS of the publisher of a topic of type `msgtype` (see IMAGE_DEPTH)."""
    if msgtype in bs.IMAGE_TYPES:
        reliability = (
            ReliabilityPolicy.RELIABLE
            if image_reliability == "reliable"
            else ReliabilityPolicy.BEST_EFFORT
        )
        depth = IMAGE_DEPTH
    else:
        reliability, depth = ReliabilityPolicy.RELIABLE, OTHER_DEPTH
    return QoSProfile(
        history=HistoryPolicy.KEEP_LAST,
        depth=depth,
        reliability=reliability,
        durability=DurabilityPolicy.VOLATILE,
    )


@dataclass(frozen=True)
class PlayOptions:
    """How to play a bag.

    Attributes:
        rate: playback speed factor (2.0 = twice as fast as recorded).
        loop: start again at the end until stopped.
        topics: play only these topics (None = every topic with an importable type).
        wait_for_subscribers: before the first message, wait until every image topic (every
            topic if the bag has none) has at least this many matched subscribers.
        wait_timeout: give up waiting for subscribers after this many seconds (<= 0: never).
        image_reliability: "best_effort" (default, sensor data) or "reliable".
    """

    rate: float = 1.0
    loop: bool = False
    topics: tuple[str, ...] | None = None
    wait_for_subscribers: int = 0
    wait_timeout: float = 30.0
    image_reliability: str = "best_effort"

    def __post_init__(self) -> None:
        if not self.rate > 0:
            raise ValueError(f"rate must be > 0, got {self.rate}")
        if self.wait_for_subscribers < 0:
            raise ValueError(f"wait_for_subscribers must be >= 0, got {self.wait_for_subscribers}")
        if self.image_reliability not in ("best_effort", "reliable"):
            raise ValueError(
                f"image_reliability must be best_effort or reliable, got {self.image_reliability!r}"
            )


@dataclass
class PlayStats:
    """What a play run did."""

    published: Counter[str] = field(default_factory=Counter)
    loops: int = 0
    interrupted: bool = False
    wall_s: float = 0.0  # from the first message on (the wait for subscribers excluded)

    @property
    def total(self) -> int:
        """Messages published over all topics."""
        return sum(self.published.values())


class BagPlayer:
    """Publishers for a bag's topics on `node`, and the timed loop that feeds them.

    The bag stays open while the player lives; call :meth:`close` (or use ``with``) to release
    it and destroy the publishers. Publishing happens in the calling thread, so the node may be
    spun by an executor in another thread at the same time (the demo does this).
    """

    def __init__(self, node: Node, path: str | os.PathLike[str], options: PlayOptions) -> None:
        self.node = node
        self.path = Path(path)
        self.options = options
        self._stack = ExitStack()
        self.reader = self._stack.enter_context(bs.open_bag(self.path))
        self.publishers: dict[int, Publisher] = {}
        self.skipped: dict[str, str] = {}
        try:
            self._create_publishers()
        except BaseException:
            self.close()
            raise

    def _create_publishers(self) -> None:
        conns = self.reader.connections
        wanted = set(self.options.topics) if self.options.topics is not None else None
        if wanted is not None:
            missing = sorted(wanted - {c.topic for c in conns})
            if missing:
                have = ", ".join(sorted({c.topic for c in conns})) or "none"
                raise bs.BagError(f"{self.path}: no topic {', '.join(missing)} (topics: {have})")
        by_topic: dict[str, Publisher] = {}
        for conn in conns:
            if wanted is not None and conn.topic not in wanted:
                continue
            if conn.topic in by_topic:
                self.publishers[conn.id] = by_topic[conn.topic]
                continue
            try:
                cls = message_class(conn.msgtype)
            except ImportError as exc:
                self.skipped[conn.topic] = str(exc)
                _LOG.warning("not playing %s [%s]: %s", conn.topic, conn.msgtype, exc)
                continue
            pub = self.node.create_publisher(
                cls, conn.topic, topic_qos(conn.msgtype, self.options.image_reliability)
            )
            by_topic[conn.topic] = self.publishers[conn.id] = pub
        if not self.publishers:
            raise bs.BagError(f"{self.path}: nothing to play (no topic with a known message type)")

    @property
    def topics(self) -> list[str]:
        """Names of the topics that are played."""
        return sorted({p.topic_name for p in self.publishers.values()})

    def _gated(self) -> list[Publisher]:
        images = [
            self.publishers[c.id]
            for c in self.reader.connections
            if c.id in self.publishers and c.msgtype in bs.IMAGE_TYPES
        ]
        return list({id(p): p for p in (images or self.publishers.values())}.values())

    def wait_for_subscribers(self, stop: threading.Event) -> bool:
        """Block until the gated topics have enough subscribers; False on stop or timeout."""
        need = self.options.wait_for_subscribers
        if need <= 0:
            return True
        gated = self._gated()
        timeout = self.options.wait_timeout
        deadline = time.monotonic() + timeout if timeout > 0 else float("inf")
        while not stop.is_set():
            if all(p.get_subscription_count() >= need for p in gated):
                return True
            if time.monotonic() >= deadline:
                counts = ", ".join(f"{p.topic_name}: {p.get_subscription_count()}" for p in gated)
                raise bs.BagError(
                    f"timed out after {timeout:g} s waiting for {need} subscriber(s) ({counts})"
                )
            stop.wait(DISCOVERY_POLL_S)
        return False

    def play(
        self, stop: threading.Event | None = None, on_publish: PublishHook | None = None
    ) -> PlayStats:
        """Publish the bag (again and again with `loop`) until it ends or `stop` is set."""
        stop = stop or threading.Event()
        stats = PlayStats()
        if not self.wait_for_subscribers(stop):
            stats.interrupted = True
            return stats
        started = time.monotonic()
        try:
            while not stop.is_set():
                self._play_once(stop, stats, on_publish)
                if stop.is_set():
                    break
                stats.loops += 1
                if not self.options.loop:
                    break
            stats.interrupted = stop.is_set()
            if not stats.interrupted:
                for pub in {id(p): p for p in self.publishers.values()}.values():
                    pub.wait_for_all_acked(Duration(seconds=ACK_TIMEOUT_S))
        finally:
            stats.wall_s = time.monotonic() - started
        return stats

    def _play_once(
        self, stop: threading.Event, stats: PlayStats, on_publish: PublishHook | None
    ) -> None:
        rate = self.options.rate
        wall0 = bag0 = None
        selected = [c for c in self.reader.connections if c.id in self.publishers]
        for conn, timestamp, raw in bs.iter_messages(self.reader, self.path, selected):
            if wall0 is None:
                wall0, bag0 = time.monotonic(), timestamp
            delay = wall0 + (timestamp - bag0) / 1e9 / rate - time.monotonic()
            if delay > 0 and stop.wait(delay):
                return
            if stop.is_set():
                return
            data = raw if isinstance(raw, bytes) else bytes(raw)
            pub = self.publishers[conn.id]
            pub.publish(data)
            stats.published[conn.topic] += 1
            if on_publish is not None:
                on_publish(conn, timestamp, data)

    def close(self) -> None:
        """Destroy the publishers and close the bag."""
        for pub in {id(p): p for p in self.publishers.values()}.values():
            self.node.destroy_publisher(pub)
        self.publishers.clear()
        self._stack.close()

    def __enter__(self) -> BagPlayer:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


def describe(player: BagPlayer, options: PlayOptions) -> str:
    """Return a one-line description of what is about to be played (for the CLI)."""
    counts: Counter[str] = Counter()
    for c in player.reader.connections:
        if c.id in player.publishers:
            counts[c.topic] += c.msgcount
    parts = ", ".join(f"{t} ({n})" for t, n in sorted(counts.items()))
    extra = " looping" if options.loop else ""
    return f"playing {player.path} at {options.rate:g}x{extra}: {parts}"
