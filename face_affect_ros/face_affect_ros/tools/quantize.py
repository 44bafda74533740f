r"""int8 static quantisation of the classifiers with onnxruntime, measured against the float model.

Why measure before shipping: int8 is only worth it on a robot CPU if it is faster AND agrees with
the float model on real faces. mini-Xception is tiny (about 0.4 ms per face in float on one
core), so the quantize / dequantize work and the int8 depthwise kernels can cost more than they
save; the tool therefore benchmarks float and int8 side by side in one run (interleaved rounds,
medians) and reports top-1 agreement on held-out real face crops.

What it does for each model (default: the shipped emotion and gender models):

1. ``quant_pre_process`` (shape inference + graph optimisation, the step onnxruntime recommends);
2. ``quantize_static`` in both formats, QDQ (QuantizeLinear / DequantizeLinear pairs around
   float ops, fused by onnxruntime at load) and QOperator (QLinearConv etc.), MinMax
   calibration, uint8 activations, int8 weights per output channel, 7-bit weight range
   (``reduce_range``: CPUs without VNNI, like this machine's AVX2, saturate the 8-bit u8 x s8
   products; without it agreement dropped to 65 % on the gender model);
3. calibration on real face crops: the 100 LFW face patches of scikit-image (upscaled to 64x64)
   and the astronaut's face, even-indexed faces and their mirror images; agreement and max
   probability difference are measured on the odd-indexed faces (held out) and their mirrors;
4. timing: one intra-op thread (the nodes' default), batch 1 and 8, medians over interleaved
   rounds so a busy moment of the shared machine hits all variants alike;
5. writes ``<name>_int8.onnx`` + manifest (format ``--format``, default QDQ: same agreement as
   QOperator and within 3 % of its speed here, ahead in the longest measurement; it is the
   format onnxruntime recommends, portable to other execution providers) and
   ``quantize_report.json``, and prints a table.

The softmax stays in float (``nodes_to_exclude``): quantised, the probabilities would come in
steps of 1/256 and not sum to 1.

Usage::

    python -m face_affect_ros.tools.quantize --out quantized/
    python -m face_affect_ros.tools.quantize --model runs/fer/emotion_mini_xception_trained.json \\
        --out quantized/
"""

from __future__ import annotations

import argparse
import json
import tempfile
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import onnx
import onnxruntime as ort

from face_affect_ros.tools.inference import (
    Classifier,
    interleaved_medians,
    load_classifier_manifest,
    open_session,
)

FORMATS = ("qdq", "qoperator")
DEFAULT_FORMAT = "qdq"
DEFAULT_MODELS = ("emotion_mini_xception", "gender_mini_xception")


@dataclass(frozen=True)
class QuantSettings:
    """The ``quantize_static`` options a run uses (recorded in the manifest)."""

    quant_format: str = DEFAULT_FORMAT
    per_channel: bool = True
    reduce_range: bool = True
    activation_type: str = "QUInt8"
    weight_type: str = "QInt8"
    calibrate_method: str = "MinMax"
    float_ops: tuple[str, ...] = ("Softmax",)

    def to_json(self) -> dict[str, Any]:
        """Return the settings as a plain dict."""
        return {k: list(v) if isinstance(v, tuple) else v for k, v in self.__dict__.items()}


def face_sets() -> tuple[np.ndarray, np.ndarray, dict[str, Any]]:
    """Return (calibration crops, held-out crops, description): uint8 ``[N, 64, 64]`` real faces.

    The fixture's 101 faces and their mirror images, split by face so a face and its mirror are
    on the same side: even face index -> calibration, odd -> held out.
    """
    from face_affect_ros.tools.datasets import real_face_crops

    crops, _ = real_face_crops()
    both = np.ascontiguousarray(np.concatenate([crops, crops[:, :, ::-1]]))
    face_id = np.concatenate([np.arange(len(crops))] * 2)
    cal = face_id % 2 == 0
    desc = {
        "faces": "skimage lfw_subset 100 faces (25x25 -> 64x64 INTER_LINEAR) + astronaut, "
        "each also mirrored",
        "calibration_samples": int(cal.sum()),
        "heldout_samples": int((~cal).sum()),
        "split": "even face index -> calibration, odd -> agreement",
    }
    return both[cal], both[~cal], desc


class _Reader:
    """``CalibrationDataReader`` over preprocessed inputs, in batches."""

    def __init__(self, input_name: str, x: np.ndarray, batch: int = 16) -> None:
        self._batches: Iterator[dict[str, np.ndarray]] = iter(
            [{input_name: x[i : i + batch]} for i in range(0, len(x), batch)]
        )

    def get_next(self) -> dict[str, np.ndarray] | None:
        return next(self._batches, None)


def quantize_model(
    model_path: str | Path,
    calibration_input: np.ndarray,
    settings: QuantSettings = QuantSettings(),
    input_name: str = "input",
) -> bytes:
    """Quantise a float ONNX classifier with onnxruntime's static quantisation; return bytes.

    ``calibration_input`` is model input (float32 ``[N, 1, H, W]``, already scaled).
    """
    from onnxruntime.quantization import (
        CalibrationDataReader,
        CalibrationMethod,
        QuantFormat,
        QuantType,
        quantize_static,
    )
    from onnxruntime.quantization.shape_inference import quant_pre_process

    if settings.quant_format not in FORMATS:
        raise ValueError(f"format must be one of {FORMATS}, got {settings.quant_format!r}")

    class Reader(_Reader, CalibrationDataReader):
        pass

    with tempfile.TemporaryDirectory() as tmp:
        pre = Path(tmp) / "pre.onnx"
        out = Path(tmp) / "int8.onnx"
        quant_pre_process(str(model_path), str(pre))
        # Keep the softmax in float: quantised, the probabilities would come in steps of 1/256
        # and no longer sum to 1, which the nodes' confidence thresholds and smoothing would see.
        softmax = [n.name for n in onnx.load(str(pre)).graph.node if n.op_type == "Softmax"]
        quantize_static(
            str(pre),
            str(out),
            Reader(input_name, calibration_input),
            quant_format=QuantFormat.QDQ
            if settings.quant_format == "qdq"
            else QuantFormat.QOperator,
            per_channel=settings.per_channel,
            reduce_range=settings.reduce_range,
            activation_type=getattr(QuantType, settings.activation_type),
            weight_type=getattr(QuantType, settings.weight_type),
            calibrate_method=getattr(CalibrationMethod, settings.calibrate_method),
            nodes_to_exclude=softmax,
        )
        return out.read_bytes()


def _preprocess(classifier: Classifier, crops: np.ndarray) -> np.ndarray:
    from face_affect_ros.tools.datasets import resize_gray, to_model_input

    crops = resize_gray(crops, classifier.size, classifier.interpolation)
    return to_model_input(crops, classifier.scale, classifier.offset)


def compare(float_probs: np.ndarray, int8_probs: np.ndarray) -> dict[str, float]:
    """Top-1 agreement and max / mean absolute probability difference."""
    diff = np.abs(float_probs - int8_probs)
    return {
        "top1_agreement": float((float_probs.argmax(1) == int8_probs.argmax(1)).mean()),
        "max_abs_prob_diff": float(diff.max()),
        "mean_abs_prob_diff": float(diff.mean()),
    }


def quantize_classifier(
    manifest: str | Path,
    out: Path,
    export_format: str = DEFAULT_FORMAT,
    rounds: int = 20,
    calibration: np.ndarray | None = None,
    heldout: np.ndarray | None = None,
) -> dict[str, Any]:
    """Quantise one classifier in both formats, measure, export ``export_format``; return report.

    ``calibration`` / ``heldout`` (uint8 crops) default to :func:`face_sets`.
    """
    from face_affect_ros.tools.convert import gray_classifier_manifest, sha256_bytes, write_json

    float_clf = load_classifier_manifest(manifest)
    faces: dict[str, Any] = {"faces": "caller-provided crops"}
    if calibration is None or heldout is None:
        calibration, heldout, faces = face_sets()
    x_cal = _preprocess(float_clf, calibration)
    x_held = _preprocess(float_clf, heldout)
    ref = float_clf.predict_input(x_held)

    variants: dict[str, bytes] = {}
    sessions: dict[str, ort.InferenceSession] = {"float32": open_session(float_clf.model_path)}
    quality: dict[str, dict[str, float]] = {}
    for fmt in FORMATS:
        data = quantize_model(float_clf.model_path, x_cal, QuantSettings(quant_format=fmt))
        variants[fmt] = data
        sessions[f"int8_{fmt}"] = open_session(data)
        name_out = float_clf.output_name
        probs = sessions[f"int8_{fmt}"].run([name_out], {float_clf.input_name: x_held})[0]
        quality[f"int8_{fmt}"] = compare(ref, probs)
    speed = interleaved_medians(sessions, x_held, rounds=rounds)

    name = f"{float_clf.name}_int8"
    onnx_bytes = variants[export_format]
    settings = QuantSettings(quant_format=export_format)
    float_sha = sha256_bytes(float_clf.model_path.read_bytes())
    report = {
        "model": float_clf.name,
        "float_file": float_clf.model_path.name,
        "float_sha256": float_sha,
        "exported": f"{name}.onnx",
        "export_format": export_format,
        "settings": settings.to_json(),
        "data": faces,
        "quality_vs_float": quality,
        "speed": speed,
        "runtime": f"onnxruntime {ort.__version__}, CPUExecutionProvider, 1 intra-op thread",
    }
    manifest_data = gray_classifier_manifest(
        name=name,
        task=float_clf.task,
        onnx_bytes=onnx_bytes,
        labels=float_clf.labels,
        source={
            "quantized_from": float_clf.model_path.name,
            "sha256": float_sha,
            "original": float_clf.manifest.get("source"),
        },
        license_file=float_clf.manifest.get("license"),
        regenerate="python -m face_affect_ros.tools.quantize",
        input_size=float_clf.size,
    )
    manifest_data["quantization"] = {
        **settings.to_json(),
        "calibration": faces,
        "heldout_vs_float": quality[f"int8_{export_format}"],
        "speed_ms": {k: speed[k] for k in ("float32", f"int8_{export_format}")},
        "runtime": report["runtime"],
    }
    out.mkdir(parents=True, exist_ok=True)
    (out / f"{name}.onnx").write_bytes(onnx_bytes)
    write_json(out / f"{name}.json", manifest_data)
    loaded = load_classifier_manifest(out / f"{name}.json")  # proves it loads like the original
    if loaded.labels != float_clf.labels or loaded.output_name != float_clf.output_name:
        raise RuntimeError(f"{name}: outputs changed by quantisation")
    return report


def format_table(reports: Sequence[dict[str, Any]]) -> str:
    """Render the side-by-side speed / agreement table the CLI prints."""
    lines = [
        f"{'model':24s} {'variant':15s} {'b1 ms':>7s} {'b8 ms':>7s} {'top1 agree':>10s} "
        f"{'max|dp|':>8s}",
    ]
    for rep in reports:
        for variant, sp in rep["speed"].items():
            q = rep["quality_vs_float"].get(variant)
            agree = f"{q['top1_agreement']:.1%}" if q else "-"
            maxd = f"{q['max_abs_prob_diff']:.3f}" if q else "-"
            lines.append(
                f"{rep['model']:24s} {variant:15s} {sp['batch1_median_ms']:7.3f} "
                f"{sp['batch8_median_ms']:7.3f} {agree:>10s} {maxd:>8s}"
            )
    return "\n".join(lines)


def build_parser() -> argparse.ArgumentParser:
    """Build the command line of :func:`main`."""
    p = argparse.ArgumentParser(
        prog="face-affect-quantize",
        description=__doc__.split("\n\n")[0],
        formatter_class=argparse.ArgumentDefaultsHelpFormatter,
    )
    p.add_argument(
        "--model",
        nargs="+",
        default=list(DEFAULT_MODELS),
        help="manifest paths or shipped model names",
    )
    p.add_argument("--format", choices=FORMATS, default=DEFAULT_FORMAT, help="format to export")
    p.add_argument("--rounds", type=int, default=20, help="timing rounds (10 runs each)")
    p.add_argument("--out", type=Path, required=True)
    return p


def main(argv: Sequence[str] | None = None) -> int:
    """Command-line entry point (``face-affect-quantize``)."""
    args = build_parser().parse_args(argv)
    reports = [quantize_classifier(m, args.out, args.format, args.rounds) for m in args.model]
    args.out.mkdir(parents=True, exist_ok=True)
    (args.out / "quantize_report.json").write_text(json.dumps(reports, indent=2) + "\n")
    print(format_table(reports))
    print(
        f"wrote {', '.join(r['exported'] for r in reports)} (+ .json) and quantize_report.json "
        f"in {args.out}"
    )
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
