"""rcl side of the parameter table: descriptors and declarations, nothing else.

The table itself (names, defaults, ranges, which node declares what, the YAML file) is
:mod:`face_affect_ros.schema.params`, which imports no ROS so the offline tools can read it.
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

from rcl_interfaces.msg import (
    FloatingPointRange,
    IntegerRange,
    ParameterDescriptor,
    ParameterType,
)
from rclpy.node import Node

from face_affect_ros.schema.params import ParamSpec


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


def descriptor(spec: ParamSpec) -> ParameterDescriptor:
    """The rcl descriptor: description, constraints and range as `ros2 param describe` shows."""
    desc = ParameterDescriptor(
        name=spec.name,
        type=_param_type(spec.default),
        description=spec.description,
        read_only=spec.read_only,
    )
    if spec.choices:
        desc.additional_constraints = "one of: " + ", ".join(spec.choices)
    if isinstance(spec.default, bool):
        return desc
    if isinstance(spec.default, int) and spec.min is not None:
        desc.integer_range = [
            IntegerRange(from_value=int(spec.min), to_value=int(spec.max), step=1)
        ]
    elif isinstance(spec.default, float) and spec.min is not None:
        desc.floating_point_range = [
            FloatingPointRange(from_value=float(spec.min), to_value=float(spec.max), step=0.0)
        ]
    return desc


def declare(node: Node, specs: Iterable[ParamSpec]) -> dict[str, Any]:
    """Declare `specs` on `node` and return their current values by name."""
    values = {}
    for spec in specs:
        param = node.declare_parameter(spec.name, spec.default, descriptor(spec))
        values[spec.name] = param.value
    return values
