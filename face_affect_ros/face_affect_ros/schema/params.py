"""Every ROS parameter of the face_affect_ros nodes, in one table that imports no ROS.

Why one table, and why here: the four nodes share most parameters (the single-process node has
the union of the three split nodes'), and the YAML file, the README's parameter table, the
offline bag tool and the tests all read them. Each entry's default, description, range or allowed
values and read_only flag is written once; :mod:`face_affect_ros.nodes.params` turns entries into
rcl descriptors and declarations, nothing else. Runtime changes are validated by building the
core's :class:`PipelineConfig` from the new values (:func:`pipeline_config`); whether a change
needs new onnxruntime sessions is the core's decision
(:func:`face_affect_ros.core.config.stages_to_rebuild`), not this table's.

Regenerate config/face_affect.yaml and the README table:
``python -m face_affect_ros.schema.params``.
"""

from __future__ import annotations

import os
import textwrap
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from face_affect_ros.core import anonymise as _anon
from face_affect_ros.core import detector as _det
from face_affect_ros.core import loop_config as _tmp
from face_affect_ros.core import providers as _prov
from face_affect_ros.core import verify as _ver
from face_affect_ros.core.config import (
    DEFAULT_EMOTION_MARGIN,
    DEFAULT_GENDER_MARGIN,
    PipelineConfig,
)
from face_affect_ros.core.image_io import DEFAULT_MAX_PIXELS
from face_affect_ros.core.loop_config import TemporalConfig

# Largest frame any node accepts (also the upper bound of max_image_pixels). The split layout's
# detector and classifier use it on face_affect/frames, which camera_node has already checked
# against the user's max_image_pixels.
PIXEL_LIMIT = 1 << 28

# Which stages a node runs; the single-process node runs them all.
# The perception loop over time is two halves (core/localise.py, core/affect.py):
# LOCALISE (scans, track windows, verification, ids) runs where the detector runs, AFFECT
# (per-track estimates) where the classifiers run, LOOP parameters are read by both halves.
# INPUT: how a node reads the camera (camera nodes, and hri_node for its chips). COMMON: the
# onnxruntime settings of the nodes that run models (and camera_node). NODE: every node's
# lifecycle and diagnostics. HRI: the optional REP-155 output node (hri_node).
CAMERA, DETECTOR, CLASSIFIER, COMMON = "camera", "detector", "classifier", "common"
LOCALISE, AFFECT, LOOP = "localise", "affect", "loop"
INPUT, NODE, HRI = "input", "node", "hri"
#: The stages of the perception loop (a change of one of these parameters reconfigures it).
LOOP_STAGES = frozenset({LOCALISE, AFFECT, LOOP})
NODE_NAMES = ("face_affect_node", "camera_node", "detector_node", "classifier_node", "hri_node")
NODE_STAGES: dict[str, frozenset[str]] = {
    "camera_node": frozenset({CAMERA, INPUT, COMMON, NODE}),
    "detector_node": frozenset({DETECTOR, LOCALISE, LOOP, COMMON, NODE}),
    "classifier_node": frozenset({CLASSIFIER, AFFECT, LOOP, COMMON, NODE}),
    "face_affect_node": frozenset(
        {CAMERA, INPUT, DETECTOR, CLASSIFIER, LOCALISE, AFFECT, LOOP, COMMON, NODE}
    ),
    "hri_node": frozenset({INPUT, HRI, NODE}),
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


SPECS: tuple[ParamSpec, ...] = (
    # --- camera input -----------------------------------------------------------------------
    ParamSpec(
        "input_transport",
        "raw",
        "Camera input: 'raw' subscribes to sensor_msgs/Image on "
        "'image'; 'compressed' to sensor_msgs/CompressedImage on 'image/compressed'.",
        INPUT,
        read_only=True,
        choices=("raw", "compressed"),
    ),
    ParamSpec(
        "input_reliability",
        "best_effort",
        "Reliability of the camera subscription. "
        "Sensor-data QoS is best effort; 'reliable' for drivers that only offer reliable.",
        INPUT,
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
        DEFAULT_MAX_PIXELS,
        "Refuse frames with more pixels than this "
        "(protects the node from corrupt headers claiming huge images).",
        INPUT,
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
        "verify_faces",
        True,
        "Publish a detection only after a second, closer look (YuNet s on the face scaled to "
        "64 px) confirms it is a face: refuses the cat, the clock and other face-like things "
        "(bench/verify_sweep.py). Applies in every mode; in per-frame mode (tracking off) a "
        "detection whose own score is >= 0.9 is published without it (no non-face measured "
        "scored above 0.80).",
        DETECTOR,
    ),
    ParamSpec(
        "verify_model",
        "",
        "Detector manifest (.json) or model name used for the verification look; empty = "
        f"{_ver.DEFAULT_VERIFY_MODEL}.",
        DETECTOR,
        read_only=True,
    ),
    ParamSpec(
        "verify_threshold",
        _ver.DEFAULT_VERIFY_THRESHOLD,
        "Minimum score of the verification look (0.8 kept 0 of 68 non-face candidates and "
        "97.8 % of 554 faces in bench/verify_sweep.py).",
        DETECTOR,
        min=0.0,
        max=1.0,
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
        "Gender classifier manifest (.json) or model name; empty = the package default "
        "(gender_dlib_v1, chosen by measurement: README 'Gender and age'); "
        "gender_mini_xception is the seed model. Each brings its own crop from its manifest.",
        CLASSIFIER,
        read_only=True,
    ),
    ParamSpec(
        "age",
        False,
        "Also estimate apparent age (FaceAffect age_years, age_spread, minor_probability; "
        "AGE_OFF = -1 when false). Off by default: ~2-4 ms more per face, and a soft "
        "biometric a deployment should opt in to.",
        CLASSIFIER,
        read_only=True,
    ),
    ParamSpec(
        "age_model",
        "",
        "Age model manifest (.json) or model name, used when age is true; empty = the package "
        "default (age_dlib_v1).",
        CLASSIFIER,
        read_only=True,
    ),
    ParamSpec(
        "emotion_margin_x",
        DEFAULT_EMOTION_MARGIN[0],
        "Margin added left and right of the face box before the "
        "emotion crop, as a fraction of the box width (default chosen by measurement, "
        "see bench/margin_sweep.py).",
        CLASSIFIER,
        min=-0.25,
        max=2.0,
    ),
    ParamSpec(
        "emotion_margin_y",
        DEFAULT_EMOTION_MARGIN[1],
        "Margin added above and below the face box before the "
        "emotion crop, as a fraction of the box height.",
        CLASSIFIER,
        min=-0.25,
        max=2.0,
    ),
    ParamSpec(
        "gender_margin_x",
        DEFAULT_GENDER_MARGIN[0],
        "Margin added left and right of the face box before the "
        "gender crop, as a fraction of the box width (the gender model was trained on "
        "wide IMDB crops).",
        CLASSIFIER,
        min=-0.25,
        max=2.0,
    ),
    ParamSpec(
        "gender_margin_y",
        DEFAULT_GENDER_MARGIN[1],
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
        0.0,
        "Publish gender 'unknown' when the top gender probability is below this; 0 = the "
        "gender model's calibrated threshold (its manifest's decision: 0.95 for "
        "gender_dlib_v1, 0.7 for gender_mini_xception); otherwise in [0.5, 1].",
        CLASSIFIER,
        min=0.0,
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
        "Run the perception loop over time (scan / track / verify, per-track emotion and "
        "gender, ids face_<n> stable while a face stays in view); in the split layout "
        "detector_node localises and classifier_node classifies the tracks. Off: every frame "
        "independent, no ids.",
        LOOP,
    ),
    # --- perception over time (tracking on): localisation half -------------------------------
    ParamSpec(
        "scan_period",
        _tmp.DEFAULT_SCAN_PERIOD,
        "Seconds between full-frame scans for new faces (tracking on); a due scan is skipped "
        "while nothing changed outside the known faces (scan_idle_period). A face that appears "
        "is found within one period.",
        LOCALISE,
        min=0.0,
        max=60.0,
    ),
    ParamSpec(
        "scan_input_width",
        _tmp.DEFAULT_SCAN_INPUT_SIZE[0],
        "Detector input width of the full-frame scan (640 finds 20 px faces in 640x480).",
        LOCALISE,
        read_only=True,
        min=32,
        max=4096,
    ),
    ParamSpec(
        "scan_input_height",
        _tmp.DEFAULT_SCAN_INPUT_SIZE[1],
        "Detector input height of the full-frame scan.",
        LOCALISE,
        read_only=True,
        min=32,
        max=4096,
    ),
    ParamSpec(
        "scan_threshold",
        _tmp.DEFAULT_SCAN_THRESHOLD,
        "Minimum detector score of a new face in the scan (verification decides after it).",
        LOCALISE,
        min=0.05,
        max=1.0,
    ),
    ParamSpec(
        "track_threshold",
        _tmp.DEFAULT_TRACK_THRESHOLD,
        "Minimum detector score for finding a known face again in its window.",
        LOCALISE,
        min=0.05,
        max=1.0,
    ),
    ParamSpec(
        "track_look_rate",
        _tmp.DEFAULT_TRACK_LOOK_RATE,
        "Detector looks per second at a known face (also whenever it is classified); frames in "
        "between follow it by template matching. 0: a detector look every frame.",
        LOCALISE,
        min=0.0,
        max=240.0,
    ),
    ParamSpec(
        "track_follow_confidence",
        _tmp.DEFAULT_TRACK_FOLLOW_CONFIDENCE,
        "Template-match correlation at which following a known face stands in for a detector "
        "look due at track_look_rate (a look for classification always runs). 0: every due "
        "look runs (always so while anonymise is on).",
        LOCALISE,
        min=0.0,
        max=1.0,
    ),
    ParamSpec(
        "scan_idle_period",
        _tmp.DEFAULT_SCAN_IDLE_PERIOD,
        "Longest time between scans while nothing changes in the frame outside the known faces "
        "(a due scan is skipped on a still scene). 0: scan every scan_period regardless.",
        LOCALISE,
        min=0.0,
        max=60.0,
    ),
    ParamSpec(
        "cut_fraction",
        _tmp.DEFAULT_CUT_FRACTION,
        "Scan at once when at least this fraction of the frame changed since the previous frame "
        "(a cut in a recording, the robot turning its head fast), so new faces appear within a "
        "frame instead of after scan_period. 0: never.",
        LOCALISE,
        min=0.0,
        max=1.0,
    ),
    ParamSpec(
        "scan_regions",
        _tmp.DEFAULT_SCAN_REGIONS,
        "A scan due because the picture changed covers only the changed region outside the "
        "known faces (grown by 48 px), at the frame's own resolution, when that is at most half "
        "the frame (and, in frames larger than the scan input, at most its pixel count); off: "
        "the whole frame every time.",
        LOCALISE,
    ),
    ParamSpec(
        "scan_tile_period",
        _tmp.DEFAULT_SCAN_TILE_PERIOD,
        "Frames larger than the scan input (HD cameras): seconds between native looks, so "
        "faces ~16-20 px wide in the camera's pixels are found: the parts changed since their "
        "last native look (outside the known people) scanned at 1.5x when they fit the scan "
        "input's pixel count, else one native-resolution tile (about that pixel count, "
        "overlapping) in rotation, changed tiles first; every tile once on the first frames; "
        "on a still picture one tile at 1.5x per scan_idle_period. Frames that fit the scan "
        "input have none. 0: none.",
        LOCALISE,
        min=0.0,
        max=60.0,
    ),
    ParamSpec(
        "scan_tile_threshold",
        _tmp.DEFAULT_SCAN_TILE_THRESHOLD,
        "Minimum detector score of a new face in a native look (tile or changed part; far "
        "faces score lower; the verifier decides after it).",
        LOCALISE,
        min=0.05,
        max=1.0,
    ),
    # --- people in 3D (the nodes that localise faces) ------------------------------------------
    ParamSpec(
        "localise_3d",
        True,
        "Head pose, distance and engagement of each track (FaceAffect's 3D fields) and its "
        "REP-155 face_<id> / gaze_<id> TF frames, from the camera's camera_info (topic "
        "'camera_info'). Needs tracking.",
        LOCALISE,
        read_only=True,
    ),
    ParamSpec(
        "rectified",
        False,
        "The image is rectified (image_rect*): use camera_info's P and no distortion; false: "
        "a raw image, K and D (REP-104).",
        LOCALISE,
    ),
    ParamSpec(
        "use_depth",
        False,
        "Subscribe to 'depth' (16UC1 mm or 32FC1 m, registered to the colour image, same "
        "stamp) and take each face's distance from it instead of the assumed face size.",
        LOCALISE,
        read_only=True,
    ),
    ParamSpec(
        "publish_tf",
        True,
        "Publish face_<id> and gaze_<id> on /tf (parent: the image's frame_id, stamp: the "
        "image's).",
        LOCALISE,
        read_only=True,
    ),
    ParamSpec(
        "engagement_field_of_view",
        120.0,
        "Degrees, FULL angle of the attention cone of the person and of the robot (the "
        "default reproduces hri_engagement's effective 60 deg half-angle).",
        LOCALISE,
        min=1.0,
        max=179.0,
    ),
    ParamSpec(
        "engagement_max_distance",
        4.0,
        "Metres at which visual social engagement falls to 0.",
        LOCALISE,
        min=0.1,
        max=50.0,
    ),
    ParamSpec(
        "engagement_threshold",
        0.5,
        "Engagement above which a person counts as looking at the robot (levels ENGAGING / "
        "ENGAGED).",
        LOCALISE,
        min=0.0,
        max=0.99,
    ),
    ParamSpec(
        "engagement_window",
        2.0,
        "Seconds of engagement samples the engagement level is decided on.",
        LOCALISE,
        min=0.1,
        max=60.0,
    ),
    # --- live anonymised stream (the nodes that localise faces) -------------------------------
    ParamSpec(
        "anonymise",
        False,
        "Publish an anonymised copy of the camera stream on face_affect/anonymised (raw) and "
        "face_affect/anonymised/compressed (JPEG), faces masked from the current tracks, each "
        "computed only while subscribed. Fail closed: a frame before the first scan or whose "
        "processing failed is masked whole.",
        LOCALISE,
        read_only=True,
    ),
    ParamSpec(
        "anonymise_mode",
        _anon.DEFAULT_MODE,
        f"How a face is masked: 'pixelate' ({_anon.CELLS_PER_FACE['pixelate']:g} cells of colour "
        f"across the face), 'blur' ({_anon.CELLS_PER_FACE['blur']:g}) or 'solid' (black); the "
        "default is the one independent detectors found the fewest faces in "
        "(bench/bench_anonymise.py).",
        LOCALISE,
        choices=_anon.MODES,
    ),
    ParamSpec(
        "anonymise_shape",
        _anon.DEFAULT_SHAPE,
        "Mask shape around each face: 'ellipse' or 'box'.",
        LOCALISE,
        choices=("ellipse", "box"),
    ),
    ParamSpec(
        "anonymise_margin",
        _anon.DEFAULT_MARGIN,
        "Mask size / detector box size (each side, about the box centre): 2.0 covers hair and "
        "the head's outline (bench/bench_anonymise.py).",
        LOCALISE,
        min=1.0,
        max=4.0,
    ),
    ParamSpec(
        "anonymise_delay",
        _anon.DEFAULT_PAD_S,
        "Seconds the anonymised stream is held back, so a face is also masked in the frames "
        "before the loop first found it (extrapolated back from its first sighting, as the bag "
        "tool pads; the default is the bag tool's padding). Without it a face entering the "
        "view is published unmasked until found: 14 and 30 face-frames of the two moving "
        "sequences, 0 from 0.25 s on (bench/bench_anonymise.py --live). Costs that latency on "
        "this stream only and the held frames' memory while subscribed (~28 MB at 640x480, "
        "~190 MB at 1920x1080, 30 Hz). 0: no delay, for an operator who steers by it. Held "
        "frames are never published unmasked (dropped on stop).",
        LOCALISE,
        min=0.0,
        max=2.0,
        read_only=True,
    ),
    ParamSpec(
        "anonymise_jpeg_quality",
        80,
        "JPEG quality of face_affect/anonymised/compressed.",
        LOCALISE,
        min=1,
        max=100,
    ),
    # --- perception over time: read by both halves -------------------------------------------
    ParamSpec(
        "track_lost_after",
        _tmp.DEFAULT_TRACK_LOST_AFTER,
        "Seconds a track survives without being found (then its id is retired).",
        LOOP,
        min=0.0,
        max=60.0,
    ),
    ParamSpec(
        "classify_rate",
        _tmp.DEFAULT_CLASSIFY_RATE,
        "Emotion / gender classifications per second per track (a face does not need "
        "classifying at the camera rate; published scores are the track's estimate).",
        LOOP,
        min=0.1,
        max=240.0,
    ),
    # --- perception over time: affect half ---------------------------------------------------
    ParamSpec(
        "emotion_time_constant",
        _tmp.DEFAULT_EMOTION_TIME_CONSTANT,
        "Seconds: a track's emotion estimate follows a change of expression with this time "
        "constant (0 = the latest classification only).",
        AFFECT,
        min=0.0,
        max=60.0,
    ),
    ParamSpec(
        "evidence_interval",
        _tmp.DEFAULT_EVIDENCE_INTERVAL,
        "Seconds per independent look of gender evidence (looks closer in time count less).",
        AFFECT,
        min=0.01,
        max=60.0,
    ),
    ParamSpec(
        "evidence_max_looks",
        _tmp.DEFAULT_EVIDENCE_MAX_LOOKS,
        "Cap on a track's accumulated gender evidence, in looks (how sure it can become, and "
        "how fast a wrong call can still be corrected).",
        AFFECT,
        min=1.0,
        max=1000.0,
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
    # --- REP-155 output (hri_node, launch argument hri:=true) -------------------------------
    ParamSpec(
        "hri_chip_size",
        128,
        "Side in pixels of /humans/faces/<id>/cropped and /aligned (hri_face_detect's 128).",
        HRI,
        min=16,
        max=1024,
    ),
    ParamSpec(
        "hri_image_cache_size",
        30,
        "Frames kept (only while a cropped or aligned topic has a subscriber) until the results "
        "of the same stamp arrive: about one second at 30 Hz.",
        HRI,
        read_only=True,
        min=1,
        max=600,
    ),
    ParamSpec(
        "hri_person_engagement",
        True,
        "Publish each track's engagement level on /humans/persons/<person_id>/engagement_status "
        "for the persons hri_person_manager associates with our faces (/humans/persons/tracked, "
        "<person_id>/face_id). Do not run hri_engagement as well.",
        HRI,
        read_only=True,
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
        "execution_provider",
        "auto",
        "onnxruntime execution provider of every model, falling back along tensorrt > cuda > "
        "cpu, openvino > cpu; auto = cuda if the installed onnxruntime has it, else cpu. A model "
        "that does not run on what was asked is logged as a WARNING and shown in diagnostics. "
        "Needs the matching onnxruntime wheel (README 'Execution providers').",
        COMMON,
        read_only=True,
        choices=_prov.EXECUTION_PROVIDERS,
    ),
    ParamSpec(
        "provider_device",
        "",
        "Device of the execution provider: empty = its default; a GPU index (0, 1) for cuda / "
        "tensorrt / auto; an OpenVINO device (CPU, GPU, GPU.1, NPU, AUTO:GPU,CPU) for openvino.",
        COMMON,
        read_only=True,
    ),
    ParamSpec(
        "provider_fp16",
        False,
        "Half precision: TensorRT fp16 engines, OpenVINO FP16 on a GPU / NPU provider_device "
        "(refused elsewhere, where it would do nothing). Not measured on robot hardware; "
        "outputs differ from the CPU's.",
        COMMON,
        read_only=True,
    ),
    ParamSpec(
        "provider_cache_dir",
        "",
        "Where TensorRT engines and OpenVINO compiled models are kept between starts; empty = "
        "~/.cache/face_affect_ros/onnxruntime.",
        COMMON,
        read_only=True,
    ),
    ParamSpec(
        "autostart",
        True,
        "Configure and activate the lifecycle node at start-up; false "
        "leaves it unconfigured for a lifecycle manager.",
        NODE,
        read_only=True,
    ),
    ParamSpec(
        "diagnostics_period",
        1.0,
        "Seconds between /diagnostics messages.",
        NODE,
        read_only=True,
        min=0.1,
        max=60.0,
    ),
    ParamSpec(
        "no_input_warn_s",
        5.0,
        "Diagnostics turn WARN when an active node has received no frame for this many seconds "
        "(0 = never).",
        NODE,
        min=0.0,
        max=3600.0,
    ),
    ParamSpec(
        "latency_warn_ms",
        100.0,
        "Diagnostics turn WARN when the median processing latency exceeds this.",
        NODE,
        min=1.0,
        max=10000.0,
    ),
)
SPEC_BY_NAME: dict[str, ParamSpec] = {s.name: s for s in SPECS}
#: Parameters whose change needs a new localisation half: its scan and window detectors are
#: built from the detector's and the loop's values (its tracks continue: ``adopt``).
LOCALISATION_PARAMS = frozenset(s.name for s in SPECS if s.stage in {DETECTOR, LOCALISE, LOOP})
#: Parameters of either half of the perception loop.
LOOP_PARAMS = frozenset(s.name for s in SPECS if s.stage in LOOP_STAGES)


def specs_for(node_name: str) -> tuple[ParamSpec, ...]:
    """The parameters the node of executable `node_name` declares."""
    stages = NODE_STAGES[node_name]
    single = node_name == "face_affect_node"
    return tuple(s for s in SPECS if s.stage in stages and not (single and s.split_only))


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
# camera_node, detector_node, classifier_node, the single-process face_affect_node, and
# hri_node, the optional REP-155 output of launch argument hri:=true).
# Each value is the default; ranges and allowed values are also in the node's parameter
# descriptors (`ros2 param describe /face_affect_node score_threshold`).
# (read-only) = takes effect only at start-up; the others can change at runtime
# (`ros2 param set`), validated before they are applied.
# Topics are remapped, not set here: see launch/face_affect.launch.py.
# Generated from face_affect_ros/schema/params.py: python -m face_affect_ros.schema.params
"""


def _yaml_value(value: Any) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, str):
        return f'"{value}"'
    return repr(value)


def yaml_text() -> str:
    """config/face_affect.yaml as it must read: every node's parameters with a comment each."""
    out = [YAML_HEADER]
    for node in NODE_NAMES:
        # /**/<name>: the section applies to the node in any namespace (launch pushes one).
        out += [f"{yaml_key(node)}:", "  ros__parameters:"]
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


def pipeline_config(values: Mapping[str, Any]) -> PipelineConfig:
    """The core's PipelineConfig for a node's parameter values; ValueError says what is wrong.

    Parameters a node does not declare (a split node has only its stage's) keep the core's
    defaults; empty model names mean the package default model.
    """
    kwargs: dict[str, Any] = {}
    for name in ("detector_model", "emotion_model", "gender_model", "verify_model", "age_model"):
        if values.get(name):
            kwargs[name] = values[name]
    # 0 (the parameter's default) = the gender model's own calibrated threshold.
    if values.get("gender_min_confidence"):
        kwargs["gender_min_confidence"] = values["gender_min_confidence"]
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
        "age",
        "flip_tta",
        "intra_op_threads",
        "tracking",
        "verify_faces",
        "verify_threshold",
        "execution_provider",
        "provider_device",
        "provider_fp16",
        "provider_cache_dir",
    ):
        if name in values:
            kwargs[name] = values[name]
    if "label_set" in values:
        kwargs["emotion_label_set"] = values["label_set"]
    for model in ("emotion", "gender"):
        if f"{model}_margin_x" in values:
            kwargs[f"{model}_margin"] = (values[f"{model}_margin_x"], values[f"{model}_margin_y"])
    return PipelineConfig(**kwargs)


_TEMPORAL_FIELDS = (
    "scan_period",
    "scan_threshold",
    "track_threshold",
    "track_look_rate",
    "track_follow_confidence",
    "scan_idle_period",
    "cut_fraction",
    "scan_tile_period",
    "scan_tile_threshold",
    "scan_regions",
    "track_lost_after",
    "classify_rate",
    "emotion_time_constant",
    "evidence_interval",
    "evidence_max_looks",
)


def temporal_config(values: Mapping[str, Any]) -> TemporalConfig:
    """The core's TemporalConfig for a node's parameter values; ValueError says what is wrong."""
    kwargs: dict[str, Any] = {n: values[n] for n in _TEMPORAL_FIELDS if n in values}
    if "scan_input_width" in values:
        kwargs["scan_input_size"] = (values["scan_input_width"], values["scan_input_height"])
    if values.get("anonymise") is True:
        # The anonymised stream masks the tracks' boxes: every due detector look runs, as in
        # the offline anonymiser (a follow keeps the box's size and can lag a face entering at
        # the frame's edge; core/anonymise.recall_configs).
        kwargs["track_follow_confidence"] = 0.0
    return TemporalConfig(**kwargs)


class ParamsFileError(ValueError):
    """A params file cannot be read or does not fit the table; the message names the file."""


def node_values(
    node_name: str, params_file: str | os.PathLike[str] | None = None
) -> dict[str, Any]:
    """The parameter values `node_name` starts with: the table's defaults, then a params file.

    The file has the ``ros2 run --params-file`` layout; the first section found of
    ``/**/<node_name>``, ``<node_name>``, ``/<node_name>`` and ``/**`` is used. Unknown
    parameter names are an error (a typo would otherwise silently keep the default).

    Raises:
        ParamsFileError: unreadable file, no section for the node, or unknown names.
    """
    values = {s.name: s.default for s in specs_for(node_name)}
    if params_file is None:
        return values
    from ruamel.yaml import YAML, YAMLError

    path = Path(params_file)
    try:
        doc = YAML(typ="safe").load(path.read_text(encoding="utf-8")) or {}
    except (OSError, UnicodeDecodeError, YAMLError) as exc:
        text = " ".join(str(exc).split()) or type(exc).__name__
        raise ParamsFileError(f"{path}: cannot read parameters: {text}") from exc
    section = None
    for key in (yaml_key(node_name), node_name, f"/{node_name}", "/**"):
        if isinstance(doc, dict) and isinstance(doc.get(key), dict):
            section = doc[key].get("ros__parameters")
            break
    if not isinstance(section, dict):
        raise ParamsFileError(f"{path}: no '{yaml_key(node_name)}: ros__parameters:' section")
    unknown = sorted(set(section) - set(values))
    if unknown:
        raise ParamsFileError(f"{path}: unknown {node_name} parameter(s): {', '.join(unknown)}")
    values.update(section)
    return values


def yaml_key(node_name: str) -> str:
    """The params-file section of `node_name`: ``/**/<name>``, any namespace."""
    return f"/**/{node_name}"


def yaml_path() -> Path:
    """config/face_affect.yaml of the source tree."""
    return Path(__file__).resolve().parents[2] / "config" / "face_affect.yaml"


#: Markers around the generated table in README.md.
README_BEGIN = "<!-- parameters: generated by python -m face_affect_ros.schema.params -->"
README_END = "<!-- end of generated parameters -->"


def _nodes_of(spec: ParamSpec) -> str:
    nodes = [n for n in NODE_NAMES if spec in specs_for(n)]
    return "all" if len(nodes) == len(NODE_NAMES) else ", ".join(nodes)


def _md_default(spec: ParamSpec) -> str:
    if spec.default == "":
        return '""'
    return f"`{_yaml_value(spec.default).strip(chr(34))}`"


def markdown_table() -> str:
    """The README's parameter table: one row per parameter, from the same table as the YAML."""
    lines = [
        "| parameter | default | range / values | runtime | nodes | meaning |",
        "| --- | --- | --- | --- | --- | --- |",
    ]
    for spec in SPECS:
        if spec.choices:
            allowed = ", ".join(spec.choices)
        elif spec.min is not None and not isinstance(spec.default, bool):
            cast = float if isinstance(spec.default, float) else int
            allowed = f"[{cast(spec.min)}, {cast(spec.max)}]"
        else:
            allowed = ""
        runtime = "no" if spec.read_only else "yes"
        meaning = spec.description.replace("|", "\\|")
        lines.append(
            f"| `{spec.name}` | {_md_default(spec)} | {allowed} | {runtime} | {_nodes_of(spec)} "
            f"| {meaning} |"
        )
    return "\n".join(lines)


def readme_path() -> Path:
    """README.md of the repository."""
    return Path(__file__).resolve().parents[3] / "README.md"


def readme_with_table(text: str) -> str:
    """`text` (README.md) with the block between the markers replaced by markdown_table()."""
    start = text.index(README_BEGIN) + len(README_BEGIN)
    end = text.index(README_END)
    return text[:start] + "\n" + markdown_table() + "\n" + text[end:]


def main() -> None:
    """Write config/face_affect.yaml and README.md's parameter table from the table."""
    target = yaml_path()
    target.write_text(yaml_text())
    print(f"wrote {target}")
    readme = readme_path()
    readme.write_text(readme_with_table(readme.read_text(encoding="utf-8")), encoding="utf-8")
    print(f"wrote the parameter table of {readme}")


if __name__ == "__main__":
    main()
