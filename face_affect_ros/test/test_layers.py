"""Imports point down: core <- schema <- nodes / bag / cli, and tools only on demand.

Each layer's modules are imported in a fresh interpreter and the modules that import pulled in
are checked: a module that imports upwards (core -> nodes, bag -> rclpy, nodes -> PyTorch tools
at import time) fails here, naming the layer.
"""

from __future__ import annotations

import json
import pkgutil
import subprocess
import sys

import pytest

import face_affect_ros

PACKAGE = "face_affect_ros"
ROS = ("rclpy", "rcl_interfaces", "sensor_msgs", "std_msgs", "face_affect_msgs")
TORCH = ("torch", f"{PACKAGE}.tools")


def _modules(subpackage: str) -> list[str]:
    pkg = __import__(f"{PACKAGE}.{subpackage}", fromlist=["_"])
    return [f"{pkg.__name__}.{m.name}" for m in pkgutil.iter_modules(pkg.__path__)]


def _loaded_after_import(modules: list[str]) -> set[str]:
    code = (
        "import importlib, json, sys\n"
        f"for m in {modules!r}: importlib.import_module(m)\n"
        "print(json.dumps(sorted(sys.modules)))\n"
    )
    out = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, check=True, timeout=120
    )
    return set(json.loads(out.stdout))


def _offenders(loaded: set[str], forbidden: tuple[str, ...]) -> list[str]:
    return sorted(m for m in loaded if any(m == f or m.startswith(f + ".") for f in forbidden))


UP_FROM_CORE = tuple(f"{PACKAGE}.{p}" for p in ("schema", "nodes", "bag", "cli", "tools"))


@pytest.mark.parametrize(
    ("layer", "modules", "forbidden"),
    [
        ("core", _modules("core"), (*ROS, *TORCH, *UP_FROM_CORE)),
        ("schema", _modules("schema"), (*ROS, *TORCH, *UP_FROM_CORE[1:])),
        ("nodes", _modules("nodes"), (*TORCH, f"{PACKAGE}.bag", f"{PACKAGE}.cli")),
        (
            "offline tools",
            [
                f"{PACKAGE}.bag.process",
                f"{PACKAGE}.bag.anonymise",
                f"{PACKAGE}.cli.bag",
                f"{PACKAGE}.cli.image",
            ],
            (*ROS, *TORCH, f"{PACKAGE}.nodes"),
        ),
    ],
)
def test_layer_imports_point_down(layer: str, modules: list[str], forbidden: tuple) -> None:
    assert modules, layer
    offenders = _offenders(_loaded_after_import(modules), forbidden)
    assert offenders == [], f"importing {layer} pulled in {offenders}"


def test_the_check_sees_an_upward_import() -> None:
    # nodes import rclpy: the same check on them must report it (the test can fail).
    loaded = _loaded_after_import([f"{PACKAGE}.nodes.lifecycle"])
    assert "rclpy" in _offenders(loaded, ROS)
    assert face_affect_ros.__name__ == PACKAGE
