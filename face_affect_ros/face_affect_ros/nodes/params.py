"""Every ROS parameter of the face_affect_ros nodes, declared in one table.

Why one table: the four nodes share most parameters (the single-process node has the union of the
three split nodes'), the YAML file and the launch-file test check against it, and each entry's
descriptor (description, range or allowed values, read_only) is written once. Runtime changes are
validated by the node that receives them (by building a new core config), not here.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from typing import Any

from rcl_interfaces.msg import (
    FloatingPointRange,
    IntegerRange,
    ParameterDescriptor,
    ParameterType,
)
from rclpy.node import Node

from face_affect_ros.core import detector as _det
from face_affect_ros.core import labels as _labels
from face_affect_ros.core import pipeline as _pipe
from face_affect_ros.core.pipeline import PipelineConfig

# Largest frame any node accepts (also the upper bound of max_image_pixels). The split layout's
# detector and classifier use it on face_affect/frames, which camera_node has already checked
# against the user's max_image_pixels.
PIXEL_LIMIT = 1 << 28

# Which stages a node runs; the single-process node runs them all.
CAMERA, DETECTOR, CLASSIFIER, COMMON = "camera", "detector", "classifier", "common"
NODE_STAGES: dict[str, frozenset[str]] = {
    "camera_node": frozenset({CAMERA, COMMON}),
    "detector_node": frozenset({DETECTOR, COMMON}),
    "classifier_node": frozenset({CLASSIFIER, COMMON}),
    "face_affect_node": frozenset({CAMERA, DETECTOR, CLASSIFIER, COMMON}),
}


@dataclass(frozen=True)
class ParamSpec:
    """One parameter: its default, what it means, its allowed values and who declares it."""

    name: str
    default: Any
    description: str
    stage: str
    read_only: bool = False
    min: float | None = None
    max: float | None = None
    step: float | None = None  # integer ranges: 1; float ranges: 0 (continuous)
    choices: tuple[str, ...] = ()
    split_only: bool = False  # only the split-layout node of that stage declares it

    def descriptor(self) -> ParameterDescriptor:
        """The rcl descriptor: description, constraints and range as `ros2 param describe` shows."""
        desc = ParameterDescriptor(
            name=self.name,
            type=_param_type(self.default),
            description=self.description,
            read_only=self.read_only,
        )
        if self.choices:
            desc.additional_constraints = "one of: " + ", ".join(self.choices)
        if isinstance(self.default, bool):
            return desc
        if isinstance(self.default, int) and self.min is not None:
            desc.integer_range = [
                IntegerRange(from_value=int(self.min), to_value=int(self.max), step=1)
            ]
        elif isinstance(self.default, float) and self.min is not None:
            desc.floating_point_range = [
                FloatingPointRange(from_value=float(self.min), to_value=float(self.max), step=0.0)
            ]
        return desc


def _param_type(value: Any) -> int:
    if isinstance(value, bool):
        return ParameterType.PARAMETER_BOOL
    if isinstance(value, int):
        return ParameterType.PARAMETER_INTEGER
    if isinstance(value, float):
        return ParameterType.PARAMETER_DOUBLE
    if isinstance(value, str):
        return ParameterType.PARAMETER_STRING
    raise TypeError(f"unsupported parameter default {value!r}")


SPECS: tuple[ParamSpec, ...] = (
    # --- camera input -----------------------------------------------------------------------
    ParamSpec(
        "input_transport",
        "raw",
        "Camera input: 'raw' subscribes to sensor_msgs/Image on "
        "'image'; 'compressed' to sensor_msgs/CompressedImage on 'image/compressed'.",
        CAMERA,
        read_only=True,
        choices=("raw", "compressed"),
    ),
    ParamSpec(
        "input_reliability",
        "best_effort",
        "Reliability of the camera subscription. "
        "Sensor-data QoS is best effort; 'reliable' for drivers that only offer reliable.",
        CAMERA,
        read_only=True,
        choices=("best_effort", "reliable"),
    ),
    ParamSpec(
        "max_rate",
        0.0,
        "Process at most this many frames per second (0 = every frame "
        "the CPU keeps up with). Frames over the rate are dropped and counted.",
        CAMERA,
        min=0.0,
        max=240.0,
    ),
    ParamSpec(
        "max_image_pixels",
        8192 * 8192,
        "Refuse frames with more pixels than this "
        "(protects the node from corrupt headers claiming huge images).",
        CAMERA,
        min=1,
        max=PIXEL_LIMIT,
    ),
    # --- detector ---------------------------------------------------------------------------
    ParamSpec(
        "detector_model",
        "",
        "Face detector manifest (.json) or model name in the "
        "package's models directory; empty = the package default.",
        DETECTOR,
        read_only=True,
    ),
    ParamSpec(
        "detector_input_width",
        _det.DEFAULT_INPUT_SIZE[0],
        "Width in pixels the frame is scaled to (keeping "
        "aspect ratio) before detection: the main speed/recall lever.",
        DETECTOR,
        read_only=True,
        min=32,
        max=4096,
    ),
    ParamSpec(
        "detector_input_height",
        _det.DEFAULT_INPUT_SIZE[1],
        "Height in pixels the frame is scaled to (keeping aspect ratio) before detection.",
        DETECTOR,
        read_only=True,
        min=32,
        max=4096,
    ),
    ParamSpec(
        "score_threshold",
        _det.DEFAULT_SCORE_THRESHOLD,
        "Minimum detector score for a face.",
        DETECTOR,
        min=0.01,
        max=0.99,
    ),
    ParamSpec(
        "nms_threshold",
        _det.DEFAULT_NMS_THRESHOLD,
        "IoU above which overlapping detections are merged.",
        DETECTOR,
        min=0.01,
        max=0.99,
    ),
    ParamSpec(
        "min_face_size",
        0.0,
        "Ignore faces smaller than this (box side, source-image "
        "pixels): far-away faces are too small to judge emotion on.",
        DETECTOR,
        min=0.0,
        max=4096.0,
    ),
    ParamSpec(
        "max_faces",
        _det.DEFAULT_MAX_FACES,
        "Keep at most this many faces per frame (highest scores).",
        DETECTOR,
        min=1,
        max=100,
    ),
    # --- classifiers ------------------------------------------------------------------------
    ParamSpec(
        "emotion_model",
        "",
        "Emotion classifier manifest (.json) or model name; empty = the package default.",
        CLASSIFIER,
        read_only=True,
    ),
    ParamSpec(
        "gender_model",
        "",
        "Gender classifier manifest (.json) or model name; empty = the package default.",
        CLASSIFIER,
        read_only=True,
    ),
    ParamSpec(
        "emotion_margin_x",
        _pipe.DEFAULT_EMOTION_MARGIN[0],
        "Margin added left and right of the face box before the "
        "emotion crop, as a fraction of the box width (default chosen by measurement, "
        "see bench/margin_sweep.py).",
        CLASSIFIER,
        min=-0.25,
        max=2.0,
    ),
    ParamSpec(
        "emotion_margin_y",
        _pipe.DEFAULT_EMOTION_MARGIN[1],
        "Margin added above and below the face box before the "
        "emotion crop, as a fraction of the box height.",
        CLASSIFIER,
        min=-0.25,
        max=2.0,
    ),
    ParamSpec(
        "gender_margin_x",
        _pipe.DEFAULT_GENDER_MARGIN[0],
        "Margin added left and right of the face box before the "
        "gender crop, as a fraction of the box width (the gender model was trained on "
        "wide IMDB crops).",
        CLASSIFIER,
        min=-0.25,
        max=2.0,
    ),
    ParamSpec(
        "gender_margin_y",
        _pipe.DEFAULT_GENDER_MARGIN[1],
        "Margin added above and below the face box before the "
        "gender crop, as a fraction of the box height.",
        CLASSIFIER,
        min=-0.25,
        max=2.0,
    ),
    ParamSpec(
        "label_set",
        "fer7",
        "Emotion labels published: 'fer7' (the 7 FER-2013 classes), "
        "'iot4' (neutral, angry, surprise, happy) or 'hierarchical3' (happy, sad, other).",
        CLASSIFIER,
        choices=("fer7", "iot4", "hierarchical3"),
    ),
    ParamSpec(
        "gender_min_confidence",
        _labels.DEFAULT_GENDER_MIN_CONFIDENCE,
        "Publish gender 'unknown' when the top gender probability is below this.",
        CLASSIFIER,
        min=0.5,
        max=1.0,
    ),
    ParamSpec(
        "flip_tta",
        False,
        "Average each face with its mirror image (test-time "
        "augmentation): steadier labels for twice the classifier cost.",
        CLASSIFIER,
    ),
    ParamSpec(
        "tracking",
        True,
        "Give each face a track id (face_<n>) that stays the same while the face stays in view "
        "(greedy IoU matching).",
        CLASSIFIER,
    ),
    ParamSpec(
        "emotion_smoothing",
        0.0,
        "Exponential smoothing of each track's emotion probabilities over frames (0 = off: "
        "scores are the model's for this frame; 0.5-0.8 steadies flickering labels). Needs "
        "tracking.",
        CLASSIFIER,
        min=0.0,
        max=0.95,
    ),
    ParamSpec(
        "saliency_model",
        "",
        "Publish the guided back-propagation saliency of the largest face on "
        "face_affect/saliency: path of the emotion model's PyTorch weights (upstream Keras .hdf5 "
        "or a face-affect-train checkpoint). Empty = off. Needs PyTorch (the `tools` extra); "
        "only this option imports it.",
        CLASSIFIER,
        read_only=True,
    ),
    ParamSpec(
        "saliency_rate",
        1.0,
        "At most this many saliency images per second (each costs a PyTorch backward pass, tens "
        "of milliseconds).",
        CLASSIFIER,
        min=0.01,
        max=30.0,
    ),
    ParamSpec(
        "image_cache_size",
        30,
        "Images kept while waiting for their detections (split layout): about one second at 30 Hz.",
        CLASSIFIER,
        read_only=True,
        min=1,
        max=600,
        split_only=True,
    ),
    # --- every node -------------------------------------------------------------------------
    ParamSpec(
        "intra_op_threads",
        1,
        "onnxruntime threads per model. 1 leaves the robot's other "
        "cores to the rest of its software.",
        COMMON,
        read_only=True,
        min=1,
        max=64,
    ),
    ParamSpec(
        "autostart",
        True,
        "Configure and activate the lifecycle node at start-up; false "
        "leaves it unconfigured for a lifecycle manager.",
        COMMON,
        read_only=True,
    ),
    ParamSpec(
        "diagnostics_period",
        1.0,
        "Seconds between /diagnostics messages.",
        COMMON,
        read_only=True,
        min=0.1,
        max=60.0,
    ),
    ParamSpec(
        "latency_warn_ms",
        100.0,
        "Diagnostics turn WARN when the median processing latency exceeds this.",
        COMMON,
        min=1.0,
        max=10000.0,
    ),
)
SPEC_BY_NAME: dict[str, ParamSpec] = {s.name: s for s in SPECS}


def specs_for(node_name: str) -> tuple[ParamSpec, ...]:
    """The parameters the node of executable `node_name` declares."""
    stages = NODE_STAGES[node_name]
    single = node_name == "face_affect_node"
    return tuple(s for s in SPECS if s.stage in stages and not (single and s.split_only))


def declare(node: Node, specs: Iterable[ParamSpec]) -> dict[str, Any]:
    """Declare `specs` on `node` and return their current values by name."""
    values = {}
    for spec in specs:
        param = node.declare_parameter(spec.name, spec.default, spec.descriptor())
        values[spec.name] = param.value
    return values


def check_choice(name: str, value: Any) -> str | None:
    """Return a reason if `value` is not allowed for parameter `name`, else None.

    Ranges are enforced by rcl from the descriptors; allowed string values are checked here.
    """
    spec = SPEC_BY_NAME.get(name)
    if spec is not None and spec.choices and value not in spec.choices:
        return f"{name} must be one of {', '.join(spec.choices)}; got '{value}'"
    return None


def merged(current: Mapping[str, Any], changes: Mapping[str, Any]) -> dict[str, Any]:
    """`current` with `changes` applied (for validating a whole new configuration)."""
    out = dict(current)
    out.update(changes)
    return out


YAML_HEADER = """\
# Parameters of every face_affect_ros node, keyed by node name (the split layout's
# camera_node, detector_node, classifier_node, and the single-process face_affect_node).
# Each value is the default; ranges and allowed values are also in the node's parameter
# descriptors (`ros2 param describe /face_affect_node score_threshold`).
# (read-only) = takes effect only at start-up; the others can change at runtime
# (`ros2 param set`), validated before they are applied.
# Topics are remapped, not set here: see launch/face_affect.launch.py.
# Generated from face_affect_ros/nodes/params.py: python -m face_affect_ros.nodes.params
"""


def _yaml_value(value: Any) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, str):
        return f'"{value}"'
    return repr(value)


def yaml_text() -> str:
    """config/face_affect.yaml as it must read: every node's parameters with a comment each."""
    import textwrap

    out = [YAML_HEADER]
    for node in ("face_affect_node", "camera_node", "detector_node", "classifier_node"):
        out += [f"/**/{node}:", "  ros__parameters:"]
        for spec in specs_for(node):
            notes = []
            if spec.choices:
                notes.append("one of " + ", ".join(spec.choices))
            elif spec.min is not None and not isinstance(spec.default, bool):
                cast = float if isinstance(spec.default, float) else int
                notes.append(f"range [{cast(spec.min)}, {cast(spec.max)}]")
            if spec.read_only:
                notes.append("read-only")
            text = spec.description + (f" ({'; '.join(notes)})" if notes else "")
            out += [f"    # {line}" for line in textwrap.wrap(text, 94)]
            out.append(f"    {spec.name}: {_yaml_value(spec.default)}")
        out.append("")
    return "\n".join(out)


if __name__ == "__main__":
    from pathlib import Path

    target = Path(__file__).resolve().parents[2] / "config" / "face_affect.yaml"
    target.write_text(yaml_text())
    print(f"wrote {target}")


def pipeline_config(values: Mapping[str, Any]) -> PipelineConfig:
    """The core's PipelineConfig for a node's parameter values; ValueError says what is wrong.

    Parameters a node does not declare (a split node has only its stage's) keep the core's
    defaults; empty model names mean the package default model.
    """
    kwargs: dict[str, Any] = {}
    for name in ("detector_model", "emotion_model", "gender_model"):
        if values.get(name):
            kwargs[name] = values[name]
    if "detector_input_width" in values:
        kwargs["detector_input_size"] = (
            values["detector_input_width"],
            values["detector_input_height"],
        )
    for name in (
        "score_threshold",
        "nms_threshold",
        "min_face_size",
        "max_faces",
        "gender_min_confidence",
        "flip_tta",
        "intra_op_threads",
        "tracking",
        "emotion_smoothing",
    ):
        if name in values:
            kwargs[name] = values[name]
    if "label_set" in values:
        kwargs["emotion_label_set"] = values["label_set"]
    for model in ("emotion", "gender"):
        if f"{model}_margin_x" in values:
            kwargs[f"{model}_margin"] = (values[f"{model}_margin_x"], values[f"{model}_margin_y"])
    return PipelineConfig(**kwargs)


# Parameters whose change needs new onnxruntime sessions (they are read-only, so they can only
# differ at configure time); every other pipeline parameter is applied between two frames.
MODEL_PARAMS = frozenset(
    {
        "detector_model",
        "emotion_model",
        "gender_model",
        "detector_input_width",
        "detector_input_height",
        "intra_op_threads",
    }
)
