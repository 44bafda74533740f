"""Helpers shared by the tests that run real rclpy graphs across processes."""

from __future__ import annotations

import os
import subprocess
import sys
import time
from collections.abc import Callable
from pathlib import Path

import rclpy
from rclpy.node import Node

HERE = Path(__file__).resolve().parent


def domain_id(role: str) -> str:
    """The ROS_DOMAIN_ID this run gives `role` (conftest.DOMAIN_ROLES: one disjoint id each)."""
    ids = dict(item.split("=") for item in os.environ["FACE_AFFECT_TEST_DOMAIN_IDS"].split(","))
    return ids[role]


def spin_until(node: Node, predicate: Callable[[], bool], timeout: float) -> bool:
    """Spin `node` until `predicate()` is true or `timeout` seconds pass; return the predicate."""
    deadline = time.monotonic() + timeout
    while not predicate() and time.monotonic() < deadline:
        rclpy.spin_once(node, timeout_sec=0.02)
    return predicate()


def start_script(name: str, *args: str) -> subprocess.Popen:
    """Start `test/scripts/<name>` in a new Python process with stdin kept open.

    The child reads stdin to know when to exit: closing it (or the test ending) stops the child.
    """
    return subprocess.Popen(
        [sys.executable, str(HERE / "scripts" / name), *args],
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )


def stop(proc: subprocess.Popen, timeout: float = 10.0) -> tuple[str, str]:
    """Close the child's stdin, wait for it and return (stdout, stderr)."""
    try:
        out, err = proc.communicate(input="", timeout=timeout)
    except subprocess.TimeoutExpired:
        proc.kill()
        out, err = proc.communicate()
    return out, err
