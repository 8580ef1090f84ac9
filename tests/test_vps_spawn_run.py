"""`--spawn N`: items run on N spawned servers as xdist SSH workers; all torn down after."""

from __future__ import annotations

import json
from pathlib import Path

import pytest


def test_spawn_two_runs_items_on_two_servers_and_records_them(
    pytester: pytest.Pytester, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    state = tmp_path / "state"
    monkeypatch.setenv("PRIMGATE_STATE_DIR", str(state))
    pytester.makeini("[pytest]\n")
    pytester.makepyfile(
        test_remote="""
        import os, time

        def test_a():
            assert os.environ["PYTEST_XDIST_WORKER"].startswith("gw")
            assert "/tmp/primgate-" in os.getcwd()
            time.sleep(0.3)

        def test_b():
            time.sleep(0.3)

        def test_c():
            time.sleep(0.3)

        def test_d():
            time.sleep(0.3)
        """
    )
    result = pytester.runpytest_subprocess(
        "--primgate", "--primgate-sandbox", "--spawn", "2", "-p", "no:cacheprovider",
        "-p", "no:benchmark", "--junit-xml", "junit.xml", "--primgate-results-dir", "out",
        "test_remote.py",
    )
    result.assert_outcomes(passed=4)
    result.stdout.fnmatch_lines(["*2 workers ?4 items?*", "*primgate: PASSED*"])
    junit = (pytester.path / "junit.xml").read_text()
    servers = {part.split('"')[0] for part in junit.split('name="primgate_server" value="')[1:]}
    assert len(servers) == 2 and all(s.startswith("srv_") for s in servers)
    assert junit.count('classname="test_remote"') == 4 and "tmp/primgate-" not in junit
    assert not list(state.rglob("*.json"))
    assert not [p for s in servers for p in Path("/tmp").glob(f"primgate-*-{s}")]
    data = json.loads(next((pytester.path / "out").glob("*-spawn.json")).read_text())
    assert data["mode"] == "spawn"


def test_spawn_failure_is_a_clear_error_and_leaves_nothing(
    pytester: pytest.Pytester, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("PRIMGATE_STATE_DIR", str(tmp_path / "state"))
    pytester.makepyfile("def test_a():\n    pass\n")
    result = pytester.runpytest_subprocess(
        "--primgate", "--primgate-sandbox", "--spawn", "4", "-p", "no:cacheprovider",
        "-p", "no:benchmark",
    )
    assert result.ret != 0
    text = result.stdout.str() + result.stderr.str()
    assert "spawn API refused: server limit exceeded" in text
    assert not list((tmp_path / "state").rglob("*.json"))


def test_spawn_two_runs_the_example_manifests_like_a_local_run(
    pytester: pytest.Pytester, tmp_path: Path, monkeypatch: pytest.MonkeyPatch, repo_dir: Path
) -> None:
    import shutil

    monkeypatch.setenv("PRIMGATE_STATE_DIR", str(tmp_path / "state"))
    shutil.copytree(repo_dir / "manifests", pytester.path / "manifests")
    verdicts = []
    for extra, out in ((("-p", "no:xdist"), "local"), (("--spawn", "2"), "spawned")):
        result = pytester.runpytest_subprocess(
            "--primgate", "--primgate-sandbox", "--ci", "-p", "no:cacheprovider",
            "--primgate-results-dir", out, *extra, "manifests",
        )
        data = json.loads(next((pytester.path / out).glob("*.json")).read_text())
        verdicts.append((result.ret, data["verdict"], data["totals"],
                         sorted((t["nodeid"], t["outcome"]) for t in data["tests"])))
        if out == "spawned":
            servers = {t["server"] for t in data["tests"]}
            assert len(servers) == 2 and all(s.startswith("srv_") for s in servers)
            server_of = {t["nodeid"]: t["server"] for t in data["tests"]}
            wallets: dict[str, set[str]] = {}
            plan_items = {t["nodeid"] for t in data["tests"] if t["kind"] == "plan"}
            for payment in data["payments"]:  # scenarios' `primgate fetch` has its own wallet
                if payment["test_id"] in plan_items:
                    wallets.setdefault(server_of[payment["test_id"]], set()).add(payment["payer"])
            assert wallets and all(len(w) == 1 for w in wallets.values())
            # each spawned worker pays from its own wallet
            assert len({next(iter(w)) for w in wallets.values()}) == len(wallets)
    assert verdicts[0][0] == 0
    assert verdicts[0] == verdicts[1]
