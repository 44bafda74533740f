"""face_affect_msgs: generated, importable, and carried intact between two processes."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import rclpy
from rclpy.qos import DurabilityPolicy, QoSProfile, ReliabilityPolicy
from ros_helpers import spin_until, start_script, stop
from scripts.publish_face_affect import build

from face_affect_msgs.msg import FaceAffect, FaceAffectArray, FaceDetection, FaceDetectionArray


def test_constants_and_fixed_sizes() -> None:
    assert FaceAffect.GENDER_UNKNOWN == "unknown"
    assert FaceAffect.EMOTION_NEUTRAL == "neutral"
    assert FaceDetection.LEFT_MOUTH_CORNER == 4
    det = FaceDetection()
    assert len(det.landmarks) == 10
    assert FaceDetectionArray().detections == []


def test_face_affect_array_crosses_processes() -> None:
    rclpy.init()
    node = rclpy.create_node("face_affect_test_listener")
    received: list[FaceAffectArray] = []
    qos = QoSProfile(
        depth=5, reliability=ReliabilityPolicy.RELIABLE, durability=DurabilityPolicy.TRANSIENT_LOCAL
    )
    node.create_subscription(FaceAffectArray, "face_affect", received.append, qos)
    child = start_script("publish_face_affect.py")
    try:
        assert spin_until(node, lambda: bool(received), timeout=30), stop(child)
    finally:
        out, err = stop(child)
        node.destroy_node()
        rclpy.shutdown()
    assert "published" in out, err
    got, want = received[0], build()
    assert got.header == want.header
    assert (got.image_width, got.image_height) == (640, 480)
    assert list(got.emotion_labels) == list(want.emotion_labels)
    assert list(got.gender_labels) == ["woman", "man"]
    assert len(got.faces) == 2
    for g, w in zip(got.faces, want.faces, strict=True):
        assert g.id == w.id
        assert g.roi == w.roi
        assert abs(g.detection_confidence - w.detection_confidence) < 1e-6
        assert list(g.landmarks) == list(w.landmarks)
        assert (g.emotion, g.gender) == (w.emotion, w.gender)
        np.testing.assert_array_equal(np.float32(g.emotion_scores), np.float32(w.emotion_scores))
        assert abs(g.gender_confidence - w.gender_confidence) < 1e-6


def test_age_fields_are_off_by_default_and_filled_when_on() -> None:
    import cv2
    from face_affect_ros.core.pipeline import FaceAffectPipeline, PipelineConfig
    from face_affect_ros.nodes.messages import frame_result_to_msg
    from skimage import data
    from std_msgs.msg import Header

    image = cv2.cvtColor(data.astronaut(), cv2.COLOR_RGB2BGR)
    off = frame_result_to_msg(Header(), FaceAffectPipeline().process(image)).faces[0]
    assert off.age_years == off.age_spread == off.minor_probability == FaceAffect.AGE_OFF == -1
    result = FaceAffectPipeline(PipelineConfig(age=True)).process(image)
    on = frame_result_to_msg(Header(), result).faces[0]
    face = result.faces[0]
    assert on.age_years == np.float32(face.age_years) and 20 < on.age_years < 65
    assert on.age_spread == np.float32(face.age_spread)
    assert on.minor_probability == np.float32(face.minor_probability) < 0.1


def test_detection_and_affect_carry_the_same_3d_block() -> None:
    """FaceDetection's 3D fields are FaceAffect's, line for line (the classifier copies them)."""
    msg_dir = Path(__file__).resolve().parents[2] / "face_affect_msgs" / "msg"

    def block(name: str) -> list[str]:
        text = (msg_dir / name).read_text()
        lines = text[text.index("# ---- Where the head is") :].splitlines()
        return [line for line in lines if line and not line.startswith("#")]

    affect, detection = block("FaceAffect.msg"), block("FaceDetection.msg")
    assert affect == detection
    assert "geometry_msgs/Pose head_pose" in affect
