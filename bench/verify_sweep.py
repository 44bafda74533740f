"""Face / not-face verification, measured: which second look refuses non-faces, at what recall.

Scenes: 640x480 frames made of every skimage picture without a face (chelsea, coffee, rocket,
coins, ...) fitted to the frame, then the same backgrounds with pasted sprites: the 100 lfw_subset
non-face patches (negatives) or faces (positives: astronaut, cameraman, matplotlib's Grace
Hopper, the 100 lfw_subset face patches) at face widths 20-128 px. The scan detector (YuNet n at
640x480, the temporal loop's full-frame scan) runs at a recall-pushed threshold; each of its
detections is a candidate, matched to the pasted ground truth (IoU >= 0.3). Each candidate then
gets a second look: YuNet n or s on a window around it scaled so the face is `face_px` wide.
Printed: candidates refused / kept by verifier threshold, per model and face_px; and the
candidates whose own (first-look) score would let them skip the second look in per-frame mode
(core/verify.py ``CONFIDENT_FIRST_LOOK``): the highest non-face first look, and recall / non-faces
kept with the skip at 0.8 / 0.85 / 0.9.

    .venv/bin/python bench/verify_sweep.py [--scan-threshold 0.5]
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from pathlib import Path

import cv2
import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "face_affect_ros"))

from face_affect_ros.core.detector import FaceDetector
from face_affect_ros.core.paths import model_manifest_path
from face_affect_ros.core.tracking import box_iou
from face_affect_ros.core.window import WindowDetector, box_centre

W, H = 640, 480
NONFACE = (
    "chelsea",
    "coffee",
    "rocket",
    "coins",
    "clock",
    "brick",
    "grass",
    "gravel",
    "hubble_deep_field",
    "immunohistochemistry",
    "moon",
    "page",
    "retina",
    "text",
    "colorwheel",
    "cell",
    "cat",
)


def to_bgr(a: np.ndarray) -> np.ndarray:
    if a.dtype == bool:
        a = a.astype(np.uint8) * 255
    if a.ndim == 2:
        return cv2.cvtColor(a, cv2.COLOR_GRAY2BGR)
    if a.shape[2] == 4:
        return cv2.cvtColor(a, cv2.COLOR_RGBA2BGR)
    return cv2.cvtColor(a, cv2.COLOR_RGB2BGR)


def fit(img: np.ndarray) -> np.ndarray:
    s = min(W / img.shape[1], H / img.shape[0])
    r = cv2.resize(
        img, (round(img.shape[1] * s), round(img.shape[0] * s)), interpolation=cv2.INTER_AREA
    )
    out = np.full((H, W, 3), 40, np.uint8)
    y, x = (H - r.shape[0]) // 2, (W - r.shape[1]) // 2
    out[y : y + r.shape[0], x : x + r.shape[1]] = r
    return out


def backgrounds() -> dict[str, np.ndarray]:
    from skimage import data

    return {n: fit(to_bgr(getattr(data, n)())) for n in NONFACE}


def face_sprites() -> list[tuple[str, np.ndarray, tuple[float, float, float, float]]]:
    """(name, BGR sprite with context, face box inside it) of the real photos with faces."""
    import matplotlib
    from skimage import data

    det = FaceDetector(
        model_manifest_path("yunet_n_dynamic"), input_size=(512, 512), score_threshold=0.6
    )
    out = []
    hopper = cv2.imread(str(Path(matplotlib.get_data_path()) / "sample_data" / "grace_hopper.jpg"))
    for name, img in (
        ("astronaut", to_bgr(data.astronaut())),
        ("cameraman", to_bgr(data.camera())),
        ("hopper", hopper),
    ):
        d = det.detect(img)[0]
        x, y, w, h = d.box
        x0, y0 = max(0, int(x - 0.6 * w)), max(0, int(y - 0.6 * h))
        x1, y1 = min(img.shape[1], int(x + 1.6 * w)), min(img.shape[0], int(y + 1.6 * h))
        out.append((name, img[y0:y1, x0:x1].copy(), (x - x0, y - y0, w, h)))
    return out


def lfw() -> tuple[list[np.ndarray], list[np.ndarray]]:
    from skimage import data

    imgs = data.lfw_subset()
    conv = [
        cv2.cvtColor((i * 255).astype(np.uint8) if i.dtype != np.uint8 else i, cv2.COLOR_GRAY2BGR)
        for i in imgs
    ]
    return conv[:100], conv[100:]


def paste(frame: np.ndarray, sprite: np.ndarray, box, face_w: float, at: tuple[int, int]):
    s = face_w / box[2]
    sw, sh = max(1, round(sprite.shape[1] * s)), max(1, round(sprite.shape[0] * s))
    r = cv2.resize(sprite, (sw, sh), interpolation=cv2.INTER_AREA if s < 1 else cv2.INTER_LINEAR)
    x, y = at
    x, y = min(max(0, x), W - sw), min(max(0, y), H - sh)
    frame[y : y + sh, x : x + sw] = r
    return (x + box[0] * s, y + box[1] * s, box[2] * s, box[3] * s)


def main() -> int:
    ap = argparse.ArgumentParser()
    ap.add_argument("--scan-threshold", type=float, default=0.5)
    ap.add_argument("--scan-size", type=int, nargs=2, default=(W, H))
    ap.add_argument("--json", type=Path)
    args = ap.parse_args()
    rng = np.random.default_rng(12)
    bgs = backgrounds()
    sprites = face_sprites()
    lfw_faces, lfw_non = lfw()
    frames: list[tuple[str, np.ndarray, list]] = []
    for n, bg in bgs.items():
        frames.append((f"bg:{n}", bg, []))
    names = list(bgs)
    widths = (20, 24, 32, 48, 64, 96, 128)
    for k, fw in enumerate(widths):
        for j, (sn, sp, box) in enumerate(sprites):
            for rep in range(3):
                f = bgs[names[(k * 7 + j * 3 + rep) % len(names)]].copy()
                gt = paste(
                    f,
                    sp,
                    box,
                    fw,
                    (int(rng.integers(0, W - 3 * fw)), int(rng.integers(0, H - 3 * fw))),
                )
                frames.append((f"face:{sn}:{fw}", f, [gt]))
    # lfw patches: 10 per frame, faces or non-faces; the patch is the face box (tight).
    for kind, patches in (("lfwface", lfw_faces), ("lfwnon", lfw_non)):
        for fw in (24, 32, 48, 64, 96):
            for start in range(0, 100, 10):
                f = bgs[names[(start // 10 + fw) % len(names)]].copy()
                gts = []
                cols = max(1, W // int(fw * 1.6))
                for i, p in enumerate(patches[start : start + 10]):
                    r, c = divmod(i, cols)
                    x, y = 10 + c * int(fw * 1.6), 10 + r * int(fw * 1.6)
                    if y + fw > H:
                        break
                    gts.append(paste(f, p, (0, 0, p.shape[1], p.shape[0]), fw, (x, y)))
                frames.append((f"{kind}:{fw}", f, gts if kind == "lfwface" else []))
    scan = FaceDetector(
        model_manifest_path("yunet_n_dynamic"),
        input_size=tuple(args.scan_size),
        score_threshold=args.scan_threshold,
    )
    cands = []  # (is_face, kind, det)
    for name, f, gts in frames:
        for d in scan.detect(f):
            is_face = any(box_iou(d.box, g) >= 0.3 for g in gts)
            cands.append((is_face, name, f, d))
    n_face_gt = sum(len(g) for _, _, g in frames)
    print(
        f"{len(frames)} frames, {n_face_gt} pasted faces; scan (n {args.scan_size}, "
        f"thr {args.scan_threshold}) gives {sum(c[0] for c in cands)} face and "
        f"{sum(not c[0] for c in cands)} non-face candidates"
    )
    print(
        "non-face candidates:",
        sorted({c[1].split(":")[0] + ":" + c[1].split(":")[1] for c in cands if not c[0]}),
    )
    results = {"first_look": first_look(cands)}
    for model in ("yunet_n_dynamic", "yunet_s_dynamic"):
        for face_px in (48, 64, 96):
            wd = WindowDetector(
                model_manifest_path(model), face_px=face_px, window_scale=2.0, score_threshold=0.05
            )
            scores = []
            t = time.perf_counter()
            for _is_face, _name, f, d in cands:
                best = 0.0
                for v in wd.find(f, box_centre(d.box), d.box[2]):
                    if box_iou(v.box, d.box) >= 0.3:
                        best = max(best, v.score)
                scores.append(best)
            ms = (time.perf_counter() - t) / max(1, len(cands)) * 1e3
            scores = np.array(scores)
            isf = np.array([c[0] for c in cands])
            row = {}
            for thr in (0.5, 0.6, 0.7, 0.8, 0.85, 0.9):
                row[thr] = (int((scores[~isf] >= thr).sum()), float((scores[isf] >= thr).mean()))
            results[f"{model}@{face_px}"] = {
                "ms": ms,
                "rows": {str(k): v for k, v in row.items()},
                "nonface_scores": sorted(scores[~isf].round(3).tolist())[-8:],
            }
            print(
                f"{model:16s} face_px {face_px:3d} window {wd.side}px {ms:5.2f} ms/cand  "
                + "  ".join(f"t{thr}: FP {fp} rec {rec:.3f}" for thr, (fp, rec) in row.items())
            )
            # recall by face width at 0.8
            byw = {}
            for (is_face, name, _f, _d), s in zip(cands, scores, strict=True):
                if is_face:
                    fw = name.split(":")[-1]
                    byw.setdefault(fw, []).append(s >= 0.8)
            print(
                "    recall@0.8 by width of scanned faces:",
                {
                    k: f"{np.mean(v):.2f}/{len(v)}"
                    for k, v in sorted(byw.items(), key=lambda kv: int(kv[0]))
                },
            )
    if args.json:
        args.json.write_text(json.dumps(results, indent=1))
    return 0


def first_look(cands: list) -> dict:
    """How per-frame mode's confident first looks fare: candidates that skip the second look.

    For thresholds T on the scan's own score: faces and non-faces that skip the default
    verifier (a candidate >= T is kept as it is), and face recall / non-faces kept with the skip.
    """
    from face_affect_ros.core.verify import FaceVerifier

    verifier = FaceVerifier(model_manifest_path("yunet_s_dynamic"))
    first = np.array([c[3].score for c in cands])
    isf = np.array([c[0] for c in cands])
    second = np.array([verifier.score(c[2], c[3]) for c in cands]) >= verifier.threshold
    print("non-face first-look scores, highest:", sorted(first[~isf].round(3).tolist())[-5:])
    out = {"nonface_first_top": sorted(first[~isf].round(3).tolist())[-5:]}
    for t in (0.8, 0.85, 0.9):
        skip = first >= t
        kept = np.where(skip, True, second)
        row = {
            "faces_skipping": float(skip[isf].mean()),
            "nonface_skipping": int(skip[~isf].sum()),
            "face_recall": float(kept[isf].mean()),
            "face_recall_verifier_alone": float(second[isf].mean()),
            "nonface_kept": int(kept[~isf].sum()),
        }
        out[str(t)] = row
        print(f"first look >= {t} kept without a second look: {row}")
    return out


if __name__ == "__main__":
    sys.exit(main())
