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


@dataclass(frozen=True)
class Paired:
    """A and B timed in alternation: medians, ranges and the median of per-pair ratios B/A."""

    a: list[float]
    b: list[float]
    a_rss_mb: float
    b_rss_mb: float

    @property
    def ratio(self) -> float:
        return statistics.median(b / a for a, b in zip(self.a, self.b, strict=True))

    def line(self, label_a: str, label_b: str) -> str:
        def span(xs: list[float]) -> str:
            return f"{statistics.median(xs):.3f} s [{min(xs):.3f}-{max(xs):.3f}]"

        return (
            f"{label_a}: {span(self.a)}, peak {self.a_rss_mb:.0f} MB | "
            f"{label_b}: {span(self.b)}, peak {self.b_rss_mb:.0f} MB | "
            f"ratio {self.ratio:.2f} over {len(self.a)} pairs"
        )


def run_paired(
    argv_a: Sequence[str], argv_b: Sequence[str], cwd: Path, pairs: int = 5,
    env: dict[str, str] | None = None,
) -> Paired:
    """Run A then B, ``pairs`` times, so machine load drifts hit both sides alike."""
    a: list[float] = []
    b: list[float] = []
    rss_a = rss_b = 0.0
    for _ in range(pairs):
        sa = run_measured(argv_a, cwd, repeat=1, env=env)
        sb = run_measured(argv_b, cwd, repeat=1, env=env)
        a.append(sa.wall)
        b.append(sb.wall)
        rss_a, rss_b = max(rss_a, sa.rss_mb), max(rss_b, sb.rss_mb)
    return Paired(a, b, rss_a, rss_b)


def stop_on_signals() -> None:
    """Turn SIGTERM and SIGHUP into KeyboardInterrupt, so ``finally`` stops every server."""
    import signal

    def interrupt(signum: int, frame: object) -> None:
        raise KeyboardInterrupt(f"signal {signum}")

    for sig in (signal.SIGTERM, signal.SIGHUP):
        signal.signal(sig, interrupt)
