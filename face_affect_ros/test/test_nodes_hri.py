"""REP-155 output through the real nodes: either layout + hri_node, as `hri:=true` starts them.

The nodes of each layout are started from bringup.node_specs(hri=True) (the launch file's own
decisions, as test_bringup does), fed camera frames and a camera_info, and every REP-155 topic is
read back by a plain rclpy subscriber with libhri's QoS (reliable, volatile) and compared with
the FaceAffectArray of the same stamp: /humans/faces/tracked, roi, landmarks, expression,
softbiometrics, engagement_status of the person hri_person_manager would associate (a fake
person manager here), and cropped / aligned, which exist only while someone subscribes (the
frame subscription of hri_node comes and goes with them). When the face leaves, its topics go;
an id the loop hands out again after stream time went back is reported (`reused_ids`).
"""

from __future__ import annotations

import itertools
import math
import os
import subprocess
from pathlib import Path

import cv2
import numpy as np
import pytest
import yaml
from face_affect_ros.core.align import ChipAligner
from hri_msgs.msg import (
    EngagementLevel,
    Expression,
    FacialLandmarks,
    IdsList,
    NormalizedRegionOfInterest2D,
    SoftBiometrics,
)
from node_harness import (
    Camera,
    Diagnostics,
    close_client,
    face_frame,
    init_client,
    spin_until,
    stop_nodes,
)
from rclpy.qos import DurabilityPolicy, QoSProfile, ReliabilityPolicy, qos_profile_sensor_data
from sensor_msgs.msg import CameraInfo, Image
from std_msgs.msg import String
from test_nodes_people import camera_info

from face_affect_msgs.msg import FaceAffect
from face_affect_ros import bringup

CAM = "/hri_cam/image"
SHIPPED = Path(__file__).resolve().parents[1] / "config" / "face_affect.yaml"
#: libhri subscribes with SystemDefaultsQoS: reliable, volatile (deeper here to keep history).
LIBHRI_QOS = QoSProfile(
    depth=50, reliability=ReliabilityPolicy.RELIABLE, durability=DurabilityPolicy.VOLATILE
)
LATCHED = QoSProfile(
    depth=1, reliability=ReliabilityPolicy.RELIABLE, durability=DurabilityPolicy.TRANSIENT_LOCAL
)
PERSON = "anonymous_person_test1"
EMOTION_TO_HRI = {
    "neutral": Expression.NEUTRAL,
    "angry": Expression.ANGRY,
    "sad": Expression.SAD,
    "happy": Expression.HAPPY,
    "surprise": Expression.SURPRISED,
    "disgust": Expression.DISGUSTED,
    "fear": Expression.SCARED,
}


def _key(header) -> int:
    return header.stamp.sec * 10**9 + header.stamp.nanosec


class Topic:
    """Messages of one topic by stamp."""

    def __init__(self, node, msg_type, name: str, qos=LIBHRI_QOS) -> None:
        self.by_stamp: dict[int, object] = {}
        self.sub = node.create_subscription(msg_type, name, self._on, qos)

    def _on(self, msg) -> None:
        self.by_stamp[_key(msg.header)] = msg


@pytest.fixture(scope="module")
def client():
    node = init_client("hri_test_client")
    yield node
    close_client(node)


@pytest.fixture(scope="module", params=sorted(bringup.LAYOUTS))
def nodes(client, request, tmp_path_factory):
    """The layout's nodes and hri_node, as `hri:=true` starts them; yields (namespace, frames).

    The single layout runs with `age` on (a params file, as a robot would give it), the split
    one with the shipped file (age off), so softbiometrics is checked both ways.
    """
    layout = request.param
    ns = f"hri_{layout}"
    params_file = ""
    if layout == "single":
        shipped = yaml.safe_load(SHIPPED.read_text())
        shipped["/**/face_affect_node"]["ros__parameters"]["age"] = True
        path = tmp_path_factory.mktemp("hri_params") / "age_on.yaml"
        path.write_text(yaml.safe_dump(shipped))
        params_file = str(path)
    specs = bringup.node_specs(
        layout=layout, camera_topic=CAM, namespace=ns, params_file=params_file, hri=True
    )
    assert [s.executable for s in specs] == [*bringup.LAYOUTS[layout], "hri_node"]
    # Where hri_node takes its frames from: the camera, or camera_node's decoded frames.
    frames = CAM if layout == "single" else f"/{ns}/{bringup.SPLIT_FRAMES_TOPIC}"
    procs = [
        subprocess.Popen(
            spec.command(),
            env={**os.environ, **spec.env},
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
        )
        for spec in specs
    ]
    yield ns, frames
    for code, _, err in stop_nodes(procs):
        assert code == 0 and "Traceback" not in err, err[-3000:]


def _hri_subscribes(client, ns: str, topic: str) -> bool:
    try:
        subs = client.get_subscriber_names_and_types_by_node("hri_node", f"/{ns}")
    except Exception:  # node info not discovered yet
        return False
    return topic in {name for name, _ in subs}


def test_rep155_topics_match_the_results_of_the_same_frame(client, nodes) -> None:
    ns_nodes, frames_topic = nodes

    def hri_on_frames() -> bool:
        return _hri_subscribes(client, ns_nodes, frames_topic)

    cam = Camera(client, CAM, results=f"/{ns_nodes}/face_affect")
    info_pub = client.create_publisher(CameraInfo, "/hri_cam/camera_info", qos_profile_sensor_data)
    tracked = Topic(client, IdsList, "/humans/faces/tracked")
    assert cam.wait_ready(60.0)
    assert spin_until(client, lambda: client.count_publishers("/humans/faces/tracked") > 0, 30)
    # The localising node takes camera_info itself (depth 1, no executor): wait until it has
    # matched our publisher (discovery is slower on Kilted), or the 30 frames may all go first.
    assert spin_until(client, lambda: info_pub.get_subscription_count() > 0, 30)
    frame = face_frame()

    # A face with a valid pose (camera_info received) and its id on /humans/faces/tracked.
    frames = itertools.count(1)  # frame numbers (stamps) of this test, never reused
    face_id, i = None, 0
    for i in itertools.islice(frames, 30):
        info_pub.publish(camera_info())
        result = cam.send(cam.image(frame, i), i)
        if result is not None and result.faces and result.faces[0].pose_valid:
            face_id = result.faces[0].id
            break
    assert face_id, "no tracked face with a pose"
    # Our subscription to /humans/faces/tracked (reliable, depth 1) may not be matched yet by
    # the first frames' publishes (discovery is slower on Kilted): more frames until one comes.
    for _ in range(20):
        key = cam.key(i)
        if spin_until(client, lambda key=key: key in tracked.by_stamp, 2.0):
            break
        i = next(frames)
        info_pub.publish(camera_info())
        assert cam.send(cam.image(frame, i), i) is not None
    assert cam.key(i) in tracked.by_stamp, "no /humans/faces/tracked for the frames sent"
    assert list(tracked.by_stamp[cam.key(i)].ids) == [face_id]
    assert face_id[0].isalpha()

    ns = f"/humans/faces/{face_id}"
    topics = {
        "roi": Topic(client, NormalizedRegionOfInterest2D, f"{ns}/roi"),
        "landmarks": Topic(client, FacialLandmarks, f"{ns}/landmarks"),
        "expression": Topic(client, Expression, f"{ns}/expression"),
        "softbiometrics": Topic(client, SoftBiometrics, f"{ns}/softbiometrics"),
    }
    # A person manager associating a person with our face (latched face_id, as it does).
    persons_pub = client.create_publisher(IdsList, "/humans/persons/tracked", LIBHRI_QOS)
    face_id_pub = client.create_publisher(String, f"/humans/persons/{PERSON}/face_id", LATCHED)
    face_id_pub.publish(String(data=face_id))
    engagement = Topic(client, EngagementLevel, f"/humans/persons/{PERSON}/engagement_status")
    assert spin_until(
        client, lambda: all(client.count_publishers(f"{ns}/{t}") == 1 for t in topics), 10.0
    )
    assert not hri_on_frames(), "camera subscribed while no chip is wanted"

    checked, ages = [], []
    for i in itertools.islice(frames, 40):
        persons_pub.publish(IdsList(ids=[PERSON]))
        result = cam.send(cam.image(frame, i), i)
        key = cam.key(i)
        if result is None or [f.id for f in result.faces] != [face_id]:
            continue

        def arrived(key=key) -> bool:
            return all(key in t.by_stamp for t in topics.values()) and key in engagement.by_stamp

        if not spin_until(client, arrived, 3.0):
            continue
        checked.append(i)
        face, w, h = result.faces[0], result.image_width, result.image_height
        roi = topics["roi"].by_stamp[key]
        assert (roi.xmin, roi.ymin, roi.xmax, roi.ymax) == pytest.approx(
            (
                face.roi.x_offset / w,
                face.roi.y_offset / h,
                (face.roi.x_offset + face.roi.width) / w,
                (face.roi.y_offset + face.roi.height) / h,
            ),
            abs=1e-6,
        )
        assert roi.c == pytest.approx(face.detection_confidence)
        lm = topics["landmarks"].by_stamp[key]
        assert (lm.width, lm.height) == (w, h) and len(lm.landmarks) == 70
        for n, index in enumerate(
            [
                FacialLandmarks.RIGHT_PUPIL,
                FacialLandmarks.LEFT_PUPIL,
                FacialLandmarks.NOSE,
                FacialLandmarks.MOUTH_OUTER_RIGHT,
                FacialLandmarks.MOUTH_OUTER_LEFT,
            ]
        ):
            p = lm.landmarks[index]
            assert (p.x * w, p.y * h) == pytest.approx(
                (face.landmarks[2 * n], face.landmarks[2 * n + 1]), abs=1e-3
            )
            assert p.c == pytest.approx(face.detection_confidence)
        # The person's right eye (RIGHT_PUPIL) is on the image's left.
        right, left = FacialLandmarks.RIGHT_PUPIL, FacialLandmarks.LEFT_PUPIL
        assert lm.landmarks[right].x < lm.landmarks[left].x
        absent = [p for k, p in enumerate(lm.landmarks) if k not in (68, 69, 30, 48, 54)]
        assert all((p.x, p.y, p.c) == (0.0, 0.0, 0.0) for p in absent)
        ex = topics["expression"].by_stamp[key]
        assert ex.expression == EMOTION_TO_HRI[face.emotion]
        assert ex.confidence == pytest.approx(face.emotion_confidence)
        assert np.isnan(ex.valence) and np.isnan(ex.arousal)
        sb = topics["softbiometrics"].by_stamp[key]
        gender = {"woman": SoftBiometrics.FEMALE, "man": SoftBiometrics.MALE}
        assert sb.gender == gender.get(face.gender, SoftBiometrics.UNDEFINED)
        assert sb.gender_confidence == pytest.approx(face.gender_confidence)
        if face.age_years == FaceAffect.AGE_OFF:
            assert (sb.age, sb.age_confidence) == (0, 0.0)
        else:  # P(|apparent age - published| <= 5 years) under the model's normal spread
            ages.append(sb.age)
            assert sb.age == round(face.age_years)
            want = math.erf(5.0 / (face.age_spread * math.sqrt(2.0)))
            assert sb.age_confidence == pytest.approx(want, rel=1e-5)
        assert engagement.by_stamp[key].level == face.engagement_level
        if len(checked) >= 3 and face.engagement_level != EngagementLevel.UNKNOWN:
            break
    assert len(checked) >= 3, checked
    assert bool(ages) == ("single" in ns_nodes), ages  # age on in the single layout only
    # The astronaut looks into the camera from ~1 m: the level leaves UNKNOWN once the window
    # has samples, and hri_node passes it on.
    levels = [engagement.by_stamp[cam.key(k)].level for k in checked]
    assert levels[-1] in (EngagementLevel.ENGAGING, EngagementLevel.ENGAGED), levels

    # Chips: only while subscribed; the camera subscription follows.
    cropped = Topic(client, Image, f"{ns}/cropped")
    aligned = Topic(client, Image, f"{ns}/aligned")
    got, subscribed = None, False
    for i in itertools.islice(frames, 30):
        result = cam.send(cam.image(frame, i), i)
        subscribed = subscribed or hri_on_frames()
        key = cam.key(i)
        both = lambda key=key: key in cropped.by_stamp and key in aligned.by_stamp  # noqa: E731
        if result is not None and result.faces and spin_until(client, both, 2.0):
            got = (result, cropped.by_stamp[key], aligned.by_stamp[key])
            break
    assert subscribed, "hri_node did not subscribe to the camera for the chips"
    assert got is not None, "no cropped / aligned image"
    result, crop_msg, align_msg = got
    face = result.faces[0]
    for msg in (crop_msg, align_msg):
        assert (msg.width, msg.height, msg.encoding) == (128, 128, "bgr8")
        assert msg.header.frame_id == result.header.frame_id
    crop = np.frombuffer(bytes(crop_msg.data), np.uint8).reshape(128, 128, 3)
    r = face.roi
    box = frame[r.y_offset : r.y_offset + r.height, r.x_offset : r.x_offset + r.width]
    scale = 128 / max(r.width, r.height)
    sw, sh = round(r.width * scale), round(r.height * scale)
    ox, oy = (128 - sw) // 2, (128 - sh) // 2
    want = cv2.resize(box, (sw, sh), interpolation=cv2.INTER_AREA)
    diff = np.abs(crop[oy : oy + sh, ox : ox + sw].astype(int) - want.astype(int))
    assert diff.mean() < 2.0, diff.mean()
    chip = np.frombuffer(bytes(align_msg.data), np.uint8).reshape(128, 128, 3)
    lms = np.reshape(np.asarray(face.landmarks, np.float64), (5, 2))
    assert np.abs(chip.astype(int) - ChipAligner((128, 128)).chip(frame, lms)).mean() < 1.0

    client.destroy_subscription(cropped.sub)
    client.destroy_subscription(aligned.sub)
    for i in itertools.islice(frames, 20):  # hri_node notices on the next results
        cam.send(cam.image(frame, i), i)
        if spin_until(client, lambda: not hri_on_frames(), 1.0):
            break
    assert not hri_on_frames(), "camera still subscribed without chip subscriber"

    # The face leaves: tracked empties and its topics are destroyed.
    empty = np.full_like(frame, 90)
    for i in itertools.islice(frames, 20):
        result = cam.send(cam.image(empty, i), i)
        if result is not None and not result.faces:
            break
    assert spin_until(client, lambda: list(tracked.by_stamp[max(tracked.by_stamp)].ids) == [], 5)
    assert spin_until(client, lambda: client.count_publishers(f"{ns}/roi") == 0, 10.0)
    assert client.count_publishers(f"{ns}/landmarks") == 0


def test_an_id_seen_again_after_time_went_back_is_reported(client, nodes) -> None:
    """The loop restarts its numbering when stream time goes backwards: hri_node says so."""
    ns_nodes, _ = nodes
    cam = Camera(client, CAM, results=f"/{ns_nodes}/face_affect")
    diag = Diagnostics(client)
    assert cam.wait_ready(60.0)
    frame = face_frame()

    def first_id(numbers) -> str | None:
        for i in numbers:
            result = cam.send(cam.image(frame, i), i)
            if result is not None and result.faces:
                return result.faces[0].id
        return None

    later = first_id(range(1000, 1030))
    assert later is not None
    cam.send(cam.image(np.full_like(frame, 90), 1030), 1030)  # the track goes
    # Stamps before the previous ones: a new stream for the loop, ids from face_1 again.
    earlier = first_id(range(500, 530))
    assert earlier == "face_1", (later, earlier)  # face_1 was tracked before in this run

    def reused(status) -> bool:
        return int({kv.key: kv.value for kv in status.values}.get("reused_ids", 0)) >= 1

    status = diag.wait(f"/{ns_nodes}/hri_node", reused, 10.0)
    assert status is not None, diag.values(f"/{ns_nodes}/hri_node")
