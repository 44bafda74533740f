"""Every face of every frame the perception loop publishes on the moving sequence, as JSON.

Why: a change to the loop that must not change 640x480 behaviour (e.g. the HD scan tiles of issue
20) is proved by running this on the tree before and after and comparing the two files with
``==`` (ids, boxes, landmarks, scores, every label and score vector, and the loop's counters).
The package is imported from ``PYTHONPATH``, so the same script runs against another checkout:

    PYTHONPATH=/old/checkout/face_affect_ros .venv-jazzy/bin/python bench/dump_moving.py a.json
    PYTHONPATH=face_affect_ros .venv-jazzy/bin/python bench/dump_moving.py b.json
    cmp a.json b.json

``--off scan_regions`` turns a bool field of TemporalConfig off where the tree has it (a tree
without the field runs as it is): the tiles' proof with the region scans of the same issue off.
"""

from __future__ import annotations

import argparse
import dataclasses
import json
import sys

from face_affect_ros.bag import make_moving as mm
from face_affect_ros.core.temporal import PerceptionLoop, TemporalConfig

#: Counters that exist only since issue 20 (always 0 on 640x480 frames): left out of the dump.
NEW_COUNTERS = ("tile_scans", "tiles_skipped", "region_scans", "region_looks")


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("out", nargs="?", default="moving_dump.json")
    ap.add_argument("--off", nargs="*", default=[], help="TemporalConfig bool fields to turn off")
    args = ap.parse_args()
    out = args.out
    fields = {f.name for f in dataclasses.fields(TemporalConfig)}
    loop = PerceptionLoop(None, TemporalConfig(**{n: False for n in args.off if n in fields}))
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
