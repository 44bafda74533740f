"""Reliability under hostile input and faults: decoders, fuzz, bombs, overload, soak, signals.

A robot team reruns this on their own computer to see what a faulty camera driver or a hostile
publisher can do to the node. Parts (all by default; pick with --parts):

- decode: every bomb and odd format, each decoded in a fresh process whose address space is
  capped (so a decoder that allocates the declared size fails instead of eating the machine):
  peak RSS growth, time, outcome. Decoders compared: ours (core.image_io.decode_compressed),
  plain OpenCV with its OPENCV_IO_MAX_IMAGE_PIXELS limit set, Pillow with MAX_IMAGE_PIXELS.
- fuzz: a real face_affect_node process (raw, then compressed input); each fuzzed Image /
  CompressedImage is followed by a good frame whose answer is awaited: fuzz refused by reason
  (the node's own counters from /diagnostics), good frames answered, time to the answer.
- bombs: the decode cases sent to the compressed node: its peak RSS growth per case
  (/proc/PID/clear_refs + VmHWM) and the time until the next good frame is answered.
- overload: 1280x720 frames with 10 faces at 60 Hz, then a flood (no gap): sent, seen by the
  node, processed, dropped by reason, lost unseen, frame age p95 (answer receipt - header stamp).
- soak: 30 Hz 640x480 one face for --soak seconds: answered %, RSS growth.
- signals: SIGINT / SIGTERM at several start-up phases: exit codes, tracebacks.

Usage: python bench/bench_reliability.py [--parts decode fuzz bombs overload soak signals]
       [--fuzz 300] [--overload 10] [--flood 1000] [--soak 30]
Defaults take about 3 minutes; the issue's run was --fuzz 10000 --flood 10000 --soak 600.
"""

from __future__ import annotations

import argparse
import json
import os
import random
import resource
import signal
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent))
import benchlib
from bench_ros_e2e import ros_env  # one place sets the benchmarks' ROS environment

TEST_DIR = benchlib.REPO_DIR / "face_affect_ros" / "test"
sys.path.insert(0, str(TEST_DIR))
import hostile_inputs as H  # noqa: E402, N812

PKG = benchlib.REPO_DIR / "face_affect_ros"
NS = "/rel"
PARTS = ("decode", "policy", "fuzz", "bombs", "overload", "soak", "signals")
LIMIT = 8192 * 8192  # the node's default max_image_pixels


# ----------------------------------------------------------------------------- cases
def bomb_cases() -> dict[str, bytes]:
    """Name -> bytes: the issue's four cases, our own variants, and odd-but-valid frames."""
    rng = np.random.default_rng(13)
    w, h = (int(v) for v in rng.integers(9000, 60000, 2))
    face = H.jpeg(H.smooth_image(640, 480))
    return {
        "issue: PNG 20000x20000 (zlib bomb)": H.png_dims(20000, 20000),
        "issue: JPEG 12000x12000": H.jpeg_dims(12000, 12000),
        "issue: 45 KB JPEG, SOF says 30000x30000": H.jpeg_lying_sof(30000, 30000),
        "issue: 69 B PNG, IDAT claims 0xFFFFFFFF": H.png_idat_length(0xFFFFFFFF),
        f"PNG IHDR says {w}x{h}, 10 B of data": H.png_raw(w, h, bytes(10)),
        "PNG IDAT claims 2^31-1": H.png_idat_length(2**31 - 1),
        f"JPEG SOF says {h}x{w}": H.set_jpeg_size(face, h, w),
        "JPEG SOF says 8000x8000 (within limit)": H.set_jpeg_size(face, 8000, 8000),
        "JPEG two SOF (2nd 30000x30000)": H.jpeg_two_sof(),
        "progressive JPEG, 2000 scans": H.jpeg_many_scans(2000, 256),
        "PNG 16-bit colour 640x480": H.png(H.smooth_image(640, 480).astype(np.uint16) * 257),
        "PNG interlaced 640x480": H.png_interlaced(H.smooth_image(640, 480)),
        "PNG palette 640x480": H.png_palette(
            rng.integers(0, 16, (480, 640), dtype=np.uint8),
            rng.integers(0, 256, (16, 3), dtype=np.uint8),
        ),
        "PNG grey+alpha 640x480": H.png_grey_alpha(
            np.full((480, 640), 100, np.uint8), np.full((480, 640), 7, np.uint8)
        ),
        "JPEG progressive 640x480": H.jpeg(H.smooth_image(640, 480), progressive=True),
        "BMP 640x480": H.bmp(H.smooth_image(640, 480)),
        "PGM 640x480": H.pgm(H.smooth_image(640, 480)),
        "JPEG truncated at half": face[: len(face) // 2],
    }


_CHILD = r"""
import os, resource, sys, time
mode, path, limit = sys.argv[1], sys.argv[2], int(sys.argv[3])
if mode == "opencv":
    os.environ["OPENCV_IO_MAX_IMAGE_PIXELS"] = str(limit)  # read when cv2 loads
import numpy as np
data = open(path, "rb").read()
if mode == "pillow":
    import io
    from PIL import Image
    Image.MAX_IMAGE_PIXELS = limit
else:
    import cv2
    from face_affect_ros.core import image_io
def hwm_kb():  # this process's peak RSS; ru_maxrss would include the parent's before exec
    for line in open("/proc/self/status"):
        if line.startswith("VmHWM:"):
            return int(line.split()[1])
page = resource.getpagesize()
vm = int(open("/proc/self/statm").read().split()[0]) * page
resource.setrlimit(resource.RLIMIT_AS, (vm + int(sys.argv[4]) * 2**20, resource.RLIM_INFINITY))
base = hwm_kb()
t = time.perf_counter()
try:
    if mode == "ours":
        out = "decoded %dx%d" % image_io.decode_compressed("x", data, limit).shape[1::-1]
    elif mode == "opencv":
        img = cv2.imdecode(np.frombuffer(data, np.uint8), cv2.IMREAD_COLOR)
        out = "refused (None)" if img is None else "decoded %dx%d" % img.shape[1::-1]
    else:
        with Image.open(io.BytesIO(data)) as im:
            im.load()
            out = "decoded %dx%d" % im.size
except MemoryError:
    out = "MemoryError (address-space cap hit)"
except Exception as exc:
    out = "refused: " + (getattr(exc, "reason", "") or type(exc).__name__)
dt = time.perf_counter() - t
grow = (hwm_kb() - base) / 1024
print(f"{grow:.1f} {dt * 1000:.1f} {out}", flush=True)
"""


def run_decode(cases: dict[str, bytes], modes: list[str], cap_mb: int) -> list[dict[str, Any]]:
    """Each case in a fresh, address-space-capped process per decoder."""
    env = dict(os.environ, PYTHONPATH=os.pathsep.join([str(PKG), os.environ.get("PYTHONPATH", "")]))
    rows = []
    with tempfile.TemporaryDirectory() as tmp:
        for name, data in cases.items():
            path = Path(tmp) / "case.bin"
            path.write_bytes(data)
            for mode in modes:
                p = subprocess.run(
                    [sys.executable, "-c", _CHILD, mode, str(path), str(LIMIT), str(cap_mb)],
                    env=env,
                    capture_output=True,
                    text=True,
                    timeout=300,
                )
                if p.returncode == 0 and p.stdout.strip():
                    grow, ms, out = p.stdout.strip().splitlines()[-1].split(" ", 2)
                else:
                    grow, ms, out = "nan", "nan", f"process died ({p.returncode})"
                noise = len([ln for ln in p.stderr.splitlines() if ln.strip()])
                rows.append(
                    {
                        "case": name,
                        "bytes": len(data),
                        "decoder": mode,
                        "rss_growth_mb": float(grow),
                        "ms": float(ms),
                        "outcome": out,
                        "stderr_lines": noise,
                    }
                )
    return rows


def fuzz_images(n: int, rng: random.Random, good: np.ndarray) -> list[dict[str, Any]]:
    """Fields of n fuzzed sensor_msgs/Image messages (lying sizes, garbage encodings, ...)."""
    encodings = ["bgr8", "rgb8", "mono8", "yuv422", "uyvy", "yuyv", "bgra8", "16UC1", "bayer_rggb8"]
    out = []
    for _ in range(n):
        kind = rng.random()
        enc = rng.choice(encodings)
        if kind < 0.15:
            enc = "".join(chr(rng.randint(1, 0x2FF)) for _ in range(rng.randint(1, 3000)))
        if kind < 0.4:
            w, h = (
                rng.choice([0, 1, 3, 7, 2**31, 100_000, rng.randint(1, 70_000)]),
                rng.randint(0, 100_000),
            )
        else:
            w, h = rng.randint(1, 64), rng.randint(1, 64)
        step = rng.choice([w, w * 2, w * 3, w * 4, rng.randint(0, 2**32 - 1)])
        size = rng.choice([0, 10, step * h if step * h < 50_000 else 10, rng.randint(0, 20_000)])
        out.append(
            {
                "encoding": enc,
                "width": w % 2**32,
                "height": h,
                "step": step % 2**32,
                "data": rng.randbytes(size),
            }
        )
    return out


def fuzz_compressed(n: int, rng: random.Random, jpeg: bytes, png: bytes) -> list[tuple[str, bytes]]:
    """(format, data) of n fuzzed CompressedImage payloads."""
    nprng = np.random.default_rng(rng.randint(0, 2**31))
    makers = [
        lambda: ("jpeg", H.mutate(jpeg, rng.randint(1, 50), nprng)),
        lambda: ("png", H.mutate(png, rng.randint(1, 50), nprng)),
        lambda: ("jpeg", jpeg[: rng.randint(0, len(jpeg))]),
        lambda: ("png", png[: rng.randint(0, len(png))]),
        lambda: ("jpeg", H.set_jpeg_size(jpeg, rng.randint(1, 65535), rng.randint(1, 65535))),
        lambda: ("png", H.png_idat_length(rng.randint(0, 2**32 - 1))),
        lambda: ("png", H.png_raw(rng.randint(1, 2**31 - 1), rng.randint(1, 2**31 - 1), b"\0" * 9)),
        lambda: (
            rng.randbytes(rng.randint(0, 200)).decode("latin-1"),
            rng.randbytes(rng.randint(0, 5000)),
        ),
        lambda: ("bmp", H.bmp(H.smooth_image(64, 48))),
        lambda: ("pgm", H.pgm(H.smooth_image(64, 48))),
    ]
    return [rng.choice(makers)() for _ in range(n)]


def policy_run(n: int, seed: int) -> dict[str, Any]:
    """The cost of the damaged-JPEG policy, and of the checks on good frames.

    n JPEGs of a face with 1-50 random bytes changed (after the first 2, so they stay JPEGs):
    how many the structure check refuses, how many libjpeg reports as damaged (refused), how many
    decode without a word (accepted: JPEG has no checksum), and for those how far the picture
    and the result are from the clean frame. Then the time of decode_compressed vs a bare
    cv2.imdecode on good frames, interleaved, median of 200.
    """
    import cv2
    from face_affect_ros.core import image_io
    from face_affect_ros.core.pipeline import FaceAffectPipeline, PipelineConfig

    pipeline = FaceAffectPipeline(PipelineConfig())
    frame = benchlib.sized_frame(640, 480).image
    clean = H.jpeg(frame)
    ref_img = image_io.decode_compressed("jpeg", clean)
    ref = pipeline.process(ref_img)
    rng = np.random.default_rng(seed)
    outcome = {"structure": 0, "decoder_damage": 0, "accepted": 0, "other": 0}
    same_result, diffs = 0, []
    for _ in range(n):
        data = H.mutate(clean, int(rng.integers(1, 51)), rng, keep=2)
        try:
            img = image_io.decode_compressed("jpeg", data)
        except image_io.CorruptImageError as exc:
            outcome["decoder_damage" if "corrupt jpeg" in str(exc) else "structure"] += 1
            continue
        except image_io.ImageDecodeError:
            outcome["other"] += 1
            continue
        outcome["accepted"] += 1
        diffs.append(float(np.abs(img.astype(int) - ref_img.astype(int)).mean()))
        res = pipeline.process(img)
        same_result += [f.emotion for f in res.faces] == [f.emotion for f in ref.faces]
    timing = {}
    for name, data in (("jpeg 640x480", clean), ("png 640x480", H.png(frame))):
        ours, bare = [], []
        buf = np.frombuffer(data, np.uint8)
        for _ in range(200):
            t = time.perf_counter()
            image_io.decode_compressed("x", data)
            ours.append((time.perf_counter() - t) * 1000)
            t = time.perf_counter()
            cv2.imdecode(buf, cv2.IMREAD_COLOR)
            bare.append((time.perf_counter() - t) * 1000)
        timing[name] = {"ours_ms": benchlib.summarize(ours), "opencv_ms": benchlib.summarize(bare)}
    return {
        "mutated": n,
        "outcome": outcome,
        "accepted_same_emotions": same_result,
        "accepted_mean_abs_pixel_diff": benchlib.summarize(diffs),
        "timing": timing,
    }


# ----------------------------------------------------------------------------- the node
def start_node(env: dict[str, str], transport: str, stderr_path: Path) -> subprocess.Popen:
    """face_affect_node as its console script runs it (through face_affect_ros.entry)."""
    return subprocess.Popen(
        [
            sys.executable,
            "-m",
            "face_affect_ros.entry",
            "face_affect_node",
            "--ros-args",
            "-r",
            f"__ns:={NS}",
            "-p",
            f"input_transport:={transport}",
        ],
        env=env,
        stdout=subprocess.DEVNULL,
        stderr=stderr_path.open("w"),
    )


def proc_status(pid: int, key: str) -> float:
    """A /proc/PID/status memory field in MiB (VmRSS, VmHWM)."""
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith(key + ":"):
            return int(line.split()[1]) / 1024
    return float("nan")


def reset_peak(pid: int) -> None:
    """Reset the process's peak RSS (VmHWM) to its current RSS (Linux >= 4.0)."""
    Path(f"/proc/{pid}/clear_refs").write_text("5")


class Client:
    """Camera publisher + result and /diagnostics subscriber, in this process."""

    def __init__(self) -> None:
        import rclpy
        from diagnostic_msgs.msg import DiagnosticArray
        from rclpy.qos import QoSProfile, ReliabilityPolicy, qos_profile_sensor_data
        from sensor_msgs.msg import CompressedImage, Image

        from face_affect_msgs.msg import FaceAffectArray

        self.rclpy, self.Image, self.CompressedImage = rclpy, Image, CompressedImage
        rclpy.init()
        self.node = rclpy.create_node("bench_reliability")
        self.raw = self.node.create_publisher(Image, f"{NS}/image", qos_profile_sensor_data)
        self.comp = self.node.create_publisher(
            CompressedImage, f"{NS}/image/compressed", qos_profile_sensor_data
        )
        self.answers: dict[int, float] = {}
        self.counters: dict[str, int] = {}
        self.node.create_subscription(
            FaceAffectArray,
            f"{NS}/face_affect",
            self._on_result,
            QoSProfile(depth=200, reliability=ReliabilityPolicy.RELIABLE),
        )
        self.node.create_subscription(DiagnosticArray, "/diagnostics", self._on_diag, 10)

    def _on_result(self, msg) -> None:
        self.answers[msg.header.stamp.sec * 1_000_000_000 + msg.header.stamp.nanosec] = time.time()

    def _on_diag(self, msg) -> None:
        for st in msg.status:
            if st.name.startswith(f"{NS}/"):
                for kv in st.values:
                    # Counters only: latency_samples is a window size (a gauge), not a count.
                    if kv.key != "latency_samples" and kv.value.lstrip("-").isdigit():
                        self.counters[kv.key] = int(kv.value)
                self.diag_time = time.monotonic()

    def spin(self, seconds: float) -> None:
        end = time.monotonic() + seconds
        while True:
            self.rclpy.spin_once(self.node, timeout_sec=max(0.0, min(0.01, end - time.monotonic())))
            if time.monotonic() >= end:
                return

    def wait_ready(self, compressed: bool, timeout: float = 60) -> bool:
        pub = self.comp if compressed else self.raw
        end = time.monotonic() + timeout
        while time.monotonic() < end:
            if pub.get_subscription_count() and self.node.count_publishers(f"{NS}/face_affect"):
                return True
            self.spin(0.05)
        return False

    def fresh_counters(self) -> dict[str, int]:
        """Counters from a /diagnostics message published after this call."""
        self.diag_time = 0.0
        self.counters = {}
        t0 = time.monotonic()
        while self.diag_time <= t0 and time.monotonic() - t0 < 5:
            self.spin(0.05)
        return dict(self.counters)

    def header(self, stamp_ns: int):
        from std_msgs.msg import Header

        h = Header(frame_id="bench")
        h.stamp.sec, h.stamp.nanosec = divmod(stamp_ns, 1_000_000_000)
        return h

    def good(self, frame: np.ndarray | bytes, timeout: float = 3.0) -> float | None:
        """Publish one good frame; seconds until its answer, or None."""
        stamp = time.time_ns()
        self.publish(frame, stamp)
        t0 = time.time()
        end = time.monotonic() + timeout
        while stamp not in self.answers and time.monotonic() < end:
            self.spin(0.002)
        return self.answers[stamp] - t0 if stamp in self.answers else None

    def publish(self, frame: np.ndarray | bytes, stamp: int) -> None:
        if isinstance(frame, bytes):
            msg = self.CompressedImage(header=self.header(stamp), format="jpeg")
            msg.data = frame
            self.comp.publish(msg)
        else:
            msg = self.Image(
                header=self.header(stamp),
                height=frame.shape[0],
                width=frame.shape[1],
                encoding="bgr8",
                step=frame.shape[1] * 3,
            )
            msg.data = frame.tobytes()
            self.raw.publish(msg)

    def close(self) -> None:
        self.node.destroy_node()
        self.rclpy.try_shutdown()


def delta(after: dict[str, int], before: dict[str, int]) -> dict[str, int]:
    return {k: v - before.get(k, 0) for k, v in after.items() if v - before.get(k, 0)}


def fuzz_run(client: Client, items: list, good, compressed: bool) -> dict[str, Any]:
    before = client.fresh_counters()
    answered_fuzz, waits, missed = 0, [], 0
    for i, item in enumerate(items):
        stamp = 10**18 + i * 1000  # far from any real time: an answer to it is a fuzz answer
        if compressed:
            fmt, data = item
            msg = client.CompressedImage(header=client.header(stamp), format=fmt)
            msg.data = data
            client.comp.publish(msg)
        else:
            msg = client.Image(
                header=client.header(stamp),
                encoding=item["encoding"],
                width=item["width"],
                height=item["height"],
                step=item["step"],
            )
            msg.data = item["data"]
            client.raw.publish(msg)
        wait = client.good(good)
        if wait is None:
            missed += 1
        else:
            waits.append(wait * 1000)
        answered_fuzz += stamp in client.answers
    after = client.fresh_counters()
    return {
        "sent_fuzz": len(items),
        "fuzz_answered_as_valid": answered_fuzz,
        "good_sent": len(items),
        "good_answered": len(items) - missed,
        "good_answer_ms": benchlib.summarize(waits),
        "counters": delta(after, before),
    }


def stream(client: Client, frame, rate: float, seconds: float | None, count: int | None):
    """Publish at `rate` (0 = flood); return (sent stamps, ages of the answers in ms).

    Stamps are a camera's: capture times on a steady schedule (1/rate apart, 1/30 s for a
    flood), whatever the publishing jitter, so the node's stamp-gap estimate can be compared with
    the frames it never saw. Age = answer receipt - publish time.
    """
    stamps, published = [], {}
    n = count if count is not None else int(rate * seconds)
    period_ns = int(1e9 / (rate or 30.0))
    t0_ns = time.time_ns()
    start = time.monotonic()
    for i in range(n):
        if rate:
            delay = start + i / rate - time.monotonic()
            if delay > 0:
                client.spin(delay)
        else:
            client.rclpy.spin_once(client.node, timeout_sec=0)
        stamp = t0_ns + i * period_ns
        published[stamp] = time.time()
        client.publish(frame, stamp)
        stamps.append(stamp)
    client.spin(2.0)  # answers still in flight; also shows that no backlog remains
    ages = [(client.answers[s] - published[s]) * 1000 for s in stamps if s in client.answers]
    return stamps, ages


def stop(proc: subprocess.Popen, sig: int, stderr_path: Path) -> dict[str, Any]:
    t0 = time.monotonic()
    proc.send_signal(sig)
    try:
        code = proc.wait(timeout=20)
    except subprocess.TimeoutExpired:
        proc.kill()
        code = proc.wait()
    err = stderr_path.read_text(errors="replace")
    return {
        "signal": signal.Signals(sig).name,
        "exit_code": code,
        "exit_s": round(time.monotonic() - t0, 2),
        "traceback": "Traceback" in err,
        "stderr_lines": len(err.splitlines()),
        "stderr_bytes": len(err),
    }


def signals_run(env: dict[str, str], delays: list[float], tmp: Path) -> list[dict[str, Any]]:
    rows = []
    for sig in (signal.SIGINT, signal.SIGTERM):
        for delay in delays:
            path = tmp / "sig.err"
            proc = start_node(env, "raw", path)
            time.sleep(delay)
            r = stop(proc, sig, path)
            r["after_s"] = delay
            if r["traceback"] or r["exit_code"] not in (0, 130, 143):
                r["stderr_tail"] = path.read_text(errors="replace")[-600:]
            rows.append(r)
    return rows


# ----------------------------------------------------------------------------- main
def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n", 1)[0])
    parser.add_argument("--parts", nargs="+", default=list(PARTS), choices=PARTS)
    parser.add_argument(
        "--decoders",
        nargs="+",
        default=["ours", "opencv", "pillow"],
        choices=["ours", "opencv", "pillow"],
    )
    parser.add_argument(
        "--cap-mb",
        type=int,
        default=1500,
        help="address-space cap of each decode process above its start",
    )
    parser.add_argument("--fuzz", type=int, default=300, help="fuzzed messages per type")
    parser.add_argument("--overload", type=float, default=10.0, help="seconds at 60 Hz")
    parser.add_argument("--flood", type=int, default=1000, help="frames sent with no gap")
    parser.add_argument("--soak", type=float, default=30.0, help="seconds at 30 Hz")
    parser.add_argument("--mutated", type=int, default=752, help="damaged JPEGs (policy)")
    parser.add_argument(
        "--signal-delays",
        type=float,
        nargs="+",
        default=[0.05, 0.1, 0.2, 0.3, 0.5, 0.8, 1.0, 1.3, 1.6, 2.0, 3.0, 6.0],
    )
    parser.add_argument("--seed", type=int, default=13)
    args = parser.parse_args(argv)
    rng = random.Random(args.seed)
    report: dict[str, Any] = {"args": vars(args), "machine": benchlib.machine_info()}

    cases = bomb_cases() if {"decode", "bombs"} & set(args.parts) else {}
    if "decode" in args.parts:
        rows = run_decode(cases, args.decoders, args.cap_mb)
        report["decode"] = rows
        print(
            f"\nDecoding, one capped process per case (+{args.cap_mb} MB address space), "
            f"limit {LIMIT} pixels"
        )
        print(
            benchlib.table(
                ["case", "bytes", "decoder", "peak RSS +MB", "ms", "outcome", "stderr lines"],
                [
                    (
                        r["case"],
                        r["bytes"],
                        r["decoder"],
                        f"{r['rss_growth_mb']:.1f}",
                        f"{r['ms']:.1f}",
                        r["outcome"][:60],
                        r["stderr_lines"],
                    )
                    for r in rows
                ],
            )
        )

    if "policy" in args.parts:
        r = policy_run(args.mutated, args.seed)
        report["policy"] = r
        o = r["outcome"]
        print(
            f"\nDamaged JPEGs ({r['mutated']} of a 640x480 face, 1-50 bytes changed): refused by "
            f"the structure check {o['structure']}, refused as reported damaged by libjpeg "
            f"{o['decoder_damage']}, other refusals {o['other']}, accepted {o['accepted']} "
            f"(same emotions as the clean frame: {r['accepted_same_emotions']}; mean abs "
            f"pixel difference median "
            f"{benchlib.fmt(r['accepted_mean_abs_pixel_diff'].get('median'), 2)})"
        )
        for name, t in r["timing"].items():
            print(
                f"decode {name}: ours median {t['ours_ms']['median']:.2f} ms, bare "
                f"cv2.imdecode {t['opencv_ms']['median']:.2f} ms"
            )

    node_parts = [p for p in args.parts if p in ("fuzz", "bombs", "overload", "soak")]
    env = ros_env() if node_parts or "signals" in args.parts else {}
    with tempfile.TemporaryDirectory() as tmpdir:
        tmp = Path(tmpdir)
        if node_parts:
            report.update(node_parts_run(args, rng, env, tmp, cases))
        if "signals" in args.parts:
            rows = signals_run(env, args.signal_delays, tmp)
            report["signals"] = rows
            print("\nSignals at start-up phases (face_affect_node)")
            print(
                benchlib.table(
                    ["signal", "after s", "exit code", "exit s", "traceback"],
                    [
                        (r["signal"], r["after_s"], r["exit_code"], r["exit_s"], r["traceback"])
                        for r in rows
                    ],
                )
            )
    path = benchlib.write_results("reliability", report)
    print(f"wrote {path}")
    return 0


def node_parts_run(args, rng, env, tmp: Path, cases: dict[str, bytes]) -> dict[str, Any]:
    out: dict[str, Any] = {}
    face = benchlib.sized_frame(640, 480).image
    face_jpeg = H.jpeg(face)
    client = Client()
    try:
        for transport in ("raw", "compressed"):
            parts = [
                p
                for p in args.parts
                if p in (("fuzz", "overload", "soak") if transport == "raw" else ("fuzz", "bombs"))
            ]
            if not parts:
                continue
            err_path = tmp / f"{transport}.err"
            proc = start_node(env, transport, err_path)
            compressed = transport == "compressed"
            good = face_jpeg if compressed else face
            if not client.wait_ready(compressed):
                raise RuntimeError(f"{transport} node not ready: {err_path.read_text()[-800:]}")
            for _ in range(20):  # warm-up
                client.good(good)
            rss0 = proc_status(proc.pid, "VmRSS")
            if "fuzz" in parts:
                items = (
                    fuzz_compressed(args.fuzz, rng, face_jpeg, H.png(face))
                    if compressed
                    else fuzz_images(args.fuzz, rng, face)
                )
                r = fuzz_run(client, items, good, compressed)
                r["rss_growth_mb"] = proc_status(proc.pid, "VmHWM") - rss0
                out[f"fuzz_{transport}"] = r
                print(f"\nFuzz, {transport}: {json.dumps(r)}")
            if "bombs" in parts:
                rows = []
                # The control row: the same pause and good frame with no bomb before it.
                for name, data in {"control: no bomb": b"", **cases}.items():
                    before = client.fresh_counters()
                    rss = proc_status(proc.pid, "VmRSS")
                    reset_peak(proc.pid)
                    if data:
                        client.publish(data, time.time_ns())
                    t0 = time.monotonic()
                    client.spin(0.05)  # the bomb is taken by the worker, not replaced
                    wait = client.good(good, timeout=15)
                    rows.append(
                        {
                            "case": name,
                            "bytes": len(data),
                            "peak_rss_growth_mb": proc_status(proc.pid, "VmHWM") - rss,
                            "next_good_answered_s": wait,
                            "bomb_to_good_answer_s": None
                            if wait is None
                            else time.monotonic() - t0,
                            "counters": delta(client.fresh_counters(), before),
                        }
                    )
                out["bombs"] = rows
                print("\nBombs sent to the compressed node (each followed by a good frame)")
                print(
                    benchlib.table(
                        [
                            "case",
                            "bytes",
                            "peak RSS +MB",
                            "next good frame answered s",
                            "counted as",
                        ],
                        [
                            (
                                r["case"],
                                r["bytes"],
                                f"{r['peak_rss_growth_mb']:.1f}",
                                benchlib.fmt(r["next_good_answered_s"], 3),
                                ", ".join(
                                    f"{k}+{v}"
                                    for k, v in r["counters"].items()
                                    if k.startswith(("error", "dropped", "processed"))
                                ),
                            )
                            for r in rows
                        ],
                    )
                )
            if "overload" in parts:
                crowd = benchlib.crowd_frame(10, 1280, 720).image
                for label, rate, secs, count in (
                    ("60 Hz", 60.0, args.overload, None),
                    ("flood", 0.0, None, args.flood),
                ):
                    before = client.fresh_counters()
                    stamps, ages = stream(client, crowd, rate, secs, count)
                    c = delta(client.fresh_counters(), before)
                    r = {
                        "sent": len(stamps),
                        "answered": len(ages),
                        "age_ms": benchlib.summarize(ages),
                        "node_received": c.get("received", 0),
                        "lost_unseen": len(stamps) - c.get("received", 0),
                        "counters": c,
                    }
                    out[f"overload_{label}"] = r
                    print(
                        f"\nOverload {label}, 1280x720, 10 faces: sent {r['sent']}, node saw "
                        f"{r['node_received']}, answered {r['answered']}, lost unseen "
                        f"{r['lost_unseen']}, age p95 "
                        f"{benchlib.fmt(r['age_ms'].get('p95'))} ms, counters {c}"
                    )
            if "soak" in parts:
                before = client.fresh_counters()
                rss_a = proc_status(proc.pid, "VmRSS")
                stamps, ages = stream(client, face, 30.0, args.soak, None)
                rss_b = proc_status(proc.pid, "VmRSS")
                r = {
                    "sent": len(stamps),
                    "answered": len(ages),
                    "age_ms": benchlib.summarize(ages),
                    "rss_start_mb": rss_a,
                    "rss_end_mb": rss_b,
                    "rss_growth_pct": 100 * (rss_b - rss_a) / rss_a,
                    "counters": delta(client.fresh_counters(), before),
                }
                out["soak"] = r
                print(
                    f"\nSoak 30 Hz {args.soak:.0f} s: answered {r['answered']}/{r['sent']}, "
                    f"age p95 {benchlib.fmt(r['age_ms'].get('p95'))} ms, RSS {rss_a:.1f} -> "
                    f"{rss_b:.1f} MiB ({r['rss_growth_pct']:+.2f} %)"
                )
            ex = stop(proc, signal.SIGINT, err_path)
            out[f"exit_{transport}"] = ex
            print(
                f"{transport} node: SIGINT -> exit {ex['exit_code']} in {ex['exit_s']} s, "
                f"traceback {ex['traceback']}, stderr {ex['stderr_lines']} lines / "
                f"{ex['stderr_bytes']} B"
            )
    finally:
        client.close()
    return out


if __name__ == "__main__":
    resource.setrlimit(resource.RLIMIT_CORE, (0, 0))
    sys.exit(main())
