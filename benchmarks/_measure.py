"""Helpers shared by the benchmark scripts: run a command, time it, read its peak RSS."""

from __future__ import annotations

import os
import statistics
import subprocess
import sys
import time
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path


@dataclass(frozen=True)
class Sample:
    """Median wall time (s) and max peak RSS (MB) of repeated runs of one command."""

    wall: float
    rss_mb: float


def run_measured(
    argv: Sequence[str], cwd: Path, repeat: int = 3, env: dict[str, str] | None = None
) -> Sample:
    """Run ``argv`` ``repeat`` times in a child that reports its own peak RSS."""
    walls: list[float] = []
    peaks: list[float] = []
    wrapper = (
        "import resource, subprocess, sys\n"
        "rc = subprocess.call(sys.argv[1:])\n"
        "print(resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss, file=sys.stderr)\n"
        "sys.exit(rc)\n"
    )
    for _ in range(repeat):
        start = time.perf_counter()
        proc = subprocess.run(
            [sys.executable, "-c", wrapper, *argv], cwd=cwd, capture_output=True, text=True,
            env={**os.environ, **(env or {})}, timeout=600, check=False,
        )
        walls.append(time.perf_counter() - start)
        if proc.returncode not in (0, 5):
            raise SystemExit(
                f"{' '.join(argv)} failed ({proc.returncode}):\n"
                f"{proc.stdout[-2000:]}\n{proc.stderr[-2000:]}"
            )
        peaks.append(int(proc.stderr.strip().splitlines()[-1]) / 1024)
    return Sample(statistics.median(walls), max(peaks))
