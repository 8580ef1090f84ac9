"""The example smoke manifest (manifests/smoke): valid, lint-clean, honest without a sandbox."""

from __future__ import annotations

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
