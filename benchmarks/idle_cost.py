"""Idle cost: a 1-test pytest suite with pytest-primgate installed but not enabled vs without it.

A = ``pytest -p no:primgate`` (the same environment without the plugin), B = plain ``pytest``
(the plugin loaded, ``--primgate`` not given). Runs alternate A, B in pairs so that machine load
hits both sides alike; each mode prints the median and min–max of each side and the ratio of
the medians, with and without ``PYTHONDONTWRITEBYTECODE=1``.

``--deps-too`` also disables the pytest plugins our dependencies bring (anyio via httpx, and
pytest-xdist) on side A, i.e. compares against an environment where pytest-primgate and its
dependencies were never installed. Other plugins of the environment (e.g. hypothesis from the
test extras) are disabled on both sides; they are not ours and would only dilute the ratio.

    python benchmarks/idle_cost.py [--pairs 7] [--deps-too]
"""

from __future__ import annotations

import argparse
import os
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

NOT_OURS = ("-p", "no:hypothesispytest", "-p", "no:cacheprovider")
OUR_DEPS = ("-p", "no:anyio", "-p", "no:xdist", "-p", "no:xdist.looponfail")


def run_once(cwd: Path, extra: tuple[str, ...], env: dict[str, str]) -> float:
    """Wall time of one ``pytest -q`` run of the 1-test suite."""
    argv = [sys.executable, "-m", "pytest", "-q", *NOT_OURS, *extra]
    start = time.perf_counter()
    proc = subprocess.run(argv, cwd=cwd, env=env, capture_output=True, text=True,
                          timeout=120, check=False)
    wall = time.perf_counter() - start
    if proc.returncode != 0 or "1 passed" not in proc.stdout:
        raise SystemExit(f"{' '.join(argv)} failed ({proc.returncode}):\n{proc.stdout[-2000:]}")
    return wall


def measure(cwd: Path, pairs: int, no_bytecode: bool, deps_too: bool) -> str:
    """Alternate A/B ``pairs`` times; one summary line."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("PYTEST_")}
    env.pop("PYTHONDONTWRITEBYTECODE", None)
    if no_bytecode:
        env["PYTHONDONTWRITEBYTECODE"] = "1"
    side_a = ("-p", "no:primgate", *(OUR_DEPS if deps_too else ()))
    run_once(cwd, side_a, env)  # warm the OS file cache (and bytecode, where written)
    run_once(cwd, (), env)
    a: list[float] = []
    b: list[float] = []
    for _ in range(pairs):
        a.append(run_once(cwd, side_a, env))
        b.append(run_once(cwd, (), env))
    mode = "PYTHONDONTWRITEBYTECODE=1" if no_bytecode else "bytecode cached   "
    med_a, med_b = statistics.median(a), statistics.median(b)
    return (
        f"{mode}  without: {med_a * 1000:.0f} ms ({min(a) * 1000:.0f}–{max(a) * 1000:.0f})  "
        f"with: {med_b * 1000:.0f} ms ({min(b) * 1000:.0f}–{max(b) * 1000:.0f})  "
        f"ratio {med_b / med_a:.3f}"
    )


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--pairs", type=int, default=7, help="A/B pairs per mode (>= 5)")
    parser.add_argument("--deps-too", action="store_true",
                        help="side A also without the pytest plugins of our dependencies")
    args = parser.parse_args()
    if args.pairs < 5:
        parser.error("--pairs must be at least 5")
    with tempfile.TemporaryDirectory(prefix="primgate-idle-") as tmp:
        root = Path(tmp)
        (root / "test_one.py").write_text("def test_one():\n    assert 1 + 1 == 2\n")
        print(f"1-test suite, {args.pairs} alternating pairs per mode"
              + (" (side A without anyio/xdist plugins too)" if args.deps_too else ""))
        for no_bytecode in (False, True):
            print(measure(root, args.pairs, no_bytecode, args.deps_too), flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
