"""FaceAffect's pose / engagement fields and TF transforms from People results fit the messages."""

from __future__ import annotations

import math

import numpy as np
import pytest
from face_affect_ros.core.camera_model import CameraModel
from face_affect_ros.core.head_pose import REFERENCE_POINTS_MM
from face_affect_ros.core.people import FaceInput, People
from face_affect_ros.core.rep155 import FACE_TOWARDS_CAMERA
from face_affect_ros.schema.messages import (
    DISTANCE_INVALID,
    ENGAGEMENT_INVALID,
    POSE_SOURCE_LANDMARKS,
    POSE_SOURCE_NONE,
    face_pose_fields,
    transform_fields,
)

CAMERA = CameraModel.ideal(640, 480, 60.0, frame_id="cam_optical")


def people_result(camera: CameraModel | None):
    pts = CAMERA.project(REFERENCE_POINTS_MM / 1000.0 @ FACE_TOWARDS_CAMERA.T + [0.1, 0.0, 1.5])
    x0, y0 = pts.min(0)
    x1, y1 = pts.max(0)
    f = FaceInput("a1", (x0, y0, x1 - x0, y1 - y0), pts)
    return People().step(3.0, [f], camera)[0]


def test_valid_result_fields() -> None:
    fields = face_pose_fields(people_result(CAMERA))
    assert fields["pose_valid"] and fields["pose_source"] == POSE_SOURCE_LANDMARKS
    pos = fields["head_pose"]["position"]
    assert (pos["x"], pos["y"], pos["z"]) == pytest.approx((0.1, 0.0, 1.5), abs=1e-4)
    q = fields["head_pose"]["orientation"]
    assert math.isclose(np.linalg.norm([q["x"], q["y"], q["z"], q["w"]]), 1.0)
    assert fields["distance"] == pytest.approx(math.hypot(0.1, 1.5), abs=1e-4)
    assert 0.0 < fields["engagement"] <= 1.0


def test_invalid_result_fields_say_why() -> None:
    fields = face_pose_fields(people_result(None))
    assert not fields["pose_valid"] and fields["pose_source"] == POSE_SOURCE_NONE
    assert fields["pose_status"] == "no camera_info yet"
    assert fields["distance"] == DISTANCE_INVALID and fields["engagement"] == ENGAGEMENT_INVALID
    assert fields["head_pose"]["orientation"]["w"] == 1.0


def test_fields_build_real_messages_and_match_the_msg_constants() -> None:
    geometry = pytest.importorskip("geometry_msgs.msg")
    msgs = pytest.importorskip("face_affect_msgs.msg")
    tf2 = pytest.importorskip("tf2_msgs.msg")
    person = people_result(CAMERA)
    fields = face_pose_fields(person)
    pose = fields.pop("head_pose")
    msg = msgs.FaceAffect(
        head_pose=geometry.Pose(
            position=geometry.Point(**pose["position"]),
            orientation=geometry.Quaternion(**pose["orientation"]),
        ),
        **fields,
    )
    assert msg.pose_source == msgs.FaceAffect.POSE_SOURCE_LANDMARKS
    assert msgs.FaceAffect.DISTANCE_INVALID == DISTANCE_INVALID
    assert msgs.FaceAffect.ENGAGEMENT_LEVEL_ENGAGED == 3  # hri_msgs/EngagementLevel.ENGAGED
    t = transform_fields(person.face)
    stamped = geometry.TransformStamped(
        child_frame_id=t["child_frame_id"],
        transform=geometry.Transform(
            translation=geometry.Vector3(**t["transform"]["translation"]),
            rotation=geometry.Quaternion(**t["transform"]["rotation"]),
        ),
    )
    stamped.header.frame_id = t["header"]["frame_id"]
    tf = tf2.TFMessage(transforms=[stamped])
    assert tf.transforms[0].header.frame_id == "cam_optical"
    assert tf.transforms[0].child_frame_id == "face_a1"
