"""`primgate gen` on a 10,000-test plan and a prim with 399 routes (398 uncovered).

Measures `--check`, the generating run and the second (no-op) run in fresh interpreters
(median of 3; the plan is restored before each generating run). No target: information.
"""

from __future__ import annotations

import shutil
import sys
import tempfile
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
from _measure import run_measured
from collect import write_plan

ROUTES = 400


def write_prim(directory: Path) -> Path:
    """prim p0 (the plan's first host): ``GET /`` is covered, every other route is new."""
    lines = ["id: p0", "name: p0.sh", "endpoint: p0.prim.sh", "status: live", "routes_map:",
             '  - route: "GET /"', "    status: 200"]
    for r in range(ROUTES // 2 - 1):
        lines += [f'  - route: "POST /v1/things{r}"', "    status: 201",
                  "    errors: [{status: 402}]",
                  f'  - route: "GET /v1/things{r}/:id"', "    status: 200",
                  "    errors: [{status: 402}]"]
    path = directory / "p0.yaml"
    path.write_text("\n".join(lines) + "\n", encoding="utf-8")
    return path


def main() -> None:
    with tempfile.TemporaryDirectory() as tmp:
        root = Path(tmp)
        plan = write_plan(root)
        pristine = root / "pristine.json"
        shutil.copy(plan, pristine)
        prim = write_prim(root)
        argv = ["primgate", "gen", str(prim), "--plan", str(plan)]
        quoted = " ".join(argv)
        check = run_measured(["sh", "-c", f"{quoted} --check > /dev/null; test $? -eq 1"], root)
        walls = []
        for _ in range(3):
            shutil.copy(pristine, plan)
            walls.append(run_measured(argv, root, repeat=1))
        again = run_measured(argv, root)
        gen = sorted(walls, key=lambda s: s.wall)[1]
        print(f"--check: {check.wall:.2f} s, {check.rss_mb:.0f} MB")
        print(f"gen (writes {ROUTES - 2} tests): {gen.wall:.2f} s, {gen.rss_mb:.0f} MB")
        assert "All routes" in subprocess_out(argv, root)
        print(f"second run (no change): {again.wall:.2f} s, {again.rss_mb:.0f} MB")


def subprocess_out(argv: list[str], cwd: Path) -> str:
    """stdout of one more run (must report full coverage)."""
    import subprocess

    return subprocess.run(argv, cwd=cwd, capture_output=True, text=True, timeout=600,
                          check=False).stdout


if __name__ == "__main__":
    main()
