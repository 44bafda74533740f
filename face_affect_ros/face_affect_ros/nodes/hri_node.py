"""hri_node: our results on REP-155's (ROS4HRI) ``/humans/faces/...`` topics, in hri_msgs.

Why a node of its own (launch argument ``hri:=true``): the option costs nothing when off (the
process does not exist), works the same behind either layout (it reads ``face_affect``, which
face_affect_node and classifier_node both publish), and loads no model. It only translates:
FaceAffectArray in -> :mod:`face_affect_ros.core.hri` -> hri_msgs out.

Topics (names, types and QoS matched against ros4hri/hri_face_detect's publishers and
libhri/pyhri's subscribers: reliable, volatile, keep last 1, as rclcpp's SystemDefaultsQoS):

- in ``face_affect`` (FaceAffectArray, reliable): every processed frame.
- in ``image`` or ``image/compressed`` (``input_transport``; the launch file remaps it to the
  camera, or to camera_node's ``face_affect/frames`` in the split layout): subscribed only while
  someone subscribes to a ``cropped`` or ``aligned`` topic; frames wait in a small cache keyed by
  stamp until the results of the same stamp arrive.
- out ``/humans/faces/tracked`` (IdsList, header = the image's): the ids of this frame's tracks.
- out, per track, created when the track appears and destroyed when it goes:
  ``/humans/faces/<id>/roi`` (NormalizedRegionOfInterest2D), ``landmarks`` (FacialLandmarks),
  ``expression`` (Expression), ``softbiometrics`` (SoftBiometrics), ``cropped`` and ``aligned``
  (sensor_msgs/Image bgr8, ``hri_chip_size`` square, computed only while subscribed).
- engagement: REP-155 publishes it per *person*, on ``/humans/persons/<person_id>/
  engagement_status`` (EngagementLevel; hri_engagement's topic, which libhri's Person reads).
  Persons are made from faces by hri_person_manager, whose anonymous ids are hashes, so with
  ``hri_person_engagement`` this node follows its association (``/humans/persons/tracked`` and
  each person's latched ``face_id``) and publishes the level of the person's face. Do not run
  hri_engagement as well: both would publish the same topic.

Everything runs on the executor thread (no worker): per frame it moves a few fields per face;
the two chips cost a resize / warp each, and only while subscribed.
"""

from __future__ import annotations

import time
from collections.abc import Mapping
from typing import Any

from hri_msgs.msg import (
    EngagementLevel,
    Expression,
    FacialLandmarks,
    IdsList,
    NormalizedPointOfInterest2D,
    NormalizedRegionOfInterest2D,
    SoftBiometrics,
)
from rclpy.qos import DurabilityPolicy, QoSProfile, ReliabilityPolicy
from sensor_msgs.msg import CompressedImage, Image
from std_msgs.msg import Header, String

from face_affect_msgs.msg import FaceAffect, FaceAffectArray
from face_affect_ros.core import hri
from face_affect_ros.core.frames import StampCache
from face_affect_ros.nodes.camera_input import camera_qos
from face_affect_ros.nodes.lifecycle import ManagedNode, run
from face_affect_ros.nodes.messages import image_to_msg, stamp_ns
from face_affect_ros.nodes.publishers import RESULT_QOS, listened

EXECUTABLE = "hri_node"
#: libhri / pyhri subscribe with rclcpp's SystemDefaultsQoS (keep last 1; reliable and volatile
#: under every Tier-1 RMW); hri_face_detect publishes with depth 1.
HRI_QOS = QoSProfile(
    depth=1, reliability=ReliabilityPolicy.RELIABLE, durability=DurabilityPolicy.VOLATILE
)
#: hri_engagement publishes engagement_status with depth 10.
ENGAGEMENT_QOS = QoSProfile(
    depth=10, reliability=ReliabilityPolicy.RELIABLE, durability=DurabilityPolicy.VOLATILE
)
#: hri_person_manager (2.0.1, managed_person.cpp) latches each person's face_id: transient
#: local, reliable, as libhri's Person subscribes to it.
LATCHED_QOS = QoSProfile(
    depth=1, reliability=ReliabilityPolicy.RELIABLE, durability=DurabilityPolicy.TRANSIENT_LOCAL
)
FACES_NS = "/humans/faces"
PERSONS_NS = "/humans/persons"
#: Per-face topics, in the order they are created.
FACE_TOPICS = (
    ("roi", NormalizedRegionOfInterest2D),
    ("landmarks", FacialLandmarks),
    ("expression", Expression),
    ("softbiometrics", SoftBiometrics),
    ("cropped", Image),
    ("aligned", Image),
)


class FacePublishers:
    """The publishers of one track, created together, destroyed together (never in __del__)."""

    def __init__(self, node: Any, face_id: str) -> None:
        self.node = node
        self.pubs = {
            name: node.create_publisher(msg_type, f"{FACES_NS}/{face_id}/{name}", HRI_QOS)
            for name, msg_type in FACE_TOPICS
        }

    def wants(self, name: str) -> bool:
        """True while something subscribes to this face's `name` topic."""
        return listened(self.pubs[name])

    def destroy(self) -> None:
        """Destroy every publisher of the track (its topics go away)."""
        for pub in self.pubs.values():
            self.node.destroy_publisher(pub)
        self.pubs = {}


class PersonEngagement:
    """Engagement per person of hri_person_manager: follows /humans/persons/tracked + face_id."""

    def __init__(self, node: Any) -> None:
        self.node = node
        self._tracked_sub = None
        #: person id -> (face_id subscription, engagement publisher, the person's face id).
        self._persons: dict[str, list[Any]] = {}

    def start(self) -> None:
        """Follow /humans/persons/tracked."""
        self._tracked_sub = self.node.create_subscription(
            IdsList, f"{PERSONS_NS}/tracked", self._on_tracked, HRI_QOS
        )

    def stop(self) -> None:
        """Stop following persons; drop their subscriptions and publishers."""
        if self._tracked_sub is not None:
            self.node.destroy_subscription(self._tracked_sub)
            self._tracked_sub = None
        for person_id in list(self._persons):
            self._drop(person_id)

    def _on_tracked(self, msg: IdsList) -> None:
        ids = set(msg.ids)
        for person_id in list(self._persons):
            if person_id not in ids:
                self._drop(person_id)
        for person_id in msg.ids:
            if person_id in self._persons or not person_id:
                continue
            ns = f"{PERSONS_NS}/{person_id}"
            entry: list[Any] = [None, None, ""]
            entry[0] = self.node.create_subscription(
                String, f"{ns}/face_id", lambda m, e=entry: e.__setitem__(2, m.data), LATCHED_QOS
            )
            entry[1] = self.node.create_publisher(
                EngagementLevel, f"{ns}/engagement_status", ENGAGEMENT_QOS
            )
            self._persons[person_id] = entry

    def _drop(self, person_id: str) -> None:
        sub, pub, _ = self._persons.pop(person_id)
        self.node.destroy_subscription(sub)
        self.node.destroy_publisher(pub)

    def publish(self, header: Header, levels: Mapping[str, int]) -> None:
        """The level of each person whose face is ours; UNKNOWN for a face we no longer see."""
        for _, pub, face_id in self._persons.values():
            if face_id:
                level = levels.get(face_id, EngagementLevel.UNKNOWN)
                pub.publish(EngagementLevel(header=header, level=level))

    @property
    def count(self) -> int:
        """Persons followed."""
        return len(self._persons)


class HriRole:
    """FaceAffectArray (and frames, while chips are wanted) in; REP-155 topics out."""

    def __init__(self, node: ManagedNode) -> None:
        self.node = node
        self.ids = hri.TrackIds()
        self.faces: dict[str, FacePublishers] = {}
        self.persons = PersonEngagement(node)
        self.tracked_pub = None
        self._results_sub = None
        self._image_sub = None
        self._cache: StampCache | None = None
        self._aligned: hri.AlignedChips | None = None

    # ---- lifecycle --------------------------------------------------------------------------
    def configure(self) -> None:
        """The /humans/faces/tracked publisher and the chip aligner."""
        self.tracked_pub = self.node.create_publisher(IdsList, f"{FACES_NS}/tracked", HRI_QOS)
        self._aligned = hri.AlignedChips(self.node.params["hri_chip_size"])

    def activate(self) -> None:
        """Subscribe to our results (and to persons, for engagement)."""
        self._results_sub = self.node.create_subscription(
            FaceAffectArray, "face_affect", self._on_results, RESULT_QOS
        )
        if self.node.params["hri_person_engagement"]:
            self.persons.start()

    def deactivate(self) -> None:
        """Drop every subscription and the per-track publishers (tracks are retired)."""
        if self._results_sub is not None:
            self.node.destroy_subscription(self._results_sub)
            self._results_sub = None
        self._stop_images()
        self.persons.stop()
        for pubs in self.faces.values():
            pubs.destroy()
        self.faces = {}
        self.ids = hri.TrackIds()

    def cleanup(self) -> None:
        """Drop the tracked publisher."""
        if self.tracked_pub is not None:
            self.node.destroy_publisher(self.tracked_pub)
        self.tracked_pub = None
        self._aligned = None

    def validate(self, params: Mapping[str, Any]) -> str | None:
        """Ranges are rcl's; nothing else to check."""
        return None

    def apply(self, params: Mapping[str, Any], changed: frozenset[str]) -> None:
        """A new chip size applies from the next frame."""
        if "hri_chip_size" in changed and self._aligned is not None:
            self._aligned = hri.AlignedChips(params["hri_chip_size"])

    def diagnostic_values(self) -> dict[str, str]:
        """Tracks published, image subscription state, persons followed."""
        values = {
            "tracks": str(len(self.faces)),
            "images": "subscribed" if self._image_sub is not None else "off (no chip wanted)",
            "persons": str(self.persons.count),
        }
        if self._cache is not None:
            values["image_cache"] = f"{len(self._cache)}/{self._cache.capacity}"
        return values

    # ---- images, only while a chip is wanted ------------------------------------------------
    def _chips_wanted(self) -> bool:
        return any(p.wants("cropped") or p.wants("aligned") for p in self.faces.values())

    def _start_images(self) -> None:
        params = self.node.params
        compressed = params["input_transport"] == "compressed"
        msg_type, topic = (CompressedImage, "image/compressed") if compressed else (Image, "image")
        self._cache = StampCache(params["hri_image_cache_size"])
        self._image_sub = self.node.create_subscription(
            msg_type, topic, self._on_image, camera_qos(params["input_reliability"])
        )

    def _stop_images(self) -> None:
        if self._image_sub is not None:
            self.node.destroy_subscription(self._image_sub)
        self._image_sub = None
        self._cache = None

    def _on_image(self, msg: Image | CompressedImage) -> None:
        if self._cache is not None:
            self._cache.put(stamp_ns(msg.header), msg)

    # ---- results ----------------------------------------------------------------------------
    def _on_results(self, msg: FaceAffectArray) -> None:
        received = time.monotonic()
        stats = self.node.stats
        stats.count("received")
        tracked = [f for f in msg.faces if f.id]
        if len(tracked) < len(msg.faces):
            stats.count("untracked_faces", len(msg.faces) - len(tracked))
            self.node.get_logger().warning(
                "faces without track ids (tracking off?): REP-155 needs ids, they are skipped",
                throttle_duration_sec=10.0,
            )
        try:
            change = self.ids.update(f.id for f in tracked)
        except ValueError as exc:
            stats.count("error_id")
            self.node.get_logger().error(str(exc), throttle_duration_sec=10.0)
            return
        for face_id in change.disappeared:
            self.faces.pop(face_id).destroy()
        for face_id in change.appeared:
            self.faces[face_id] = FacePublishers(self.node, face_id)
        if change.reused:
            stats.count("reused_ids", len(change.reused))
            self.node.get_logger().warning(
                f"track id(s) {', '.join(change.reused)} seen before in this run (the localising "
                "node restarted its numbering: stream time went backwards?)",
                throttle_duration_sec=10.0,
            )
        self.tracked_pub.publish(IdsList(header=msg.header, ids=list(self.ids.current)))
        for face in tracked:
            self._publish_face(msg, face)
        self._publish_chips(msg, tracked)
        if self.persons.count:
            self.persons.publish(msg.header, {f.id: int(f.engagement_level) for f in tracked})
        stats.count("processed")
        stats.count("faces", len(tracked))
        stats.record_latency(time.monotonic() - received)

    def _publish_face(self, msg: FaceAffectArray, face: FaceAffect) -> None:
        pubs, header = self.faces[face.id].pubs, msg.header
        width, height = int(msg.image_width), int(msg.image_height)
        roi = face.roi
        xmin, ymin, xmax, ymax = hri.normalized_roi(
            (roi.x_offset, roi.y_offset, roi.width, roi.height), width, height
        )
        c = float(face.detection_confidence)
        pubs["roi"].publish(
            NormalizedRegionOfInterest2D(
                header=header, xmin=xmin, ymin=ymin, xmax=xmax, ymax=ymax, c=c
            )
        )
        points = hri.landmarks70(face.landmarks, width, height, c)
        pubs["landmarks"].publish(
            FacialLandmarks(
                header=header,
                landmarks=[NormalizedPointOfInterest2D(x=x, y=y, c=pc) for x, y, pc in points],
                height=height,
                width=width,
            )
        )
        expression = hri.expression_of(face.emotion)
        if expression is not None:
            pubs["expression"].publish(
                Expression(
                    header=header,
                    expression=expression,
                    valence=hri.VALENCE_AROUSAL_UNKNOWN,
                    arousal=hri.VALENCE_AROUSAL_UNKNOWN,
                    confidence=float(face.emotion_confidence),
                )
            )
        age, age_confidence = hri.age_fields(face.age_years, face.age_spread)
        pubs["softbiometrics"].publish(
            SoftBiometrics(
                header=header,
                age=age,
                age_confidence=age_confidence,
                gender=hri.gender_code(face.gender),
                gender_confidence=float(face.gender_confidence),
            )
        )

    def _publish_chips(self, msg: FaceAffectArray, faces: list[FaceAffect]) -> None:
        if not self._chips_wanted():
            if self._image_sub is not None:
                self._stop_images()
            return
        if self._image_sub is None:
            self._start_images()  # chips from the next frames on
            return
        frame = self._cache.pop(stamp_ns(msg.header))
        if frame is None:
            self.node.stats.count("image_miss")
            return
        image = self.node.decoder.decode(
            frame, self.node.params["max_image_pixels"], self._image_sub.topic_name
        )
        if image is None:
            return
        size = self._aligned.size
        for face in faces:
            pubs = self.faces[face.id]
            if pubs.wants("cropped"):
                roi = face.roi
                box = (roi.x_offset, roi.y_offset, roi.width, roi.height)
                pubs.pubs["cropped"].publish(
                    image_to_msg(msg.header, hri.cropped_chip(image, box, size))
                )
            if pubs.wants("aligned"):
                chip = self._aligned.chip(image, face.landmarks)
                pubs.pubs["aligned"].publish(image_to_msg(msg.header, chip))


def make_node(**kwargs: Any) -> ManagedNode:
    """The node, unconfigured (kwargs go to rclpy's Node, e.g. parameter_overrides)."""
    return ManagedNode(EXECUTABLE, HriRole, **kwargs)


def main(args: list[str] | None = None) -> None:
    """Entry point of `ros2 run face_affect_ros hri_node`."""
    run(make_node, args)


if __name__ == "__main__":
    main()
