"""Two "hosts" on one machine: network namespaces joined by a veth pair (needs root).

Why: a robot often runs perception on a second computer, and what changes then (no shared memory,
UDP fragmentation of camera frames, discovery over a real subnet instead of localhost) can only be
met with a real network link. Each namespace has its own interfaces and routes, so processes in
the two see each other only over the veth link, like two computers on one switch; the same clock
lets a receiver measure latency against the sender's header stamps. Used by test_two_hosts.py and
bench/bench_two_hosts.py.
"""

from __future__ import annotations

import os
import random
import shutil
import subprocess
from pathlib import Path


def _ip(*args: str) -> subprocess.CompletedProcess:
    return subprocess.run(["ip", *args], capture_output=True, text=True, check=False)


def unavailable_reason() -> str | None:
    """Why network namespaces cannot be made here, or None when they can."""
    if shutil.which("ip") is None:
        return "the `ip` command (iproute2) is not installed"
    if os.geteuid() != 0:
        return "creating network namespaces needs root (run the suite as root or in CI)"
    probe = f"fa_probe_{os.getpid()}"
    made = _ip("netns", "add", probe)
    if made.returncode != 0:
        return f"`ip netns add` failed: {made.stderr.strip()}"
    _ip("netns", "del", probe)
    return None


class TwoHosts:
    """Namespaces `a` and `b`, each with one end of a veth pair on a private /24, torn down on exit.

    Names carry the pid and a random tag, so parallel runs (and a run whose predecessor was
    killed before its cleanup) never collide.
    """

    def __init__(self) -> None:
        tag = f"{os.getpid() % 100000}{random.SystemRandom().randrange(1000):03d}"
        self.ns = {"a": f"fa{tag}a", "b": f"fa{tag}b"}
        self.veth = {"a": f"fa{tag}a0", "b": f"fa{tag}b0"}  # <= 15 characters
        subnet = (
            f"10.{random.SystemRandom().randrange(64, 128)}.{random.SystemRandom().randrange(256)}"
        )
        self.addr = {"a": f"{subnet}.1", "b": f"{subnet}.2"}

    def _run(self, *args: str) -> None:
        done = _ip(*args)
        if done.returncode != 0:
            raise RuntimeError(f"ip {' '.join(args)}: {done.stderr.strip()}")

    def __enter__(self) -> TwoHosts:
        try:
            for host in "ab":
                self._run("netns", "add", self.ns[host])
            self._run(
                "link", "add", self.veth["a"], "netns", self.ns["a"], "type", "veth",
                "peer", "name", self.veth["b"], "netns", self.ns["b"],
            )  # fmt: skip
            for host in "ab":
                ns, dev = self.ns[host], self.veth[host]
                self._run("-n", ns, "addr", "add", f"{self.addr[host]}/24", "dev", dev)
                self._run("-n", ns, "link", "set", "lo", "up")
                self._run("-n", ns, "link", "set", dev, "up")
                # DDS discovery is multicast (239.255.0.1): route it out of the link.
                self._run("-n", ns, "route", "add", "224.0.0.0/4", "dev", dev)
        except BaseException:
            self.__exit__(None, None, None)
            raise
        return self

    def __exit__(self, *exc: object) -> None:
        for ns in self.ns.values():
            _ip("netns", "del", ns)  # takes its veth end (and so the pair) with it

    def command(self, host: str, argv: list[str]) -> list[str]:
        """`argv` run inside host `host` ("a" or "b"); `ip netns exec` execs it (same pid)."""
        return ["ip", "netns", "exec", self.ns[host], *argv]

    def link_bytes(self, host: str) -> int:
        """Bytes received plus sent on `host`'s end of the link so far."""
        out = subprocess.run(
            self.command(host, ["cat", *(
                str(Path("/sys/class/net", self.veth[host], "statistics", f"{d}_bytes"))
                for d in ("rx", "tx")
            )]),
            capture_output=True, text=True, check=True,
        ).stdout  # fmt: skip
        return sum(int(v) for v in out.split())
