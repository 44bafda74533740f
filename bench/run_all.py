"""Run every benchmark in bench/ (``bench_*.py``), one after the other, each in its own process.

Each benchmark prints its tables and writes ``bench/results/<name>.json``; this script only
discovers them, runs them with the same interpreter, and prints a summary with each one's exit
status and duration. Benchmarks that exist only in some checkouts (for example the ROS-node
benchmarks) are picked up when present. ``make bench`` calls it.

Usage:
    python bench/run_all.py                  every bench/bench_*.py
    python bench/run_all.py vs_fer scaling   only these (with or without the bench_ prefix)
    python bench/run_all.py --skip ros_e2e   all but these
    python bench/run_all.py --list           print what would run
Exit status: 0 when every benchmark exited 0, else 1.
"""

from __future__ import annotations

import argparse
import os
import subprocess
import sys
import time
from pathlib import Path

BENCH_DIR = Path(__file__).resolve().parent
REPO_DIR = BENCH_DIR.parent


def discover() -> list[Path]:
    """All ``bench/bench_*.py`` files, sorted by name."""
    return sorted(BENCH_DIR.glob("bench_*.py"))


def _stem(name: str) -> str:
    name = Path(name).name.removesuffix(".py")
    return name if name.startswith("bench_") else f"bench_{name}"


def select(found: list[Path], only: list[str], skip: list[str]) -> list[Path]:
    """Filter discovered benchmarks by name; unknown names are an error."""
    by_stem = {p.stem: p for p in found}
    for name in [*only, *skip]:
        if _stem(name) not in by_stem:
            raise SystemExit(f"no benchmark {name!r}; found: {', '.join(sorted(by_stem))}")
    chosen = [by_stem[_stem(n)] for n in only] if only else found
    skipped = {_stem(n) for n in skip}
    return [p for p in chosen if p.stem not in skipped]


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n", 1)[0])
    parser.add_argument("names", nargs="*", help="benchmarks to run (default: all)")
    parser.add_argument("--skip", action="append", default=[], help="benchmark to leave out")
    parser.add_argument("--list", action="store_true", help="list the benchmarks and exit")
    args = parser.parse_args(argv)

    benchmarks = select(discover(), args.names, args.skip)
    if args.list:
        for path in benchmarks:
            print(path.relative_to(REPO_DIR))
        return 0
    if not benchmarks:
        print("no benchmarks to run")
        return 0

    env = dict(os.environ)
    # The working tree's core, also when the package is not installed in this interpreter.
    env["PYTHONPATH"] = os.pathsep.join(
        p for p in (str(REPO_DIR / "face_affect_ros"), env.get("PYTHONPATH")) if p
    )
    summary = []
    for path in benchmarks:
        print(f"\n===== {path.relative_to(REPO_DIR)} =====", flush=True)
        t0 = time.perf_counter()
        code = subprocess.call([sys.executable, str(path)], cwd=REPO_DIR, env=env)
        summary.append((path.stem, code, time.perf_counter() - t0))

    print("\n===== summary =====")
    for name, code, seconds in summary:
        status = "ok" if code == 0 else f"FAILED (exit {code})"
        print(f"{name:<24} {status:<18} {seconds:7.1f} s")
    return 0 if all(code == 0 for _, code, _ in summary) else 1


if __name__ == "__main__":
    sys.exit(main())
