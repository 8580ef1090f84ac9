"""Never green without looking: every case of issue 10 as a user runs it, asserting the exit
status, the verdict line and the results file (with and without xdist where it matters)."""

from __future__ import annotations

import json
import subprocess
from pathlib import Path
from typing import Any

import pytest

from pytest_primgate.report.results import validate_results
from tests.plans import plan, prim_yaml, results, t, write

MODES = {"no-xdist": ("-p", "no:xdist"), "xdist-2": ("-n", "2")}
SANDBOX = ("--primgate", "--primgate-sandbox", "-p", "no:cacheprovider")


def ci(pytester: pytest.Pytester, mode: str, *args: str, sandbox: bool = True) -> pytest.RunResult:
    base = SANDBOX if sandbox else ("--primgate", "-p", "no:cacheprovider")
    return pytester.runpytest_subprocess(
        *base, "--ci", "--primgate-results-dir", "out", *MODES[mode], *args
    )


def verdict(result: pytest.RunResult) -> str:
    """The last line of the run (where the verdict goes)."""
    return result.outlines[-1]


def agree(
    result: pytest.RunResult, pytester: pytest.Pytester, word: str, code: int
) -> dict[str, Any]:
    """Exit status, verdict line and results file say the same thing; returns the results."""
    out = result.stdout.str()
    assert result.ret == code, out
    assert verdict(result).startswith(f"primgate: {word}"), out
    data = results(pytester.path / "out")
    assert validate_results(data) == []
    assert (data["verdict"], data["exit_code"], data["verdict_line"]) == (
        word, code, verdict(result))
    return data


def chain() -> dict[str, Any]:
    """store: ST-1 <- ST-2 <- ST-4, and an independent ST-8."""
    return plan({"store": [
        t("ST-1", "https://store.prim.sh/?a=1"),
        t("ST-2", "https://store.prim.sh/?a=2", depends_on=["ST-1"]),
        t("ST-4", "https://store.prim.sh/?a=4", depends_on=["ST-2"]),
        t("ST-8", "https://store.prim.sh/?a=8"),
    ]})


def smoke(pytester: pytest.Pytester, scenarios: dict[str, str]) -> Path:
    """``smoke/manifest.toml`` with one scenario per ``name: script body``."""
    directory = pytester.path / "smoke"
    directory.mkdir(exist_ok=True)
    text = ""
    for name, body in scenarios.items():
        (directory / f"{name}.sh").write_text(body)
        text += f'[[scenario]]\nname = "{name}"\nscript = "{name}.sh"\nowners = ["t"]\n\n'
    (directory / "manifest.toml").write_text(text)
    return directory


# ---------------------------------------------------------------------------------------------
# Nothing ran


@pytest.mark.parametrize("mode", MODES)
def test_empty_directory_is_nothing_verified(pytester: pytest.Pytester, mode: str) -> None:
    result = ci(pytester, mode, sandbox=False)
    data = agree(result, pytester, "NOTHING VERIFIED", 2)
    assert verdict(result) == "primgate: NOTHING VERIFIED — no primgate items ran"
    assert data["tests"] == []
    allowed = pytester.runpytest_subprocess(
        "--primgate", "--ci", "-p", "no:cacheprovider", "--primgate-results-dir", "out2",
        "--primgate-allow-empty", *MODES[mode],
    )
    assert allowed.ret == 0
    assert verdict(allowed) == (
        "primgate: PASSED — nothing verified (allowed by --primgate-allow-empty)")


def test_owner_task_typo_is_a_usage_error_and_empty_groups_verify_nothing(
    pytester: pytest.Pytester,
) -> None:
    smoke(pytester, {"ok": "exit 0\n"})
    result = ci(pytester, "no-xdist", "--owner-task", "tt", sandbox=False)
    assert result.ret == pytest.ExitCode.USAGE_ERROR
    result.stderr.fnmatch_lines(["*unknown owner task 'tt'; known owner tasks: t*"])
    assert "primgate: PASSED" not in result.stdout.str()
    assert not (pytester.path / "out").exists()
    write(pytester.path, plan({}))
    result = ci(pytester, "no-xdist", "-k", "nomatch", sandbox=False)
    agree(result, pytester, "NOTHING VERIFIED", 2)


@pytest.mark.parametrize(("mode", "select", "pulled"), [
    ("no-xdist", ("-k", "ST-4"), ["ST-1", "ST-2"]),
    ("xdist-2", ("-k", "ST-4"), ["ST-1", "ST-2"]),
    ("no-xdist", ("smoke-test-plan.json::store::ST-4",), ["ST-1", "ST-2"]),
    ("xdist-2", ("smoke-test-plan.json::store::ST-4",), ["ST-1", "ST-2"]),
    ("no-xdist", ("-k", "store and not ST-1"), ["ST-1"]),
    ("no-xdist", ("-m", "not primgate_prim(name='nothing')", "-k", "ST-2"), ["ST-1"]),
], ids=["k", "k-xdist", "nodeid", "nodeid-xdist", "k-not", "m"])
def test_a_selected_test_pulls_in_its_dependencies_and_runs(
    pytester: pytest.Pytester, mode: str, select: tuple[str, ...], pulled: list[str]
) -> None:
    write(pytester.path, chain())
    result = ci(pytester, mode, "-v", *select)
    data = agree(result, pytester, "PASSED", 0)
    outcome = {x["test_id"]: x["outcome"] for x in data["tests"]}
    assert set(outcome.values()) == {"passed"}
    assert sorted(x["test_id"] for x in data["tests"] if x["pulled_in"]) == pulled
    names = ", ".join(f"smoke-test-plan.json::store::{tid}" for tid in pulled)
    result.stdout.fnmatch_lines([f"pulled in as dependency ({len(pulled)}): {names}"])
    if mode == "no-xdist":
        order = [line.split()[0].rsplit("::", 1)[1] for line in result.outlines
                 if line.startswith("smoke-test-plan.json::") and " PASSED " in line]
        assert order == sorted(order, key=lambda tid: int(tid.split("-")[1])), order


@pytest.mark.parametrize("mode", MODES)
def test_a_plan_collected_twice_gets_one_record_per_test(
    pytester: pytest.Pytester, mode: str
) -> None:
    """``--keep-duplicates`` with the plan named twice: each test runs once, after its
    dependency, with one record (no crash in ordering, no ``not_run`` for a second copy)."""
    write(pytester.path, plan({"store": [  # listed after the test that depends on it
        t("ST-2", "https://store.prim.sh/?a=2", depends_on=["ST-1"]),
        t("ST-1", "https://store.prim.sh/?a=1"),
        t("ST-8", "https://store.prim.sh/?a=8"),
    ]}))
    result = ci(pytester, mode, "--keep-duplicates", "-v", "smoke-test-plan.json",
                "smoke-test-plan.json")
    data = agree(result, pytester, "PASSED", 0)
    assert sorted((x["test_id"], x["outcome"]) for x in data["tests"]) == [
        ("ST-1", "passed"), ("ST-2", "passed"), ("ST-8", "passed"),
    ]
    ran = [line for line in result.outlines if "PASSED smoke" in line or " PASSED  " in line]
    assert len(ran) == 3, ran
    assert "= 3 passed" in result.stdout.str()


def test_no_deps_leaves_the_selected_test_blocked_and_nothing_verified(
    pytester: pytest.Pytester,
) -> None:
    write(pytester.path, chain())
    result = ci(pytester, "no-xdist", "-k", "ST-4", "--primgate-no-deps")
    data = agree(result, pytester, "NOTHING VERIFIED", 2)
    assert verdict(result) == (
        "primgate: NOTHING VERIFIED — no gated item ran (1 selected: 1 blocked); also FAILED: "
        "store (live) 0.0 % < 100 %: 1 item not verified (blocked by ST-2)")
    assert [x["outcome"] for x in data["tests"]] == ["blocked"]


# ---------------------------------------------------------------------------------------------
# Blocked is not verified


@pytest.mark.parametrize("mode", MODES)
def test_live_chain_blocked_by_an_off_prims_failure_fails(
    pytester: pytest.Pytester, mode: str
) -> None:
    prim_yaml(pytester.path, "faucet", "hold")
    prim_yaml(pytester.path, "store", "live")
    write(pytester.path, plan({
        "onboarding": [t("F-1", "https://faucet.prim.sh/", service="faucet.sh", status=201)],
        "store": [
            t("ST-1", "https://store.prim.sh/?a=1", depends_on=["F-1"]),
            t("ST-2", "https://store.prim.sh/?a=2"),
        ],
    }))
    result = ci(pytester, mode)
    agree(result, pytester, "FAILED", 1)
    assert verdict(result) == (
        "primgate: FAILED — store (live) 50.0 % < 100 %: 1 item not verified (blocked by F-1)")


def test_blocked_items_count_as_not_passed_for_a_soft_prim(pytester: pytest.Pytester) -> None:
    prim_yaml(pytester.path, "beta", "building")
    prim_yaml(pytester.path, "store", "live")
    write(pytester.path, plan({"beta": [
        t("B-1", "https://beta.prim.sh/", service="beta.sh", status=201),
        t("B-2", "https://beta.prim.sh/?2", service="beta.sh", depends_on=["B-1"]),
        *[t(f"B-{i}", f"https://beta.prim.sh/?{i}", service="beta.sh") for i in range(3, 9)],
    ], "store": [t("ST-1", "https://store.prim.sh/")]}))
    result = ci(pytester, "no-xdist")
    data = agree(result, pytester, "PASSED", 0)
    beta = next(p for p in data["prims"] if p["name"] == "beta")
    assert (beta["passed"], beta["failed"], beta["blocked"]) == (6, 1, 1)
    assert beta["pass_rate"] == 75.0 and beta["verdict"] == "WARN"
    assert verdict(result) == "primgate: PASSED — 2 prims gated, all hard gates pass (1 warning)"


# ---------------------------------------------------------------------------------------------
# One truth everywhere


def test_unknown_group_is_a_usage_error_without_a_verdict(pytester: pytest.Pytester) -> None:
    write(pytester.path, chain())
    result = ci(pytester, "no-xdist", "--group", "nosuchgroup")
    assert result.ret == 4
    err = result.stderr.str()
    assert "unknown group 'nosuchgroup'; available groups: store" in err
    assert "primgate:" not in result.stdout.str()
    assert not (pytester.path / "out").exists()


@pytest.mark.parametrize("mode", MODES)
def test_failing_ordinary_test_under_ci_fails_the_verdict(
    pytester: pytest.Pytester, mode: str
) -> None:
    write(pytester.path, plan({"store": [t("ST-1", "https://store.prim.sh/")]}))
    pytester.makepyfile(test_unit="def test_a():\n    assert 1 == 2\n\ndef test_b():\n    pass\n")
    result = ci(pytester, mode)
    agree(result, pytester, "FAILED", 1)
    assert verdict(result) == "primgate: FAILED — 1 other test failed"


def test_grow_only_removal_is_a_failed_verdict(pytester: pytest.Pytester) -> None:
    directory = smoke(pytester, {"kept": "exit 0\n", "gone": "exit 0\n"})
    for args in (("init", "-q"), ("config", "user.email", "t@example.invalid"),
                 ("config", "user.name", "t"), ("add", "-A"), ("commit", "-qm", "base")):
        subprocess.run(["git", "-C", str(pytester.path), *args], check=True, capture_output=True)
    text = (directory / "manifest.toml").read_text()
    (directory / "manifest.toml").write_text(text.split('[[scenario]]\nname = "gone"')[0])
    result = ci(pytester, "no-xdist", "--primgate-grow-only-base", "HEAD", sandbox=False)
    agree(result, pytester, "FAILED", 1)
    assert verdict(result) == "primgate: FAILED — grow-only: removed smoke/manifest.toml::gone"


# ---------------------------------------------------------------------------------------------
# Infrastructure is exit 2


def test_unusable_wallet_source_is_infra_and_blames_no_prim(pytester: pytest.Pytester) -> None:
    prim_yaml(pytester.path, "wallet", "live")
    write(pytester.path, plan({"onboarding": [
        t("H-1", "https://wallet.prim.sh/", service="wallet.sh"),
        t("F-3", "https://faucet.prim.sh/v1/faucet/status?address={{agent_address}}",
          service="faucet.sh"),
    ]}))
    result = ci(pytester, "no-xdist", "--primgate-wallet", "/nonexistent.json")
    data = agree(result, pytester, "INFRA ERROR", 2)
    line = verdict(result)
    assert "smoke-test-plan.json::onboarding::F-3: wallet could not be loaded" in line
    assert "/nonexistent.json" in line and "also FAILED" not in line
    by_id = {x["test_id"]: x["outcome"] for x in data["tests"]}
    assert by_id == {"H-1": "passed", "F-3": "not_run"}
    assert next(p for p in data["prims"] if p["name"] == "faucet")["failed"] == 0


def test_unwritable_results_dir_is_exit_2_with_a_named_fallback(
    pytester: pytest.Pytester,
) -> None:
    write(pytester.path, plan({"store": [t("ST-1", "https://store.prim.sh/")]}))
    (pytester.path / "out").write_text("a file, not a directory\n")
    result = ci(pytester, "no-xdist")
    assert result.ret == 2
    out = result.stdout.str()
    assert "Traceback" not in out
    errors = [line for line in result.outlines if "cannot write results to" in line]
    assert len(errors) == 2, out  # the one-line error, and the verdict line naming it
    fallback = Path(errors[0].rsplit("written to ", 1)[1].removesuffix(" instead"))
    assert fallback.is_file()
    data = json.loads(fallback.read_text())
    assert validate_results(data) == []
    assert (data["verdict"], data["exit_code"]) == ("INFRA ERROR", 2)
    assert verdict(result) == data["verdict_line"]
    assert verdict(result).startswith("primgate: INFRA ERROR — cannot write results to ")
    assert verdict(result).endswith("; gate: PASSED — 1 prim gated, all hard gates pass")
    fallback.unlink()
