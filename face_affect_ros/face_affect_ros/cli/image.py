"""face-affect-image: faces, emotion and gender in image files, without ROS.

Usage::

    face-affect-image [--json] [--out DIR] PATH...

PATH is an image file or a directory (its image files, not recursive). Output is a table per
image, or with ``--json`` one JSON object per line per image: the face_affect/v1 record of
:mod:`face_affect_ros.schema.results` (the bag tool and the demo write the same), with the
image's path under ``"image"``::

    {"image": path, "schema": "face_affect/v1", "width": w, "height": h,
     "emotion_labels": [...], "gender_labels": [...],
     "faces": [{"track_id": "", "box": [x, y, w, h], "roi": [x, y, w, h], "score": s,
                "landmarks": [[x, y], ...5], "emotion": label, "emotion_confidence": p,
                "emotion_scores": {label: p, ...}, "gender": label, "gender_confidence": p,
                "gender_scores": {label: p, ...}}, ...]}

``--out DIR`` also writes each image annotated (PNG). Unreadable inputs are reported on stderr
with a one-line reason and the others are still processed.

Exit status: 0 all inputs processed, 1 at least one input could not be read, 2 bad arguments
or models that cannot be loaded.
"""

from __future__ import annotations

import argparse
import json
import sys
from collections.abc import Sequence
from pathlib import Path

import cv2
import numpy as np

from face_affect_ros.core.draw import draw_results
from face_affect_ros.core.labels import LABEL_SETS
from face_affect_ros.core.manifest import ModelError
from face_affect_ros.core.pipeline import (
    DEFAULT_GENDER_MODEL,
    FaceAffectPipeline,
    FrameResult,
    PipelineConfig,
)
from face_affect_ros.schema.results import frame_to_dict

PROG = "face-affect-image"

#: File name extensions picked up when a directory is given (files given by name are always
#: tried, whatever their extension).
IMAGE_EXTENSIONS = frozenset(
    {".bmp", ".jpeg", ".jpg", ".jp2", ".pbm", ".pgm", ".png", ".ppm", ".tif", ".tiff", ".webp"}
)

EXIT_OK = 0
EXIT_UNREADABLE = 1
EXIT_USAGE = 2


def _input_size(text: str) -> tuple[int, int]:
    try:
        width, height = (int(v) for v in text.lower().split("x"))
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected WIDTHxHEIGHT, got {text!r}") from None
    return width, height


def build_parser() -> argparse.ArgumentParser:
    """Return the command-line parser (separate so the options can be documented / tested)."""
    parser = argparse.ArgumentParser(
        prog=PROG, description="Detect faces and classify their emotion and gender in image files."
    )
    parser.add_argument(
        "paths",
        nargs="+",
        metavar="PATH",
        help="image file, or directory whose image files are processed",
    )
    parser.add_argument(
        "--json",
        action="store_true",
        help="print one JSON object per line per image instead of a table",
    )
    parser.add_argument(
        "--out", metavar="DIR", type=Path, help="also write annotated images (PNG) into DIR"
    )
    parser.add_argument(
        "--models-dir",
        metavar="DIR",
        help="directory of model manifests (default: the shipped models)",
    )
    parser.add_argument(
        "--label-set",
        choices=sorted(LABEL_SETS),
        default="fer7",
        help="emotion labels to report (default: %(default)s)",
    )
    parser.add_argument(
        "--flip-tta", action="store_true", help="average each face with its mirror image (slower)"
    )
    parser.add_argument(
        "--gender-model",
        metavar="NAME",
        default=DEFAULT_GENDER_MODEL,
        help="gender model: manifest name or path, e.g. gender_mini_xception (the seed model); "
        "default: %(default)s",
    )
    parser.add_argument(
        "--age",
        action="store_true",
        help="also estimate apparent age (expected years, spread, probability of a minor)",
    )
    parser.add_argument(
        "--score-threshold", type=float, metavar="P", help="detector score threshold in [0, 1]"
    )
    parser.add_argument(
        "--input-size",
        type=_input_size,
        metavar="WxH",
        help="detector input size the image is scaled to fit",
    )
    return parser


def _expand(paths: Sequence[str]) -> tuple[list[Path], list[str]]:
    """Files to process, and one-line errors for paths that name nothing usable."""
    files: list[Path] = []
    errors: list[str] = []
    for text in paths:
        path = Path(text)
        if path.is_dir():
            found = sorted(
                p for p in path.iterdir() if p.is_file() and p.suffix.lower() in IMAGE_EXTENSIONS
            )
            if not found:
                errors.append(f"{text}: directory contains no image files")
            files.extend(found)
        elif path.is_file():
            files.append(path)
        else:
            errors.append(f"{text}: no such file or directory")
    return files, errors


def read_image(path: Path) -> np.ndarray:
    """Read an image as BGR uint8.

    Raises:
        OSError: the file cannot be opened.
        ValueError: the content is not an image OpenCV can decode.
    """
    data = np.fromfile(path, dtype=np.uint8)  # np.fromfile: non-ASCII paths work too
    image = None
    if data.size:
        # OpenCV logs its own multi-line complaint about broken files; our one line says it.
        logging = cv2.utils.logging
        level = logging.getLogLevel()
        logging.setLogLevel(logging.LOG_LEVEL_SILENT)
        try:
            image = cv2.imdecode(data, cv2.IMREAD_COLOR)
        finally:
            logging.setLogLevel(level)
    if image is None:
        raise ValueError("not an image OpenCV can decode")
    return image


def result_to_json(path: str, result: FrameResult) -> dict:
    """The ``--json`` object for one image: a face_affect/v1 record with the image's path."""
    return frame_to_dict(result, image=path)


def format_table(path: str, result: FrameResult) -> str:
    """Human-readable lines for one image."""
    n = len(result.faces)
    lines = [f"{path}  {result.width}x{result.height}  {n} face{'s' if n != 1 else ''}"]
    if n:
        lines.append(
            f"  {'#':>2}  {'box x, y, w, h':<22} {'score':>5}  {'emotion':<14} {'gender':<14}"
        )
        for i, face in enumerate(result.faces):
            box = ", ".join(f"{v:.0f}" for v in face.detection.box)
            lines.append(
                f"  {i:>2}  {box:<22} {face.detection.score:5.2f}  "
                f"{face.emotion:<9}{face.emotion_confidence:5.2f} "
                f"{face.gender:<9}{face.gender_confidence:5.2f}"
                + (
                    ""
                    if face.age_years is None
                    else f"  age {face.age_years:4.1f} +-{face.age_spread:4.1f} "
                    f"p(minor) {face.minor_probability:4.2f}"
                )
            )
    return "\n".join(lines)


def _out_path(out_dir: Path, source: Path, used: set[Path]) -> Path:
    """``DIR/<stem>.png``, numbered if two inputs share a stem in this run."""
    candidate = out_dir / f"{source.stem}.png"
    k = 1
    while candidate in used:
        candidate = out_dir / f"{source.stem}_{k}.png"
        k += 1
    used.add(candidate)
    return candidate


def main(argv: Sequence[str] | None = None) -> int:
    """Run the command line; returns the exit status (see the module docstring)."""
    args = build_parser().parse_args(argv)
    # Photos are independent frames: no track ids across them.
    overrides: dict[str, object] = {
        "emotion_label_set": args.label_set,
        "flip_tta": args.flip_tta,
        "tracking": False,
        "gender_model": args.gender_model,
        "age": args.age,
    }
    if args.models_dir is not None:
        overrides["models_dir"] = args.models_dir
    if args.score_threshold is not None:
        overrides["score_threshold"] = args.score_threshold
    if args.input_size is not None:
        overrides["detector_input_size"] = args.input_size
    try:
        pipeline = FaceAffectPipeline(PipelineConfig(**overrides))
    except (ValueError, ModelError) as exc:
        print(f"{PROG}: error: {exc}", file=sys.stderr)
        return EXIT_USAGE
    if args.out is not None:
        try:
            args.out.mkdir(parents=True, exist_ok=True)
        except OSError as exc:
            print(f"{PROG}: error: cannot create {args.out}: {exc.strerror}", file=sys.stderr)
            return EXIT_USAGE

    files, errors = _expand(args.paths)
    for message in errors:
        print(f"{PROG}: {message}", file=sys.stderr)
    failed = bool(errors)
    used: set[Path] = set()
    for path in files:
        try:
            image = read_image(path)
        except OSError as exc:
            print(f"{PROG}: {path}: cannot read ({exc.strerror or exc})", file=sys.stderr)
            failed = True
            continue
        except ValueError as exc:
            print(f"{PROG}: {path}: cannot read ({exc})", file=sys.stderr)
            failed = True
            continue
        result = pipeline.process(image)
        if args.json:
            print(json.dumps(result_to_json(str(path), result)), flush=True)
        else:
            print(format_table(str(path), result), flush=True)
        if args.out is not None:
            target = _out_path(args.out, path, used)
            if not cv2.imwrite(str(target), draw_results(image, result)):
                print(f"{PROG}: {target}: cannot write annotated image", file=sys.stderr)
                failed = True
    return EXIT_UNREADABLE if failed else EXIT_OK


if __name__ == "__main__":
    sys.exit(main())
