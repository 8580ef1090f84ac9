"""The example smoke manifest (manifests/smoke): valid, lint-clean, honest without a sandbox."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest

from pytest_primgate.commands.fetch import build_urlmap
from pytest_primgate.commands.lint import lint_smoke
from pytest_primgate.manifests.smoke import load_smoke, owners_kebab_ok
from pytest_primgate.scenarios import run_scenario

EXAMPLE = Path(__file__).resolve().parent.parent / "manifests" / "smoke" / "manifest.toml"


def test_example_manifest_is_strict_and_lint_clean() -> None:
    manifest = load_smoke(EXAMPLE)
    assert manifest.require_assertions
    assert len(manifest.scenarios) >= 5
    for scenario in manifest.scenarios:
        assert scenario.has_assertions and scenario.owners
        assert all(owners_kebab_ok(o) for o in scenario.owners)
    assert lint_smoke(EXAMPLE) == []


def test_without_sandbox_the_sandbox_scenarios_skip_loudly(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.delenv("PRIMGATE_SANDBOX_URL", raising=False)
    manifest = load_smoke(EXAMPLE)
    by_name = {s.name: s for s in manifest.scenarios}
    result = run_scenario(by_name["infer_health_shape"], manifest_dir=EXAMPLE.parent)
    assert (result.outcome, result.exit_code) == ("skipped", 77)
    assert result.reason == (
        "SMOKE SKIPPED — NO SANDBOX; scenario: infer_health_shape; reason:   "
        "PRIMGATE_SANDBOX_URL is not set; run with pytest --primgate --primgate-sandbox")
    unreachable = run_scenario(by_name["unreachable_endpoint_loud_skip"],
                               manifest_dir=EXAMPLE.parent)
    assert (unreachable.outcome, unreachable.reason) == (
        "unreachable", "endpoint unreachable: http://127.0.0.1:9/ (connection refused)")
    lint = run_scenario(by_name["smoke_manifest_lints_clean"], manifest_dir=EXAMPLE.parent)
    assert lint.outcome == "passed", (lint.reason, lint.detail)


def test_fetch_maps_prim_hosts_to_the_sandbox() -> None:
    urlmap = build_urlmap("http://127.0.0.1:8402/", ["store.prim.sh=http://127.0.0.1:1"])
    assert urlmap.rewrite("https://infer.prim.sh/v1/chat") == "http://127.0.0.1:8402/infer/v1/chat"
    assert urlmap.rewrite("https://store.prim.sh/v1/buckets") == "http://127.0.0.1:1/v1/buckets"
    assert urlmap.rewrite("http://127.0.0.1:8402/infer/") == "http://127.0.0.1:8402/infer/"
    with pytest.raises(ValueError, match="--base-url expects HOST=URL"):
        build_urlmap(None, ["nohost"])


@pytest.fixture(scope="module")
def sandbox_url() -> Iterator[str]:
    from pytest_primgate.sandbox.process import start_sandbox

    with start_sandbox() as handle:
        yield handle.url


def _fetch(*args: str, env: dict[str, str] | None = None) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-m", "pytest_primgate.cli", "fetch", *args],
                          capture_output=True, text=True, timeout=60,
                          env={**os.environ, **(env or {})})


def test_fetch_pays_and_prints_the_body(sandbox_url: str) -> None:
    body = '{"model": "anthropic/claude-sonnet-4", "messages": [{"role": "user", "content": "hi"}]}'
    proc = _fetch("https://infer.prim.sh/v1/chat", "--json", body, "--sandbox", sandbox_url)
    assert proc.returncode == 0, proc.stderr
    assert json.loads(proc.stdout)["choices"][0]["message"]["content"] == "sandbox reply to: hi"
    assert "PAYMENT-SIGNATURE" not in proc.stdout + proc.stderr


def test_fetch_non_2xx_exits_1(sandbox_url: str) -> None:
    proc = _fetch("https://infer.prim.sh/v1/nope", "--sandbox", sandbox_url)
    assert proc.returncode == 1
    assert proc.stderr.splitlines()[-1] == (
        f"primgate fetch: GET {sandbox_url}/infer/v1/nope -> HTTP 404")


def test_fetch_unreachable_exits_2() -> None:
    proc = _fetch("http://127.0.0.1:9/x", "--no-setup")
    assert proc.returncode == 2
    assert proc.stderr.startswith("primgate fetch: GET http://127.0.0.1:9/x failed: ConnectError")


def test_example_scenarios_pass_against_the_sandbox(sandbox_url: str) -> None:
    manifest = load_smoke(EXAMPLE)
    outcomes = {
        s.name: run_scenario(s, manifest_dir=EXAMPLE.parent,
                             extra_env={"PRIMGATE_SANDBOX_URL": sandbox_url})
        for s in manifest.scenarios
    }
    assert {name: r.outcome for name, r in outcomes.items()} == {
        "infer_health_shape": "passed",
        "infer_chat_paid_completion": "passed",
        "infer_models_paid_listing": "passed",
        "unreachable_endpoint_loud_skip": "unreachable",
        "smoke_manifest_lints_clean": "passed",
    }, {name: (r.reason, r.detail) for name, r in outcomes.items()}
