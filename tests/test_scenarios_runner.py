"""The scenario runner on real bash scripts: exit codes, timeouts, expectations, redaction."""

from __future__ import annotations

import os
import socket
import time
import uuid
from pathlib import Path

import pytest

from pytest_primgate.manifests.smoke import Scenario, parse_smoke
from pytest_primgate.model import AttemptResult
from pytest_primgate.scenarios import run_scenario
from pytest_primgate.urlmap import UrlMap


def _run(tmp_path: Path, body: str, toml: str = "", **kwargs: object) -> AttemptResult:
    """Write ``s.sh`` and a one-scenario manifest, load it, run it once."""
    (tmp_path / "s.sh").write_text(body, encoding="utf-8")
    manifest = parse_smoke(f'[[scenario]]\nname = "s"\nscript = "s.sh"\n{toml}\n', "m.toml")
    return run_scenario(manifest.scenarios[0], manifest_dir=tmp_path, **kwargs)  # type: ignore[arg-type]


def _live(marker: str) -> list[str]:
    """Non-zombie processes whose command line contains ``marker``."""
    found: list[str] = []
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            cmdline = (entry / "cmdline").read_bytes().replace(b"\0", b" ").decode()
            state = (entry / "stat").read_text().rsplit(")", 1)[1].split()[0]
        except OSError:
            continue
        if marker in cmdline and state != "Z":
            found.append(f"{entry.name}: {cmdline}")
    return found


def test_pass(tmp_path: Path) -> None:
    result = _run(tmp_path, "echo hi\n")
    assert (result.outcome, result.reason, result.exit_code) == ("passed", "", 0)


def test_environment_and_cwd(tmp_path: Path) -> None:
    (tmp_path / "sub").mkdir()
    result = _run(
        tmp_path,
        'echo "$WG_SMOKE_SCENARIO $WG_SMOKE_TIMEOUT_SECS $PRIMGATE_SCENARIO $EXTRA $OWN"; pwd\n',
        'timeout_seconds = 20\ncwd = "sub"\nenv = {OWN = "own"}\n'
        'expect_stdout = ["s 20 s extra own", "/sub"]',
        extra_env={"EXTRA": "extra", "OWN": "overridden"},
    )
    assert result.outcome == "passed", result.reason


def test_relative_manifest_dir(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    (tmp_path / "sub").mkdir()
    (tmp_path / "sub" / "s.sh").write_text("echo ran\n")
    monkeypatch.chdir(tmp_path)
    scenario = parse_smoke('[[scenario]]\nname = "s"\nscript = "s.sh"\nexpect_stdout = "ran"\n',
                           "m.toml").scenarios[0]
    result = run_scenario(scenario, manifest_dir=Path("sub"))
    assert result.outcome == "passed", result.reason


def test_fail_reports_exit_code_and_stderr_tail(tmp_path: Path) -> None:
    lines = "".join(f"echo line{i} >&2\n" for i in range(20))
    result = _run(tmp_path, lines + "exit 3\n")
    assert (result.outcome, result.reason, result.exit_code) == ("failed", "exit 3", 3)
    assert result.detail.splitlines() == [f"line{i}" for i in range(8, 20)]


def test_exit_77_is_a_loud_skip_with_the_stderr_reason(tmp_path: Path) -> None:
    result = _run(tmp_path, (
        "echo noise >&2\n"
        "printf '====\\n  SMOKE SKIPPED — NO KEY\\n  scenario: %s\\n  reason:   set KEY\\n====\\n'"
        ' "$WG_SMOKE_SCENARIO" >&2\nexit 77\n'
    ))
    assert (result.outcome, result.exit_code) == ("skipped", 77)
    assert result.reason == "noise; SMOKE SKIPPED — NO KEY; scenario: s; reason:   set KEY"


def test_exit_77_without_stderr(tmp_path: Path) -> None:
    result = _run(tmp_path, "exit 77\n")
    assert (result.outcome, result.reason) == ("skipped", "scenario emitted SKIP (exit 77)")


def test_timeout_kills_the_whole_process_group(tmp_path: Path) -> None:
    marker = f"primgate-orphan-{uuid.uuid4().hex}"
    started = time.monotonic()
    result = _run(
        tmp_path,
        f'bash -c "exec -a {marker} sleep 1000" &\necho started\nsleep 1000\n',
        "timeout_seconds = 1",
    )
    assert time.monotonic() - started < 5
    assert (result.outcome, result.reason) == ("failed", "timed out after 1 s")
    assert "stdout (head):\nstarted" in result.detail
    deadline = time.monotonic() + 3
    while _live(marker) and time.monotonic() < deadline:
        time.sleep(0.05)
    assert _live(marker) == []


def test_background_leftovers_are_killed_after_a_pass(tmp_path: Path) -> None:
    marker = f"primgate-leftover-{uuid.uuid4().hex}"
    started = time.monotonic()
    result = _run(tmp_path, f'bash -c "exec -a {marker} sleep 1000" &\necho ok\n',
                  'expect_stdout = "ok"')
    assert result.outcome == "passed", result.reason
    assert time.monotonic() - started < 3
    deadline = time.monotonic() + 3
    while _live(marker) and time.monotonic() < deadline:
        time.sleep(0.05)
    assert _live(marker) == []


def test_term_ignoring_script_is_killed(tmp_path: Path) -> None:
    result = _run(tmp_path, "trap '' TERM\nwhile :; do sleep 0.05; done\n", "timeout_seconds = 0.5")
    assert (result.outcome, result.reason) == ("failed", "timed out after 0.5 s")


def test_missing_script(tmp_path: Path) -> None:
    scenario = Scenario("gone", "scenarios/gone.sh")
    result = run_scenario(scenario, manifest_dir=tmp_path)
    assert (result.outcome, result.reason) == (
        "failed", f"script not found: {tmp_path / 'scenarios/gone.sh'}")


def test_expect_exit_overrides_zero(tmp_path: Path) -> None:
    assert _run(tmp_path, "exit 4\n", "expect_exit = 4").outcome == "passed"
    result = _run(tmp_path, "exit 0\n", "expect_exit = 4")
    assert (result.outcome, result.reason) == ("failed", "exit 0 (expected 4)")


def test_expect_stdout(tmp_path: Path) -> None:
    toml = 'expect_stdout = ["alpha", "gamma"]'
    assert _run(tmp_path, "echo alpha beta gamma\n", toml).outcome == "passed"
    result = _run(tmp_path, "echo alpha beta\n", toml)
    assert (result.outcome, result.reason) == (
        "failed", "expect_stdout: 'gamma' not found in stdout")
    assert "stdout (head):\nalpha beta" in result.detail


def test_expect_stdout_regex(tmp_path: Path) -> None:
    toml = 'expect_stdout_regex = "^count: [0-9]+$"'
    assert _run(tmp_path, "echo x; echo 'count: 12'\n", toml).outcome == "passed"
    result = _run(tmp_path, "echo 'count: many'\n", toml)
    assert result.reason == "expect_stdout_regex: /^count: [0-9]+$/ did not match stdout"


def test_expect_json(tmp_path: Path) -> None:
    toml = 'expect_json = {status = "ok", items = "array (non-empty)"}'
    ok = _run(tmp_path, """echo '{"status": "ok", "items": [1], "extra": true}'\n""", toml)
    assert ok.outcome == "passed", ok.reason
    bad = _run(tmp_path, """echo '{"status": "down", "items": [1]}'\n""", toml)
    assert bad.outcome == "failed"
    assert bad.reason.startswith("expect_json: ") and "$.status" in bad.reason
    not_json = _run(tmp_path, "echo hello\n", toml)
    assert not_json.reason == (
        "expect_json: stdout is not JSON (Expecting value: line 1 column 1 (char 0))")


def test_expect_file(tmp_path: Path) -> None:
    toml = ('expect_file = [{path = "out.txt", contains = "needle", regex = "^v[0-9]$"},'
            ' {path = "o.json", json = {n = "number >= 2"}}]')
    good = "printf 'hay needle\\nv1\\n' > out.txt; echo '{\"n\": 3}' > o.json\n"
    assert _run(tmp_path, good, toml).outcome == "passed"
    (tmp_path / "out.txt").unlink()
    (tmp_path / "o.json").unlink()
    assert _run(tmp_path, "true\n", toml).reason == "expect_file: out.txt does not exist"
    assert _run(tmp_path, "echo hay > out.txt\n", toml).reason == (
        "expect_file: out.txt does not contain 'needle'")
    assert _run(tmp_path, "echo needle > out.txt\n", toml).reason == (
        "expect_file: out.txt does not match /^v[0-9]$/")
    base = "printf 'needle\\nv2\\n' > out.txt; "
    assert _run(tmp_path, base + "echo nope > o.json\n", toml).reason.startswith(
        "expect_file: o.json is not JSON (")
    bad = _run(tmp_path, base + "echo '{\"n\": 1}' > o.json\n", toml)
    assert bad.reason.startswith("expect_file: o.json: ") and "$.n" in bad.reason


def test_unreachable_endpoint_is_not_run(tmp_path: Path) -> None:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    result = _run(tmp_path, "touch ran\n", f'endpoints = ["http://svc.example/{port}"]',
                  urlmap=UrlMap.from_pairs({"svc.example": f"http://127.0.0.1:{port}"}))
    assert result.outcome == "unreachable"
    assert result.reason == (
        f"endpoint unreachable: http://127.0.0.1:{port}/{port} (connection refused)")
    assert not (tmp_path / "ran").exists()


def test_reachable_endpoint_runs(tmp_path: Path) -> None:
    with socket.socket() as server:
        server.bind(("127.0.0.1", 0))
        server.listen()
        port = server.getsockname()[1]
        result = _run(tmp_path, "echo up\n", f'endpoints = ["http://127.0.0.1:{port}/"]\n'
                                             'expect_stdout = "up"')
    assert result.outcome == "passed", result.reason


def test_redact_mode_hides_scenario_text(tmp_path: Path) -> None:
    secret = "TOPSECRET-OUTPUT"
    failed = _run(tmp_path, f"echo {secret}; echo {secret} >&2; exit 3\n", redact=True)
    assert (failed.reason, failed.detail) == ("exit 3", "")
    mismatch = _run(tmp_path, f"echo {secret}\n", 'expect_stdout = "needle-xyz"', redact=True)
    assert (mismatch.outcome, mismatch.reason, mismatch.detail) == (
        "failed", "expected output not found", "")
    skipped = _run(tmp_path, f"echo {secret} >&2; exit 77\n", redact=True)
    assert (skipped.outcome, skipped.reason, skipped.detail) == ("skipped", "skipped (exit 77)", "")
    slow = _run(tmp_path, f"echo {secret}; sleep 5\n", "timeout_seconds = 0.3", redact=True)
    assert (slow.reason, slow.detail) == ("timed out after 0.3 s", "")
    gone = run_scenario(Scenario("x", f"{secret}.sh"), manifest_dir=tmp_path, redact=True)
    assert gone.reason == "script not found"
    down = _run(tmp_path, "true\n", 'endpoints = ["http://127.0.0.1:9/"]', redact=True)
    assert (down.outcome, down.reason) == ("unreachable", "endpoint unreachable")


def test_output_is_capped(tmp_path: Path) -> None:
    result = _run(tmp_path, "head -c 3000000 /dev/zero | tr '\\0' x; echo; exit 1\n")
    assert result.outcome == "failed"


def test_no_descriptor_leak(tmp_path: Path) -> None:
    before = len(os.listdir("/proc/self/fd"))
    for _ in range(20):
        _run(tmp_path, "echo x\n")
    assert len(os.listdir("/proc/self/fd")) == before


@pytest.mark.parametrize("code", [1, 2, 126])
def test_other_codes_fail(tmp_path: Path, code: int) -> None:
    assert _run(tmp_path, f"exit {code}\n").reason == f"exit {code}"
