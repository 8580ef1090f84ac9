"""The example plan and prim files in manifests/: format, and a replay against the sandbox."""

from __future__ import annotations

import json
import re
from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import httpx
import pytest
import yaml
from eth_account import Account
from eth_account.messages import encode_defunct

from pytest_primgate.sandbox.config import SandboxConfig
from pytest_primgate.sandbox.process import SandboxHandle, serve_in_thread
from pytest_primgate.urlmap import UrlMap
from pytest_primgate.x402.client import X402Client
from pytest_primgate.x402.spend import SpendPolicy

MANIFESTS = Path(__file__).resolve().parent.parent / "manifests"
PLAN = json.loads((MANIFESTS / "smoke-test-plan.json").read_text())
TESTS = {t["id"]: t for t in PLAN["tests"]}
COUNTS_AS_PASS = re.compile(r"(\d{3}) = [^.,]*, counts as pass", re.IGNORECASE)


def test_plan_top_level_and_groups() -> None:
    assert list(PLAN) == ["plan", "version", "network", "context", "groups", "tests"]
    assert [g["id"] for g in PLAN["groups"]] == [
        "discovery", "onboarding", "store", "search", "infer"
    ]
    listed = [tid for g in PLAN["groups"] for tid in g["tests"]]
    assert sorted(listed) == sorted(TESTS) and len(listed) == len(set(listed))
    for group in PLAN["groups"]:
        assert set(group) == {"id", "name", "prompt", "tests"}
    for test in PLAN["tests"]:
        assert set(test) >= {"id", "service", "test", "method", "endpoint", "input", "expected",
                             "depends_on", "captures", "notes"}
        assert all(dep in TESTS for dep in test["depends_on"])
        assert test["endpoint"].startswith(f"https://{test['service'].removesuffix('.sh')}.prim.sh/")


def test_plan_infer_group_is_seed_i31() -> None:
    (infer,) = [g for g in PLAN["groups"] if g["id"] == "infer"]
    assert infer["tests"] == ["INF-H1", "INF-T1", "INF-T2", "INF-T3"]
    assert TESTS["INF-H1"]["endpoint"] == "https://infer.prim.sh/"
    assert [TESTS[t]["endpoint"] for t in infer["tests"][1:]] == [
        "https://infer.prim.sh/v1/chat", "https://infer.prim.sh/v1/embed",
        "https://infer.prim.sh/v1/models",
    ]
    assert all("paid" in TESTS[t]["notes"] for t in infer["tests"][1:])


def test_plan_onboarding_conventions() -> None:
    w1, f1 = TESTS["W-1"], TESTS["F-1"]
    assert w1["input"] == {"address": "{{agent_address}}", "signature": "{{eip191_sig}}",
                           "timestamp": "{{iso_timestamp}}"}
    assert w1["expected"]["status"] == 201
    assert "409 = already registered, counts as pass" in w1["notes"]
    assert "429 = rate limited, counts as pass" in f1["notes"] and "Free" in f1["notes"]
    assert TESTS["ST-1"]["captures"] == {"bucket_id": "$.bucket.id"}
    assert TESTS["ST-1"]["depends_on"] == ["F-1"]
    assert isinstance(TESTS["ST-3"]["input"], str)


def test_prim_files() -> None:
    statuses = {}
    for prim in ("wallet", "faucet", "store", "search", "infer"):
        data = yaml.safe_load((MANIFESTS / "prims" / f"{prim}.yaml").read_text())
        assert data["id"] == prim and data["name"] == f"{prim}.sh"
        assert data["endpoint"] == f"{prim}.prim.sh"
        statuses[prim] = data["status"]
    assert statuses["search"] == "testing"
    assert {s for p, s in statuses.items() if p != "search"} == {"live"}


# -- replay: every plan test passes against the sandbox --------------------------------------


def _shape_ok(actual: Any, expected: Any) -> bool:
    """The plan's shape vocabulary, enough for this plan (the plugin's checks are the real ones)."""
    if isinstance(expected, dict):
        return isinstance(actual, dict) and all(
            _shape_ok(actual.get(k), v) for k, v in expected.items()
        )
    if isinstance(expected, list):
        return isinstance(actual, list) and (
            not actual or not expected or _shape_ok(actual[0], expected[0])
        )
    if expected == "string" or (isinstance(expected, str) and expected.startswith("{{")):
        return isinstance(actual, str)
    if expected == "non-empty string":
        return isinstance(actual, str) and bool(actual)
    if expected == "number":
        return isinstance(actual, int | float) and not isinstance(actual, bool)
    if expected == "boolean":
        return isinstance(actual, bool)
    if expected in ("array", "array (non-empty)"):
        return isinstance(actual, list) and (expected == "array" or bool(actual))
    if isinstance(expected, str) and (m := re.fullmatch(r"number\s*>=\s*(\d+)", expected)):
        return isinstance(actual, int | float) and actual >= int(m.group(1))
    return bool(actual == expected)


def _render(value: Any, variables: dict[str, str]) -> Any:
    if isinstance(value, str):
        return re.sub(r"\{\{(\w+)\}\}", lambda m: variables[m.group(1)], value)
    if isinstance(value, dict):
        return {k: _render(v, variables) for k, v in value.items()}
    if isinstance(value, list):
        return [_render(v, variables) for v in value]
    return value


def _capture(body: Any, path: str) -> Any:
    for part in re.findall(r"[^.\[\]]+|\[\d+\]", path.removeprefix("$.")):
        body = body[int(part[1:-1])] if part.startswith("[") else body[part]
    return body


@pytest.fixture(scope="module")
def sandbox() -> Iterator[SandboxHandle]:
    with serve_in_thread(SandboxConfig()) as handle:
        yield handle


def test_whole_plan_passes_against_the_sandbox(sandbox: SandboxHandle) -> None:
    account = Account.create()
    now = datetime.now(UTC).strftime("%Y-%m-%dT%H:%M:%S.000Z")
    message = f"Register {account.address} with prim.sh at {now}"
    variables = {
        "agent_address": account.address, "iso_timestamp": now, "runner": "gate-runner",
        "test_prefix": "gate-1", "eip191_sig": "0x" + Account.sign_message(
            encode_defunct(text=message), account.key).signature.hex().removeprefix("0x"),
    }
    urlmap = UrlMap.from_pairs({"*.prim.sh": sandbox.url + "/{prim}"})
    passed: list[str] = []
    with X402Client(account, SpendPolicy(), timeout=10.0) as payer, httpx.Client() as plain:
        for group in PLAN["groups"]:
            for tid in group["tests"]:
                test = TESTS[tid]
                assert all(dep in passed for dep in test["depends_on"]), tid
                url = urlmap.rewrite(_render(test["endpoint"], variables))
                data = _render(test["input"], variables)
                kwargs: dict[str, Any] = (
                    {"content": data.encode(), "headers": {"Content-Type": "text/plain"}}
                    if isinstance(data, str) else {"json": data} if data is not None else {}
                )
                free = "free" in (test["notes"] or "").lower() or test["endpoint"].endswith("/")
                first = plain.request(test["method"], url, **kwargs)
                if free:
                    response = first
                else:
                    assert first.status_code == 402, (tid, first.text)
                    response = payer.request(test["method"], url, **kwargs)
                expected = _render(test["expected"], variables)
                allowed = {int(c) for c in COUNTS_AS_PASS.findall(test["notes"] or "")}
                assert response.status_code == expected["status"] or (
                    response.status_code in allowed
                ), (tid, response.status_code, response.text)
                if "body_equals" in expected:
                    assert response.text == expected["body_equals"], tid
                if "body" in expected:
                    assert _shape_ok(response.json(), expected["body"]), (tid, response.text)
                for name, path in test["captures"].items():
                    variables[name] = str(_capture(response.json(), path))
                passed.append(tid)
        assert len(payer.payments) == sum(
            1 for t in PLAN["tests"]
            if "free" not in (t["notes"] or "").lower() and not t["endpoint"].endswith("/")
        )
    assert passed == [tid for g in PLAN["groups"] for tid in g["tests"]]
