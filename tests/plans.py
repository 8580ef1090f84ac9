"""Builders of small plan files for the plugin's pytester tests."""

from __future__ import annotations

import json
import os
from pathlib import Path
from typing import Any

SHARED = Path(os.environ.get("PRIMGATE_SHARED_DIR", Path(__file__).resolve().parents[2] / "shared"))
UPSTREAM = Path(os.environ.get("PRIMGATE_UPSTREAM_DIR") or SHARED / "upstream")
"""Real upstream files, read-only: ``$PRIMGATE_UPSTREAM_DIR``, else ``../shared/upstream``.

A fresh clone has neither: tests marked ``upstream`` (or using the ``upstream_dir`` fixture)
then skip with the reason below, unless ``PRIMGATE_REQUIRE_UPSTREAM=1`` (set by ``.ci/run``)
makes the absence a failure.
"""

UPSTREAM_MISSING = (
    f"upstream files not found at {UPSTREAM}: set PRIMGATE_UPSTREAM_DIR to the folder holding "
    "prim/ and workgraph/ (or put shared/upstream beside the checkout) to run this test"
)


def require_upstream() -> Path:
    """The upstream folder; skips the test (fails it under PRIMGATE_REQUIRE_UPSTREAM=1)."""
    import pytest

    if not (UPSTREAM / "prim").is_dir() or not (UPSTREAM / "workgraph").is_dir():
        if os.environ.get("PRIMGATE_REQUIRE_UPSTREAM") == "1":
            pytest.fail(f"{UPSTREAM_MISSING} (PRIMGATE_REQUIRE_UPSTREAM=1)", pytrace=False)
        pytest.skip(UPSTREAM_MISSING)
    return UPSTREAM


def t(
    tid: str, endpoint: str, *, service: str = "store.sh", method: str = "GET",
    status: int | list[int] = 200, body: Any = None, depends_on: list[str] | None = None,
    captures: dict[str, str] | None = None, notes: str | None = "Free.", **extra: Any,
) -> dict[str, Any]:
    """One plan test in the upstream format."""
    expected: dict[str, Any] = {"status": status}
    if body is not None:
        expected["body"] = body
    test = {
        "id": tid, "service": service, "test": f"test {tid}", "method": method,
        "endpoint": endpoint, "input": extra.pop("input", None), "expected": expected,
        "depends_on": depends_on or [], "captures": captures or {}, "notes": notes,
    }
    test.update(extra)
    return test


def plan(groups: dict[str, list[dict[str, Any]]]) -> dict[str, Any]:
    """A whole plan: ``{group id: [tests]}``."""
    return {
        "plan": "pytester plan", "version": 1, "network": "Base Sepolia (eip155:84532)",
        "context": "test",
        "groups": [
            {"id": gid, "name": gid, "prompt": "", "tests": [x["id"] for x in tests]}
            for gid, tests in groups.items()
        ],
        "tests": [x for tests in groups.values() for x in tests],
    }


def write(directory: Path, data: dict[str, Any], name: str = "smoke-test-plan.json") -> Path:
    """Write a plan file (indented, so tests have distinct lines)."""
    path = directory / name
    path.write_text(json.dumps(data, indent=2))
    return path


def prim_yaml(directory: Path, prim_id: str, status: str, threshold: float | None = None) -> Path:
    """A prims/<id>.yaml file."""
    prims = directory / "prims"
    prims.mkdir(exist_ok=True)
    text = f"id: {prim_id}\nname: {prim_id}.sh\nendpoint: {prim_id}.prim.sh\nstatus: {status}\n"
    if threshold is not None:
        text += f"gates:\n  pass_threshold: {threshold}\n"
    path = prims / f"{prim_id}.yaml"
    path.write_text(text)
    return path


def results(directory: Path) -> dict[str, Any]:
    """The single results file written into ``directory``."""
    files = sorted(directory.glob("*.json"))
    assert len(files) == 1, files
    data: dict[str, Any] = json.loads(files[0].read_text())
    return data
