"""Latency-bound plans: the time latency adds, against the plan's critical path (issue #18).

For the example plan (``manifests/smoke-test-plan.json``, no scenarios) and a generated plan
shaped like a real one (one funding root, 10 paid resource chains of 6, 40 independent free
reads), against the embedded sandbox with its ``latency=MS`` fault on every request:

- **latency added**: pytest's own session time with the fault minus the same run without it
  (alternating in pairs, medians), which removes start-up and worker start-up;
- **critical path**: the longest chain of round trips × latency. A free test is one round
  trip, a paid one two (the unpaid 402, then the paid call); the x402 client's wallet set-up
  (register + balance: two round trips) runs when the first paid test is reached, after the
  tests before it, as in a sequential run;
- their ratio, for ``--primgate-concurrency 1`` and the default, with and without ``-n 2``.
  Target: ≤ 1.5 on one process with the default concurrency, both plans, 100 and 300 ms.

A second part shows no loss on fast work: 1,000 free GETs without latency, default
concurrency vs ``--primgate-concurrency 1`` (target ≤ 1.05), alternating in pairs.

``python benchmarks/latency.py [--pairs N] [--latency 100,300] [--part latency|fast]
[--plans example,real-shaped] [--modes 1,default,1-n2,default-n2]``
"""

from __future__ import annotations

import argparse
import json
import os
import re
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent))
from _measure import stop_on_signals

ROOT = Path(__file__).resolve().parent.parent
EXAMPLE = ROOT / "manifests" / "smoke-test-plan.json"
SETUP_ROUND_TRIPS = 2
SESSION_TIME = re.compile(r" in ([0-9.]+)s")


def _test(tid: str, method: str, endpoint: str, deps: list[str], *, paid: bool,
          status: int = 200, body: Any = None, captures: dict[str, str] | None = None,
          payload: Any = None) -> dict[str, Any]:
    return {
        "id": tid, "service": endpoint.split("//")[1].split(".")[0] + ".sh", "test": tid,
        "method": method, "endpoint": endpoint, "input": payload,
        "expected": {"status": status, "body": body}, "depends_on": deps,
        "captures": captures or {}, "notes": "x402 paid ($0.001)." if paid else "Free.",
    }


def real_shaped_plan() -> dict[str, Any]:
    """One funding root, 10 resource chains of 6 paid tests, 40 independent free reads."""
    example = {t["id"]: t for t in json.loads(EXAMPLE.read_text())["tests"]}
    tests = [example["H-1"], example["W-1"], example["F-1"]]
    store = "https://store.prim.sh/v1/buckets"
    for c in range(10):
        var = f"bucket_{c}"
        obj = f"{store}/{{{{{var}}}}}/objects/a.txt"
        chain = [
            _test(f"C{c}-1", "POST", store, ["F-1"], paid=True, status=201,
                  payload={"name": f"{{{{test_prefix}}}}-c{c}"}, captures={var: "$.bucket.id"}),
            _test(f"C{c}-2", "PUT", obj, [f"C{c}-1"], paid=True, payload="hello"),
            _test(f"C{c}-3", "GET", obj, [f"C{c}-2"], paid=True),
            _test(f"C{c}-4", "GET", f"{store}/{{{{{var}}}}}/quota", [f"C{c}-3"], paid=True),
            _test(f"C{c}-5", "DELETE", obj, [f"C{c}-4"], paid=True),
            _test(f"C{c}-6", "DELETE", f"{store}/{{{{{var}}}}}", [f"C{c}-5"], paid=True),
        ]
        tests.extend(chain)
    hosts = ["store", "search", "infer", "faucet", "wallet"]
    tests.extend(_test(f"R-{i}", "GET", f"https://{hosts[i % 5]}.prim.sh/", [], paid=False)
                 for i in range(40))
    return {"plan": "real-shaped", "version": 1, "network": "Base Sepolia (eip155:84532)",
            "context": "", "groups": [{"id": "all", "name": "all", "prompt": "",
                                       "tests": [t["id"] for t in tests]}], "tests": tests}


def _plan_test(test: dict[str, Any]) -> Any:
    from types import SimpleNamespace

    notes = str(test.get("notes") or "")
    endpoint = str(test.get("endpoint") or "")
    return SimpleNamespace(paid=test.get("paid"), notes=notes, method=test["method"],
                           endpoint=endpoint)


def _waits(plan: dict[str, Any]) -> dict[str, list[str]]:
    """The edges the executor adds (``ordering.waits``), by test id."""
    from pytest_primgate.checks import unresolved
    from pytest_primgate.ordering import OrderFacts, waits

    facts = []
    for t in plan["tests"]:
        uses = set()
        for value in (t.get("endpoint"), t.get("input"), t.get("expected")):
            uses.update(unresolved(value))
        facts.append(OrderFacts(t["id"], "plan", t["id"], t["method"],
                                tuple(t.get("depends_on") or ()),
                                tuple(t.get("captures") or {}), frozenset(uses)))
    constants = frozenset({"test_prefix", "runner", "iso_timestamp"})
    return {k: list(v) for k, v in waits(facts, constants).items()}


def critical_path(plan: dict[str, Any], *, ordered: bool = False) -> int:
    """Longest chain of round trips (see the module docstring); ``ordered``: along the edges
    the executor waits for (``depends_on`` plus captures and resource order), not only
    ``depends_on``."""
    from pytest_primgate.checks import is_free

    tests = plan["tests"]
    edges = _waits(plan) if ordered else {t["id"]: t.get("depends_on") or [] for t in tests}
    paid = {t["id"]: not is_free(_plan_test(t)) for t in tests}
    first_paid = next((i for i, t in enumerate(tests) if paid[t["id"]]), None)
    finish: dict[str, int] = {}
    setup_done = 0
    for i, t in enumerate(tests):
        if i == first_paid:
            setup_done = max(finish.values(), default=0) + SETUP_ROUND_TRIPS
        start = max((finish[d] for d in edges[t["id"]] if d in finish), default=0)
        if paid[t["id"]]:
            start = max(start, setup_done)
        finish[t["id"]] = start + (2 if paid[t["id"]] else 1)
    return max(finish.values(), default=0)


def session_seconds(argv: list[str], cwd: Path) -> float:
    """pytest's own session time of one run (``N passed in X s``); fails loudly.

    The results directory is emptied first: every run starts from the same state (the
    grow-only check reads the previous results file).
    """
    if "--primgate-results-dir" in argv:
        shutil.rmtree(argv[argv.index("--primgate-results-dir") + 1], ignore_errors=True)
    env = {k: v for k, v in os.environ.items() if k not in ("CI", "BUILD_NUMBER")}
    proc = subprocess.run(argv, cwd=cwd, capture_output=True, text=True, timeout=900,
                          env=env, check=False)
    found = SESSION_TIME.findall(proc.stdout.splitlines()[-2] if proc.stdout else "")
    if proc.returncode != 0 or not found:
        raise SystemExit(f"{' '.join(argv)} failed ({proc.returncode}):\n{proc.stdout[-3000:]}"
                         f"\n{proc.stderr[-2000:]}")
    return float(found[-1])


def latency_added(plan: Path, latency: int, extra: list[str],
                  pairs: int) -> list[tuple[float, float]]:
    """Per pair, alternating: (session time with ``latency`` ms, session time without)."""
    base = [sys.executable, "-m", "pytest", "-p", "no:randomly", "-p", "no:cacheprovider",
            "-q", "--primgate", "--primgate-sandbox", "--primgate-results-dir",
            str(plan.parent / "runs"), str(plan), *extra]
    added = []
    for _ in range(pairs):
        without = session_seconds(base, plan.parent)
        with_latency = session_seconds([*base, "--primgate-sandbox-fault",
                                        f"latency={latency}"], plan.parent)
        added.append((with_latency, without))
    return added


MODES = {
    "1": ("concurrency 1", ["--primgate-concurrency", "1"]),
    "default": ("default (16)", []),
    "1-n2": ("concurrency 1, -n 2", ["--primgate-concurrency", "1", "-n", "2"]),
    "default-n2": ("default (16), -n 2", ["-n", "2"]),
}


def part_latency(pairs: int, latencies: list[int], plans: list[str], modes: list[str]) -> None:
    with tempfile.TemporaryDirectory(prefix="primgate-latency-") as tmp:
        shaped = Path(tmp) / "shaped" / "smoke-test-plan.json"
        shaped.parent.mkdir()
        shaped.write_text(json.dumps(real_shaped_plan(), indent=1))
        example = Path(tmp) / "example" / "smoke-test-plan.json"
        example.parent.mkdir()
        example.write_text(EXAMPLE.read_text())
        for prims in (ROOT / "manifests" / "prims").glob("*.yaml"):
            for directory in (shaped.parent, example.parent):
                (directory / prims.name).write_text(prims.read_text())
        print("plan, latency, mode: latency added (median [min-max] over pairs) | "
              "critical path | ratio | median session times")
        for name, path in (("example", example), ("real-shaped", shaped)):
            if name not in plans:
                continue
            hops = critical_path(json.loads(path.read_text()))
            ordered = critical_path(json.loads(path.read_text()), ordered=True)
            print(f"{name}: critical path {hops} round trips along depends_on, {ordered} "
                  "along what the executor waits for (captures, resource order)")
            for latency in latencies:
                cp = hops * latency / 1000
                for label, extra in (MODES[m] for m in modes):
                    n = pairs if "concurrency 1" not in label else max(1, pairs // 2)
                    runs = latency_added(path, latency, extra, n)
                    added = [w - wo for w, wo in runs]
                    med = statistics.median(added)
                    with_l = statistics.median(w for w, _ in runs)
                    without = statistics.median(wo for _, wo in runs)
                    print(f"{name}, {latency} ms, {label}: {med:.2f} s "
                          f"[{min(added):.2f}-{max(added):.2f}] over {n} | "
                          f"{hops} round trips = {cp:.2f} s | ratio {med / cp:.2f} | "
                          f"session {with_l:.2f} s with latency, {without:.2f} s without",
                          flush=True)


def part_fast(pairs: int) -> None:
    sys.path.insert(0, str(Path(__file__).resolve().parent))
    from run_plan import free_plan

    with tempfile.TemporaryDirectory(prefix="primgate-fast-") as tmp:
        plan = Path(tmp) / "smoke-test-plan.json"
        plan.write_text(json.dumps(free_plan(1000)))
        base = [sys.executable, "-m", "pytest", "-p", "no:randomly", "-p", "no:cacheprovider",
                "-q", "--primgate", "--primgate-sandbox", "--primgate-results-dir",
                str(Path(tmp) / "runs"), str(plan)]
        seq, conc = [], []
        for _ in range(pairs):
            start = time.perf_counter()
            session_seconds([*base, "--primgate-concurrency", "1"], Path(tmp))
            seq.append(time.perf_counter() - start)
            start = time.perf_counter()
            session_seconds(base, Path(tmp))
            conc.append(time.perf_counter() - start)
        ratios = [c / s for s, c in zip(seq, conc, strict=True)]

        def span(xs: list[float]) -> str:
            return f"{statistics.median(xs):.2f} s [{min(xs):.2f}-{max(xs):.2f}]"

        print(f"1,000 free GETs, default 2-of-3, no latency: concurrency 1 {span(seq)} | "
              f"default (16) {span(conc)} | ratio {statistics.median(ratios):.2f} "
              f"over {pairs} pairs (target <= 1.05)")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--pairs", type=int, default=4)
    parser.add_argument("--latency", default="100,300")
    parser.add_argument("--part", choices=["latency", "fast"], default=None)
    parser.add_argument("--plans", default="example,real-shaped")
    parser.add_argument("--modes", default="1,default,1-n2,default-n2")
    args = parser.parse_args()
    unknown = set(args.modes.split(",")) - MODES.keys() or set(args.plans.split(",")) - {
        "example", "real-shaped"}
    if unknown:
        parser.error(f"unknown plan or mode: {', '.join(sorted(unknown))}")
    stop_on_signals()
    if args.part in (None, "latency"):
        part_latency(args.pairs, [int(x) for x in args.latency.split(",")],
                     args.plans.split(","), args.modes.split(","))
    if args.part in (None, "fast"):
        part_fast(max(args.pairs, 5))


if __name__ == "__main__":
    main()
