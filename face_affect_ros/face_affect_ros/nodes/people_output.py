"""camera_info (and a registered depth image) in; each track's 3D fields and REP-155 TF out.

Why a part of its own: the nodes that localise faces (face_affect_node, detector_node) both
turn their tracks into people in the robot's world the same way, with the ROS-free
:class:`~face_affect_ros.core.people.People`. This part only translates: camera_info ->
:class:`~face_affect_ros.core.camera_model.CameraModel`, depth Image -> array, Person -> the
messages' 3D fields and ``face_<id>`` / ``gaze_<id>`` transforms on ``/tf``, published the way
tf2_ros' TransformBroadcaster does (TFMessage, reliable, depth 100), stamped with the image's
stamp.

Topics (relative, remapped by the launch file): ``camera_info`` (sensor_msgs/CameraInfo, the
camera topic's sibling as image_transport's camera subscribers use it) and, with ``use_depth``,
``depth`` (sensor_msgs/Image 16UC1 in mm or 32FC1 in m, registered to the colour image). Until a
valid camera_info has arrived every 3D field is invalid with ``pose_status`` saying why, and
diagnostics turn WARN with the same reason.

Both inputs are taken by the worker, not received through the executor (as the camera is in
face_affect_node, nodes/frame_taker.py): a camera driver publishes camera_info with every frame,
and each message an rclpy executor callback receives costs a wake-up of the executor and the
conversion of the message, whether the node uses it or not (a 640x480 depth image ~4 ms, the
camera frame's own cost). Here the middleware keeps the newest of each (history depth 1) and the
worker takes it when it processes a frame; a camera_info equal to the one in use is not parsed
again.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

import numpy as np
from geometry_msgs.msg import Quaternion, TransformStamped, Vector3
from rclpy.qos import DurabilityPolicy, QoSProfile, ReliabilityPolicy, qos_profile_sensor_data
from sensor_msgs.msg import CameraInfo, Image
from std_msgs.msg import Header
from tf2_msgs.msg import TFMessage

from face_affect_ros.core.camera_model import CameraModel
from face_affect_ros.core.engagement import EngagementConfig
from face_affect_ros.core.localise import TrackedFace
from face_affect_ros.core.loop_config import loop_stamp
from face_affect_ros.core.people import FaceInput, People, PeopleConfig
from face_affect_ros.nodes.frame_taker import TakenSubscription
from face_affect_ros.schema.messages import face_pose_fields, transform_fields

#: tf2_ros.TransformBroadcaster's QoS: reliable, volatile, keep last 100.
TF_QOS = QoSProfile(
    depth=100, reliability=ReliabilityPolicy.RELIABLE, durability=DurabilityPolicy.VOLATILE
)
#: A depth image is used for a colour frame only if their stamps are this close (seconds):
#: a registered depth stream runs at the colour rate, so half a 30 Hz period.
DEPTH_SYNC_S = 0.017
#: pose_status of faces without a track id (tracking off): 3D state lives per track.
NEEDS_TRACKING = "3D localisation needs tracking (ids)"
#: Parameters whose change rebuilds the per-stream 3D state (filters and levels restart).
ENGAGEMENT_PARAMS = frozenset(
    {
        "engagement_field_of_view",
        "engagement_max_distance",
        "engagement_threshold",
        "engagement_window",
    }
)
#: Depth encodings accepted (REP-118): millimetres in uint16, metres in float32.
DEPTH_ENCODINGS = {"16UC1": np.uint16, "mono16": np.uint16, "32FC1": np.float32}


def people_config(params: Mapping[str, Any]) -> PeopleConfig:
    """The core's PeopleConfig of a node's parameter values; ValueError says what is wrong."""
    return PeopleConfig(
        engagement=EngagementConfig(
            field_of_view_deg=params["engagement_field_of_view"],
            max_distance_m=params["engagement_max_distance"],
            threshold=params["engagement_threshold"],
            observation_window_s=params["engagement_window"],
        )
    )


def depth_array(msg: Image) -> np.ndarray:
    """The depth image of a message as uint16 (mm) or float32 (m); ValueError if unusable."""
    dtype = DEPTH_ENCODINGS.get(msg.encoding)
    if dtype is None:
        raise ValueError(f"depth encoding {msg.encoding!r}: 16UC1 (mm) or 32FC1 (m) expected")
    item = np.dtype(dtype).itemsize
    width, height, step = int(msg.width), int(msg.height), int(msg.step)
    if width <= 0 or height <= 0 or step < width * item or len(msg.data) != step * height:
        raise ValueError(f"depth image {width}x{height} step {step}: data is {len(msg.data)} B")
    rows = np.frombuffer(bytes(msg.data), np.uint8).reshape(height, step)[:, : width * item]
    out = rows.copy().view(np.dtype(dtype).newbyteorder(">" if msg.is_bigendian else "<"))
    return out.astype(dtype, copy=False)


class PeopleOutput:
    """The 3D part of a localising node: subscriptions, per-frame step, /tf publisher."""

    def __init__(self, node: Any) -> None:
        self.node = node
        self.people: People | None = None  # used by the worker only
        self._camera: CameraModel | None = None
        self._camera_problem = "no camera_info yet"
        self._camera_key: tuple | None = None
        self._depth: Image | None = None
        self._info_sub: TakenSubscription | None = None
        self._depth_sub: TakenSubscription | None = None
        self._tf = None

    @property
    def enabled(self) -> bool:
        """True when the node localises faces in 3D (``localise_3d``)."""
        return self.people is not None

    def configure(self, params: Mapping[str, Any]) -> None:
        """Build the per-stream state and the /tf publisher (ValueError: bad parameters)."""
        if not params["localise_3d"]:
            self.people = None
            return
        self.people = People(people_config(params))
        if params["publish_tf"]:
            self._tf = self.node.create_publisher(TFMessage, "/tf", TF_QOS)

    def apply(self, params: Mapping[str, Any]) -> None:
        """New engagement parameters for the tracks to come (runs on the worker)."""
        if self.people is not None:
            self.people = People(people_config(params))

    def activate(self) -> None:
        """Subscribe to camera_info (and depth) with sensor-data QoS (matches any publisher)."""
        if self.people is None:
            return
        qos = QoSProfile(depth=1)
        qos.reliability = qos_profile_sensor_data.reliability
        qos.durability = qos_profile_sensor_data.durability
        self._info_sub = TakenSubscription(self.node, CameraInfo, "camera_info", qos)
        if self.node.params["use_depth"]:
            self._depth_sub = TakenSubscription(self.node, Image, "depth", qos)

    def deactivate(self) -> None:
        """Drop the subscriptions (after the worker stopped: it takes from them)."""
        for sub in (self._info_sub, self._depth_sub):
            if sub is not None:
                sub.destroy()
        self._info_sub = self._depth_sub = None

    def cleanup(self) -> None:
        """Drop the /tf publisher and the state."""
        if self._tf is not None:
            self.node.destroy_publisher(self._tf)
        self._tf = None
        self.people = None
        self._camera = None
        self._camera_key = None
        self._camera_problem = "no camera_info yet"

    # ------------------------------------------------------------------ inputs (worker)
    def _take_inputs(self) -> None:
        """Take the newest camera_info and depth image, if new ones arrived (never waits)."""
        if self._info_sub is not None:
            taken = self._info_sub.take_now()
            if taken is not None:
                self._on_camera_info(taken[0])
        if self._depth_sub is not None:
            taken = self._depth_sub.take_now()
            if taken is not None:
                self._depth = taken[0]

    def _on_camera_info(self, msg: CameraInfo) -> None:
        key = (
            msg.width,
            msg.height,
            msg.distortion_model,
            tuple(msg.d),
            tuple(msg.k),
            tuple(msg.r),
            tuple(msg.p),
            msg.header.frame_id,
        )
        if key == self._camera_key:
            return  # the same calibration as in use (a driver sends it with every frame)
        self._camera_key = key
        try:
            self._camera = CameraModel.from_camera_info(
                msg.width,
                msg.height,
                msg.distortion_model,
                msg.d,
                msg.k,
                msg.r,
                msg.p,
                msg.header.frame_id,
                rectified=bool(self.node.params["rectified"]),
            )
            self._camera_problem = ""
        except ValueError as exc:
            self._camera = None
            self._camera_problem = f"unusable camera_info: {exc}"
            self.node.stats.count("error_camera_info")
            self.node.get_logger().warning(self._camera_problem, throttle_duration_sec=10.0)

    def _depth_for(self, stamp: float) -> np.ndarray | None:
        msg = self._depth
        if msg is None:
            return None
        if abs(loop_stamp(msg.header.stamp.sec, msg.header.stamp.nanosec) - stamp) > DEPTH_SYNC_S:
            self.node.stats.count("depth_not_in_sync")
            return None
        try:
            return depth_array(msg)
        except ValueError as exc:
            self.node.stats.count("error_depth")
            self.node.get_logger().warning(f"depth image refused: {exc}", throttle_duration_sec=10)
            return None

    def step(
        self,
        header: Header,
        stamp: float,
        image_size: tuple[int, int],
        faces: Sequence[TrackedFace],
    ) -> dict[str, dict[str, Any]]:
        """3D fields of this frame's tracked faces, by track id; publishes their TF frames.

        Empty when 3D is off (the messages then say "not run"); faces without an id get the
        invalid fields with the reason.
        """
        people = self.people
        if people is None:
            return {}
        self._take_inputs()
        tracked = [f for f in faces if f.track_id]
        out = {f.track_id: face_pose_fields(None, NEEDS_TRACKING) for f in faces if not f.track_id}
        inputs = [
            FaceInput(f.track_id, tuple(f.detection.box), np.asarray(f.detection.landmarks))
            for f in tracked
        ]
        depth = self._depth_for(stamp)
        camera = self._camera
        persons = people.step(stamp, inputs, camera, depth, image_size, header.frame_id or None)
        transforms = []
        for person in persons:
            fields = face_pose_fields(person)
            if not person.valid and camera is None:
                fields["pose_status"] = self._camera_problem or fields["pose_status"]
            out[person.track_id] = fields
            for tf in (person.face, person.gaze):
                if tf is not None:
                    transforms.append(self._transform(header, tf))
        if transforms and self._tf is not None:
            self._tf.publish(TFMessage(transforms=transforms))
        return out

    @staticmethod
    def _transform(header: Header, tf: Any) -> TransformStamped:
        fields = transform_fields(tf)
        msg = TransformStamped(child_frame_id=fields["child_frame_id"])
        msg.header.stamp = header.stamp
        msg.header.frame_id = fields["header"]["frame_id"]
        msg.transform.translation = Vector3(**fields["transform"]["translation"])
        msg.transform.rotation = Quaternion(**fields["transform"]["rotation"])
        return msg

    def diagnostic_values(self) -> dict[str, str]:
        """camera_info status; a ``warning`` while 3D is on and no usable camera_info is there."""
        if self.people is None:
            return {"localise_3d": "off"}
        camera = self._camera
        values = {
            "localise_3d": "on",
            "camera_info": (
                f"{camera.width}x{camera.height} {camera.frame_id}"
                if camera is not None
                else self._camera_problem
            ),
            "depth": "on" if self.node.params["use_depth"] else "off",
        }
        if camera is None:
            values["warning"] = f"3D fields invalid: {self._camera_problem}"
        return values
