"""The execution_provider parameter: provider lists, fallback chain, warning, what runs.

This machine has onnxruntime's CPU build only (CUDA / TensorRT cannot be installed here), so the
fallback is tested for real: asking for CUDA, TensorRT or OpenVINO opens every model on the CPU,
logs a WARNING naming what was asked and what runs, and reports "cpu" as the provider in use.
The "offered but fails to start" branch is driven with a provider list that claims CUDA (the
onnxruntime CPU build then starts the session on the CPU, as it does on a robot whose CUDA
libraries are missing).
"""

from __future__ import annotations

import dataclasses
import logging

import numpy as np
import onnxruntime as ort
import pytest
from face_affect_ros.core import providers as prov
from face_affect_ros.core.config import (
    CLASSIFIER,
    DETECTOR,
    PipelineConfig,
    session_kwargs,
    stages_to_rebuild,
)
from face_affect_ros.core.manifest import load_model, session_options
from face_affect_ros.core.paths import model_manifest_path
from face_affect_ros.core.pipeline import FaceAffectPipeline
from face_affect_ros.core.providers import ProviderRequest

CPU_ONLY = ["AzureExecutionProvider", "CPUExecutionProvider"]
GPU_BUILD = ["TensorrtExecutionProvider", "CUDAExecutionProvider", "CPUExecutionProvider"]
OPENVINO_BUILD = ["OpenVINOExecutionProvider", "CPUExecutionProvider"]


@pytest.mark.parametrize(
    ("name", "available", "chain"),
    [
        ("cpu", GPU_BUILD, ("cpu",)),
        ("auto", CPU_ONLY, ("cpu",)),
        ("auto", GPU_BUILD, ("cuda", "cpu")),
        ("auto", OPENVINO_BUILD, ("cpu",)),
        ("cuda", GPU_BUILD, ("cuda", "cpu")),
        ("cuda", CPU_ONLY, ("cpu",)),
        ("tensorrt", GPU_BUILD, ("tensorrt", "cuda", "cpu")),
        ("tensorrt", ["CUDAExecutionProvider", "CPUExecutionProvider"], ("cuda", "cpu")),
        ("tensorrt", OPENVINO_BUILD, ("cpu",)),
        ("openvino", OPENVINO_BUILD, ("openvino", "cpu")),
        ("openvino", GPU_BUILD, ("cpu",)),
    ],
)
def test_fallback_chain(name: str, available: list[str], chain: tuple[str, ...]) -> None:
    assert ProviderRequest(name).chain(available) == chain


def test_provider_options() -> None:
    trt = ProviderRequest("tensorrt", device="1", fp16=True, cache_dir="/var/cache/fa")
    providers = trt.providers(GPU_BUILD)
    assert [p for p, _ in providers] == GPU_BUILD
    options = dict(providers)
    assert options["TensorrtExecutionProvider"] == {
        "device_id": 1,
        "trt_fp16_enable": True,
        "trt_engine_cache_enable": True,
        "trt_engine_cache_path": "/var/cache/fa/tensorrt",
        "trt_timing_cache_enable": True,
        "trt_timing_cache_path": "/var/cache/fa/tensorrt",
    }
    assert options["CUDAExecutionProvider"] == {"device_id": 1}
    assert options["CPUExecutionProvider"] == {}
    ov = dict(ProviderRequest("openvino", device="GPU", fp16=True).providers(OPENVINO_BUILD))
    assert ov["OpenVINOExecutionProvider"]["device_type"] == "GPU"
    assert ov["OpenVINOExecutionProvider"]["precision"] == "FP16"
    assert ov["OpenVINOExecutionProvider"]["cache_dir"].endswith(
        "face_affect_ros/onnxruntime/openvino"
    )
    assert ProviderRequest("cuda").options("cuda") == {}  # onnxruntime's default device
    assert "precision" not in ProviderRequest("openvino").options("openvino")
    # A classifier (only the batch dynamic): one TensorRT profile over 1..TRT_MAX_BATCH faces.
    profiled = ProviderRequest("tensorrt").options("tensorrt", 1, ("images", (3, 32, 32)))
    assert profiled["trt_profile_min_shapes"] == "images:1x3x32x32"
    assert profiled["trt_profile_opt_shapes"] == f"images:{prov.TRT_OPT_BATCH}x3x32x32"
    assert profiled["trt_profile_max_shapes"] == f"images:{prov.TRT_MAX_BATCH}x3x32x32"
    assert (
        "trt_profile_min_shapes"
        not in dict(trt.providers(GPU_BUILD, 1, None))["TensorrtExecutionProvider"]
    )
    assert ProviderRequest("openvino").options("openvino", 2)["num_of_threads"] == 2


@pytest.mark.parametrize(
    "kwargs",
    [
        {"name": "gpu"},
        {"name": "CUDAExecutionProvider"},
        {"name": ""},
        {"name": "cuda", "device": "cuda:0"},
        {"name": "tensorrt", "device": "-1"},
        {"name": "openvino", "device": "gpu"},
        {"name": "cpu", "device": "0"},
        {"name": "auto", "fp16": "yes"},
        # fp16 where it would do nothing: refused, not silently ignored.
        {"name": "auto", "fp16": True},
        {"name": "cpu", "fp16": True},
        {"name": "cuda", "fp16": True},
        {"name": "openvino", "fp16": True},  # OpenVINO's CPU device (the default) refuses FP16
        {"name": "openvino", "device": "CPU", "fp16": True},
        {"name": "auto", "cache_dir": None},
    ],
)
def test_invalid_requests_are_rejected(kwargs: dict) -> None:
    with pytest.raises(ValueError):
        ProviderRequest(**kwargs)
    config_kwargs = {
        {"name": "execution_provider", "device": "provider_device"}.get(k, f"provider_{k}"): v
        for k, v in kwargs.items()
    }
    with pytest.raises(ValueError):
        PipelineConfig(**config_kwargs)


@pytest.mark.parametrize("asked", ["cuda", "tensorrt", "openvino"])
def test_unavailable_provider_falls_back_to_cpu_with_a_warning(asked: str, caplog) -> None:
    if prov.ORT_NAMES[asked] in ort.get_available_providers():
        pytest.skip(f"{asked} is installed here")
    config = PipelineConfig(execution_provider=asked, age=True)
    with caplog.at_level(logging.WARNING, logger="face_affect_ros.core.providers"):
        pipeline = FaceAffectPipeline(config)
    in_use = pipeline.providers_in_use()
    assert set(in_use) == {
        "yunet_n_dynamic",
        "yunet_s_dynamic",
        "emotion_mini_xception",
        "gender_dlib_v1",
        "age_dlib_v1",
    }
    assert set(in_use.values()) == {"cpu"}
    assert prov.summarize(in_use) == "cpu"
    warnings = [r.getMessage() for r in caplog.records if r.levelno == logging.WARNING]
    assert len(warnings) == len(in_use), warnings  # one per model, naming it
    for model in ("yunet_n_dynamic.onnx", "gender-v1.onnx", "age-v1.onnx"):
        (line,) = [w for w in warnings if f" {model} " in w]
        assert f"execution_provider '{asked}'" in line
        assert "runs on 'cpu'" in line and f"not '{asked}'" in line
        assert prov.ORT_NAMES[asked] in line and "not in this onnxruntime build" in line
    # And it still works: the same faces as on the CPU provider asked for directly.
    frame = np.zeros((240, 320, 3), np.uint8)
    assert pipeline.process(frame).faces == ()


def test_auto_on_a_cpu_build_runs_on_cpu_without_a_warning(caplog) -> None:
    if set(ort.get_available_providers()) - {"CPUExecutionProvider", "AzureExecutionProvider"}:
        pytest.skip("an accelerator provider is installed here")
    with caplog.at_level(logging.WARNING, logger="face_affect_ros.core.providers"):
        pipeline = FaceAffectPipeline(PipelineConfig())  # execution_provider="auto"
    assert set(pipeline.providers_in_use().values()) == {"cpu"}
    assert not [r for r in caplog.records if r.levelno >= logging.WARNING]


@pytest.mark.filterwarnings("ignore:Specified provider 'CUDAExecutionProvider':UserWarning")
def test_offered_provider_that_does_not_start_is_reported(caplog) -> None:
    """onnxruntime lists CUDA, but the session starts on the CPU (e.g. no CUDA libraries)."""
    path = model_manifest_path("emotion_mini_xception")
    manifest, _ = load_model(path)
    claimed = ["CUDAExecutionProvider", *ort.get_available_providers()]
    with caplog.at_level(logging.WARNING, logger="face_affect_ros.core.providers"):
        try:
            session = prov.open_session(
                manifest.model_path, session_options(1), ProviderRequest("cuda"), claimed
            )
        except Exception:
            pytest.skip("this onnxruntime refuses a provider it does not have")
    assert prov.provider_in_use(session) == "cpu"
    (line,) = [r.getMessage() for r in caplog.records]
    assert "runs on 'cpu', not 'cuda'" in line and "did not start" in line


def test_provider_fields_need_new_sessions() -> None:
    base = PipelineConfig()
    for change in (
        {"execution_provider": "cpu"},
        {"provider_device": "1"},
        {"execution_provider": "tensorrt", "provider_fp16": True},
        {"provider_cache_dir": "/tmp/x"},
    ):
        new = dataclasses.replace(base, **change)
        assert stages_to_rebuild(base, new) == {DETECTOR, CLASSIFIER}


def test_session_kwargs_and_providers_property() -> None:
    config = PipelineConfig(
        execution_provider="openvino", provider_device="GPU", intra_op_threads=2
    )
    assert session_kwargs(config) == {
        "intra_op_threads": 2,
        "providers": ProviderRequest("openvino", "GPU", False, ""),
        "verify_sha256": True,
    }
    hash(config)


def test_summarize_groups_models_by_provider() -> None:
    assert prov.summarize({}) == "none"
    assert prov.summarize({"a": "cuda", "b": "cuda"}) == "cuda"
    assert prov.summarize({"a": "cuda", "b": "cpu", "c": "cuda"}) == "cuda (a, c); cpu (b)"


def test_parameters_reach_the_config_and_bad_values_are_refused() -> None:
    from face_affect_ros.schema import params as schema

    values = schema.node_values("face_affect_node")
    assert values["execution_provider"] == "auto"
    assert schema.SPEC_BY_NAME["execution_provider"].read_only
    assert schema.SPEC_BY_NAME["execution_provider"].choices == prov.EXECUTION_PROVIDERS
    values.update(
        execution_provider="tensorrt",
        provider_device="1",
        provider_fp16=True,
        provider_cache_dir="/data/engines",
    )
    config = schema.pipeline_config(values)
    assert config.providers == ProviderRequest("tensorrt", "1", True, "/data/engines")
    # What the nodes' parameter callback checks before anything is applied.
    assert "must be one of auto, cpu, openvino, cuda, tensorrt" in schema.check_choice(
        "execution_provider", "gpu"
    )
    with pytest.raises(ValueError, match="GPU index"):
        schema.pipeline_config({**values, "provider_device": "GPU"})


def test_diagnostics_values() -> None:
    ok, values = prov.diagnostics(ProviderRequest("auto"), {"a": "cpu", "b": "cpu"}, CPU_ONLY)
    assert ok and values == {"execution_provider": "auto", "execution_provider_in_use": "cpu"}
    ok, values = prov.diagnostics(
        ProviderRequest("cuda", device="1"), {"a": "cuda", "b": "cpu"}, GPU_BUILD
    )
    assert not ok
    assert values["execution_provider"] == "cuda (device 1)"
    assert values["execution_provider_in_use"] == "cuda (a); cpu (b)"
    assert values["execution_provider_fallback"].startswith("b not on cuda")
    # auto on a GPU build that ended on the CPU: CUDA did not start, that is not as asked.
    ok, _ = prov.diagnostics(ProviderRequest("auto"), {"a": "cpu"}, GPU_BUILD)
    assert not ok
