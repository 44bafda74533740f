"""Execution providers: which onnxruntime backend runs the models, asked for by one name.

A robot's accelerator is reached through an onnxruntime *execution provider*: OpenVINO on Intel
robot PCs (CPU, integrated GPU, NPU), CUDA or TensorRT on NVIDIA ones. The ``execution_provider``
parameter names one of :data:`EXECUTION_PROVIDERS`; every model of a node is then opened with the
provider list that name stands for, each provider followed by the ones to fall back to:

===============  =========================================================================
asked            tried in this order (the first one onnxruntime can start runs the model)
===============  =========================================================================
``tensorrt``     TensorRT -> CUDA -> CPU
``cuda``         CUDA -> CPU
``openvino``     OpenVINO -> CPU
``cpu``          CPU
``auto``         CUDA -> CPU (see :data:`AUTO_ORDER` for why not TensorRT or OpenVINO)
===============  =========================================================================

Providers that onnxruntime does not offer (``onnxruntime.get_available_providers()``: the
installed wheel was built without them) are left out of the list. A provider that is offered can
still fail to start (CUDA libraries or a GPU missing, a TensorRT library not found): onnxruntime
then logs an error and opens the session on the next one. Either way, what runs is read back
from the session (``session.get_providers()[0]``, :func:`provider_in_use`), and a model that
does not run on what was asked is reported with a WARNING naming both (:func:`open_session`),
so a provider that was asked for never silently runs on the CPU.

Installing: the ``onnxruntime`` (CPU), ``onnxruntime-gpu`` (CUDA + TensorRT) and
``onnxruntime-openvino`` wheels all install the same ``onnxruntime`` Python package, so only one
of them may be installed: with ``onnxruntime`` beside ``onnxruntime-gpu``, whichever was
installed last owns the files and the CUDA provider can disappear (microsoft/onnxruntime#26996).
README "Execution providers" says how to install and check each one.

No ROS here: the nodes pass the parameter in :class:`~face_affect_ros.core.config.PipelineConfig`
and show :func:`provider_in_use` of each model in their diagnostics.
"""

from __future__ import annotations

import logging
import os
import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import onnxruntime as ort

__all__ = [
    "AUTO_ORDER",
    "EXECUTION_PROVIDERS",
    "FALLBACK",
    "ORT_NAMES",
    "ProviderRequest",
    "default_cache_dir",
    "diagnostics",
    "open_session",
    "provider_in_use",
    "summarize",
]

_LOG = logging.getLogger(__name__)

#: Values of the ``execution_provider`` parameter.
EXECUTION_PROVIDERS = ("auto", "cpu", "openvino", "cuda", "tensorrt")

#: onnxruntime's name of each provider.
ORT_NAMES: dict[str, str] = {
    "cpu": "CPUExecutionProvider",
    "openvino": "OpenVINOExecutionProvider",
    "cuda": "CUDAExecutionProvider",
    "tensorrt": "TensorrtExecutionProvider",
}
_SHORT_NAMES = {v: k for k, v in ORT_NAMES.items()}

#: What ``auto`` tries, best first. CUDA when the installed onnxruntime offers it, else the CPU.
#: Not TensorRT: it builds an engine per model and input shape on first use (minutes on a Jetson;
#: the window detector's inputs change size), which a node should not start doing unasked; ask
#: for ``tensorrt`` (with the engine cache) to get it. Not OpenVINO: on this project's machines
#: (AMD EPYC CPU) it was slower than the CPU provider on every model (issue 20: YuNet 640x480 10.5
#: vs 9.8 ms, 128x128 0.70 vs 0.55 ms, gender-v1 0.48 vs 0.44 ms); its value is Intel GPUs /
#: NPUs, which were not available to measure, so it is used only when asked for.
AUTO_ORDER = ("cuda", "cpu")

#: The fallback chain of each value, in order (unavailable providers are skipped; CPU is last).
FALLBACK: dict[str, tuple[str, ...]] = {
    "tensorrt": ("tensorrt", "cuda", "cpu"),
    "cuda": ("cuda", "cpu"),
    "openvino": ("openvino", "cpu"),
    "cpu": ("cpu",),
    "auto": AUTO_ORDER,
}

#: OpenVINO device names (``device_type``): CPU, GPU, GPU.0, NPU, and the AUTO / HETERO / MULTI
#: forms with a device list (e.g. ``AUTO:GPU,CPU``).
#: TensorRT optimisation profile of the classifiers' batch (faces per run): 1 to this many, tuned
#: for TRT_OPT_BATCH. 256 covers max_faces' upper bound (100) doubled by flip_tta; a larger batch
#: would make TensorRT build another engine.
TRT_MAX_BATCH = 256
TRT_OPT_BATCH = 8

#: (input name, (C, H, W)) of a model whose only dynamic input dimension is the batch.
BatchInput = tuple[str, tuple[int, int, int]]

_OPENVINO_DEVICE = re.compile(r"^(CPU|GPU|NPU|AUTO|HETERO|MULTI)(\.[0-9]+)?(:[A-Z0-9.,]+)?$")


def default_cache_dir() -> Path:
    """Where TensorRT engines and OpenVINO compiled models are kept between starts.

    ``$XDG_CACHE_HOME/face_affect_ros/onnxruntime`` (``~/.cache/...`` without the variable).
    """
    base = os.environ.get("XDG_CACHE_HOME") or os.path.join(os.path.expanduser("~"), ".cache")
    return Path(base) / "face_affect_ros" / "onnxruntime"


@dataclass(frozen=True)
class ProviderRequest:
    """What the ``execution_provider`` parameters ask for; validated on construction.

    Attributes:
        name: one of :data:`EXECUTION_PROVIDERS`.
        device: which device: "" = the provider's default; for ``cuda`` / ``tensorrt`` /
            ``auto`` a GPU index ("0", "1"); for ``openvino`` an OpenVINO device ("CPU",
            "GPU", "GPU.1", "NPU", "AUTO:GPU,CPU"). Not allowed with ``cpu``.
        fp16: let TensorRT build half-precision engines (``trt_fp16_enable``) and OpenVINO
            run in FP16 (``precision``, only on its GPU / NPU devices: its CPU device refuses
            it). Refused with any other provider / device, where it would do nothing. Off by
            default: not measured on robot hardware, and half precision moves the outputs away
            from the shipped models' fidelity numbers.
        cache_dir: where TensorRT engines / timing caches and OpenVINO compiled models are
            stored so a restart does not rebuild them; "" = :func:`default_cache_dir`.

    Raises:
        ValueError: an unknown provider name, a device the provider cannot take, or a value of
            the wrong type.
    """

    name: str = "auto"
    device: str = ""
    fp16: bool = False
    cache_dir: str = ""

    def __post_init__(self) -> None:
        if self.name not in EXECUTION_PROVIDERS:
            raise ValueError(
                f"execution_provider must be one of {', '.join(EXECUTION_PROVIDERS)}; "
                f"got {self.name!r}"
            )
        if not isinstance(self.device, str):
            raise ValueError(f"provider_device must be a string, got {self.device!r}")
        if not isinstance(self.fp16, bool):
            raise ValueError(f"provider_fp16 must be a bool, got {self.fp16!r}")
        if not isinstance(self.cache_dir, str):
            raise ValueError(f"provider_cache_dir must be a string, got {self.cache_dir!r}")
        device = self.device
        # An option that would be accepted and then do nothing is refused instead.
        if self.fp16 and not (
            self.name == "tensorrt"
            or (self.name == "openvino" and device.startswith(("GPU", "NPU")))
        ):
            raise ValueError(
                "provider_fp16 applies to execution_provider tensorrt, and to openvino on a GPU "
                f"or NPU provider_device; got {self.name!r} with device {device!r}"
            )
        if not device:
            return
        if self.name == "cpu":
            raise ValueError("provider_device must be empty with execution_provider 'cpu'")
        if self.name == "openvino":
            if not _OPENVINO_DEVICE.match(device):
                raise ValueError(
                    "provider_device for openvino must be an OpenVINO device such as CPU, GPU, "
                    f"GPU.1, NPU or AUTO:GPU,CPU; got {device!r}"
                )
        elif not device.isdigit() or len(device) > 3:
            raise ValueError(
                f"provider_device for {self.name} must be a GPU index such as 0 or 1; "
                f"got {device!r}"
            )

    def chain(self, available: Sequence[str] | None = None) -> tuple[str, ...]:
        """Short names of the providers that will be tried, in order; always ends with cpu.

        `available` is onnxruntime's list (default: ``onnxruntime.get_available_providers()``).
        """
        offered = set(ort.get_available_providers() if available is None else available)
        out = tuple(p for p in FALLBACK[self.name] if ORT_NAMES[p] in offered)
        return out if out and out[-1] == "cpu" else (*out, "cpu")

    def options(
        self, provider: str, threads: int = 0, batch_input: BatchInput | None = None
    ) -> dict[str, Any]:
        """Provider options (onnxruntime's) for `provider` (a short name) under this request.

        `threads`: the session's intra-op threads (OpenVINO's own pool gets the same budget).
        `batch_input`: (input name, (C, H, W)) of a model whose only dynamic dimension is the
        batch; TensorRT then gets one optimisation profile for batches 1 to
        :data:`TRT_MAX_BATCH`, so a frame with a new number of faces does not build a new
        engine.
        """
        cache = Path(self.cache_dir) if self.cache_dir else default_cache_dir()
        if provider == "cuda":
            return {"device_id": int(self.device)} if self.device else {}
        if provider == "tensorrt":
            engines = str(cache / "tensorrt")
            out: dict[str, Any] = {
                "trt_fp16_enable": self.fp16,
                "trt_engine_cache_enable": True,
                "trt_engine_cache_path": engines,
                "trt_timing_cache_enable": True,
                "trt_timing_cache_path": engines,
            }
            if self.device:
                out["device_id"] = int(self.device)
            if batch_input is not None:
                name, chw = batch_input
                dims = "x".join(str(int(d)) for d in chw)
                for key, n in (("min", 1), ("opt", TRT_OPT_BATCH), ("max", TRT_MAX_BATCH)):
                    out[f"trt_profile_{key}_shapes"] = f"{name}:{n}x{dims}"
            return out
        if provider == "openvino":
            out = {"cache_dir": str(cache / "openvino")}
            if threads > 0:
                # OpenVINO runs its own thread pool, not onnxruntime's: same thread budget.
                out["num_of_threads"] = threads
            if self.device:
                out["device_type"] = self.device
            # OpenVINO's CPU device takes only FP32 / ACCURACY (FP16 makes the provider fail to
            # start, measured with onnxruntime-openvino 1.24.1), and CPU is its default device.
            if self.fp16 and self.device.startswith(("GPU", "NPU")):
                out["precision"] = "FP16"
            return out
        return {}

    def providers(
        self,
        available: Sequence[str] | None = None,
        threads: int = 0,
        batch_input: BatchInput | None = None,
    ) -> list[tuple[str, dict]]:
        """The ``providers`` argument of ``onnxruntime.InferenceSession`` for this request.

        `threads` and `batch_input` as for :meth:`options`.
        """
        return [
            (ORT_NAMES[p], self.options(p, threads, batch_input)) for p in self.chain(available)
        ]

    @property
    def first_choice(self) -> str:
        """The provider asked for, as a short name ("auto" stands for its first choice)."""
        return FALLBACK[self.name][0]


def provider_in_use(session: ort.InferenceSession) -> str:
    """Short name of the provider that runs `session` (onnxruntime's name if not ours).

    onnxruntime lists the providers a session registered in priority order, the CPU always
    last; the first one gets every node it supports. (A provider that supports only part of a
    graph hands the rest to the CPU: that split is not visible here.)
    """
    first = session.get_providers()[0]
    return _SHORT_NAMES.get(first, first)


def open_session(
    model_path: str | os.PathLike[str],
    options: ort.SessionOptions,
    request: ProviderRequest,
    available: Sequence[str] | None = None,
    batch_input: BatchInput | None = None,
) -> ort.InferenceSession:
    """Open a session on the best provider of `request` that starts, warning when it is not it.

    The WARNING (logger ``face_affect_ros.core.providers``) names the model, what was asked and
    what runs, and why: the provider is not in this onnxruntime build, or it is but did not
    start (onnxruntime's own log says why). ``auto`` warns only when a provider it tried failed
    to start, not when the installed onnxruntime simply has nothing better than the CPU.
    If onnxruntime refuses the provider list outright, the session is opened on the CPU (with
    the warning) rather than not at all.

    Raises:
        Exception: whatever onnxruntime raises for a file it cannot load on the CPU either.
    """
    offered = list(ort.get_available_providers() if available is None else available)
    chain = request.chain(offered)
    name = Path(os.fspath(model_path)).name
    try:
        session = ort.InferenceSession(
            os.fspath(model_path),
            sess_options=options,
            providers=request.providers(offered, options.intra_op_num_threads, batch_input),
        )
    except Exception as exc:  # onnxruntime raises private exception types
        if chain == ("cpu",):
            raise
        reason = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
        _LOG.warning(
            "execution_provider '%s': %s could not be opened with %s (%s); running it on 'cpu'",
            request.name,
            name,
            ", ".join(chain[:-1]),
            reason,
        )
        return ort.InferenceSession(
            os.fspath(model_path), sess_options=options, providers=[ORT_NAMES["cpu"]]
        )
    in_use = provider_in_use(session)
    wanted = request.first_choice
    if in_use == wanted or (request.name == "auto" and chain[0] == in_use):
        return session
    if ORT_NAMES[wanted] not in offered and request.name != "auto":
        why = (
            f"{ORT_NAMES[wanted]} is not in this onnxruntime build (it has "
            f"{', '.join(offered)}; README 'Execution providers')"
        )
    else:
        why = f"{chain[0]} did not start (see onnxruntime's error above)"
    _LOG.warning(
        "execution_provider '%s': %s runs on '%s', not '%s': %s",
        request.name,
        name,
        in_use,
        wanted if request.name != "auto" else chain[0],
        why,
    )
    return session


def summarize(in_use: Mapping[str, str]) -> str:
    """One line for diagnostics from {model name: provider}: "cpu", or grouped by provider.

    E.g. ``cuda`` when every model runs on CUDA, ``cuda (yunet_n_dynamic, gender_dlib_v1);
    cpu (age_dlib_v1)`` when they differ.
    """
    groups: dict[str, list[str]] = {}
    for model, provider in in_use.items():
        groups.setdefault(provider, []).append(model)
    if len(groups) <= 1:
        return next(iter(groups), "none")
    return "; ".join(f"{p} ({', '.join(models)})" for p, models in groups.items())


def diagnostics(
    request: ProviderRequest,
    in_use: Mapping[str, str],
    available: Sequence[str] | None = None,
) -> tuple[bool, dict[str, str]]:
    """What a node's diagnostics show about providers: (as asked?, key / value pairs).

    `in_use` is a ``providers_in_use()`` result. "As asked" means every model runs on the
    requested provider (for ``auto``: on the first of its chain that this onnxruntime offers);
    a node turns its status WARN when it is False, so a fallback is visible after start-up too,
    not only in the start-up log.
    """
    wanted = request.chain(available)[0] if request.name == "auto" else request.first_choice
    off = {model: p for model, p in in_use.items() if p != wanted}
    values = {
        "execution_provider": request.name
        + (f" (device {request.device})" if request.device else "")
        + (" fp16" if request.fp16 else ""),
        "execution_provider_in_use": summarize(in_use),
    }
    if off:
        values["execution_provider_fallback"] = (
            f"{', '.join(off)} not on {wanted}: see the start-up WARNING"
        )
    return not off, values
