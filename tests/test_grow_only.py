"""Grow-only check on a real temporary git repository."""

from __future__ import annotations

import subprocess
from pathlib import Path

import pytest

from pytest_primgate.cli import main
from pytest_primgate.grow_only import GrowOnlyError, discover, missing_scenarios


def _git(repo: Path, *args: str) -> None:
    subprocess.run(["git", "-C", str(repo), *args], check=True, capture_output=True)


def _manifest(*names: str) -> str:
    return "".join(f'[[scenario]]\nname = "{n}"\nscript = "{n}.sh"\n\n' for n in names)


@pytest.fixture
def repo(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    _git(tmp_path, "init", "-q", "-b", "main")
    _git(tmp_path, "config", "user.email", "t@example.invalid")
    _git(tmp_path, "config", "user.name", "t")
    (tmp_path / "tests" / "smoke").mkdir(parents=True)
    (tmp_path / "tests" / "smoke" / "manifest.toml").write_text(_manifest("a", "b", "c"))
    (tmp_path / "extra.smoke.toml").write_text(_manifest("x"))
    (tmp_path / "other.toml").write_text(_manifest("ignored"))
    _git(tmp_path, "add", ".")
    _git(tmp_path, "commit", "-q", "-m", "base")
    monkeypatch.chdir(tmp_path)
    return tmp_path


def test_additions_are_fine(repo: Path, capsys: pytest.CaptureFixture[str]) -> None:
    (repo / "tests/smoke/manifest.toml").write_text(_manifest("a", "b", "c", "d"))
    assert missing_scenarios(repo, [repo / "tests/smoke/manifest.toml"], "HEAD") == []
    assert main(["check-grow-only", "--base", "HEAD"]) == 0
    assert capsys.readouterr().out == (
        "Grow-only check passed: 5 scenario(s) in 2 manifest(s), none removed since HEAD\n")


def test_removal_and_rename_are_detected(
    repo: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    (repo / "tests/smoke/manifest.toml").write_text(_manifest("a", "c-renamed"))
    assert missing_scenarios(repo, [Path("tests/smoke/manifest.toml")], "main") == [
        ("tests/smoke/manifest.toml", "b"), ("tests/smoke/manifest.toml", "c")]
    assert main(["check-grow-only", "--base", "main"]) == 1
    assert capsys.readouterr().out.splitlines() == [
        "removed since main: tests/smoke/manifest.toml::b",
        "removed since main: tests/smoke/manifest.toml::c",
        "Grow-only check failed: 2 scenario(s) removed since main "
        "(smoke manifests are grow-only; restore them or keep the old name)",
    ]


def test_deleted_manifest_file_is_detected(repo: Path, capsys: pytest.CaptureFixture[str]) -> None:
    (repo / "extra.smoke.toml").unlink()
    assert discover(repo, "HEAD") == ["extra.smoke.toml", "tests/smoke/manifest.toml"]
    assert main(["check-grow-only", "--base", "HEAD"]) == 1
    assert "removed since HEAD: extra.smoke.toml::x" in capsys.readouterr().out


def test_new_manifest_contributes_nothing(repo: Path) -> None:
    (repo / "new.smoke.toml").write_text(_manifest("n"))
    assert missing_scenarios(repo, [repo / "new.smoke.toml"], "HEAD") == []


def test_explicit_paths_limit_the_check(repo: Path, capsys: pytest.CaptureFixture[str]) -> None:
    (repo / "extra.smoke.toml").write_text(_manifest())
    assert main(["check-grow-only", "--base", "HEAD", "tests/smoke/manifest.toml"]) == 0
    assert "3 scenario(s) in 1 manifest(s)" in capsys.readouterr().out


def test_bad_ref_exits_2_with_gits_message(
    repo: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    with pytest.raises(GrowOnlyError, match="no-such-ref"):
        missing_scenarios(repo, [], "no-such-ref")
    assert main(["check-grow-only", "--base", "no-such-ref"]) == 2
    err = capsys.readouterr().err
    assert err == "primgate check-grow-only: fatal: bad revision 'no-such-ref'\n"


def test_grow_only_base_in_a_pytest_run(pytester: pytest.Pytester) -> None:
    """``--primgate-grow-only-base``: a scenario removed since REF fails the run, named."""
    smoke = pytester.path / "tests" / "smoke"
    smoke.mkdir(parents=True)
    (smoke / "ok.sh").write_text("exit 0\n")
    kept = '[[scenario]]\nname = "kept"\nscript = "ok.sh"\n'
    (smoke / "manifest.toml").write_text(kept + '\n[[scenario]]\nname = "gone"\nscript = "ok.sh"\n')
    _git(pytester.path, "init", "-q")
    _git(pytester.path, "config", "user.email", "t@example.invalid")
    _git(pytester.path, "config", "user.name", "t")
    _git(pytester.path, "add", "-A")
    _git(pytester.path, "commit", "-qm", "base")
    (smoke / "manifest.toml").write_text(kept)
    result = pytester.runpytest_subprocess(
        "--primgate", "--ci", "-p", "no:cacheprovider", "--primgate-grow-only-base", "HEAD",
        "--primgate-results-dir", "out",
    )
    assert result.ret == 1, result.stdout.str()
    result.stdout.fnmatch_lines(["grow-only: removed since HEAD: tests/smoke/manifest.toml::gone"])
    result = pytester.runpytest_subprocess(
        "--primgate", "--ci", "-p", "no:cacheprovider", "--primgate-results-dir", "out2",
    )
    assert result.ret == 0
