"""Window looks at large faces: the two-step area shrink against one INTER_AREA step (issue 20).

A YuNet window look scales the window around a known face so the face is 48 px wide. At a face
of 200 px (a 1080p camera, someone at 1.5 m) that is a 4:1 area shrink, which OpenCV does fast
only at integer ratios; core/window.py shrinks by the integer part first, then the remainder.
This prints how far that moves the landmarks the look returns, next to how far they move when
the window itself moves by one frame pixel (the jitter every look has), and the time of a look,
on the comparison frames' faces scaled to 1280x720 and 1920x1080, three window centres each.

    PYTHONPATH=face_affect_ros .venv/bin/python bench/window_fidelity.py
"""

from __future__ import annotations

import sys
import time
from pathlib import Path

import cv2
import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent))
import benchlib
import face_affect_ros.core.window as window_module
from face_affect_ros.core.paths import model_manifest_path
from face_affect_ros.core.window import WindowDetector, box_centre

ONE_STEP = 10**9  # PRESTEP_MIN_RATIO out of reach: a single INTER_AREA step


def main() -> int:
    cv2.setNumThreads(1)
    two_step = window_module.PRESTEP_MIN_RATIO
    looker = WindowDetector(
        model_manifest_path("yunet_n_dynamic"),
        face_px=48.0,
        window_scale=2.5,
        score_threshold=0.5,
        intra_op_threads=1,
    )
    rng = np.random.default_rng(0)
    moved, jitter, times = [], [], {ONE_STEP: [], two_step: []}
    missed = {ONE_STEP: 0, two_step: 0}
    for frame in benchlib.comparison_frames():
        for size in ((1280, 720), (1920, 1080)):
            image = cv2.resize(frame.image, size, interpolation=cv2.INTER_LINEAR)
            sx, sy = size[0] / frame.image.shape[1], size[1] / frame.image.shape[0]
            for face in frame.faces:
                b = face["box"] if isinstance(face, dict) else face
                box = (b[0] * sx, b[1] * sy, b[2] * sx, b[3] * sy)
                for _ in range(3):
                    cx, cy = box_centre(box)
                    centre = (cx + rng.uniform(-3, 3), cy + rng.uniform(-3, 3))
                    found = {}
                    for ratio in (ONE_STEP, two_step):
                        window_module.PRESTEP_MIN_RATIO = ratio
                        t0 = time.perf_counter()
                        dets = looker.find(image, centre, box[2])
                        times[ratio].append(time.perf_counter() - t0)
                        found[ratio] = dets[0] if dets else None
                        missed[ratio] += not dets
                    window_module.PRESTEP_MIN_RATIO = ONE_STEP
                    nudged = looker.find(image, (centre[0] + 1.0, centre[1] + 1.0), box[2])
                    ref = found[ONE_STEP]
                    if ref is None or found[two_step] is None or not nudged:
                        continue
                    lm = np.array(ref.landmarks)
                    width = ref.box[2]
                    moved.append(np.abs(np.array(found[two_step].landmarks) - lm).max() / width)
                    jitter.append(np.abs(np.array(nudged[0].landmarks) - lm).max() / width)
    window_module.PRESTEP_MIN_RATIO = two_step
    rows = []
    for name, values in (
        ("two steps vs one step", moved),
        ("one step, window moved by 1 px", jitter),
    ):
        v = np.array(values)
        rows.append(
            [
                name,
                str(v.size),
                f"{np.median(v):.4f}",
                f"{np.percentile(v, 95):.4f}",
                f"{v.max():.4f}",
            ]
        )
    print("largest landmark shift / face width, HD faces (comparison frames at 720p and 1080p)")
    print(benchlib.table(["comparison", "looks", "median", "p95", "max"], rows))
    print(
        f"look ms (median): one step {1e3 * np.median(times[ONE_STEP]):.3f}, two steps "
        f"{1e3 * np.median(times[two_step]):.3f}; faces missed: one step {missed[ONE_STEP]}, "
        f"two steps {missed[two_step]}"
    )
    return 0


if __name__ == "__main__":
    sys.exit(main())
