"""Scale: the xdist scheduler alone, collection time and memory, and ``-n 2`` vs ``-n 0``.

1. Scheduler alone (no worker processes; fake workers complete tests in order): primgate's
   ``DependencyScheduling`` vs xdist's plain ``LoadScheduling`` at 1k / 5k / 10k / 20k tests of a
   real shape (chains of 6 covering a fifth of the plan, the rest independent). Target: ≤ 0.1 s
   at 20k tests.
2. Collection (``--collect-only -q``) of a plan vs pytest's own collection of as many
   parametrized tests, alternating A and B in pairs: time ratio (targets ≤ 1.2× at 10k,
   ≤ 1.4× at 100k) and peak RSS; memory per test from the growth between the two largest sizes
   (target ≤ 2 KB per test). Run with the plugin's bytecode cached, as a wheel install leaves
   it, and with ``PYTHONDONTWRITEBYTECODE=1``, as some CI images set it (``--bytecode``).
3. Running fast free GET plan tests against the sandbox with ``-n 2`` vs ``-n 0``, alternating
   in pairs, default 2-of-3 majority. Target: ``-n 2`` never slower than ``-n 0`` at 10k.

``python benchmarks/scale.py [--pairs N] [--part scheduler|collect|run] [--quick]
[--bytecode cached|off|both] [--sizes 1000,10000]``
"""

from __future__ import annotations

import argparse
import json
import statistics
import sys
import tempfile
import time
from pathlib import Path
from types import SimpleNamespace
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent))
from _measure import run_paired, stop_on_signals


def shaped_tests(n: int) -> list[dict[str, Any]]:
    """``n`` free GET tests: a fifth in chains of 6, the rest independent."""
    tests = []
    chained = n // 5
    for i in range(n):
        dep = [f"T{i - 1}"] if i < chained and i % 6 else []
        tests.append({
            "id": f"T{i}", "service": "store.sh", "test": "health", "method": "GET",
            "endpoint": "https://store.prim.sh/", "input": None,
            "expected": {"status": 200, "body": {"service": "string", "status": "ok"}},
            "depends_on": dep, "captures": {}, "notes": "Free.",
        })
    return tests


def write_plan(directory: Path, n: int) -> Path:
    tests = shaped_tests(n)
    groups = [
        {"id": f"g{g}", "name": f"g{g}", "prompt": "",
         "tests": [t["id"] for t in tests[g * 100 : (g + 1) * 100]]}
        for g in range((n + 99) // 100)
    ]
    plan = {"plan": "bench", "version": 1, "network": "Base Sepolia (eip155:84532)",
            "context": "", "groups": groups, "tests": tests}
    path = directory / "smoke-test-plan.json"
    path.write_text(json.dumps(plan, indent=1))
    return path


class _Worker:
    def __init__(self, name: str) -> None:
        self.gateway = SimpleNamespace(id=name)
        self.shutting_down = False
        self.sent: list[int] = []

    def send_runtest_some(self, indices: list[int]) -> None:
        self.sent.extend(indices)

    def shutdown(self) -> None:
        self.shutting_down = True


def drive(sched: Any, ids: list[str], workers: int = 2) -> float:
    """Seconds to schedule and complete every test, workers finishing in round robin."""
    nodes = [_Worker(f"gw{i}") for i in range(workers)]
    start = time.perf_counter()
    for node in nodes:
        sched.add_node(node)
    for node in nodes:
        sched.add_node_collection(node, ids)
    sched.schedule()
    done = dict.fromkeys(range(workers), 0)
    while True:
        progressed = False
        for i, node in enumerate(nodes):
            if done[i] < len(node.sent):
                sched.mark_test_complete(node, node.sent[done[i]])
                done[i] += 1
                progressed = True
        if not progressed:
            break
    elapsed = time.perf_counter() - start
    assert sum(done.values()) == len(ids), "every test handed out exactly once"
    return elapsed


def part_scheduler(pairs: int, sizes: list[int]) -> None:
    from xdist.remote import Producer
    from xdist.scheduler import LoadScheduling

    from pytest_primgate import xdist_scheduling
    from pytest_primgate.xdist_scheduling import DependencyScheduling

    print("== scheduler alone (2 fake workers), median [min-max] over", pairs, "rounds")
    print("   primgate: plan read ahead (as while workers start) | with the plan read in the pass")
    with tempfile.TemporaryDirectory() as tmp:
        root = Path(tmp)
        for n in sizes:
            plan = str(write_plan(root, n))
            ids = [f"smoke-test-plan.json::g{i // 100}::T{i}" for i in range(n)]
            config = SimpleNamespace(
                rootpath=root, getvalue=lambda name: ["2*popen"],
                getoption=lambda name: None, option=SimpleNamespace(),
            )
            quiet = Producer("bench", enabled=False)
            ahead: list[float] = []
            cold: list[float] = []
            load: list[float] = []
            for _ in range(pairs):
                load.append(drive(LoadScheduling(config, quiet), ids))  # type: ignore[arg-type]
                xdist_scheduling._components.cache_clear()
                sched = DependencyScheduling(config, quiet, plans=[plan])  # type: ignore[arg-type]
                if sched._reading is not None:
                    sched._reading.join()  # the workers' start-up, seconds in a real run
                ahead.append(drive(sched, ids))
                xdist_scheduling._components.cache_clear()
                cold.append(drive(DependencyScheduling(config, quiet), ids))  # type: ignore[arg-type]
            print(
                f"{n:>6} tests: --dist load {_span(load)} | primgate {_span(ahead)} "
                f"| with plan read {_span(cold)}"
            )
        print("target: primgate <= 0.1 s at 20,000 tests")


def _span(xs: list[float]) -> str:
    return f"{statistics.median(xs):.4f} s [{min(xs):.4f}-{max(xs):.4f}]"


BYTECODE_MODES = {
    "off": ("PYTHONDONTWRITEBYTECODE=1, no rewritten plugin bytecode (every run compiles it)",
            {"PYTHONDONTWRITEBYTECODE": "1"}),
    "cached": ("bytecode cached (as a wheel install leaves it)", {"PYTHONDONTWRITEBYTECODE": ""}),
}
"""pytest's own modules come with bytecode from ``pip install``; an editable checkout of the
plugin has none until a run writes it. "cached" lets the warm-up pair write it (an empty
``PYTHONDONTWRITEBYTECODE`` is unset to Python), as a wheel install would have. "off" is a CI
image that sets the variable: pytest still reads assertion-rewritten bytecode an earlier run
left in ``__pycache__``, so "off" runs first and deletes the plugin's (other plugins' rewritten
bytecode, e.g. hypothesis's, is left: it weighs on both sides)."""


def _drop_rewritten_plugin_bytecode() -> int:
    import pytest_primgate

    files = list(Path(pytest_primgate.__file__).parent.rglob("*-pytest-*.pyc"))
    for file in files:
        file.unlink(missing_ok=True)
    return len(files)


def part_collect(pairs: int, sizes: list[int], modes: list[str]) -> None:
    for mode in modes:
        label, env = BYTECODE_MODES[mode]
        print(f"== collection: pytest parametrized (A) vs primgate plan (B); {label}")
        if mode == "off":
            print(f"   deleted {_drop_rewritten_plugin_bytecode()} rewritten plugin .pyc files")
        _collect_sizes(pairs, sizes, env)


def _collect_sizes(pairs: int, sizes: list[int], env: dict[str, str]) -> None:
    peaks: dict[int, float] = {}
    with tempfile.TemporaryDirectory() as tmp:
        root = Path(tmp)
        (root / "pytest.ini").write_text("[pytest]\n")
        common = [sys.executable, "-m", "pytest", "-p", "no:cacheprovider", "--collect-only",
                  "-q", "-p", "no:randomly"]
        for n in sizes:
            (root / "plan").mkdir(exist_ok=True)
            (root / "base").mkdir(exist_ok=True)
            plan = write_plan(root / "plan", n)
            base = root / "base" / "test_baseline.py"
            base.write_text(
                "import pytest\n\n"
                f"@pytest.mark.parametrize('i', range({n}))\n"
                "def test_health(i):\n    assert i >= 0\n"
            )
            side_a, side_b = [*common, str(base)], [*common, "--primgate", str(plan)]
            run_paired(side_a, side_b, root, 1, env=env)  # warm-up: file cache, bytecode
            result = run_paired(side_a, side_b, root, pairs, env=env)
            peaks[n] = result.b_rss_mb
            print(f"{n:>6} tests: " + result.line("pytest", "primgate"))
        if len(sizes) >= 2:
            lo, hi = sizes[-2], sizes[-1]
            per_test = (peaks[hi] - peaks[lo]) * 1024 / (hi - lo)
            print(f"memory per test (between {lo} and {hi}): {per_test:.2f} KB (target <= 2 KB)")
        print("targets: ratio <= 1.2 at 10k, <= 1.4 at 100k")


def part_run(pairs: int, sizes: list[int]) -> None:
    from pytest_primgate.sandbox.process import start_sandbox

    print("== running free GET plan tests: -n 0 (A) vs -n 2 (B), default majority")
    with tempfile.TemporaryDirectory() as tmp, start_sandbox() as sandbox:
        root = Path(tmp)
        (root / "pytest.ini").write_text("[pytest]\n")
        for n in sizes:
            plan = write_plan(root, n)
            common = [sys.executable, "-m", "pytest", "-p", "no:cacheprovider", "-q",
                      "-p", "no:randomly", "--primgate", "--primgate-results-dir=out",
                      f"--primgate-base-url=store.prim.sh={sandbox.url}/store", str(plan)]
            result = run_paired([*common, "-n", "0"], [*common, "-n", "2"], root, pairs)
            print(f"{n:>6} tests: " + result.line("-n 0", "-n 2"))
        print("target: -n 2 not slower than -n 0 at 10,000 tests (ratio <= 1.0)")


def main() -> None:
    stop_on_signals()
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--pairs", type=int, default=5)
    parser.add_argument("--part", choices=["scheduler", "collect", "run"], action="append")
    parser.add_argument("--quick", action="store_true", help="small sizes, for a smoke check")
    parser.add_argument("--bytecode", choices=[*BYTECODE_MODES, "both"], default="both",
                        help="collection: plugin bytecode cached, off, or both (default)")
    parser.add_argument("--sizes", type=lambda v: [int(x) for x in v.split(",")],
                        help="collection sizes, comma-separated (default 1k,10k,50k,100k)")
    args = parser.parse_args()
    parts = args.part or ["scheduler", "collect", "run"]
    if "scheduler" in parts:
        part_scheduler(args.pairs, [1000, 5000] if args.quick else [1000, 5000, 10000, 20000])
    if "collect" in parts:
        modes = list(BYTECODE_MODES) if args.bytecode == "both" else [args.bytecode]
        sizes = args.sizes or ([1000, 5000] if args.quick else [1000, 10000, 50000, 100000])
        part_collect(args.pairs, sizes, modes)
    if "run" in parts:
        part_run(args.pairs, [200, 1000] if args.quick else [1000, 5000, 10000])


if __name__ == "__main__":
    main()
