"""The ROS nodes across real processes: results, layouts, bad input, parameters, lifecycle, exit.

Every node runs in its own process as on a robot (python -m face_affect_ros.nodes.<node>), with the
test-wide environment of conftest.py; the test process is the camera and the behaviour listening
on face_affect.
"""

from __future__ import annotations

import signal

import cv2
import numpy as np
import pytest
from diagnostic_msgs.msg import DiagnosticStatus
from face_affect_ros.core.labels import FER7
from face_affect_ros.core.pipeline import FaceAffectPipeline, PipelineConfig
from face_affect_ros.schema.params import SPEC_BY_NAME
from node_harness import (
    Camera,
    Diagnostics,
    close_client,
    face_frame,
    init_client,
    lifecycle_state,
    start_node,
    stop_nodes,
)
from rcl_interfaces.msg import Parameter, ParameterType, ParameterValue
from rcl_interfaces.srv import SetParameters
from rclpy.qos import qos_profile_sensor_data
from ros_helpers import spin_until
from sensor_msgs.msg import CompressedImage, Image

CAM = "/test_cam/image"
SINGLE = "/single/face_affect_node"
# Short diagnostics period: the tests read counters from /diagnostics.
DIAG_PERIOD = 0.2


def _accounted(values: dict[str, str], before: dict[str, str]) -> dict[str, int]:
    """Counter deltas; `balanced` is 1 when every received frame has exactly one outcome."""

    def delta(key: str) -> int:
        return int(values.get(key, 0)) - int(before.get(key, 0))

    errors = sum(delta(k) for k in set(values) | set(before) if k.startswith("error_"))
    out = {k: delta(k) for k in ("received", "processed", "dropped_rate", "dropped_stale")}
    outcomes = out["processed"] + out["dropped_rate"] + out["dropped_stale"] + errors
    out["balanced"] = int(out["received"] > 0 and out["received"] == outcomes)
    return out


@pytest.fixture(scope="module")
def client():
    node = init_client("face_affect_test_client")
    yield node
    close_client(node)


@pytest.fixture(scope="module")
def frame() -> np.ndarray:
    return face_frame()


@pytest.fixture(scope="module")
def expected(frame):
    return FaceAffectPipeline(PipelineConfig(tracking=False)).process(frame)


@pytest.fixture(scope="module")
def single(client):
    # Per-frame mode: every frame independent, so results equal FaceAffectPipeline.process.
    # The perception loop over time (tracking on, the default) has its own test below.
    proc = start_node(
        "face_affect_node",
        "-r",
        f"image:={CAM}",
        "-r",
        "__ns:=/single",
        "-p",
        f"diagnostics_period:={DIAG_PERIOD}",
        "-p",
        "tracking:=false",
    )
    cam = Camera(client, CAM, results="/single/face_affect")
    try:
        assert cam.wait_ready(), "face_affect_node did not come up"
        yield proc, cam
    finally:
        ((code, _, err),) = stop_nodes([proc], signal.SIGINT)
        assert code == 0, err[-2000:]
        assert "Traceback" not in err, err[-2000:]


def _assert_same_faces(got, want, box_tol: float = 1.0, prob_tol: float = 1e-4) -> None:
    assert len(got.faces) == len(want.faces)
    for g, w in zip(got.faces, want.faces, strict=True):
        x, y, bw, bh = (
            w.detection.box
            if hasattr(w, "detection")
            else (w.roi.x_offset, w.roi.y_offset, w.roi.width, w.roi.height)
        )
        assert abs(g.roi.x_offset - max(0, x)) <= box_tol + 1
        assert abs(g.roi.y_offset - max(0, y)) <= box_tol + 1
        assert abs(g.roi.width - bw) <= box_tol + 2
        assert abs(g.roi.height - bh) <= box_tol + 2
        assert g.emotion == w.emotion
        assert g.gender == w.gender
        np.testing.assert_allclose(g.emotion_scores, w.emotion_scores, atol=prob_tol)
        np.testing.assert_allclose(g.gender_scores, w.gender_scores, atol=prob_tol)


def test_single_process_publishes_core_results(single, frame, expected) -> None:
    _, cam = single
    result = cam.send(cam.image(frame, 1), 1)
    assert result is not None, "no FaceAffectArray for the frame"
    assert result.header == Camera.header(1)  # stamp and frame_id copied from the image
    assert (result.image_width, result.image_height) == (640, 480)
    assert list(result.emotion_labels) == list(expected.emotion_labels)
    assert list(result.gender_labels) == ["woman", "man"]
    assert len(result.faces) == 1
    face = result.faces[0]
    assert face.emotion == "happy"
    # The default gender model (gender_dlib_v1) says woman with p = 0.92 on this 256x192
    # detection, below its calibrated 0.95: it abstains, and must never say man.
    assert face.gender == expected.faces[0].gender and face.gender in ("woman", "unknown")
    assert face.gender_scores[0] > 0.9
    assert face.id == ""  # per-frame mode: no track ids
    # The box is on the face: it contains both eyes and the mouth corners.
    pts = np.asarray(face.landmarks).reshape(5, 2)
    assert np.all(pts[:, 0] > face.roi.x_offset) and np.all(
        pts[:, 0] < face.roi.x_offset + face.roi.width
    )
    assert np.all(pts[:, 1] > face.roi.y_offset) and np.all(
        pts[:, 1] < face.roi.y_offset + face.roi.height
    )
    _assert_same_faces(result, expected, prob_tol=1e-5)


def test_empty_frames_are_published_too(single) -> None:
    _, cam = single
    result = cam.send(cam.image(np.full((480, 640, 3), 127, np.uint8), 2), 2)
    assert result is not None and list(result.faces) == []


def test_bad_frames_counted_logged_and_next_frame_processed(single, client, frame) -> None:
    proc, cam = single
    diag = Diagnostics(client)
    assert diag.wait(SINGLE, lambda s: True), "no /diagnostics from the node"
    bad = [
        (
            Image(
                header=Camera.header(10),
                encoding="16UC1",
                width=4,
                height=4,
                step=8,
                data=bytes(32),
            ),
            "error_unsupported_encoding",
        ),
        (
            Image(
                header=Camera.header(11),
                encoding="bgr8",
                width=64,
                height=48,
                step=192,
                data=bytes(100),
            ),  # data length is not step x height
            "error_bad_image",
        ),
        (
            Image(header=Camera.header(12), encoding="bgr8", width=0, height=0, step=0),
            "error_bad_image",
        ),
        (
            Image(
                header=Camera.header(13),
                encoding="bayer_rggb8",
                width=4,
                height=4,
                step=4,
                data=bytes(16),
            ),
            "error_unsupported_encoding",
        ),
    ]
    # One at a time, each until its own counter moved: newest-frame-wins cannot replace one bad
    # frame by the next, so each is decoded and refused for its own reason.
    for msg, key in bad:
        before = diag.counter(SINGLE, key)
        for _ in range(3):  # best effort: resend if the middleware lost it
            cam.pub.publish(msg)
            if diag.wait(SINGLE, lambda s, k=key, b=before: diag.counter(SINGLE, k) > b, 5):
                break
        assert diag.counter(SINGLE, key) == before + 1, (msg.encoding, key, diag.values(SINGLE))
    result = cam.send(cam.image(frame, 14), 14)
    assert result is not None and len(result.faces) == 1, "good frame after bad ones was lost"
    assert proc.poll() is None, "node died on bad input"
    warned = [s.message for s in diag.history[SINGLE] if s.level == DiagnosticStatus.WARN]
    assert any("bad input frame" in m for m in warned), warned
    values = diag.values(SINGLE)
    assert values["models_loaded"].startswith("yunet")
    assert "detector_looks" not in values  # per-frame mode: no perception loop, no look schedule
    assert diag.wait(SINGLE, lambda s: float(diag.values(SINGLE).get("latency_median_ms", 0)) > 0)


def _set(client, node: str, name: str, value) -> tuple[bool, str]:
    srv = client.create_client(SetParameters, f"{node}/set_parameters")
    assert srv.wait_for_service(timeout_sec=10)
    if isinstance(value, str):
        pv = ParameterValue(type=ParameterType.PARAMETER_STRING, string_value=value)
    else:
        pv = ParameterValue(type=ParameterType.PARAMETER_DOUBLE, double_value=float(value))
    future = srv.call_async(SetParameters.Request(parameters=[Parameter(name=name, value=pv)]))
    assert spin_until(client, future.done, 10)
    client.destroy_client(srv)
    res = future.result().results[0]
    return res.successful, res.reason


def test_runtime_parameter_change_applies_to_next_frame(single, client, frame) -> None:
    _, cam = single
    try:
        ok, reason = _set(client, SINGLE, "label_set", "bogus")
        assert not ok and "label_set" in reason
        ok, reason = _set(client, SINGLE, "score_threshold", 5.0)
        assert not ok, "out-of-range threshold accepted"
        ok, reason = _set(client, SINGLE, "label_set", "hierarchical3")
        assert ok, reason
        result = cam.send(cam.image(frame, 20), 20)
        assert list(result.emotion_labels) == ["happy", "sad", "other"]
        assert result.faces[0].emotion == "happy"
        assert len(result.faces[0].emotion_scores) == 3
        assert abs(sum(result.faces[0].emotion_scores) - 1) < 1e-5
        # Track ids across a change: test_default_node_runs_the_perception_loop_over_time.
        ok, _ = _set(client, SINGLE, "score_threshold", 0.99)
        assert ok
        result = cam.send(cam.image(frame, 21), 21)
        assert list(result.faces) == [], "threshold 0.99 still found the face"
    finally:
        for name in ("score_threshold", "label_set"):
            assert _set(client, SINGLE, name, SPEC_BY_NAME[name].default)[0], name
    result = cam.send(cam.image(frame, 22), 22)
    assert len(result.faces) == 1 and tuple(result.emotion_labels) == FER7


def test_split_layout_matches_single_process(client, single, frame) -> None:
    _, single_cam = single
    diag = Diagnostics(client)
    want = single_cam.send(single_cam.image(frame, 30), 30)
    cam_topic = "/split_cam/image"
    # Per-frame mode on both halves, as the `single` fixture; the loop in the split layout is
    # compared with the single node and the bag tool in test_offline_online.py.
    procs = [
        start_node("camera_node", "-r", f"image:={cam_topic}", "-r", "__ns:=/split"),
        start_node("detector_node", "-r", "__ns:=/split", "-p", "tracking:=false"),
        start_node("classifier_node", "-r", "__ns:=/split", "-p", "tracking:=false"),
    ]
    try:
        cam = Camera(client, cam_topic, results="/split/face_affect")
        assert cam.wait_ready(), "split layout did not come up"
        # The classifier needs the detector and camera too: wait until frames flow end to end.
        got = cam.send(cam.image(frame, 30), 30, timeout=30, retries=10)
        assert got is not None, "no FaceAffectArray from the split layout"
        assert got.header == Camera.header(30)
        assert list(got.emotion_labels) == list(want.emotion_labels)
        _assert_same_faces(got, want, prob_tol=1e-4)
        empty = cam.send(cam.image(np.zeros((240, 320, 3), np.uint8), 31), 31)
        assert empty is not None and list(empty.faces) == []
        # Each split node loaded only its own stage's models.
        loaded = {}
        for node in ("detector_node", "classifier_node"):
            status = diag.wait(f"/split/{node}", lambda s: True)
            assert status is not None, f"no /diagnostics from {node}"
            loaded[node] = diag.values(f"/split/{node}")["models_loaded"]
        assert loaded == {
            "detector_node": "yunet_n_dynamic",
            "classifier_node": "emotion_mini_xception, gender_dlib_v1",
        }
    finally:
        for code, _, err in stop_nodes(procs, signal.SIGTERM):
            assert code == 0, err[-2000:]
            assert "Traceback" not in err, err[-2000:]


def test_compressed_input_and_corrupt_jpeg(client, frame) -> None:
    cam_topic = "/jpeg_cam/image"
    proc = start_node(
        "face_affect_node",
        "-r",
        f"image:={cam_topic}",
        "-r",
        f"image/compressed:={cam_topic}/compressed",
        "-r",
        "__ns:=/jpeg",
        "-p",
        "input_transport:=compressed",
        "-p",
        f"diagnostics_period:={DIAG_PERIOD}",
    )
    name = "/jpeg/face_affect_node"
    diag = Diagnostics(client)
    try:
        cam = Camera(client, cam_topic, compressed=True, results="/jpeg/face_affect")
        assert cam.wait_ready()
        ok, jpg = cv2.imencode(".jpg", frame)
        assert ok
        good = CompressedImage(header=Camera.header(41), format="jpeg", data=jpg.tobytes())
        result = cam.send(good, 41)
        assert result is not None and len(result.faces) == 1
        # Once frames flow, a corrupt (truncated) JPEG, then a good frame again.
        corrupt = CompressedImage(
            header=Camera.header(40), format="jpeg", data=jpg.tobytes()[:2000]
        )
        assert diag.wait(name, lambda s: "processed" in diag.values(name))
        before = diag.counter(name, "error_corrupt")
        # Newest frame wins: the next good frame is sent only once the corrupt one was decoded
        # and refused (counted), so it cannot be replaced unseen.
        for _ in range(3):
            cam.pub.publish(corrupt)
            if diag.wait(name, lambda s: diag.counter(name, "error_corrupt") > before, 5):
                break
        assert diag.counter(name, "error_corrupt") == before + 1, diag.values(name)
        good.header = Camera.header(42)
        assert cam.send(good, 42) is not None, "good frame after a corrupt one was lost"
        # Results are reliable and in order: the corrupt frame's would have come before 42's.
        assert Camera.key(40) not in cam.results, "a result was published for a corrupt frame"
        assert proc.poll() is None
    finally:
        ((code, _, err),) = stop_nodes([proc], signal.SIGTERM)
    assert code == 0 and "Traceback" not in err, err[-2000:]
    assert "corrupt" in err, "corrupt frame was dropped without a log line"


def test_missing_model_fails_configure_but_node_stays_up(client, tmp_path) -> None:
    missing = tmp_path / "nope.json"
    proc = start_node(
        "face_affect_node",
        "-r",
        "__ns:=/broken",
        "-p",
        f"detector_model:={missing}",
        "-p",
        f"diagnostics_period:={DIAG_PERIOD}",
    )
    diag = Diagnostics(client)
    try:
        # The node is up, unconfigured, waiting for a lifecycle manager or a fix, and says why.
        assert lifecycle_state(client, "/broken/face_affect_node", timeout=30) == "unconfigured"
        status = diag.wait("/broken/face_affect_node", lambda s: True)
        assert status is not None, "a node whose configure failed publishes no /diagnostics"
        assert status.level == DiagnosticStatus.ERROR, status
        assert "configure failed" in status.message and "nope.json" in status.message
        assert proc.poll() is None
    finally:
        ((code, _, err),) = stop_nodes([proc], signal.SIGINT)
    assert "configure failed" in err and "nope.json" in err, err[-2000:]
    assert code == 0 and "Traceback" not in err, err[-2000:]


def test_diagnostics_warn_without_input_and_clear_stale_latency(client, frame) -> None:
    cam_topic = "/idle_cam/image"
    proc = start_node(
        "face_affect_node",
        "-r",
        f"image:={cam_topic}",
        "-r",
        "__ns:=/idle",
        "-p",
        f"diagnostics_period:={DIAG_PERIOD}",
        "-p",
        "no_input_warn_s:=1.0",
        # No camera_info here: 3D off, or its own WARN would hide the one under test.
        "-p",
        "localise_3d:=false",
    )
    name = "/idle/face_affect_node"
    diag = Diagnostics(client)
    try:
        cam = Camera(client, cam_topic, results="/idle/face_affect")
        assert cam.wait_ready()
        status = diag.wait(name, lambda s: s.level == DiagnosticStatus.WARN)
        assert status is not None and "no input frame" in status.message, status
        assert cam.send(cam.image(frame, 90), 90) is not None
        status = diag.wait(name, lambda s: s.level == DiagnosticStatus.OK)
        assert status is not None, "still WARN after a frame arrived"
        assert int(diag.values(name)["latency_samples"]) >= 1
        # Frames stop: the latency statistics empty out instead of repeating a stale median.
        status = diag.wait(name, lambda s: diag.values(name)["latency_samples"] == "0", 15)
        assert status is not None, diag.values(name)
        assert "latency_median_ms" not in diag.values(name)
        assert status.level == DiagnosticStatus.WARN and "no input frame" in status.message
    finally:
        ((code, _, err),) = stop_nodes([proc], signal.SIGINT)
    assert code == 0 and "Traceback" not in err, err[-2000:]


def test_saliency_topic_of_the_largest_face(client, frame) -> None:
    pytest.importorskip(
        "torch", reason="torch is installed on Python 3.11 only (requirements/dev.in)"
    )
    from face_affect_ros.tools.models import default_model_path

    weights = default_model_path("emotion")  # in the repository's upstream/
    cam_topic = "/sal_cam/image"
    proc = start_node(
        "face_affect_node",
        "-r",
        f"image:={cam_topic}",
        "-r",
        "__ns:=/sal",
        "-p",
        f"saliency_model:={weights}",
        "-p",
        "saliency_rate:=10.0",
    )
    images: list[Image] = []
    try:
        # Debug topics are best effort: a reliable subscription would not match.
        client.create_subscription(
            Image, "/sal/face_affect/saliency", images.append, qos_profile_sensor_data
        )
        cam = Camera(client, cam_topic, results="/sal/face_affect")
        assert cam.wait_ready()
        assert spin_until(
            client, lambda: client.count_publishers("/sal/face_affect/saliency") > 0, 10
        )
        result = cam.send(cam.image(frame, 50), 50)
        assert result is not None and len(result.faces) == 1
        assert spin_until(client, lambda: bool(images), 10), "no saliency image"
    finally:
        ((code, _, err),) = stop_nodes([proc], signal.SIGINT)
    assert code == 0 and "Traceback" not in err, err[-2000:]
    sal = images[0]
    assert sal.header == Camera.header(50)
    assert (sal.width, sal.height, sal.encoding) == (128, 64, "bgr8")
    pixels = np.frombuffer(bytes(sal.data), np.uint8).reshape(64, 128, 3)
    assert pixels[:, 64:].std() > 5, "saliency half is flat"


def test_max_rate_caps_processed_frames_at_runtime(single, client, frame) -> None:
    _, cam = single
    diag = Diagnostics(client)
    assert diag.wait(SINGLE, lambda s: True)
    start = diag.values(SINGLE)
    assert _set(client, SINGLE, "max_rate", 2.0)[0]
    try:
        keys = []
        for i in range(60, 80):  # 20 frames at about 20 Hz
            cam.pub.publish(cam.image(frame, i))
            keys.append(Camera.key(i))
            cam.spin(0.05)

        # Every frame sent is accounted for: received with exactly one outcome, or counted as
        # lost by the middleware. Wait for the counters to say so (they trail by a period).
        def lost() -> int:
            now = diag.values(SINGLE).get("dropped_middleware", 0)
            return int(now) - int(start.get("dropped_middleware", 0))

        def settled(_status) -> bool:
            counts = _accounted(diag.values(SINGLE), start)
            return bool(counts["balanced"]) and counts["received"] + lost() == len(keys)

        assert diag.wait(SINGLE, settled), (_accounted(diag.values(SINGLE), start), lost())
        counts = _accounted(diag.values(SINGLE), start)
        assert counts["dropped_rate"] > 0, counts  # the cap dropped frames...
        assert counts["processed"] >= 1, counts
        # ...and only those: every processed frame is answered (results are reliable).
        assert spin_until(
            client, lambda: sum(k in cam.results for k in keys) == counts["processed"], 5
        ), (sum(k in cam.results for k in keys), counts)
    finally:
        assert _set(client, SINGLE, "max_rate", 0.0)[0]
    before = diag.values(SINGLE)
    result = cam.send(cam.image(frame, 81), 81)
    assert result is not None, "rate cap still active after max_rate:=0"
    assert diag.wait(SINGLE, lambda s: _accounted(diag.values(SINGLE), before)["balanced"])
    assert _accounted(diag.values(SINGLE), before)["dropped_rate"] == 0


def test_node_with_the_seed_gender_model_and_age(client, frame) -> None:
    # gender_model and age are per node: the seed model end to end, apparent age published.
    cam_topic = "/age_cam/image"
    proc = start_node(
        "face_affect_node",
        "-r",
        f"image:={cam_topic}",
        "-r",
        "__ns:=/aged",
        "-p",
        "gender_model:=gender_mini_xception",
        "-p",
        "age:=true",
        # Per-frame mode, compared with FaceAffectPipeline.process below.
        "-p",
        "tracking:=false",
    )
    try:
        cam = Camera(client, cam_topic, results="/aged/face_affect")
        assert cam.wait_ready(), "face_affect_node with age did not come up"
        result = cam.send(cam.image(frame, 40), 40)
        assert result is not None and len(result.faces) == 1
        face = result.faces[0]
        config = PipelineConfig(
            gender_model="gender_mini_xception",
            age=True,
            detector_input_size=(
                SPEC_BY_NAME["detector_input_width"].default,
                SPEC_BY_NAME["detector_input_height"].default,
            ),
            score_threshold=SPEC_BY_NAME["score_threshold"].default,
        )
        want = FaceAffectPipeline(config).process(frame).faces[0]
        assert face.gender == want.gender == "woman"  # the seed decides at its own 0.7
        assert face.age_years == pytest.approx(want.age_years, abs=1e-3)
        assert 20 < face.age_years < 45 and face.minor_probability < 0.05
        assert face.age_spread >= 0
    finally:
        ((code, _, err),) = stop_nodes([proc], signal.SIGINT)
    assert code == 0, err[-2000:]


# ---------------------------------------------------------------------------- tracking on
def test_default_node_runs_the_perception_loop_over_time(client) -> None:
    """Default parameters: tracks with ids, the loop's own results, the cat never published."""
    from face_affect_ros.bag import make_moving as mm
    from face_affect_ros.core.temporal import PerceptionLoop

    topic = "/temporal_cam/image"
    proc = start_node("face_affect_node", "-r", f"image:={topic}", "-r", "__ns:=/temporal")
    try:
        cam = Camera(client, topic, results="/temporal/face_affect")
        assert cam.wait_ready(), "face_affect_node did not come up"
        loop = PerceptionLoop(PipelineConfig())
        # Frames 12.5-13.3 s of the moving sequence: the cat and the astronaut, back in view.
        # Sent one by one (the node must see every frame to give the loop's results).
        for k, t in enumerate(np.arange(12.5, 13.3, 1 / mm.RATE_HZ)):
            image, truth = mm.render(float(t))
            i = 200 + k
            got = cam.send(cam.image(image, i), i)
            assert got is not None, f"no result for frame {i}"
            want = loop.step(image, Camera.key(i) * 1e-9)
            assert [f.id for f in got.faces] == [f.track_id for f in want.faces]
            _assert_same_faces(got, want, prob_tol=1e-4)
            cat = next(g["box"] for g in truth if g["kind"] == "nonface")
            for face in got.faces:
                assert face.roi.x_offset + face.roi.width < cat[0] or face.roi.x_offset > (
                    cat[0] + cat[2]
                ), "the cat was published as a face"
        assert any(f.id and f.gender == "woman" for f in got.faces)
        ids = {f.id for f in got.faces}
        # A runtime change of a loop parameter (and of the label set) keeps the tracks.
        node = "/temporal/face_affect_node"
        assert _set(client, node, "classify_rate", 2.0)[0]
        assert _set(client, node, "label_set", "hierarchical3")[0]
        after = cam.send(cam.image(mm.render(13.3)[0], 300), 300)
        assert after is not None and {f.id for f in after.faces} == ids
        assert list(after.emotion_labels) == ["happy", "sad", "other"]
    finally:
        ((code, _, err),) = stop_nodes([proc], signal.SIGINT)
        assert code == 0, err[-2000:]
        assert "Traceback" not in err, err[-2000:]


def test_unavailable_execution_provider_falls_back_to_cpu_and_diagnostics_warn(client) -> None:
    # CUDA cannot be installed here: the node must still run, on the CPU, and say so.
    proc = start_node(
        "detector_node",
        "-r",
        "__ns:=/nocuda",
        "-p",
        f"diagnostics_period:={DIAG_PERIOD}",
        "-p",
        "execution_provider:=cuda",
        "-p",
        "no_input_warn_s:=0.0",
    )
    name = "/nocuda/detector_node"
    diag = Diagnostics(client)
    try:
        assert lifecycle_state(client, name, timeout=30) == "active"
        status = diag.wait(name, lambda s: s.level == DiagnosticStatus.WARN)
        assert status is not None, "no WARN for models not on the requested provider"
        assert "execution_provider cuda" in status.message, status
        values = diag.values(name)
        assert values["execution_provider"] == "cuda"
        assert values["execution_provider_in_use"] == "cpu"
    finally:
        ((code, _, err),) = stop_nodes([proc], signal.SIGINT)
    assert code == 0 and "Traceback" not in err, err[-2000:]
    assert "execution provider: cpu" in err, err[-2000:]
