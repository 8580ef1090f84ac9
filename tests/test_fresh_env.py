"""Runs as a new user starts them: pytest by absolute path from a virtualenv that is not active."""

from __future__ import annotations

import os
import shutil
import sys
import sysconfig
from pathlib import Path

import pytest

from pytest_primgate.interpreter import run_env, scripts_dir

REPO = Path(__file__).resolve().parents[1]
PLAIN_PATH = "/usr/local/bin:/usr/bin:/bin"


def _unactivated(monkeypatch: pytest.MonkeyPatch) -> Path:
    """PATH without this interpreter's scripts folder; the absolute path of its pytest."""
    monkeypatch.setenv("PATH", PLAIN_PATH)
    monkeypatch.delenv("VIRTUAL_ENV", raising=False)
    monkeypatch.delenv("PRIMGATE_PYTHON", raising=False)
    pytest_bin = Path(sysconfig.get_path("scripts")) / "pytest"
    if not pytest_bin.exists():  # pragma: no cover - pip always installs the script
        pytest.fail(f"no pytest script at {pytest_bin}")
    return pytest_bin


def test_run_env_points_at_this_interpreter() -> None:
    env = run_env({"PATH": f"/usr/bin:{scripts_dir()}:/bin"})
    assert env["PRIMGATE_PYTHON"] == sys.executable
    assert env["PATH"].split(os.pathsep) == [scripts_dir(), "/usr/bin", "/bin"]
    assert (Path(scripts_dir()) / "primgate").exists()


@pytest.mark.slow
def test_example_gate_passes_from_an_unactivated_venv(
    pytester: pytest.Pytester, monkeypatch: pytest.MonkeyPatch
) -> None:
    """README command 1 by absolute path: the scenario scripts still find our python/primgate."""
    shutil.copytree(REPO / "manifests", pytester.path / "manifests")
    pytest_bin = _unactivated(monkeypatch)
    assert shutil.which("primgate", path=PLAIN_PATH) is None
    result = pytester.run(
        str(pytest_bin), "--primgate", "--primgate-sandbox", "--ci", "-p", "no:cacheprovider",
        "-v", "manifests/", timeout=240,
    )
    out = result.stdout.str()
    assert "No module named" not in out, out
    assert result.ret == 0, out
    result.stdout.fnmatch_lines(["*manifest.toml::infer_chat_paid_completion PASSED*",
                                 "*manifest.toml::smoke_manifest_lints_clean PASSED*"])
    assert result.parseoutcomes().get("failed", 0) == 0
