"""Open, choose from, and safely write rosbag2 bags (mcap and sqlite3) with rosbags.

Why a module of its own: the offline tool, the player and the tests all need the same answers to
"is this a bag we can read", "which topic holds the camera frames" and "where do the message
definitions of face_affect_msgs come from", and every failure must reach the user as one line
that names the problem, not as a traceback from deep inside a storage plugin.
"""

from __future__ import annotations

import os
import secrets
import shutil
import tempfile
from collections.abc import Iterable, Iterator, Sequence
from contextlib import contextmanager, suppress
from functools import lru_cache
from pathlib import Path
from types import TracebackType

from rosbags.interfaces import Connection, ConnectionExtRosbag2, MessageDefinitionFormat
from rosbags.rosbag2 import Reader, ReaderError, StoragePlugin, Writer, WriterError
from rosbags.typesys import (
    Stores,
    TypesysError,
    get_types_from_idl,
    get_types_from_msg,
    get_typestore,
)
from rosbags.typesys.store import Typestore

from face_affect_ros.core.paths import find_package_path

#: Storage formats this tool reads and writes, by rosbag2 storage identifier.
STORAGES: dict[str, StoragePlugin] = {"mcap": StoragePlugin.MCAP, "sqlite3": StoragePlugin.SQLITE3}

#: File suffix of each storage format (a bag can also be given as its single storage file).
STORAGE_SUFFIX: dict[str, str] = {"mcap": ".mcap", "sqlite3": ".db3"}

#: Message types that carry camera frames the pipeline can process.
IMAGE_TYPES: frozenset[str] = frozenset(
    {"sensor_msgs/msg/Image", "sensor_msgs/msg/CompressedImage"}
)

#: rosbag2 format version written (Kilted writes 9).
BAG_VERSION = 9

#: Interface package whose .msg files define the output topic's types.
MSGS_PACKAGE = "face_affect_msgs"

# face_affect_ros/face_affect_ros/bag/storage.py -> <repo>/face_affect_msgs/msg
_SOURCE_TREE_MSGS = Path(__file__).resolve().parents[3] / MSGS_PACKAGE / "msg"


class BagError(Exception):
    """A bag cannot be read, chosen from or written; the message is one line for the user."""


class UndescribedTypeError(BagError):
    """A topic cannot be written: its type is not standard and the bag carries no definition.

    Bags recorded before ROS 2 Iron (rosbag2 metadata before version 8: Humble) carry no type
    hashes, and in sqlite3 storage no definitions either; rosbag2's writers need both. The tools
    leave such a topic out of their output, say so, and go on with the rest.
    """


def one_line(exc: BaseException) -> str:
    """Return an exception's message on one line (its type name if the message is empty)."""
    text = " ".join(str(exc).split())
    return text or type(exc).__name__


def supported_storages() -> str:
    """Storage identifiers as a comma-separated list, for error messages."""
    return ", ".join(STORAGES)


def check_storage(storage: str) -> str:
    """Return `storage` if this tool can write it, else raise BagError listing the choices."""
    if storage not in STORAGES:
        raise BagError(f"unknown storage format '{storage}' (supported: {supported_storages()})")
    return storage


def bag_storage(path: Path) -> str:
    """Storage identifier of the bag at `path` (a bag directory or a single storage file).

    Checked before rosbags opens the bag so that an unknown format is reported as such, with the
    formats that are supported, instead of as a generic read error.
    """
    if path.is_dir():
        meta = path / "metadata.yaml"
        if not meta.is_file():
            raise BagError(f"{path}: not a rosbag2 bag (no metadata.yaml)")
        from ruamel.yaml import YAML, YAMLError  # rosbags' own YAML parser

        try:
            info = YAML(typ="safe").load(meta.read_text(encoding="utf-8"))
            storage = str(info["rosbag2_bagfile_information"]["storage_identifier"])
        except (OSError, UnicodeDecodeError, YAMLError, KeyError, TypeError) as exc:
            raise BagError(f"{path}: unreadable metadata.yaml: {one_line(exc)}") from exc
        if storage not in STORAGES:
            raise BagError(
                f"{path}: unknown storage format '{storage}' (supported: {supported_storages()})"
            )
        return storage
    if not path.exists():
        raise BagError(f"{path}: no such bag")
    for storage, suffix in STORAGE_SUFFIX.items():
        if path.suffix == suffix:
            return storage
    raise BagError(
        f"{path}: unknown storage format '{path.suffix or path.name}' (supported: "
        + ", ".join(f"{s} ({STORAGE_SUFFIX[s]})" for s in STORAGES)
        + ", or a bag directory)"
    )


@contextmanager
def open_bag(path: str | os.PathLike[str]) -> Iterator[Reader]:
    """Open a bag for reading; every failure to open becomes a one-line BagError."""
    path = Path(path)
    bag_storage(path)
    try:
        reader = Reader(path)
        reader.open()
    except (ReaderError, OSError, ValueError, KeyError) as exc:
        raise BagError(f"{path}: corrupt or truncated bag: {one_line(exc)}") from exc
    except Exception as exc:  # storage plugins raise their own types (apsw, ...)
        raise BagError(f"{path}: corrupt or truncated bag: {one_line(exc)}") from exc
    try:
        yield reader
    finally:
        # Closing a broken bag must not hide the real error.
        with suppress(Exception):
            reader.close()


def iter_messages(
    reader: Reader, path: str | os.PathLike[str], connections: Sequence[Connection] = ()
) -> Iterator[tuple[Connection, int, bytes]]:
    """Yield (connection, timestamp ns, raw CDR) in time order; storage errors become BagError.

    Only errors raised by the storage are translated: the caller's own exceptions while it
    handles a message propagate unchanged.
    """
    it = iter(reader.messages(connections=list(connections)))
    while True:
        try:
            item = next(it)
        except StopIteration:
            return
        except Exception as exc:  # apsw, struct, lz4, zstd, ...: all mean "corrupt"
            raise BagError(f"{path}: corrupt or truncated bag: {one_line(exc)}") from exc
        yield item


def image_connections(connections: Iterable[Connection]) -> list[Connection]:
    """Return the connections whose type is sensor_msgs/Image or CompressedImage."""
    return [c for c in connections if c.msgtype in IMAGE_TYPES]


def choose_image_topic(
    connections: Sequence[Connection], path: str | os.PathLike[str], topic: str | None = None
) -> Connection:
    """Return the connection of the camera topic to process.

    With `topic`, that topic (which must exist and be an image topic); without, the bag's only
    image topic. None or several image topics without `topic` are errors that list the
    candidates, since guessing would silently process the wrong camera.
    """
    images = image_connections(connections)
    if topic is not None:
        named = [c for c in connections if c.topic == topic]
        if not named:
            raise BagError(
                f"{path}: no topic '{topic}' (topics: {_topic_list(connections) or 'none'})"
            )
        usable = [c for c in named if c.msgtype in IMAGE_TYPES]
        if not usable:
            raise BagError(
                f"{path}: topic '{topic}' is {named[0].msgtype}, not sensor_msgs/Image or "
                "sensor_msgs/CompressedImage"
            )
        if len(usable) > 1:
            raise BagError(f"{path}: topic '{topic}' has several connections of image types")
        return usable[0]
    if not images:
        raise BagError(
            f"{path}: no image topic (sensor_msgs/Image or CompressedImage); topics: "
            f"{_topic_list(connections) or 'none'}"
        )
    if len({c.topic for c in images}) > 1:
        raise BagError(
            f"{path}: several image topics, choose one with --topic: {_topic_list(images)}"
        )
    if len(images) > 1:
        raise BagError(f"{path}: topic '{images[0].topic}' has several connections")
    return images[0]


def _topic_list(connections: Iterable[Connection]) -> str:
    seen: dict[str, str] = {}
    for c in connections:
        seen.setdefault(c.topic, c.msgtype)
    return ", ".join(f"{t} [{m}]" for t, m in sorted(seen.items()))


def msgs_dir() -> Path:
    """Directory holding face_affect_msgs' .msg files.

    Order: the installed share directory found through ament_index_python when
    AMENT_PREFIX_PATH is set, then ``sys.prefix/share`` (a pip-installed venv without the ament
    environment), then the source tree. The installed files come first because they are the
    definitions the running nodes were built from.
    """
    found, tried = find_package_path(
        MSGS_PACKAGE, "msg", _SOURCE_TREE_MSGS, lambda d: any(d.glob("*.msg")), installed_first=True
    )
    if found is not None:
        return found
    raise BagError(f"no {MSGS_PACKAGE} message definitions found; tried: " + "; ".join(tried))


@lru_cache(maxsize=1)
def typestore() -> Typestore:
    """Return a rosbags type store of ROS 2 Kilted plus face_affect_msgs, for output definitions."""
    store = get_typestore(Stores.ROS2_KILTED)
    types = {}
    for msg in sorted(msgs_dir().glob("*.msg")):
        types.update(
            get_types_from_msg(msg.read_text(encoding="utf-8"), f"{MSGS_PACKAGE}/msg/{msg.stem}")
        )
    store.register(types)
    return store


def add_connection(
    writer: Writer, topic: str, msgtype: str, like: Connection | None = None
) -> Connection:
    """Add a topic to `writer`, with the definition and QoS of input connection `like` if given.

    An input connection's own definition and hash are copied so the output describes its data
    exactly. Bags from before ROS 2 Iron lack the hash: then it is computed from the bag's own
    definition (mcap storage has one), else the Kilted type store fills in for standard types
    (and face_affect_msgs).

    Raises:
        UndescribedTypeError: neither the bag nor the type store describes `msgtype`.
        BagError: the writer refused the topic.
    """
    qos = []
    msgdef = rihs01 = None
    if like is not None:
        if like.msgdef.data and like.digest.startswith("RIHS01_"):
            msgdef, rihs01 = like.msgdef.data, like.digest
        elif like.msgdef.data:
            rihs01 = _rihs01_of_definition(msgtype, like.msgdef.data, like.msgdef.format)
            msgdef = like.msgdef.data if rihs01 is not None else None
        if isinstance(like.ext, ConnectionExtRosbag2):
            qos = list(like.ext.offered_qos_profiles)
    if msgdef is None and msgtype not in typestore().types:
        raise UndescribedTypeError(
            f"topic '{topic}' [{msgtype}] not copied: the bag has no definition of its type "
            "(recorded before ROS 2 Iron?) and it is not a standard type"
        )
    try:
        if msgdef is None:
            return writer.add_connection(
                topic, msgtype, typestore=typestore(), offered_qos_profiles=qos
            )
        return writer.add_connection(
            topic, msgtype, msgdef=msgdef, rihs01=rihs01, offered_qos_profiles=qos
        )
    except (WriterError, KeyError, TypesysError) as exc:
        raise BagError(f"cannot write topic '{topic}' [{msgtype}]: {one_line(exc)}") from exc


def _rihs01_of_definition(
    msgtype: str, definition: str, fmt: MessageDefinitionFormat
) -> str | None:
    """The RIHS01 hash of `msgtype` as the bag's own `definition` describes it, or None.

    None when the definition does not parse or lacks a type it uses (the caller falls back to
    the type store).
    """
    try:
        if fmt == MessageDefinitionFormat.IDL:
            types = get_types_from_idl(definition)
        else:
            types = get_types_from_msg(definition, msgtype)
        store = get_typestore(Stores.EMPTY)
        store.register(types)
        return store.hash_rihs01(msgtype)
    except Exception:  # any parse or lookup failure of a foreign definition: not describable
        return None


class StagedOutputs:
    """Output files written under temporary names and renamed into place only on success.

    Why: a crash, Ctrl-C or error halfway through must never leave an output that looks
    complete. Temporary names start with '.' and contain 'partial', next to their final paths
    (same file system, so the final rename is atomic per file). Use as a context manager and
    call :meth:`commit` at the end; leaving the block without commit removes everything.
    """

    def __init__(self, force: bool = False) -> None:
        self.force = force
        self._staged: list[tuple[Path, Path, Path]] = []  # (temporary, final, to remove)

    def _check_final(self, final: Path) -> None:
        if (final.exists() or final.is_symlink()) and not self.force:
            raise BagError(f"{final} exists; remove it or pass --force to replace it")
        if any(final == f for _, f, _ in self._staged):
            raise BagError(f"{final} is given as more than one output")
        final.parent.mkdir(parents=True, exist_ok=True)

    def file(self, final: str | os.PathLike[str]) -> Path:
        """Temporary path to write instead of `final` (same suffix, so codecs pick the format)."""
        final = Path(final)
        self._check_final(final)
        # A fresh name, not a created file: writers such as cv2.VideoWriter create it themselves,
        # and with the umask's permissions (mkstemp's would be 0600).
        tmp = final.parent / f".{final.stem}.partial-{secrets.token_hex(6)}{final.suffix}"
        self._staged.append((tmp, final, tmp))
        return tmp

    def bag(self, final: str | os.PathLike[str], storage: str) -> Path:
        """Path to give rosbags' Writer (which must not exist) for a bag to end up at `final`.

        `final` is a bag directory, or a single storage file if it ends in .mcap / .db3 (the
        storage file rosbags writes is then moved out of its directory).
        """
        final = Path(final)
        self._check_final(final)
        holder = Path(tempfile.mkdtemp(prefix=f".{final.name}.partial-", dir=final.parent))
        if final.suffix == STORAGE_SUFFIX[storage]:
            bag_dir = holder / final.stem
            written = bag_dir / f"{final.stem}{final.suffix}"
        else:
            bag_dir = holder / final.name
            written = bag_dir
        self._staged.append((written, final, holder))
        return bag_dir

    def commit(self) -> None:
        """Move every temporary output to its final path."""
        for tmp, final, holder in self._staged:
            if final.is_dir() and not final.is_symlink():
                shutil.rmtree(final)
            elif final.exists() or final.is_symlink():
                final.unlink()
            os.replace(tmp, final)
            if holder != tmp:
                shutil.rmtree(holder, ignore_errors=True)
        self._staged.clear()

    def abort(self) -> None:
        """Remove every temporary output."""
        for _, _, holder in self._staged:
            if holder.is_dir():
                shutil.rmtree(holder, ignore_errors=True)
            else:
                holder.unlink(missing_ok=True)
        self._staged.clear()

    def __enter__(self) -> StagedOutputs:
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.abort()


def open_writer(path: Path, storage: str) -> Writer:
    """Open a rosbags Writer of `storage` format at `path` (which must not exist yet)."""
    writer = Writer(path, version=BAG_VERSION, storage_plugin=STORAGES[check_storage(storage)])
    try:
        writer.open()
    except (WriterError, OSError) as exc:
        raise BagError(f"cannot create bag {path}: {one_line(exc)}") from exc
    return writer
