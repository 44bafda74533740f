"""Every face of every frame the perception loop publishes on the moving sequence, as JSON.

Why: a change to the loop that must not change 640x480 behaviour (e.g. the HD scan tiles of issue
20) is proved by running this on the tree before and after and comparing the two files with
``==`` (ids, boxes, landmarks, scores, every label and score vector, and the loop's counters).
The package is imported from ``PYTHONPATH``, so the same script runs against another checkout:

    PYTHONPATH=/old/checkout/face_affect_ros .venv-jazzy/bin/python bench/dump_moving.py a.json
    PYTHONPATH=face_affect_ros .venv-jazzy/bin/python bench/dump_moving.py b.json
    cmp a.json b.json
"""

from __future__ import annotations

import dataclasses
import json
import sys

from face_affect_ros.bag import make_moving as mm
from face_affect_ros.core.temporal import PerceptionLoop

#: Counters that exist only since issue 20 (always 0 on 640x480 frames): left out of the dump.
NEW_COUNTERS = ("tile_scans", "tiles_skipped")


def main() -> int:
    out = sys.argv[1] if len(sys.argv) > 1 else "moving_dump.json"
    loop = PerceptionLoop()
    frames = []
    for t, frame, _ in mm.face_frames():
        result = loop.step(frame, t)
        faces = [dataclasses.asdict(f) for f in result.faces]
        for f in faces:
            for key in [k for k in f if k.endswith("_ms")]:
                del f[key]
        frames.append(faces)
    counters = {k: v for k, v in vars(loop.counters).items() if k not in NEW_COUNTERS}
    with open(out, "w") as fh:
        json.dump({"frames": frames, "counters": counters}, fh, sort_keys=True)
    print(f"wrote {out}: {sum(map(len, frames))} faces in {len(frames)} frames, {counters}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
