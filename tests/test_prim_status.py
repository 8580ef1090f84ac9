"""A prim status outside the known vocabulary is hard-gated as live, with a warning."""

from __future__ import annotations

from pathlib import Path

import pytest

from pytest_primgate.manifests.prims import load_prims
from tests.plans import plan, prim_yaml, t, write


def test_unknown_status_is_kept_and_warned(tmp_path: Path) -> None:
    path = tmp_path / "store.yaml"
    path.write_text("id: store\nname: store.sh\n\nstatus: beta\n")
    registry = load_prims([path])
    assert registry.by_id["store"].status == "beta"
    assert registry.warnings == (
        f"{path}:4: status: unknown status 'beta' (known: idea, planning, building, testing, "
        "deployed, live, mainnet, testnet, hold, phantom); hard-gated as live",
    )


def test_unknown_status_in_a_root_registry_names_the_entry(tmp_path: Path) -> None:
    path = tmp_path / "primitives.yaml"
    path.write_text("primitives:\n  - id: a\n    status: live\n  - id: b\n    status: Beta\n")
    (warning,) = load_prims([path]).warnings
    assert warning.startswith(f"{path}:5: primitives[1].status: unknown status 'Beta' ")


def test_known_and_missing_statuses_do_not_warn(tmp_path: Path) -> None:
    path = tmp_path / "primitives.yaml"
    path.write_text("primitives:\n  - id: a\n    status: HOLD\n  - id: b\n")
    assert load_prims([path]).warnings == ()


def _failing_beta_plan(pytester: pytest.Pytester) -> None:
    prim_yaml(pytester.path, "store", "beta")
    write(pytester.path, plan({"store": [
        t("ST-1", "https://store.prim.sh/", body={"status": "ok"}),
        t("ST-2", "https://store.prim.sh/", status=201),
    ]}))


def test_beta_prim_is_hard_gated_not_a_collection_error(pytester: pytest.Pytester) -> None:
    _failing_beta_plan(pytester)
    result = pytester.runpytest_subprocess("--primgate", "--primgate-sandbox", "--ci",
                                           "-p", "no:cacheprovider", "-p", "no:xdist")
    result.assert_outcomes(passed=1, failed=1)
    assert result.ret == 1
    out = result.stdout.str()
    assert "error" not in result.parseoutcomes()
    result.stdout.fnmatch_lines([
        "*PytestWarning: primgate: */prims/store.yaml:4: status: unknown status 'beta' "
        "(known: *); hard-gated as live",
    ])
    result.stdout.fnmatch_lines(["prim *store *beta * 100 *FAIL"])
    assert "primgate: FAILED" in out


def test_beta_prim_collects_without_error(pytester: pytest.Pytester) -> None:
    _failing_beta_plan(pytester)
    result = pytester.runpytest_subprocess("--primgate", "--collect-only", "-q",
                                           "-p", "no:cacheprovider")
    assert result.ret == 0
    result.stdout.fnmatch_lines(["smoke-test-plan.json::store::ST-1",
                                 "*unknown status 'beta'*hard-gated as live*"])
