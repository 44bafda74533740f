"""Child process of test_messages: publish one known FaceAffectArray once a subscriber is seen."""

import sys
import time

import rclpy
from rclpy.qos import DurabilityPolicy, QoSProfile, ReliabilityPolicy
from sensor_msgs.msg import RegionOfInterest

from face_affect_msgs.msg import FaceAffect, FaceAffectArray

EMOTIONS = ["angry", "disgust", "fear", "happy", "sad", "surprise", "neutral"]


def build() -> FaceAffectArray:
    msg = FaceAffectArray()
    msg.header.stamp.sec = 1234
    msg.header.stamp.nanosec = 567_000_000
    msg.header.frame_id = "head_camera_rgb_optical_frame"
    msg.image_width, msg.image_height = 640, 480
    msg.emotion_labels = EMOTIONS
    msg.gender_labels = ["woman", "man"]
    for i in range(2):
        face = FaceAffect()
        face.id = f"face_{i}"
        face.roi = RegionOfInterest(x_offset=10 + i, y_offset=20 + i, width=100 + i, height=120 + i)
        face.detection_confidence = 0.9 - 0.1 * i
        face.landmarks = [float(v + i) for v in range(10)]
        face.emotion = FaceAffect.EMOTION_HAPPY
        face.emotion_scores = [0.05, 0.0, 0.05, 0.7, 0.1, 0.05, 0.05]
        face.emotion_confidence = 0.7
        face.gender = FaceAffect.GENDER_UNKNOWN if i else FaceAffect.GENDER_WOMAN
        face.gender_scores = [0.9, 0.1] if i == 0 else [0.55, 0.45]
        face.gender_confidence = max(face.gender_scores)
        msg.faces.append(face)
    return msg


def main() -> None:
    rclpy.init()
    node = rclpy.create_node("face_affect_test_publisher")
    qos = QoSProfile(
        depth=5, reliability=ReliabilityPolicy.RELIABLE, durability=DurabilityPolicy.TRANSIENT_LOCAL
    )
    pub = node.create_publisher(FaceAffectArray, "face_affect", qos)
    deadline = time.monotonic() + 30
    while pub.get_subscription_count() == 0 and time.monotonic() < deadline:
        rclpy.spin_once(node, timeout_sec=0.05)
    if pub.get_subscription_count() == 0:
        print("no subscriber discovered", file=sys.stderr)
        sys.exit(2)
    pub.publish(build())
    print("published", flush=True)
    sys.stdin.read()  # keep the writer alive until the test has its message
    node.destroy_node()
    rclpy.shutdown()


if __name__ == "__main__":
    main()
