"""Issue 13 at node level: hostile input, floods, hostile parameters and signals, real processes.

Each test is the smallest input that showed a failure on the landed main (see the issue): the
node runs as on a robot (its own process), the test is the camera, and the node's own counters
(/diagnostics) and its stderr are what is checked. Sizes and times are bounds a broken node
exceeds by orders of magnitude (GBs, seconds); the numbers themselves are measured by
bench/bench_reliability.py.
"""

from __future__ import annotations

import math
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import hostile_inputs as hostile
import numpy as np
import pytest
from diagnostic_msgs.msg import DiagnosticArray
from node_harness import Camera, close_client, face_frame, init_client, start_node, stop_nodes
from rcl_interfaces.msg import Parameter, ParameterType, ParameterValue
from rcl_interfaces.srv import SetParameters
from ros_helpers import domain_id, spin_until
from sensor_msgs.msg import CompressedImage, Image

# What the node may print on stderr for thousands of hostile frames: a few throttled lines.
STDERR_BUDGET_BYTES = 20_000


@pytest.fixture(scope="module")
def client():
    node = init_client("reliability_test_client")
    yield node
    close_client(node)


class Counters:
    """The newest /diagnostics counters of one node."""

    def __init__(self, client, node_name: str) -> None:
        self.client, self.name, self.values = client, node_name, {}
        self.stamp = 0.0
        client.create_subscription(DiagnosticArray, "/diagnostics", self._on, 50)

    def _on(self, msg: DiagnosticArray) -> None:
        for status in msg.status:
            if status.name.split(":")[0] == self.name:
                self.values = {kv.key: kv.value for kv in status.values}
                self.stamp = time.monotonic()

    def fresh(self, timeout: float = 10.0) -> dict[str, int]:
        """Counters published after this call (integers only)."""
        t0 = time.monotonic()
        assert spin_until(self.client, lambda: self.stamp > t0, timeout), "no /diagnostics"
        return {k: int(v) for k, v in self.values.items() if v.lstrip("-").isdigit()}


def _peak_rss_reset(pid: int) -> float:
    Path(f"/proc/{pid}/clear_refs").write_text("5")  # VmHWM := VmRSS
    return _status_mb(pid, "VmRSS")


def _status_mb(pid: int, key: str) -> float:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith(key + ":"):
            return int(line.split()[1]) / 1024
    raise KeyError(key)


def _clean_exit(proc: subprocess.Popen, sig: int = signal.SIGINT) -> str:
    ((code, _, err),) = stop_nodes([proc], sig)
    assert code in (0, 130, 143), (code, err[-3000:])
    assert "Traceback" not in err, err[-3000:]
    return err


def test_compressed_bombs_refused_before_allocating(client) -> None:
    # Issue: a 69-byte PNG raised peak RSS by 4.3 GB, a 45 KB JPEG by 5.4 GB, each stalled 4-8 s.
    cam_topic = "/rel_bomb_cam/image"
    proc = start_node(
        "face_affect_node",
        "-r",
        f"image/compressed:={cam_topic}/compressed",
        "-r",
        "__ns:=/rel_bomb",
        "-p",
        "input_transport:=compressed",
    )
    cam = Camera(client, cam_topic, compressed=True, results="/rel_bomb/face_affect")
    counters = Counters(client, "/rel_bomb/face_affect_node")
    try:
        assert cam.wait_ready(), "node did not come up"
        good = hostile.jpeg(face_frame())
        assert cam.send(CompressedImage(header=Camera.header(0), format="jpeg", data=good), 0)
        before = counters.fresh()
        bombs = [
            hostile.png_idat_length(0xFFFFFFFF),
            hostile.jpeg_lying_sof(30000, 30000),
            hostile.png_raw(20000, 20000, bytes(1000)),
            hostile.set_jpeg_size(good, 12000, 12000),
            hostile.bmp(face_frame()),
        ]
        for i, data in enumerate(bombs, start=1):
            rss = _peak_rss_reset(proc.pid)
            cam.pub.publish(CompressedImage(header=Camera.header(100 + i), format="png", data=data))
            cam.spin(0.05)
            msg = CompressedImage(header=Camera.header(i), format="jpeg", data=good)
            assert cam.send(msg, i) is not None, f"good frame after bomb {i} not answered"
            assert _status_mb(proc.pid, "VmHWM") - rss < 100, f"bomb {i} raised peak RSS"
        after = counters.fresh()
        refused = {k: after.get(k, 0) - before.get(k, 0) for k in after if k.startswith("error_")}
        assert refused.get("error_corrupt", 0) == 1, refused
        assert refused.get("error_too_large", 0) == 3, refused
        assert refused.get("error_unsupported_encoding", 0) == 1, refused
        assert refused.get("error_processing", 0) == 0, refused
    finally:
        err = _clean_exit(proc)
    assert "IDAT claims 4294967295 bytes" in err


def test_odd_yuv_and_garbage_encodings_counted_with_bounded_logs(client) -> None:
    # Issue: odd-width yuv422 hit an OpenCV assertion (error_processing, ERROR line); 1,198
    # distinct garbage encodings made 1,198 warnings and 758 KB of stderr.
    cam_topic = "/rel_enc_cam/image"
    proc = start_node("face_affect_node", "-r", f"image:={cam_topic}", "-r", "__ns:=/rel_enc")
    cam = Camera(client, cam_topic, results="/rel_enc/face_affect")
    counters = Counters(client, "/rel_enc/face_affect_node")
    frame = face_frame()
    try:
        assert cam.wait_ready()
        assert cam.send(cam.image(frame, 0), 0) is not None
        before = counters.fresh()
        odd = [("yuv422", 1), ("uyvy", 3), ("yuyv", 7), ("yuv422_yuy2", 3)]
        for k, (enc, w) in enumerate(odd):
            msg = Image(header=Camera.header(200 + k), encoding=enc, width=w, height=2, step=w * 2)
            msg.data = bytes(w * 4)
            cam.pub.publish(msg)
            cam.spin(0.02)
        rng = np.random.default_rng(0)
        for k in range(400):
            enc = f"garbage_{k}_" + "".join(chr(c) for c in rng.integers(32, 0x2FF, 2000))
            msg = Image(header=Camera.header(300 + k), encoding=enc, width=2, height=2, step=6)
            msg.data = bytes(12)
            cam.pub.publish(msg)
            cam.spin(0.005)
        assert cam.send(cam.image(frame, 1), 1) is not None, "good frame after garbage lost"
        after = counters.fresh()
        seen = {k: after.get(k, 0) - before.get(k, 0) for k in after}
        assert seen.get("error_processing", 0) == 0, seen
        assert seen.get("error_bad_image", 0) >= 3, seen
        assert seen.get("error_unsupported_encoding", 0) + seen.get("dropped_stale", 0) >= 350
    finally:
        err = _clean_exit(proc)
    assert "unexpected error" not in err
    assert len(err.encode()) < STDERR_BUDGET_BYTES, f"{len(err)} bytes of stderr"
    assert max(len(line) for line in err.splitlines()) < 600


def test_flood_losses_are_estimated_from_stamp_gaps(client) -> None:
    # Issue: flooding lost 3,909 of 10,000 frames with dropped_middleware still 0. Keep-last
    # replacement has no DDS event; the stamp-gap estimate sees what never reached the node.
    # camera_node: the executor-callback camera input (CameraInput) of the split layout, where
    # the stamp-gap estimate lives. (face_affect_node takes frames in its worker, nodes/
    # frame_taker.py, and counts skipped frames from publication sequence numbers instead.)
    cam_topic = "/rel_flood_cam/image"
    proc = start_node("camera_node", "-r", f"image:={cam_topic}", "-r", "__ns:=/rel_flood")
    cam = Camera(client, cam_topic, results="/rel_flood/face_affect")
    counters = Counters(client, "/rel_flood/camera_node")
    frame = face_frame(1280, 720)
    try:
        assert spin_until(
            client,
            lambda: (
                cam.pub.get_subscription_count() > 0
                and client.count_publishers("/rel_flood/face_affect/frames") > 0
            ),
            30,
        )
        period_ns = 33_333_333
        t0 = 110 * 10**9
        for i in range(-20, 0):  # a camera at 30 Hz first: stamps and pace teach the period
            msg = cam.image(frame, 0)
            msg.header.stamp.sec, msg.header.stamp.nanosec = divmod(t0 + i * period_ns, 10**9)
            cam.pub.publish(msg)
            cam.spin(1 / 30)
        before = counters.fresh()
        sent = 600
        for i in range(sent):  # flood: no gap between messages, the camera's stamps
            msg = cam.image(frame, 0)
            msg.header.stamp.sec, msg.header.stamp.nanosec = divmod(t0 + i * period_ns, 10**9)
            cam.pub.publish(msg)
        # The camera goes on at 30 Hz: a gap shows only when a later frame arrives, so frames
        # lost at the very end of a stream are invisible to the estimate (documented).
        for i in range(sent, sent + 20):
            msg = cam.image(frame, 0)
            msg.header.stamp.sec, msg.header.stamp.nanosec = divmod(t0 + i * period_ns, 10**9)
            cam.pub.publish(msg)
            cam.spin(1 / 30)
        sent += 20
        cam.spin(2.0)
        after = counters.fresh()
        d = {k: after.get(k, 0) - before.get(k, 0) for k in after}
        unseen = sent - d["received"]
        estimate = d.get("dropped_unseen_estimate", 0) + d.get("dropped_middleware", 0)
        print(f"flood: sent {sent}, seen {d['received']}, never seen {unseen}, estimate {estimate}")
        if unseen >= 20:  # on an idle machine the executor may keep up with the flood
            # An estimate (core.frames.StampGapCounter: errs towards counting less), never 0
            # as dropped_middleware alone was in the issue, and never more than was lost.
            assert 0.5 * unseen <= estimate <= 1.2 * unseen + 5, (unseen, sorted(d.items()))
        assert d["received"] >= d.get("dropped_rate", 0) + sum(
            v for k, v in d.items() if k.startswith("error_")
        ), d
    finally:
        _clean_exit(proc)


def _set_raw(client, node: str, name: str, value: ParameterValue) -> tuple[bool, str]:
    srv = client.create_client(SetParameters, f"{node}/set_parameters")
    assert srv.wait_for_service(timeout_sec=10)
    future = srv.call_async(SetParameters.Request(parameters=[Parameter(name=name, value=value)]))
    assert spin_until(client, future.done, 10)
    client.destroy_client(srv)
    res = future.result().results[0]
    return res.successful, res.reason


def _double(v: float) -> ParameterValue:
    return ParameterValue(type=ParameterType.PARAMETER_DOUBLE, double_value=v)


def _int(v: int) -> ParameterValue:
    return ParameterValue(type=ParameterType.PARAMETER_INTEGER, integer_value=v)


def _str(v: str) -> ParameterValue:
    return ParameterValue(type=ParameterType.PARAMETER_STRING, string_value=v)


HOSTILE_PARAMETERS = [
    ("score_threshold", _double(math.nan)),
    ("score_threshold", _double(math.inf)),
    ("score_threshold", _double(-1e308)),
    ("max_rate", _double(math.nan)),
    ("max_rate", _double(-math.inf)),
    ("emotion_smoothing", _double(math.nan)),
    ("gender_min_confidence", _double(math.nan)),
    ("emotion_margin_x", _double(math.inf)),
    ("latency_warn_ms", _double(math.nan)),
    ("max_faces", _int(2**62)),
    ("max_faces", _int(-(2**63))),
    ("max_image_pixels", _int(0)),
    ("max_image_pixels", _int(2**63 - 1)),
    ("score_threshold", _str("0.5")),
    ("max_faces", _double(3.0)),
    ("tracking", _str("yes")),
    ("label_set", _str("x" * 1_000_000)),
    ("label_set", _str("fer7\n[ERROR] forged log line")),
    ("detector_model", _str("/etc/passwd")),
]


def test_hostile_parameter_values_rejected_and_node_keeps_working(client) -> None:
    cam_topic = "/rel_par_cam/image"
    proc = start_node("face_affect_node", "-r", f"image:={cam_topic}", "-r", "__ns:=/rel_par")
    cam = Camera(client, cam_topic, results="/rel_par/face_affect")
    node = "/rel_par/face_affect_node"
    frame = face_frame()
    try:
        assert cam.wait_ready()
        assert cam.send(cam.image(frame, 0), 0) is not None
        for name, value in HOSTILE_PARAMETERS:
            ok, reason = _set_raw(client, node, name, value)
            assert not ok, f"{name}={value} was accepted"
            assert reason and len(reason) < 500, (name, len(reason))
            assert "\n" not in reason
        result = cam.send(cam.image(frame, 1), 1)
        assert result is not None and len(result.faces) == 1, "node stopped working"
        assert result.faces[0].emotion == "happy"
    finally:
        err = _clean_exit(proc)
    assert "forged log line" not in err.replace("\\n[ERROR] forged", "")
    assert len(err.encode()) < STDERR_BUDGET_BYTES, f"{len(err)} bytes of stderr"


# ---- signals at every phase of start-up ----------------------------------------------------------
# "handlers": as soon as the process has a handler for both signals (its first line of our
# code, measured ~0.1 s after exec); then during the imports, when the models are loaded, active.
PHASES = ["handlers", "0.4s", "models loaded", "active"]


def _caught(pid: int) -> int:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("SigCgt:"):
            return int(line.split()[1], 16)
    return 0


def _start_and_signal(phase: str, sig: int) -> tuple[int, str]:
    ns = "/rel_sig_" + "".join(c if c.isalnum() else "_" for c in phase) + f"_{int(sig)}"
    proc = subprocess.Popen(
        # What the console script (ros2 run, launch) runs: face_affect_ros.entry.
        [
            sys.executable,
            "-m",
            "face_affect_ros.entry",
            "face_affect_node",
            "--ros-args",
            "-r",
            f"__ns:={ns}",
        ],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
        text=True,
    )
    try:
        if phase == "handlers":
            both = (1 << (signal.SIGINT - 1)) | (1 << (signal.SIGTERM - 1))
            deadline = time.monotonic() + 10
            while _caught(proc.pid) & both != both and time.monotonic() < deadline:
                time.sleep(0.002)
        elif phase.endswith("s") and phase[0].isdigit():
            time.sleep(float(phase[:-1]))
        else:
            for line in proc.stderr:
                if phase in line:
                    break
        proc.send_signal(sig)
        _, err = proc.communicate(timeout=30)
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.communicate()
    return proc.returncode, err


@pytest.mark.parametrize("sig", [signal.SIGINT, signal.SIGTERM])
@pytest.mark.parametrize("phase", PHASES)
def test_signal_at_any_start_up_phase_exits_cleanly(phase: str, sig: int) -> None:
    # Issue: SIGINT 0.2 s after start printed a KeyboardInterrupt traceback (exit -2); SIGTERM
    # exited -15; SIGTERM right after the models loaded logged "configure failed ... context is
    # invalid" and an Executor.__del__ traceback.
    code, err = _start_and_signal(phase, sig)
    expected = {signal.SIGINT: (0, 130), signal.SIGTERM: (0, 143)}[sig]
    assert code in expected, (code, err[-3000:])
    assert "Traceback" not in err and "Exception ignored" not in err, err[-3000:]
    assert "configure failed" not in err and "Failed to complete transition" not in err, err


# ---- the command-line tools ----------------------------------------------------------------------
def _tool(name: str, *args: str, env: dict | None = None) -> subprocess.Popen:
    return subprocess.Popen(
        [sys.executable, "-m", "face_affect_ros.entry", name, *args],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        env=env,
    )


@pytest.mark.parametrize("sig", [signal.SIGINT, signal.SIGTERM])
@pytest.mark.parametrize("delay", ["handlers", 0.3, 0.8, 1.5, 3.0])
def test_bag_process_stops_cleanly_at_any_moment(tmp_path: Path, delay, sig: int) -> None:
    from bag_helpers import SAMPLE_BAG

    out = tmp_path / "out"
    proc = _tool("face-affect-bag", "process", str(SAMPLE_BAG), "--out", str(out), "--no-progress")
    if delay == "handlers":
        both = (1 << (signal.SIGINT - 1)) | (1 << (signal.SIGTERM - 1))
        deadline = time.monotonic() + 10
        while _caught(proc.pid) & both != both and time.monotonic() < deadline:
            time.sleep(0.002)
    else:
        time.sleep(delay)
    proc.send_signal(sig)
    _, err = proc.communicate(timeout=60)
    assert proc.returncode in (0, 130), (proc.returncode, err[-3000:])
    assert "Traceback" not in err and "Exception ignored" not in err, err[-3000:]
    if proc.returncode == 130:
        assert not out.exists(), "an interrupted run left an output behind"


@pytest.mark.parametrize("sig", [signal.SIGINT, signal.SIGTERM])
@pytest.mark.parametrize("delay", [0.3, 1.0, 2.5])
def test_bag_play_stops_cleanly_during_start_up(delay: float, sig: int) -> None:
    from bag_helpers import SAMPLE_BAG

    proc = _tool("face-affect-bag", "play", str(SAMPLE_BAG), "--loop", "--rate", "4")
    time.sleep(delay)
    proc.send_signal(sig)
    _, err = proc.communicate(timeout=30)
    assert proc.returncode in (0, 130), (proc.returncode, err[-3000:])
    assert "Traceback" not in err and "Exception ignored" not in err, err[-3000:]


@pytest.mark.parametrize("sig", [signal.SIGINT, signal.SIGTERM])
@pytest.mark.parametrize("delay", [0.3, 1.5, 4.0])
def test_demo_stops_cleanly_at_any_moment(tmp_path: Path, delay: float, sig: int) -> None:
    env = dict(os.environ, ROS_DOMAIN_ID=domain_id("replay"))
    proc = _tool("face-affect-demo", "--out", str(tmp_path / "demo"), "--quiet", env=env)
    time.sleep(delay)
    proc.send_signal(sig)
    out, err = proc.communicate(timeout=60)
    assert proc.returncode in (0, 130), (proc.returncode, out[-2000:], err[-3000:])
    assert "Traceback" not in err + out and "Exception ignored" not in err + out, err[-3000:]
