"""Signals and crashed workers: real processes, real signals, bounded waits.

SIGINT (once or twice), SIGTERM and SIGHUP end with a valid results file saying
``interrupted: true``, verdict INTERRUPTED, exit 2 within 5 s, and no process of the run left
(the sandbox, the sshd of a spawned server). A SIGKILLed xdist worker is exit 2 in bounded
time, naming the item it was running, with primgate's scheduler and with ``--dist worksteal``.
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path
from typing import IO, Any

import pytest

from pytest_primgate.report.results import validate_results
from tests.plans import plan, t, write

EXIT_WITHIN = 5.0
QUIET = ("-p", "no:cacheprovider", "-p", "no:hypothesispytest")
"""hypothesis's plugin (installed in some dev environments, not a dependency) imports all of
hypothesis in its terminal summary: seconds on a loaded machine, none of them primgate's."""


def descendants(root: int) -> dict[int, str]:
    """Live descendants of ``root``: pid -> command line (from /proc)."""
    parents: dict[int, int] = {}
    cmdlines: dict[int, str] = {}
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            stat = (entry / "stat").read_text()
            cmd = (entry / "cmdline").read_bytes().replace(b"\0", b" ").decode(errors="replace")
        except OSError:
            continue
        parents[int(entry.name)] = int(stat.rsplit(")", 1)[1].split()[1])
        cmdlines[int(entry.name)] = cmd
    found: dict[int, str] = {}
    frontier = [root]
    while frontier:
        pid = frontier.pop()
        for child, parent in parents.items():
            if parent == pid and child not in found:
                found[child] = cmdlines[child]
                frontier.append(child)
    return found


def alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    try:  # a zombie has exited; only its entry is left
        return Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0] != "Z"
    except OSError:
        return False


def wait_for(stream: IO[str], marker: str, seen: list[str], timeout: float) -> None:
    """Read lines until one contains ``marker`` (bounded in time)."""
    deadline = time.monotonic() + timeout
    for line in stream:
        seen.append(line)
        if marker in line:
            return
        if time.monotonic() > deadline:
            break
    raise AssertionError(f"{marker!r} not seen in {timeout} s:\n{''.join(seen)}")


def signal_and_wait(proc: subprocess.Popen[str], sigs: list[int]) -> tuple[str, float]:
    """Send ``sigs`` 50 ms apart; the rest of the output and the seconds until exit."""
    started = time.monotonic()
    for sig in sigs:
        proc.send_signal(sig)
        time.sleep(0.05)
    rest, _ = proc.communicate(timeout=30)
    return rest, time.monotonic() - started


def the_results(directory: Path) -> dict[str, Any]:
    files = sorted(directory.glob("*.json"))
    assert len(files) == 1, files
    data: dict[str, Any] = json.loads(files[0].read_text())
    assert validate_results(data) == []
    return data


SLOW_VPS_TEST = """
import time

def test_on_a_server(spawned_vps):
    print("VPS READY", flush=True)
    time.sleep(60)
"""


@pytest.mark.parametrize("signals", [
    ("SIGTERM",), ("SIGHUP",), ("SIGINT",), ("SIGINT", "SIGINT"),
], ids=["sigterm", "sighup", "sigint", "sigint-twice"])
def test_signal_ends_the_run_interrupted_with_results_and_no_process_left(
    pytester: pytest.Pytester, tmp_path: Path, signals: tuple[str, ...]
) -> None:
    write(pytester.path, plan({"store": [
        t(f"ST-{i}", f"https://store.prim.sh/?i={i}") for i in range(3)
    ]}))
    pytester.makepyfile(test_vps=SLOW_VPS_TEST)
    out = pytester.path / "out"
    env = {**os.environ, "PRIMGATE_STATE_DIR": str(tmp_path / "state")}
    proc = subprocess.Popen(
        [sys.executable, "-m", "pytest", "--primgate", "--primgate-sandbox", "--ci", "-s",
         *QUIET, "-p", "no:xdist", "--primgate-results-dir", str(out)],
        cwd=pytester.path, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True, env=env,
    )
    seen: list[str] = []
    try:
        assert proc.stdout is not None
        wait_for(proc.stdout, "VPS READY", seen, timeout=90)
        children = descendants(proc.pid)
        assert any("pytest_primgate.sandbox" in cmd for cmd in children.values()), children
        assert any("sshd" in cmd for cmd in children.values()), children
        rest, elapsed = signal_and_wait(proc, [getattr(signal, name) for name in signals])
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()
    text = "".join(seen) + rest
    assert proc.returncode == 2, text
    assert elapsed < EXIT_WITHIN, (elapsed, text)
    assert "Traceback" not in text
    left = {pid: cmd for pid, cmd in children.items() if alive(pid)}
    assert left == {}, left
    last = text.strip().splitlines()[-1]
    assert last.startswith("primgate: INTERRUPTED — 3 of 3 selected item(s) finished"), text
    data = the_results(out)
    assert data["interrupted"] is True
    assert (data["verdict"], data["exit_code"], data["verdict_line"]) == ("INTERRUPTED", 2, last)


def test_sigterm_under_xdist_is_interrupted_exit_2(pytester: pytest.Pytester) -> None:
    write(pytester.path, plan({"slow": [
        t(f"S-{i}", f"https://store.prim.sh/?i={i}") for i in range(30)
    ]}))
    out = pytester.path / "out"
    proc = subprocess.Popen(
        [sys.executable, "-m", "pytest", "--primgate", "--primgate-sandbox", "--ci", "-v",
         "-n", "2", *QUIET, "--primgate-results-dir", str(out),
         "--primgate-sandbox-fault", "path=/store/*,latency_ms=300"],
        cwd=pytester.path, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True,
    )
    seen: list[str] = []
    try:
        assert proc.stdout is not None
        wait_for(proc.stdout, "PASSED", seen, timeout=90)
        children = descendants(proc.pid)
        rest, elapsed = signal_and_wait(proc, [signal.SIGTERM])
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()
    text = "".join(seen) + rest
    assert proc.returncode == 2, text
    assert elapsed < EXIT_WITHIN, (elapsed, text)
    assert {pid for pid in children if alive(pid)} == set()
    data = the_results(out)
    assert data["interrupted"] is True and data["verdict"] == "INTERRUPTED"
    assert data["exit_code"] == 2 and data["not_run"], data["not_run"]
    assert text.strip().splitlines()[-1] == data["verdict_line"]
    assert "NOT RUN (" in text


CRASH = "kill -9 $PPID\nsleep 3\n"


@pytest.mark.parametrize("dist", [(), ("--dist", "worksteal"), ("--max-worker-restart", "0")],
                         ids=["primgate-scheduler", "worksteal", "no-restart"])
def test_a_sigkilled_worker_is_exit_2_naming_the_lost_item(
    pytester: pytest.Pytester, dist: tuple[str, ...]
) -> None:
    smoke = pytester.path / "smoke"
    smoke.mkdir()
    (smoke / "ok.sh").write_text("sleep 0.2\nexit 0\n")
    (smoke / "crash.sh").write_text(CRASH)
    names = ["s1", "s2", "crasher", "s3", "s4", "s5"]
    (smoke / "manifest.toml").write_text("".join(
        f'[[scenario]]\nname = "{n}"\nscript = "{"crash" if n == "crasher" else "ok"}.sh"\n'
        'owners = ["t"]\n\n' for n in names
    ))
    started = time.monotonic()
    result = pytester.runpytest_subprocess(
        "--primgate", "--ci", "-n", "2", "-p", "no:cacheprovider", "--primgate-runs", "1",
        "--primgate-quorum", "1", "--primgate-results-dir", "out", *dist, timeout=90,
    )
    assert time.monotonic() - started < 90
    assert result.ret == 2, result.stdout.str()
    last = result.outlines[-1]
    assert last.startswith(
        "primgate: INFRA ERROR — worker crashed running smoke/manifest.toml::crasher"), last
    data = the_results(pytester.path / "out")
    assert (data["verdict"], data["exit_code"], data["verdict_line"]) == ("INFRA ERROR", 2, last)
    by_name = {x["test_id"]: x for x in data["tests"]}
    assert sorted(by_name) == sorted(names)
    assert by_name["crasher"]["outcome"] == "failed"
    assert by_name["crasher"]["reason"].startswith("worker crashed running this item")
    assert by_name["crasher"]["worker"].startswith("gw")
    if dist == ("--max-worker-restart", "0"):
        assert data["not_run"] == [
            f"smoke/manifest.toml::{n}" for n in names if by_name[n]["outcome"] == "not_run"]
    else:
        assert data["not_run"] == []
