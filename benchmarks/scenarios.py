"""Scenario runner overhead: 200 trivial scenarios through ``run_scenario`` vs a plain bash loop.

Both sides run the same 200 scripts, one subprocess each, in the same process and run; each side
is timed three times (interleaved) and the best time counts. With ``--pytest`` it also times the
same manifest through ``pytest --primgate --primgate-runs 1`` against a plain parametrized pytest
file that runs each script with ``subprocess.run`` (both include pytest's start-up).

    python benchmarks/scenarios.py [--count 200] [--rounds 3] [--pytest]
"""

from __future__ import annotations

import argparse
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from pytest_primgate.manifests.smoke import load_smoke
from pytest_primgate.scenarios import run_scenario

PLAIN_TEST = '''
import subprocess
from pathlib import Path

import pytest

SCRIPTS = sorted(Path(__file__).parent.joinpath("scenarios").glob("*.sh"))


@pytest.mark.parametrize("script", SCRIPTS, ids=lambda p: p.stem)
def test_script(script: Path) -> None:
    proc = subprocess.run(["bash", str(script)], capture_output=True, text=True, timeout=180)
    assert proc.returncode == 0
    assert "ok" in proc.stdout
'''


def build(root: Path, count: int) -> Path:
    """Write ``count`` trivial scripts and a smoke manifest listing them."""
    scripts = root / "smoke" / "scenarios"
    scripts.mkdir(parents=True)
    blocks = []
    for i in range(count):
        name = f"s{i:04d}"
        (scripts / f"{name}.sh").write_text(f"echo ok {i}\n")
        blocks.append(
            f'[[scenario]]\nname = "{name}"\nscript = "scenarios/{name}.sh"\n'
            f'owners = ["bench"]\ntimeout_seconds = 30\nexpect_stdout = "ok"\n'
        )
    manifest = root / "smoke" / "manifest.toml"
    manifest.write_text("\n".join(blocks))
    (root / "smoke" / "test_plain.py").write_text(PLAIN_TEST)
    return manifest


def plain_loop(scripts: list[Path]) -> float:
    """The baseline: ``bash script`` per script, output captured, exit code and text checked."""
    started = time.perf_counter()
    for script in scripts:
        proc = subprocess.run(["bash", str(script)], capture_output=True, timeout=180)
        assert proc.returncode == 0 and b"ok" in proc.stdout
    return time.perf_counter() - started


def runner_loop(manifest: Path) -> float:
    """Ours: ``run_scenario`` per scenario of the (already loaded, as after collection) manifest."""
    loaded = load_smoke(manifest)
    started = time.perf_counter()
    for scenario in loaded.scenarios:
        result = run_scenario(scenario, manifest_dir=manifest.parent)
        assert result.outcome == "passed", result.reason
    return time.perf_counter() - started


def timed(command: list[str], cwd: Path) -> float:
    started = time.perf_counter()
    proc = subprocess.run(command, cwd=cwd, capture_output=True, text=True, timeout=600)
    elapsed = time.perf_counter() - started
    if proc.returncode != 0:
        sys.exit(f"command failed ({proc.returncode}): {' '.join(command)}\n{proc.stdout[-2000:]}")
    return elapsed


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--count", type=int, default=200)
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--pytest", action="store_true", help="also time the pytest paths")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory(prefix="primgate-bench-") as tmp:
        root = Path(tmp)
        manifest = build(root, args.count)
        scripts = sorted((manifest.parent / "scenarios").glob("*.sh"))
        plain: list[float] = []
        ours: list[float] = []
        for _ in range(args.rounds):
            plain.append(plain_loop(scripts))
            ours.append(runner_loop(manifest))
        base, mine = min(plain), min(ours)
        started = time.perf_counter()
        load_smoke(manifest)
        load = time.perf_counter() - started
        n = args.count
        print(f"plain bash loop:   {base:.3f} s for {n} scripts ({base / n * 1000:.2f} ms each)")
        print(f"run_scenario loop: {mine:.3f} s for {n} scenarios ({mine / n * 1000:.2f} ms each)")
        print(f"ratio run_scenario / plain: {mine / base:.2f} (target <= 1.5)")
        print(f"load_smoke (once per collection): {load * 1000:.1f} ms for {n} scenarios")
        if args.pytest:
            common = [sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider",
                      "-p", "no:randomly", "--rootdir", str(root)]
            plain_pytest = min(
                timed([*common, str(root / "smoke" / "test_plain.py")], root)
                for _ in range(args.rounds)
            )
            ours_pytest = min(
                timed([*common, "--primgate", "--primgate-runs", "1",
                       "--primgate-results-dir", str(root / "runs"), str(manifest)], root)
                for _ in range(args.rounds)
            )
            print(f"plain pytest (parametrized subprocess.run): {plain_pytest:.3f} s")
            print(f"pytest --primgate --primgate-runs 1:        {ours_pytest:.3f} s")
            print(f"ratio pytest --primgate / plain pytest: {ours_pytest / plain_pytest:.2f}")


if __name__ == "__main__":
    main()
