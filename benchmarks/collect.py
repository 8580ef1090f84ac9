"""Collection of a 10,000-test plan vs pytest collecting 10,000 parametrized tests.

Target (SPEC §12): wall-time ratio ≤ 1.5 and peak RSS ≤ 250 MB. Both are measured in this
run, on this machine, with ``--collect-only -q`` in fresh interpreters (median of 3).
"""

from __future__ import annotations

import json
import sys
import tempfile
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
from _measure import run_measured

N = 10_000


def write_plan(directory: Path, n: int = N) -> Path:
    """A plan with ``n`` free GET tests in 100 groups, some with depends_on chains."""
    tests = []
    groups = []
    per_group = n // 100
    for g in range(100):
        ids = []
        for i in range(per_group):
            tid = f"T{g}-{i}"
            ids.append(tid)
            tests.append({
                "id": tid, "service": f"p{g % 7}.sh", "test": f"health {tid}", "method": "GET",
                "endpoint": f"https://p{g % 7}.prim.sh/", "input": None,
                "expected": {"status": 200, "body": {"status": "ok", "service": "string"}},
                "depends_on": [f"T{g}-{i - 1}"] if i % 10 else [],
                "captures": {}, "notes": "Free.",
            })
        groups.append({"id": f"g{g}", "name": f"group {g}", "prompt": "", "tests": ids})
    plan = {"plan": "bench", "version": 1, "network": "Base Sepolia (eip155:84532)",
            "context": "", "groups": groups, "tests": tests}
    path = directory / "smoke-test-plan.json"
    path.write_text(json.dumps(plan, indent=1))
    return path


def write_baseline(directory: Path, n: int = N) -> Path:
    """pytest's own: one test function parametrized ``n`` times."""
    path = directory / "test_baseline.py"
    path.write_text(
        "import pytest\n\n"
        f"@pytest.mark.parametrize('i', range({n}))\n"
        "def test_health(i):\n    assert i >= 0\n"
    )
    return path


def main() -> None:
    with tempfile.TemporaryDirectory() as tmp:
        root = Path(tmp)
        (root / "pytest.ini").write_text("[pytest]\n")
        plan_dir = root / "plan"
        base_dir = root / "base"
        plan_dir.mkdir()
        base_dir.mkdir()
        plan = write_plan(plan_dir)
        base = write_baseline(base_dir)
        common = ["-m", "pytest", "-p", "no:cacheprovider", "--collect-only", "-q"]
        baseline = run_measured([sys.executable, *common, str(base)], cwd=root)
        ours = run_measured([sys.executable, *common, "--primgate", str(plan)], cwd=root)
        print(f"plan file: {plan.stat().st_size / 1e6:.1f} MB, {N} tests")
        print(
            f"pytest, {N} parametrized tests: {baseline.wall:.2f} s, "
            f"peak {baseline.rss_mb:.0f} MB"
        )
        print(f"primgate, {N}-test plan:       {ours.wall:.2f} s, peak {ours.rss_mb:.0f} MB")
        ratio = ours.wall / baseline.wall
        print(f"ratio {ratio:.2f} (target <= 1.5); peak {ours.rss_mb:.0f} MB (target <= 250 MB)")
        ok = ratio <= 1.5 and ours.rss_mb <= 250
        print("TARGET MET" if ok else "TARGET MISSED")


if __name__ == "__main__":
    main()
