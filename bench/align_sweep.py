"""Measure the face-chip template for the dlib-models networks from YuNet's landmarks.

1. Template: where YuNet's five landmarks land inside the wheel's own dlib chips (64 px,
   padding 0.2), per face of the photos on which both dlib's HOG detector and YuNet fire
   (bench/dlib_reference.json made by bench/dlib_reference.py); median over whole faces.
2. Sweep: the template scaled about the chip centre (s) and shifted down (dy), gender-v1 and
   age-v1 on chips from core/align.py versus (a) the by-eye labels of every photo face
   (bench/face_labels.json), (b) the wheel's own outputs on its dlib chips of the same faces.

Usage: sh bench/get_face_photos.sh /tmp/face_photos
       .venv/bin/python bench/align_sweep.py /tmp/face_photos
"""

from __future__ import annotations

import json
import sys
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent))
import facesets
from face_affect_ros.core.align import DLIB_CHIP_TEMPLATE, ChipAligner
from face_affect_ros.core.classifier import AffectClassifier
from face_affect_ros.core.evidence import age_summary
from face_affect_ros.core.paths import models_dir
from face_affect_ros.core.tracking import box_iou

REFERENCE = Path(__file__).resolve().parent / "results" / "dlib_reference.json"
SCALES = (0.8, 0.9, 0.95, 1.0, 1.05, 1.1, 1.2)
SHIFTS = (-0.06, -0.03, 0.0, 0.03, 0.06)


def matched(faces: list[facesets.Face], ref: dict) -> list[tuple[facesets.Face, dict]]:
    """(face, wheel record) pairs whose dlib rectangle overlaps the YuNet box (IoU >= 0.3)."""
    out = []
    for face in faces:
        name = face.source.split(":", 1)[1].split("#")[0]
        best, best_iou = None, 0.3
        for rec in ref.get(name, []):
            left, top, right, bottom = rec["rect"]
            iou = box_iou(face.detection.box, (left, top, right - left, bottom - top))
            if iou >= best_iou:
                best, best_iou = rec, iou
        if best is not None:
            out.append((face, best))
    return out


def yunet_in_chip(face: facesets.Face, rec: dict) -> np.ndarray:
    """YuNet's landmarks as fractions of the wheel's 64 px chip."""
    m = np.vstack([np.asarray(rec["chip64_to_image"]), [0.0, 0.0, 1.0]])
    inv = np.linalg.inv(m)[:2]
    pts = np.asarray(face.detection.landmarks)
    return ((pts @ inv[:, :2].T + inv[:, 2]) + 0.5) / 64.0


def main() -> None:
    photo_dir = Path(sys.argv[1]) if len(sys.argv) > 1 else None
    ref = json.loads(REFERENCE.read_text())
    faces = facesets.photos(photo_dir)
    pairs = matched(faces, ref)
    whole = [(f, r) for f, r in pairs if "partial" not in f.source]
    pts = np.array([yunet_in_chip(f, r) for f, r in whole])
    med = np.median(pts, axis=0)
    print(
        f"1. template: {len(faces)} YuNet faces, {len(pairs)} also found by dlib, "
        f"{len(whole)} whole faces"
    )
    names = ("right eye", "left eye", "nose tip", "right mouth", "left mouth")
    print("   point          median x  median y   MAD x   MAD y   shipped x,y")
    mad = np.median(np.abs(pts - med), axis=0)
    for k, name in enumerate(names):
        sx, sy = DLIB_CHIP_TEMPLATE[k]
        print(
            f"   {name:<12} {med[k, 0]:9.3f} {med[k, 1]:9.3f} {mad[k, 0]:7.3f} "
            f"{mad[k, 1]:7.3f}   {sx:.3f},{sy:.3f}"
        )

    d = models_dir()
    clf = AffectClassifier(
        d / "emotion_mini_xception.json",
        d / "gender_dlib_v1.json",
        age_manifest=d / "age_dlib_v1.json",
    )
    gspec, aspec = clf.input_spec("gender"), clf.input_spec("age")
    bag, lfw = facesets.bag_faces(), facesets.lfw_faces()

    def p_correct(aligner: ChipAligner, items: list) -> np.ndarray:
        chips = [aligner.chip(f.image, f.detection.landmarks) for f in items]
        chips = [c[:, :, ::-1] if c.ndim == 3 else np.repeat(c[:, :, None], 3, 2) for c in chips]
        _, g = clf.classify([np.zeros((64, 64), np.uint8)] * len(items), chips)
        t = np.array([0 if f.label == "woman" else 1 for f in items])
        return g[np.arange(len(items)), t]

    print(f"\n   bag ({len(bag)} faces) and lfw ({len(lfw)}, gray 25 px patches): mean p(correct)")
    print("   scale  shift   bag acc  bag p   lfw acc  lfw p  lfw balanced acc")
    lfw_t = np.array([f.label == "woman" for f in lfw])
    for s in SCALES:
        for dy in SHIFTS:
            al = ChipAligner(gspec.size, scale=s, shift=dy)
            pb, pl = p_correct(al, bag), p_correct(al, lfw)
            bal = 0.5 * (np.mean(pl[lfw_t] > 0.5) + np.mean(pl[~lfw_t] > 0.5))
            print(
                f"   {s:5.2f} {dy:+6.2f} {np.mean(pb > 0.5):8.2f} {pb.mean():6.3f} "
                f"{np.mean(pl > 0.5):8.2f} {pl.mean():6.3f} {bal:8.2f}"
            )
    truth = np.array([0 if f.label == "woman" else 1 for f in faces])
    in_ref = [faces.index(f) for f, _ in pairs]
    ref_g = np.array([r["gender"] for _, r in pairs])
    ref_age = np.array([age_summary(r["age"], clf.age_values)[0] for _, r in pairs])
    print(
        f"\n2. sweep over {len(faces)} labelled photo faces ({int((truth == 0).sum())} women); "
        f"'vs wheel' on the {len(pairs)} faces dlib also finds"
    )
    print(
        "   scale  shift  acc   mean p(correct)  min p(correct) | |dp| vs wheel  "
        "|dage| vs wheel (y)  mean age"
    )
    for s in SCALES:
        for dy in SHIFTS:
            ga = ChipAligner(gspec.size, scale=s, shift=dy)
            aa = ChipAligner(aspec.size, scale=s, shift=dy)
            gchips = [ga.chip(f.image, f.detection.landmarks)[:, :, ::-1] for f in faces]
            achips = [aa.chip(f.image, f.detection.landmarks)[:, :, ::-1] for f in faces]
            emo = [np.zeros((64, 64), np.uint8)] * len(faces)
            _, g = clf.classify(emo, gchips)
            a = clf.classify_age(achips)
            pc = g[np.arange(len(faces)), truth]
            ages = np.array([age_summary(p, clf.age_values)[0] for p in a])
            dp = np.abs(g[in_ref, 0] - ref_g[:, 0]).mean()
            dage = np.abs(ages[in_ref] - ref_age).mean()
            mark = " <- shipped" if (s, dy) == (1.0, 0.0) else ""
            print(
                f"   {s:5.2f} {dy:+6.2f} {np.mean(pc > 0.5):5.2f} {pc.mean():12.3f} "
                f"{pc.min():15.3f} | {dp:13.3f} {dage:14.1f} {ages.mean():14.1f}{mark}"
            )
    wheel_pc = [r["gender"][0 if f.label == "woman" else 1] for f, r in pairs]
    print(
        f"   the wheel itself (dlib chips) on its {len(pairs)} faces: acc "
        f"{np.mean(np.array(wheel_pc) > 0.5):.2f}, mean p(correct) {np.mean(wheel_pc):.3f}, "
        f"min {np.min(wheel_pc):.3f}, mean age {ref_age.mean():.1f}"
    )


if __name__ == "__main__":
    main()
