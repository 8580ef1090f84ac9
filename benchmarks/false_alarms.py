"""False alarms and missed regressions of the gate under transient faults, with retries on/off.

Runs the example manifests (plans and scenarios, ``manifests/``) against the sandbox with
``--primgate-ci`` N times per configuration and counts the runs that exited non-zero:

- ``blips``: seeded transient faults on every prim at rate p (half 503, half connection resets:
  two sandbox rules ``rate=p/2,status=503`` and ``rate=p/2,reset``, fresh seeds per run), at
  p = 0.05 and 0.10, with retries on (the defaults) and off (``--primgate-transient-retries 0``).
  Nothing regressed, so every non-zero exit is a false alarm. Targets: <= 1/20 at 0.05 and
  <= 2/20 at 0.10 with retries on.
- ``regressions`` (retries on): one live route answering 503 to two requests in three
  permanently (``every=3,hits=2``), and one live route answering 500 once in three
  (``every=3``). Both must fail every run (N of N).

    python benchmarks/false_alarms.py [--runs 20] [--jobs 2] [--only blips|regressions]

Each run is a separate ``pytest`` process (about 20 s on a quiet 2-core machine).
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
import tempfile
import time
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
ROUTE = "/infer/v1/models"
"""The live route of the regression cases (paid GET; a plan test and a scenario use it)."""


@dataclass(frozen=True)
class Config:
    name: str
    faults: tuple[str, ...]
    retries_on: bool
    expect_fail: bool

    def faults_for(self, run: int) -> list[str]:
        return [f.format(seed_a=1000 + 2 * run, seed_b=1001 + 2 * run) for f in self.faults]


def blips(p: float, retries_on: bool) -> Config:
    half = p / 2
    return Config(
        f"blips p={p:.2f}", (f"rate={half:g},status=503,seed={{seed_a}}",
                             f"rate={half:g},reset,seed={{seed_b}}"),
        retries_on, expect_fail=False,
    )


REGRESSIONS = (
    Config(f"503 2-in-3 {ROUTE}", (f"path={ROUTE},every=3,hits=2,status=503,per_url",), True,
           expect_fail=True),
    Config(f"500 1-in-3 {ROUTE}", (f"path={ROUTE},every=3,status=500,per_url",), True,
           expect_fail=True),
)


@dataclass(frozen=True)
class Outcome:
    code: int
    verdict_line: str
    retries: int
    seconds: float
    failing: tuple[str, ...] = ()
    """``nodeid: reason`` of the failed items."""


def run_once(config: Config, run: int) -> Outcome:
    with tempfile.TemporaryDirectory(prefix="primgate-fa-") as tmp:
        args = [sys.executable, "-m", "pytest", "--primgate", "--primgate-sandbox",
                "--primgate-ci", "manifests", "-p", "no:cacheprovider", "-q",
                f"--primgate-results-dir={tmp}"]
        for fault in config.faults_for(run):
            args.append(f"--primgate-sandbox-fault={fault}")
        if not config.retries_on:
            args += ["--primgate-transient-retries", "0"]
        started = time.perf_counter()
        proc = subprocess.run(args, cwd=ROOT, capture_output=True, text=True, timeout=600)
        seconds = time.perf_counter() - started
        files = sorted(Path(tmp).glob("*.json"))
        data = json.loads(files[0].read_text()) if files else {}
    failing = tuple(f"{t['nodeid']}: {t['reason']}" for t in data.get("tests", [])
                    if t.get("outcome") == "failed")
    return Outcome(proc.returncode, str(data.get("verdict_line", "(no results file)")),
                   int(data.get("totals", {}).get("retries", 0)), seconds, failing)


def measure(config: Config, runs: int, jobs: int) -> list[Outcome]:
    with ThreadPoolExecutor(max_workers=jobs) as pool:
        return list(pool.map(lambda i: run_once(config, i), range(runs)))


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=20, help="runs per configuration")
    parser.add_argument("--jobs", type=int, default=1, choices=(1, 2),
                        help="runs in parallel (at most 2 on a 2-core machine)")
    parser.add_argument("--only", choices=("blips", "regressions"), default=None)
    parser.add_argument("--p", type=float, action="append", default=None,
                        help="fault rates of the blips cases (default 0.05 and 0.10)")
    parser.add_argument("--retries", choices=("on", "off", "both"), default="both",
                        help="blips cases with retries on, off or both (default both)")
    parser.add_argument("--verbose", action="store_true", help="list the failed items")
    args = parser.parse_args()
    configs: list[Config] = []
    if args.only in (None, "blips"):
        for p in args.p or [0.05, 0.10]:
            if args.retries in ("on", "both"):
                configs.append(blips(p, True))
            if args.retries in ("off", "both"):
                configs.append(blips(p, False))
    if args.only in (None, "regressions"):
        configs += REGRESSIONS
    print(f"{'configuration':<34} {'retries':<8} {'non-zero exits':>14} {'retries/run':>11} "
          f"{'s/run':>6}", flush=True)
    for config in configs:
        outcomes = measure(config, args.runs, args.jobs)
        failed = [o for o in outcomes if o.code != 0]
        per_run = sum(o.retries for o in outcomes) / len(outcomes)
        seconds = sum(o.seconds for o in outcomes) / len(outcomes)
        want = " (want all)" if config.expect_fail else ""
        print(f"{config.name:<34} {'on' if config.retries_on else 'off':<8} "
              f"{len(failed):>5} of {len(outcomes):<5}{want} {per_run:>8.1f} {seconds:>6.1f}",
              flush=True)
        for o in failed if not config.expect_fail else failed[:1]:
            print(f"    exit {o.code}: {o.verdict_line}", flush=True)
            if args.verbose:
                print("".join(f"      {line}\n" for line in o.failing), end="", flush=True)
        for o in outcomes:
            if config.expect_fail and o.code == 0:
                print(f"    MISSED (exit 0): {o.verdict_line}", flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
