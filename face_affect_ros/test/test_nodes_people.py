"""People in 3D through the real nodes: camera_info in, FaceAffect's 3D fields and /tf out.

face_affect_node (and detector_node in the split layout) read the camera's camera_info; until
one arrives the 3D fields are invalid with the reason, and diagnostics warn with it. With it,
the astronaut's face (a 256 px face in a 640x480 frame, 525 px focal length) is placed a few
decimetres in front of the camera, and face_<id> / gaze_<id> come on /tf stamped like the image.
"""

from __future__ import annotations

import signal

import cv2
import numpy as np
import pytest
from diagnostic_msgs.msg import DiagnosticStatus
from lifecycle_msgs.msg import Transition
from lifecycle_msgs.srv import ChangeState
from node_harness import (
    Camera,
    Diagnostics,
    close_client,
    face_frame,
    init_client,
    spin_until,
    start_node,
    stop_nodes,
)
from rclpy.node import Node
from rclpy.qos import qos_profile_sensor_data
from sensor_msgs.msg import CameraInfo
from tf2_msgs.msg import TFMessage

from face_affect_msgs.msg import FaceAffect

FX = 525.0

DIAG_PERIOD = 0.3


@pytest.fixture(scope="module")
def client():
    node = init_client("face_affect_people_client")
    yield node
    close_client(node)


def camera_info(frame_id: str = "test_camera_optical_frame") -> CameraInfo:
    info = CameraInfo(width=640, height=480, distortion_model="plumb_bob")
    info.header.frame_id = frame_id
    info.d = [0.0] * 5
    info.k = [FX, 0.0, 320.0, 0.0, FX, 240.0, 0.0, 0.0, 1.0]
    info.r = [1.0, 0.0, 0.0, 0.0, 1.0, 0.0, 0.0, 0.0, 1.0]
    info.p = [FX, 0.0, 320.0, 0.0, 0.0, FX, 240.0, 0.0, 0.0, 0.0, 1.0, 0.0]
    return info


def test_3d_fields_invalid_until_camera_info_then_pose_distance_and_tf(client) -> None:
    cam_topic = "/p3d_cam/image"
    proc = start_node(
        "face_affect_node",
        "-r",
        f"image:={cam_topic}",
        "-r",
        "camera_info:=/p3d_cam/camera_info",
        "-r",
        "__ns:=/p3d",
        "-p",
        f"diagnostics_period:={DIAG_PERIOD}",
        "-p",
        "no_input_warn_s:=0.0",
    )
    name = "/p3d/face_affect_node"
    tfs: list[TFMessage] = []
    client.create_subscription(TFMessage, "/tf", tfs.append, 100)
    info_pub = client.create_publisher(CameraInfo, "/p3d_cam/camera_info", qos_profile_sensor_data)
    diag = Diagnostics(client)
    try:
        cam = Camera(client, cam_topic, results="/p3d/face_affect")
        assert cam.wait_ready()
        frame = face_frame()
        before = cam.send(cam.image(frame, 1), 1)
        assert before is not None and len(before.faces) == 1
        face = before.faces[0]
        assert not face.pose_valid and face.pose_status == "no camera_info yet"
        assert face.distance == FaceAffect.DISTANCE_INVALID
        assert face.engagement_level == FaceAffect.ENGAGEMENT_LEVEL_UNKNOWN
        status = diag.wait(name, lambda s: s.level == DiagnosticStatus.WARN)
        assert status is not None and "camera_info" in status.message, status

        assert spin_until(client, lambda: info_pub.get_subscription_count() > 0, 10.0)
        info_pub.publish(camera_info())
        after = None
        for i in range(2, 30):  # until the camera_info has arrived (best effort)
            info_pub.publish(camera_info())
            after = cam.send(cam.image(frame, i), i)
            if after is not None and after.faces and after.faces[0].pose_valid:
                break
        assert after is not None and after.faces[0].pose_valid, after
        face = after.faces[0]
        assert face.pose_source == FaceAffect.POSE_SOURCE_LANDMARKS
        # Pinhole: an adult's eye centres are ~63 mm apart, so a face whose eyes are e px apart
        # at f = 525 px is about 525 * 0.063 / e m away (the astronaut faces the camera).
        lm = face.landmarks
        eyes_px = float(np.hypot(lm[2] - lm[0], lm[3] - lm[1]))
        expected = FX * 0.063 / eyes_px
        assert abs(face.distance - expected) < 0.25 * expected, (face.distance, expected)
        p = face.head_pose.position
        assert (
            p.z > 0
            and abs(p.x) < 0.1
            and abs(np.hypot(np.hypot(p.x, p.y), p.z) - face.distance) < 1e-3
        )
        assert spin_until(
            client,
            lambda: any(
                t.child_frame_id == f"face_{face.id}" and t.header.stamp == after.header.stamp
                for m in tfs
                for t in m.transforms
            ),
            5.0,
        ), [t.child_frame_id for m in tfs for t in m.transforms]
        sent = [t for m in tfs for t in m.transforms if t.header.stamp == after.header.stamp]
        assert {t.child_frame_id for t in sent} == {f"face_{face.id}", f"gaze_{face.id}"}
        parents = {t.child_frame_id: t.header.frame_id for t in sent}
        # face_<id> hangs from the image's frame, gaze_<id> from face_<id> (as hri_face_detect).
        assert parents == {
            f"face_{face.id}": "test_camera_optical_frame",
            f"gaze_{face.id}": f"face_{face.id}",
        }
        status = diag.wait(name, lambda s: s.level == DiagnosticStatus.OK)
        assert status is not None, "still WARN with camera_info there"
        assert diag.values(name)["camera_info"].startswith("640x480")
    finally:
        ((code, _, err),) = stop_nodes([proc], signal.SIGINT)
    assert code == 0 and "Traceback" not in err, err[-2000:]


def lifecycle_transition(client: Node, target: str, transition: int) -> bool:
    """Ask `target` for a lifecycle transition through its change_state service."""
    srv = client.create_client(ChangeState, f"{target}/change_state")
    try:
        if not srv.wait_for_service(timeout_sec=10.0):
            return False
        future = srv.call_async(ChangeState.Request(transition=Transition(id=transition)))
        return spin_until(client, future.done, 10.0) and future.result().success
    finally:
        client.destroy_client(srv)


@pytest.fixture(scope="module")
def judge():
    """An independent look at the anonymised frames: YuNet s at 640x480 and a low threshold."""
    from face_affect_ros.core.detector import FaceDetector
    from face_affect_ros.core.paths import model_manifest_path

    return FaceDetector(
        model_manifest_path("yunet_s_dynamic"), input_size=(640, 480), score_threshold=0.3
    )


def test_live_anonymised_stream_masks_faces_and_costs_nothing_unsubscribed(client, judge) -> None:
    from sensor_msgs.msg import CompressedImage, Image

    cam_topic = "/anon_cam/image"
    proc = start_node(
        "face_affect_node",
        "-r",
        f"image:={cam_topic}",
        "-r",
        "__ns:=/anon",
        "-p",
        "anonymise:=true",
        "-p",
        f"diagnostics_period:={DIAG_PERIOD}",
    )
    name = "/anon/face_affect_node"
    diag = Diagnostics(client)
    raw: list[Image] = []
    jpeg: list[CompressedImage] = []
    frame = face_frame()
    assert judge.detect(frame), "the judge must find the face in the original"
    try:
        cam = Camera(client, cam_topic, results="/anon/face_affect")
        assert cam.wait_ready()
        # Unsubscribed: nothing is computed.
        assert cam.send(cam.image(frame, 1), 1) is not None
        status = diag.wait(name, lambda s: True)
        assert status is not None and "anonymised" not in diag.values(name)
        client.create_subscription(
            Image, "/anon/face_affect/anonymised", raw.append, qos_profile_sensor_data
        )
        client.create_subscription(
            CompressedImage,
            "/anon/face_affect/anonymised/compressed",
            jpeg.append,
            qos_profile_sensor_data,
        )
        for i in range(2, 40):
            cam.send(cam.image(frame, i), i)
            if raw and jpeg:
                break
        assert raw and jpeg, "no anonymised frame"
        got = raw[-1]
        assert got.header.frame_id == "test_camera_optical_frame" and got.encoding == "bgr8"
        masked = np.frombuffer(bytes(got.data), np.uint8).reshape(got.height, got.width, 3)
        assert judge.detect(masked) == []
        decoded = cv2.imdecode(np.frombuffer(bytes(jpeg[-1].data), np.uint8), cv2.IMREAD_COLOR)
        assert judge.detect(decoded) == []
        # Only around the face: the frame's corners are the original's.
        assert np.array_equal(masked[:40, :40], frame[:40, :40])
        # While masks are drawn no template follow stands in for a detector look (the
        # parameter's default is 0.9; anonymise is read-only, so this holds for the node's life).
        assert diag.wait(name, lambda s: diag.values(name).get("track_follow_confidence") == "0")
    finally:
        ((code, _, err),) = stop_nodes([proc], signal.SIGINT)
    assert code == 0 and "Traceback" not in err, err[-2000:]


def test_live_anonymised_stream_held_back_publishes_each_frame_after_the_delay(
    client, judge
) -> None:
    """anonymise_delay: frames come out in order, masked, once `delay` of later frames arrived.

    The look-back itself (a face masked before it was found) is tested on the moving sequence
    in test_core_anonymise.py; here the node's part: holding, order, headers, diagnostics.
    """
    from sensor_msgs.msg import Image

    cam_topic = "/held_cam/image"
    proc = start_node(
        "face_affect_node",
        "-r",
        f"image:={cam_topic}",
        "-r",
        "__ns:=/held",
        "-p",
        "anonymise:=true",
        "-p",
        "anonymise_delay:=1.5",
        "-p",
        f"diagnostics_period:={DIAG_PERIOD}",
    )
    name = "/held/face_affect_node"
    diag = Diagnostics(client)
    raw: list[Image] = []
    frame = face_frame()
    try:
        cam = Camera(client, cam_topic, results="/held/face_affect")
        assert cam.wait_ready()
        client.create_subscription(
            Image, "/held/face_affect/anonymised", raw.append, qos_profile_sensor_data
        )
        # Test frames are 1 s apart: frame i comes out when frame i + 2 has been processed.
        # (Frames before the node saw the subscription are neither held nor published.)
        i = 0
        while not raw and i < 30:
            i += 1
            assert cam.send(cam.image(frame, i), i) is not None
            cam.spin(0.05)
        assert raw, "no anonymised frame"
        first = raw[0].header.stamp.sec - 100
        assert first == i - 2, (first, i)
        last = i + 3
        for j in range(i + 1, last + 1):
            assert cam.send(cam.image(frame, j), j) is not None
        assert spin_until(client, lambda: len(raw) >= last - 1 - first, 10.0), len(raw)
        cam.spin(0.3)
        stamps = [m.header.stamp.sec * 10**9 + m.header.stamp.nanosec for m in raw]
        assert stamps == [cam.key(k) for k in range(first, last - 1)], stamps
        for msg in raw:
            masked = np.frombuffer(bytes(msg.data), np.uint8).reshape(msg.height, msg.width, 3)
            assert judge.detect(masked) == []
            assert msg.header.frame_id == "test_camera_optical_frame"
        assert diag.wait(name, lambda s: diag.values(name).get("anonymise_held") == "2"), (
            diag.values(name)
        )
        assert diag.values(name)["anonymise_delay_s"] == "1.5"
        # Deactivated, the two frames held are dropped and counted, never published; active
        # again, they do not come out with the next frames either.
        withheld = diag.counter(name, "anonymised_withheld")
        assert lifecycle_transition(client, name, Transition.TRANSITION_DEACTIVATE)
        assert diag.wait(
            name, lambda s: diag.counter(name, "anonymised_withheld") == withheld + 2
        ), diag.values(name)
        assert lifecycle_transition(client, name, Transition.TRANSITION_ACTIVATE)
        published = len(raw)
        for j in range(last + 1, last + 4):
            assert cam.send(cam.image(frame, j), j) is not None
        assert spin_until(client, lambda: len(raw) > published, 10.0)
        cam.spin(0.3)
        after = [m.header.stamp.sec - 100 for m in raw[published:]]
        assert after and min(after) > last, (after, last)
    finally:
        ((code, _, err),) = stop_nodes([proc], signal.SIGINT)
    assert code == 0 and "Traceback" not in err, err[-2000:]


def test_split_layout_detector_node_publishes_the_held_back_anonymised_stream(
    client, judge
) -> None:
    """The split layout's detector_node: the same anonymised stream, held back, masked."""
    from sensor_msgs.msg import Image

    cam_topic = "/split_anon_cam/image"
    topic = "/split_anon/face_affect/anonymised"
    procs = [
        start_node("camera_node", "-r", f"image:={cam_topic}", "-r", "__ns:=/split_anon"),
        start_node(
            "detector_node",
            "-r",
            "__ns:=/split_anon",
            "-p",
            "anonymise:=true",
            "-p",
            "anonymise_delay:=1.0",
            "-p",
            f"diagnostics_period:={DIAG_PERIOD}",
        ),
    ]
    diag = Diagnostics(client)
    raw: list[Image] = []
    frame = face_frame()
    try:
        cam = Camera(client, cam_topic, results="/split_anon/face_affect")
        client.create_subscription(Image, topic, raw.append, qos_profile_sensor_data)
        assert spin_until(
            client,
            lambda: cam.pub.get_subscription_count() > 0 and client.count_publishers(topic) > 0,
            30.0,
        ), "split layout did not come up"
        sent = 0
        while len(raw) < 3 and sent < 60:
            sent += 1
            cam.pub.publish(cam.image(frame, sent))  # test frames are 1 s apart in stamps
            cam.spin(0.1)
        assert len(raw) >= 3, f"{len(raw)} anonymised frames after {sent} sent"
        cam.spin(0.3)
        seconds = [m.header.stamp.sec - 100 for m in raw]
        assert seconds == sorted(set(seconds)) and seconds[-1] <= sent - 1, (seconds, sent)
        for msg in raw:
            assert msg.header == Camera.header(msg.header.stamp.sec - 100)
            masked = np.frombuffer(bytes(msg.data), np.uint8).reshape(msg.height, msg.width, 3)
            assert judge.detect(masked) == []
        status = diag.wait("/split_anon/detector_node", lambda s: True)
        assert status is not None
        assert diag.values("/split_anon/detector_node")["anonymise_delay_s"] == "1"
    finally:
        for code, _, err in stop_nodes(procs, signal.SIGTERM):
            assert code == 0 and "Traceback" not in err, err[-2000:]
