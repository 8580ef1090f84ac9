"""The results file: content, schema validation, atomic and unique writes."""

from __future__ import annotations

import json
import os
from datetime import UTC, datetime, timedelta, timezone
from pathlib import Path
from typing import Any

import pytest

from pytest_primgate.report.results import (
    RunMeta,
    build_results,
    results_schema,
    validate_results,
    write_results,
)
from tests.test_report_terminal import pay, sample, sample_records

NOW = datetime(2026, 11, 22, 10, 15, 0, tzinfo=UTC)
WALLET = "0x" + "cd" * 20


def meta(**kw: Any) -> RunMeta:
    base: dict[str, Any] = dict(
        plugin_version="0.1.0", mode="ci", run_id="r1", started_at="2026-11-22T10:14:00.000Z",
        finished_at="2026-11-22T10:15:00.000Z", git_commit="0" * 40,
        selected_groups=["store"], base_urls={"store.prim.sh": "http://127.0.0.1:9/store"},
        network="eip155:84532", wallet_address=WALLET, python="3.11.9", pytest="9.0.0",
        xdist_workers=2,
    )
    base.update(kw)
    return RunMeta(**base)


def realistic() -> dict[str, Any]:
    payments = [pay("plan.json::store::ST-1", "50000"), pay("plan.json::store::ST-3", "10000")]
    return build_results(records=sample_records(), result=sample(), payments=payments,
                         meta=meta())


def test_realistic_results_validate() -> None:
    data = realistic()
    assert validate_results(data) == []
    assert data["schema_version"] == 1 and data["mode"] == "ci"
    assert data["verdict"] == "FAILED" and data["exit_code"] == 1
    assert data["verdict_line"].startswith("primgate: FAILED — store (live)")
    assert data["spent_usdc"] == "0.06" and len(data["payments"]) == 2
    assert data["meta"]["wallet_address"] == WALLET and data["meta"]["xdist_workers"] == 2
    by_id = {t["test_id"]: t for t in data["tests"]}
    assert [p["amount"] for p in by_id["ST-1"]["payments"]] == ["50000"]
    assert by_id["ST-2"]["payments"] == [] and by_id["INF-T1"]["flaky"] is True
    assert {p["name"]: p["verdict"] for p in data["prims"]} == {
        "email": "OFF", "infer": "PASS", "search": "PASS", "store": "FAIL"}
    assert data["totals"]["pass_rate"] == pytest.approx(100 * 11 / 13)
    json.dumps(data)


def test_exit_code_override_and_interrupted() -> None:
    data = build_results(records=[], result=sample(), payments=[],
                         meta=meta(interrupted=True, git_commit=None, wallet_address=None),
                         exit_code=2)
    assert data["exit_code"] == 2 and data["interrupted"] is True
    assert validate_results(data) == []


@pytest.mark.parametrize(("path", "value", "message"), [
    (("verdict",), "MAYBE", "$.verdict: 'MAYBE' is not one of"),
    (("tests", 0, "outcome"), "exploded", "$.tests[0].outcome: 'exploded' is not one of"),
    (("payments", 0, "amount"), "0.05", "$.payments[0].amount: '0.05' does not match"),
    (("meta", "wallet_address"), "0xnotanaddress", "$.meta.wallet_address: '0xnotanaddress'"),
    (("prims", 0, "threshold"), 120, "$.prims[0].threshold: 120 is greater than"),
])
def test_broken_results_do_not_validate(path: tuple[Any, ...], value: Any, message: str) -> None:
    data = realistic()
    target: Any = data
    for key in path[:-1]:
        target = target[key]
    target[path[-1]] = value
    errors = validate_results(data)
    assert len(errors) == 1 and errors[0].startswith(message), errors


def test_missing_keys_and_secrets_are_refused() -> None:
    data = realistic()
    del data["exit_code"]
    data["payments"][0]["signature"] = "0x" + "ee" * 65
    errors = validate_results(data)
    assert "$: 'exit_code' is a required property" in errors
    assert any(e.startswith("$.payments[0]: ") and "should not be valid" in e for e in errors)


def test_schema_is_shipped_package_data() -> None:
    schema = results_schema()
    assert schema["$schema"] == "https://json-schema.org/draft/2020-12/schema"
    from jsonschema import Draft202012Validator

    Draft202012Validator.check_schema(schema)


def test_write_is_atomic_and_never_overwrites(tmp_path: Path) -> None:
    out = tmp_path / "tests" / "runs"
    data = realistic()
    first = write_results(out, "ci", data, NOW)
    assert first == out / "20261122T101500Z-ci.json"
    assert json.loads(first.read_text(encoding="utf-8")) == data
    second = write_results(out, "ci", {"other": 1}, NOW)
    third = write_results(out, "ci", {"other": 2}, NOW)
    assert (second.name, third.name) == ("20261122T101500Z-ci-2.json", "20261122T101500Z-ci-3.json")
    assert json.loads(first.read_text(encoding="utf-8")) == data
    assert {p.name for p in out.iterdir()} == {first.name, second.name, third.name}
    assert os.stat(first).st_mode & 0o777 == 0o644


def test_write_uses_utc(tmp_path: Path) -> None:
    local = NOW.astimezone(timezone(timedelta(hours=5, minutes=30)))
    assert write_results(tmp_path, "holdout", {}, local).name == "20261122T101500Z-holdout.json"


def test_failed_write_leaves_no_temp_file(tmp_path: Path) -> None:
    with pytest.raises(TypeError):
        write_results(tmp_path, "local", {"bad": object()}, NOW)
    assert list(tmp_path.iterdir()) == []
