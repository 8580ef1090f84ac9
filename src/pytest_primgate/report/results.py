"""The results file ``<dir>/<UTC timestamp>-<mode>.json``: content, atomic write, schema check."""

from __future__ import annotations

import json
import os
import tempfile
from collections.abc import Sequence
from dataclasses import asdict, dataclass, field
from datetime import UTC, datetime
from functools import cache
from importlib import resources
from pathlib import Path
from typing import Any

from pytest_primgate.gate import GateResult, Row, Tally
from pytest_primgate.model import ItemRecord, Payment
from pytest_primgate.report.terminal import format_usdc, usdc_total

SCHEMA_VERSION = 1
SCHEMA_RESOURCE = "results.schema.json"


@dataclass(frozen=True)
class RunMeta:
    """Facts about the run that are not item results (never secrets: address only)."""

    plugin_version: str
    mode: str
    run_id: str = ""
    started_at: str = ""
    finished_at: str = ""
    interrupted: bool = False
    git_commit: str | None = None
    selected_groups: list[str] = field(default_factory=list)
    base_urls: dict[str, str] = field(default_factory=dict)
    network: str | None = None
    wallet_address: str | None = None
    python: str = ""
    pytest: str = ""
    xdist_workers: int = 0


def tally_json(tally: Tally) -> dict[str, Any]:
    """Counts and the pass rate (None when nothing passed or failed)."""
    return {
        "passed": tally.passed, "failed": tally.failed, "blocked": tally.blocked,
        "skipped": tally.skipped, "unreachable": tally.unreachable, "flaky": tally.flaky,
        "not_run": tally.not_run, "pass_rate": tally.pass_rate,
        "retries": tally.retries, "requests": tally.requests,
        "retried_requests": tally.retried_requests,
        "retry_rate": float(tally.retry_rate) if tally.retry_rate is not None else None,
    }


def row_json(row: Row) -> dict[str, Any]:
    """One group or prim row."""
    data: dict[str, Any] = {"name": row.name, **tally_json(row.tally), "verdict": row.verdict}
    if row.kind == "prim":
        data.update(status=row.status, status_class=row.status_class, threshold=row.threshold)
        data.update(unstable=row.unstable, max_retry_rate=row.max_retry_rate)
    return data


def payment_json(payment: Payment) -> dict[str, Any]:
    """A payment as stored (amount in atomic units, as sent)."""
    return asdict(payment)


def _payments_of(record: ItemRecord, payments: Sequence[Payment]) -> list[dict[str, Any]]:
    return [payment_json(p) for p in payments if p.test_id in (record.nodeid, record.test_id)]


def build_results(
    *, records: Sequence[ItemRecord], result: GateResult, payments: Sequence[Payment],
    meta: RunMeta, exit_code: int | None = None,
) -> dict[str, Any]:
    """The results document (validates against ``results.schema.json``).

    ``exit_code`` is the status the session ends with when it differs from the gate's own.
    """
    meta_json = asdict(meta)
    return {
        "schema_version": SCHEMA_VERSION,
        "plugin_version": meta_json.pop("plugin_version"),
        "mode": meta_json.pop("mode"),
        "run_id": meta_json.pop("run_id"),
        "started_at": meta_json.pop("started_at"),
        "finished_at": meta_json.pop("finished_at"),
        "interrupted": meta_json.pop("interrupted"),
        "meta": meta_json,
        "tests": [{**r.to_json(), "payments": _payments_of(r, payments)} for r in records],
        "groups": [row_json(row) for row in result.group_rows],
        "prims": [row_json(row) for row in result.prim_rows],
        "totals": tally_json(result.totals),
        "payments": [payment_json(p) for p in payments],
        "spent_usdc": format_usdc(usdc_total(payments)),
        "verdict": result.verdict,
        "verdict_line": result.verdict_line,
        "exit_code": result.exit_code if exit_code is None else exit_code,
        "infra_errors": list(result.infra),
        "not_run": [r.nodeid for r in records if r.outcome == "not_run"],
    }


def results_name(mode: str, now: datetime) -> str:
    """``20261122T101500Z-ci.json`` (UTC)."""
    return f"{now.astimezone(UTC).strftime('%Y%m%dT%H%M%SZ')}-{mode}.json"


def write_results(path_dir: Path, mode: str, data: dict[str, Any], now: datetime) -> Path:
    """Write ``data`` atomically (temp file + ``os.replace``); never overwrites an earlier run:
    a taken name gets ``-2``, ``-3``, ... before ``.json``."""
    path_dir.mkdir(parents=True, exist_ok=True)
    name = results_name(mode, now)
    target = path_dir / name
    fd, tmp = tempfile.mkstemp(prefix=".primgate-", suffix=".tmp", dir=path_dir)
    try:
        os.fchmod(fd, 0o644)
        with os.fdopen(fd, "w", encoding="utf-8") as handle:
            # one write: json.dump writes every token separately (600,000 writes at 5,000 tests)
            handle.write(json.dumps(data, indent=2, ensure_ascii=False) + "\n")
            handle.flush()
            os.fsync(handle.fileno())
        counter = 1
        while True:
            try:
                # link() refuses a taken name, so concurrent runs never overwrite each other.
                os.link(tmp, target)
                break
            except FileExistsError:
                counter += 1
                target = path_dir / name.replace(".json", f"-{counter}.json")
            except OSError:  # no hard links on this file system: replace onto a free name
                while target.exists():
                    counter += 1
                    target = path_dir / name.replace(".json", f"-{counter}.json")
                os.replace(tmp, target)
                break
    finally:
        if os.path.exists(tmp):
            os.unlink(tmp)
    return target


@cache
def results_schema() -> dict[str, Any]:
    """The shipped JSON Schema (draft 2020-12) of the results file."""
    text = resources.files("pytest_primgate.report").joinpath(SCHEMA_RESOURCE).read_text("utf-8")
    schema: dict[str, Any] = json.loads(text)
    return schema


def validate_results(data: Any) -> list[str]:
    """Schema violations as ``<json path>: <message>`` lines; empty when the document is valid."""
    from jsonschema import Draft202012Validator

    validator = Draft202012Validator(results_schema())
    errors = sorted(validator.iter_errors(data), key=lambda e: list(e.absolute_path))
    return [f"{e.json_path}: {e.message}" for e in errors]
