"""Head pose from 5 landmarks: accuracy per solvePnP solver, landmark noise, face size, depth, CPU.

Method (synthetic, known ground truth):

* camera: 640x480, 60 deg horizontal field of view, no distortion (fx = fy = 554 px);
* heads: the 3D reference of core/head_pose.py (REFERENCE_POINTS_MM) placed at distances drawn
  uniformly in each band of 0.5-5 m, yaw uniform in +-60 deg and pitch in +-30 deg (about the
  face's own up and left axes, starting from facing the camera), roll +-10 deg, the sellion
  anywhere in the inner 80 % of the image; the 5 points projected with the camera;
* landmark noise: Gaussian, independent per coordinate, either proportional to the face
  (sigma = k x the frontal eye distance in pixels, with k = YuNet's measured jitter, below) or
  absolute (1, 2, 3 px, the issue's range);
* YuNet's landmark jitter: the astronaut's head (skimage, public domain) pasted at several
  widths into a 640x480 frame, shifted by random sub-pixel offsets and scaled by 0.97-1.03, run
  through the package's detector at its default input size (256x192) and at 640x480; the
  landmarks are mapped back and their spread (SD per coordinate) divided by the eye distance;
* errors: distance error = |estimated - true| / true distance of the sellion; rotation error =
  angle of R_est^T R_true; failures = no pose or an invalid one;
* face-size spread: the true face scaled by s ~ N(1, 3.8 / 63) (Dodgson 2004: adult
  interpupillary distance 63 mm, SD 3.8 mm), estimated with the mean model;
* depth: a registered 32FC1 depth image, the face a plane at the true landmark centroid's z plus
  per-pixel noise sigma = 0.001 z^2 m (typical of active stereo at these ranges), NaN holes on
  10 % of pixels;
* CPU: People.step per track per frame (pose + one-euro + REP-155 transforms + engagement),
  one thread, median of repeated calls.

Usage: python bench/bench_head_pose.py [--samples N] [--quick] [--sweep]
Writes bench/results/head_pose.json.
"""

from __future__ import annotations

import argparse
import math
import time

import benchlib
import cv2
import numpy as np
from face_affect_ros.core.camera_model import CameraModel
from face_affect_ros.core.head_pose import (
    DEFAULT_MAX_REPROJECTION,
    REFERENCE_POINTS_MM,
    SOLVERS,
    HeadPoseEstimator,
)
from face_affect_ros.core.rep155 import FACE_TOWARDS_CAMERA, rotation_angle_deg

DISTANCE_BANDS = ((0.5, 1.0), (1.0, 2.0), (2.0, 3.5), (3.5, 5.0))
CAMERA = CameraModel.ideal(640, 480, 60.0)


def head_rotation(yaw_deg: float, pitch_deg: float, roll_deg: float) -> np.ndarray:
    """Face axes in the optical frame: facing the camera, then yaw, pitch, roll.

    Yaw about the face's z (up), pitch about its y (left), roll about its x, in its own frame.
    """
    y, p, r = (math.radians(v) for v in (yaw_deg, pitch_deg, roll_deg))
    rz = np.array([[math.cos(y), -math.sin(y), 0], [math.sin(y), math.cos(y), 0], [0, 0, 1]])
    ry = np.array([[math.cos(p), 0, math.sin(p)], [0, 1, 0], [-math.sin(p), 0, math.cos(p)]])
    rx = np.array([[1, 0, 0], [0, math.cos(r), -math.sin(r)], [0, math.sin(r), math.cos(r)]])
    return FACE_TOWARDS_CAMERA @ rz @ ry @ rx


def random_head(
    rng: np.random.Generator, band: tuple[float, float]
) -> tuple[np.ndarray, np.ndarray]:
    """(R, t) of a random head in `band` (m) whose sellion projects in the inner 80 %."""
    d = rng.uniform(*band)
    u = rng.uniform(0.1, 0.9) * CAMERA.width
    v = rng.uniform(0.1, 0.9) * CAMERA.height
    ray = CAMERA.rays(np.array([[u, v]]))[0]
    rot = head_rotation(rng.uniform(-60, 60), rng.uniform(-30, 30), rng.uniform(-10, 10))
    return rot, ray * d


def project(rot: np.ndarray, t: np.ndarray, scale: float = 1.0) -> np.ndarray:
    return CAMERA.project((REFERENCE_POINTS_MM * scale / 1000.0) @ rot.T + t)


def frontal_eye_px(t: np.ndarray) -> float:
    return CAMERA.fx * 0.0632 / float(t[2])


# ----------------------------------------------------------------------------- YuNet jitter
def yunet_jitter(rng: np.random.Generator, trials: int) -> dict:
    """Spread of YuNet's landmarks under sub-pixel shifts and 3 % rescaling, / eye distance."""
    from face_affect_ros.core.detector import FaceDetector
    from face_affect_ros.core.paths import model_manifest_path

    manifest = model_manifest_path("yunet_n_dynamic")
    head = benchlib._astronaut()
    rx, ry, rw, rh = benchlib.ASTRONAUT_HEAD
    region = head[ry : ry + rh, rx : rx + rw]
    out = {}
    for input_size in ((256, 192), (640, 480)):
        det = FaceDetector(manifest, input_size=input_size)
        for width in (60, 100, 160, 240):
            rel = []
            for _ in range(trials):
                s = width / rw * rng.uniform(0.97, 1.03)
                ox, oy = rng.uniform(200, 260), rng.uniform(100, 160)
                m = np.array([[s, 0, ox], [0, s, oy]], dtype=np.float64)
                frame = np.full((480, 640, 3), 90, np.uint8)
                frame = cv2.warpAffine(
                    region,
                    m,
                    (640, 480),
                    dst=frame,
                    borderMode=cv2.BORDER_TRANSPARENT,
                    flags=cv2.INTER_AREA if s < 1 else cv2.INTER_LINEAR,
                )
                found = det.detect(frame)
                if not found:
                    continue
                lm = np.asarray(found[0].landmarks, dtype=np.float64)
                back = (lm - [ox, oy]) / s  # in the head region's pixels
                rel.append(back)
            if len(rel) < 5:
                continue
            arr = np.stack(rel)  # trials x 5 x 2, in region pixels
            eye = float(np.mean(np.linalg.norm(arr[:, 1] - arr[:, 0], axis=1)))
            sd = float(np.sqrt(np.mean(np.var(arr, axis=0))))  # per coordinate
            out[f"{input_size[0]}x{input_size[1]}@{width}px"] = {
                "detected": len(rel),
                "trials": trials,
                "eye_px_in_frame": eye * width / rw,
                "sd_over_eye": sd / eye,
            }
    return out


# ----------------------------------------------------------------------------- solvers
def solver_errors(
    rng: np.random.Generator, samples: int, noise: tuple[str, float], solver: str
) -> dict:
    # The reprojection gate is off here, so that every solver is judged on all its answers;
    # "gated" counts what the default gate would have rejected.
    est = HeadPoseEstimator(solver, max_reprojection=1e9)
    kind, level = noise
    rows = {}
    for band in DISTANCE_BANDS:
        d_err, a_err, fails, gated, times = [], [], 0, 0, []
        for _ in range(samples):
            rot, t = random_head(rng, band)
            pts = project(rot, t)
            sigma = level * frontal_eye_px(t) if kind == "rel" else level
            noisy = pts + rng.normal(0.0, sigma, pts.shape)
            t0 = time.perf_counter()
            pose = est.estimate(noisy, CAMERA)
            times.append(time.perf_counter() - t0)
            if not pose.valid:
                fails += 1
                continue
            eye_px = float(np.linalg.norm(noisy[1] - noisy[0]))
            gated += pose.reprojection_px > DEFAULT_MAX_REPROJECTION * eye_px
            d_err.append(abs(pose.distance - np.linalg.norm(t)) / np.linalg.norm(t) * 100)
            a_err.append(rotation_angle_deg(pose.rotation_matrix, rot))
        rows[f"{band[0]}-{band[1]} m"] = {
            "distance_err_pct": _pct(d_err),
            "rotation_err_deg": _pct(a_err),
            "fail_rate": fails / samples,
            "gated_rate": gated / samples,
            "us_per_call": float(np.median(times) * 1e6),
        }
    return rows


def _mp(stats: dict) -> str:
    return f"{stats['median']:.1f} / {stats['p90']:.1f}"


def _pct(values: list[float]) -> dict:
    if not values:
        return {"median": math.nan, "p90": math.nan}
    return {"median": float(np.median(values)), "p90": float(np.percentile(values, 90))}


# ----------------------------------------------------------------------------- face size, depth
def face_size_spread(rng: np.random.Generator, samples: int, solver: str) -> dict:
    est = HeadPoseEstimator(solver)
    errs = []
    for _ in range(samples):
        rot, t = random_head(rng, (1.0, 3.0))
        scale = rng.normal(1.0, 3.8 / 63.0)
        pose = est.estimate(project(rot, t, scale), CAMERA)
        if pose.valid:
            errs.append((pose.distance - np.linalg.norm(t)) / np.linalg.norm(t) * 100)
    a = np.abs(errs)
    return {
        "median_abs_pct": float(np.median(a)),
        "p90_abs_pct": float(np.percentile(a, 90)),
        "sd_pct": float(np.std(errs)),
    }


def depth_vs_landmarks(rng: np.random.Generator, samples: int, solver: str, rel: float) -> dict:
    est = HeadPoseEstimator(solver)
    out = {}
    for band in DISTANCE_BANDS:
        lm_err, dp_err, used = [], [], 0
        for _ in range(samples):
            rot, t = random_head(rng, band)
            scale = rng.normal(1.0, 3.8 / 63.0)
            pts = project(rot, t, scale)
            noisy = pts + rng.normal(0.0, rel * frontal_eye_px(t), pts.shape)
            centroid_z = float(np.mean((REFERENCE_POINTS_MM * scale / 1000.0) @ rot.T + t, 0)[2])
            depth = centroid_z + rng.normal(0.0, 0.001 * centroid_z**2, (480, 640))
            depth[rng.random((480, 640)) < 0.1] = np.nan
            x0, y0 = pts.min(0)
            x1, y1 = pts.max(0)
            w, h = x1 - x0, y1 - y0
            box = (x0 - 0.25 * w, y0 - 0.5 * h, 1.5 * w, 1.8 * h)
            pose_lm = est.estimate(noisy, CAMERA)
            pose_d = est.estimate(noisy, CAMERA, depth.astype(np.float32), box)
            true = np.linalg.norm(t)
            if pose_lm.valid:
                lm_err.append(abs(pose_lm.distance - true) / true * 100)
            if pose_d.valid and pose_d.source == "depth":
                used += 1
                dp_err.append(abs(pose_d.distance - true) / true * 100)
        out[f"{band[0]}-{band[1]} m"] = {
            "landmarks_err_pct": _pct(lm_err),
            "depth_err_pct": _pct(dp_err),
            "depth_used": used / samples,
        }
    return out


# ----------------------------------------------------------------------------- smoothing
def filter_effect(rng: np.random.Generator, rel: float, rate: float = 15.0) -> dict:
    """Jitter at rest and lag in motion of People's one-euro smoothing (defaults) vs raw."""
    from face_affect_ros.core.people import FaceInput, People, PeopleConfig

    out = {}
    for name, speed in (("at rest", 0.0), ("walking 0.5 m/s across", 0.5)):
        raw_p, smooth_p = People(PeopleConfig(smoothing=False)), People()
        err_raw, err_s, ang_raw, ang_s = [], [], [], []
        rot = head_rotation(0, 0, 0)
        for k in range(int(6 * rate)):
            t_s = k / rate
            t = np.array([-0.6 + speed * t_s, 0.0, 2.0])
            pts = project(rot, t)
            noisy = pts + rng.normal(0.0, rel * frontal_eye_px(t), pts.shape)
            face = FaceInput("a1", (0.0, 0.0, 1.0, 1.0), noisy)
            a = raw_p.step(t_s, [face], CAMERA)[0]
            b = smooth_p.step(t_s, [face], CAMERA)[0]
            if k < rate or not (a.valid and b.valid):
                continue  # the first second: the filters settle
            err_raw.append(np.linalg.norm(np.subtract(a.pose.position, t)))
            err_s.append(np.linalg.norm(np.subtract(b.pose.position, t)))
            ang_raw.append(rotation_angle_deg(a.pose.rotation_matrix, rot))
            ang_s.append(rotation_angle_deg(b.pose.rotation_matrix, rot))
        out[name] = {
            "position_err_cm_raw": _pct([e * 100 for e in err_raw]),
            "position_err_cm_smoothed": _pct([e * 100 for e in err_s]),
            "rotation_err_deg_raw": _pct(ang_raw),
            "rotation_err_deg_smoothed": _pct(ang_s),
        }
    return out


def smoothing_sweep(rng: np.random.Generator, rel: float, rate: float = 15.0) -> dict:
    """Median errors of one-euro parameters on raw poses (how core/one_euro's defaults were set).

    Sequences of 8 s at `rate` Hz, head at 2 m: at rest; walking 0.5 m/s across; turning at
    60 deg/s from -40 deg yaw. Position: rest + walk; orientation: rest + turn.
    """
    from face_affect_ros.core.one_euro import OneEuroParams, OrientationFilter, VectorFilter
    from face_affect_ros.core.people import FaceInput, People, PeopleConfig

    seqs = {}
    for name, speed, yaw_rate in (("rest", 0.0, 0.0), ("walk", 0.5, 0.0), ("turn", 0.0, 60.0)):
        raw, data = People(PeopleConfig(smoothing=False)), []
        for k in range(int(8 * rate)):
            ts = k / rate
            t = np.array([-0.6 + speed * ts, 0.0, 2.0])
            rot = head_rotation(-40 + yaw_rate * ts if yaw_rate else 0.0, 0.0, 0.0)
            pts = project(rot, t)
            noisy = pts + rng.normal(0, rel * frontal_eye_px(t), pts.shape)
            p = raw.step(ts, [FaceInput("a1", (0, 0, 1, 1), noisy)], CAMERA)[0]
            if p.valid:
                data.append((ts, t, rot, np.array(p.pose.position), p.pose.rotation_matrix))
        seqs[name] = data
    out: dict = {"position_cm": {}, "orientation_deg": {}}
    for mc in (0.3, 0.5, 1.0, 2.0):
        for beta in (0.5, 1.0, 2.0, 4.0):
            row = []
            for name in ("rest", "walk"):
                f, e = VectorFilter(OneEuroParams(mc, beta, 1.0)), []
                for ts, t, _, pos, _ in seqs[name]:
                    y = f.update(pos, ts)
                    if ts > 1:
                        e.append(float(np.linalg.norm(y - t)) * 100)
                row.append(float(np.median(e)))
            out["position_cm"][f"{mc}/{beta}"] = row
        for beta in (0.3, 1.0, 3.0):
            row = []
            for name in ("rest", "turn"):
                f, e = OrientationFilter(OneEuroParams(mc, beta, 1.0)), []
                for ts, _, rot, _, r in seqs[name]:
                    y = f.update(r, ts)
                    if ts > 1:
                        e.append(rotation_angle_deg(y, rot))
                row.append(float(np.median(e)))
            out["orientation_deg"][f"{mc}/{beta}"] = row
    return out


# ----------------------------------------------------------------------------- CPU
def cpu_per_track(rng: np.random.Generator, tracks: int, frames: int) -> dict:
    from face_affect_ros.core.people import FaceInput, People

    people = People()
    heads = [random_head(rng, (1.0, 3.0)) for _ in range(tracks)]
    inputs = []
    for i, (rot, t) in enumerate(heads):
        pts = project(rot, t)
        x0, y0 = pts.min(0)
        x1, y1 = pts.max(0)
        box = (float(x0), float(y0), float(x1 - x0), float(y1 - y0))
        inputs.append(FaceInput(f"f{i}", box, pts))
    times = []
    for k in range(frames):
        t0 = time.perf_counter()
        people.step(k / 30.0, inputs, CAMERA)
        times.append(time.perf_counter() - t0)
    per = np.asarray(times[10:]) / tracks * 1e3
    return {
        "tracks": tracks,
        "ms_per_track_median": float(np.median(per)),
        "ms_per_track_p90": float(np.percentile(per, 90)),
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--samples", type=int, default=400, help="heads per distance band")
    parser.add_argument("--quick", action="store_true", help="100 samples, fewer YuNet trials")
    parser.add_argument("--sweep", action="store_true", help="also sweep one-euro parameters")
    args = parser.parse_args()
    samples = 100 if args.quick else args.samples
    cv2.setNumThreads(1)
    rng = np.random.default_rng(18)

    jitter = yunet_jitter(rng, 15 if args.quick else 40)
    print("YuNet landmark jitter (SD per coordinate / eye distance):")
    print(
        benchlib.table(
            ["input@head width", "detected", "eye px", "SD/eye"],
            [
                [
                    k,
                    f"{v['detected']}/{v['trials']}",
                    f"{v['eye_px_in_frame']:.1f}",
                    f"{v['sd_over_eye']:.3f}",
                ]
                for k, v in jitter.items()
            ],
        )
    )
    default_rel = [v["sd_over_eye"] for k, v in jitter.items() if k.startswith("256x192")]
    rel = float(np.median(default_rel)) if default_rel else 0.03

    noises = [("rel", rel), ("abs", 1.0), ("abs", 2.0), ("abs", 3.0)]
    solvers = {}
    for noise in noises:
        label = f"{rel:.3f} x eye" if noise[0] == "rel" else f"{noise[1]:g} px"
        for solver in SOLVERS:
            rows = solver_errors(np.random.default_rng(7), samples, noise, solver)
            solvers.setdefault(label, {})[solver] = rows
        print(
            f"\nnoise {label}: distance error % (median / p90), rotation error deg "
            "(median / p90), no pose, rejected by the default gate, us per call"
        )
        table_rows = [
            [
                solver,
                band,
                _mp(r["distance_err_pct"]),
                _mp(r["rotation_err_deg"]),
                f"{r['fail_rate'] * 100:.1f} %",
                f"{r['gated_rate'] * 100:.1f} %",
                f"{r['us_per_call']:.0f}",
            ]
            for solver, rows in solvers[label].items()
            for band, r in rows.items()
        ]
        print(
            benchlib.table(
                ["solver", "distance", "dist err %", "rot err deg", "no pose", "gated", "us"],
                table_rows,
            )
        )

    from face_affect_ros.core.head_pose import DEFAULT_SOLVER

    size = face_size_spread(np.random.default_rng(3), samples * 2, DEFAULT_SOLVER)
    print(
        f"\nface-size variation (IPD SD 3.8/63 mm), no landmark noise, {DEFAULT_SOLVER}: "
        f"|error| median {size['median_abs_pct']:.1f} %, p90 {size['p90_abs_pct']:.1f} %, "
        f"SD {size['sd_pct']:.1f} %"
    )
    depth = depth_vs_landmarks(np.random.default_rng(5), samples // 2, DEFAULT_SOLVER, rel)
    print("\ndistance from landmarks vs from depth (face size varied, YuNet noise):")
    print(
        benchlib.table(
            ["distance", "landmarks % (med / p90)", "depth % (med / p90)", "depth used"],
            [
                [
                    b,
                    f"{r['landmarks_err_pct']['median']:.1f} / {r['landmarks_err_pct']['p90']:.1f}",
                    f"{r['depth_err_pct']['median']:.1f} / {r['depth_err_pct']['p90']:.1f}",
                    f"{r['depth_used'] * 100:.0f} %",
                ]
                for b, r in depth.items()
            ],
        )
    )
    smoothing = filter_effect(np.random.default_rng(11), rel)
    print("\none-euro smoothing (defaults), head at 2 m, 15 Hz, YuNet noise:")
    print(
        benchlib.table(
            ["motion", "pos err cm raw", "smoothed", "rot err deg raw", "smoothed"],
            [
                [
                    k,
                    _mp(v["position_err_cm_raw"]),
                    _mp(v["position_err_cm_smoothed"]),
                    _mp(v["rotation_err_deg_raw"]),
                    _mp(v["rotation_err_deg_smoothed"]),
                ]
                for k, v in smoothing.items()
            ],
        )
    )
    sweep = {}
    if args.sweep:
        sweep = smoothing_sweep(np.random.default_rng(11), rel)
        for kind, rows in sweep.items():
            print(f"\none-euro sweep, {kind} (min_cutoff Hz / beta): median error per sequence")
            print(
                benchlib.table(
                    ["min_cutoff/beta", "rest", "moving", "mean"],
                    [
                        [k, f"{a:.2f}", f"{b:.2f}", f"{(a + b) / 2:.2f}"]
                        for k, (a, b) in rows.items()
                    ],
                )
            )
    cpu = {}
    try:
        cpu = cpu_per_track(np.random.default_rng(1), 4, 200 if args.quick else 600)
        print(
            f"\nPeople.step per track per frame (pose + filter + TF + engagement): "
            f"median {cpu['ms_per_track_median']:.3f} ms, p90 {cpu['ms_per_track_p90']:.3f} ms"
        )
    except ImportError as exc:
        print(f"\n(core.people not available: {exc})")
    path = benchlib.write_results(
        "head_pose",
        {
            "method": __doc__,
            "camera": {"width": 640, "height": 480, "hfov_deg": 60, "fx": CAMERA.fx},
            "samples_per_band": samples,
            "yunet_jitter": jitter,
            "relative_noise_used": rel,
            "solvers": solvers,
            "default_solver": DEFAULT_SOLVER,
            "face_size_spread": size,
            "depth_vs_landmarks": depth,
            "smoothing": smoothing,
            "smoothing_sweep": sweep,
            "cpu": cpu,
            "machine": benchlib.machine_info(),
        },
    )
    print(f"\nwrote {path}")


if __name__ == "__main__":
    main()
