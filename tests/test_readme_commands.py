"""Every `pytest` / `primgate` command of the README and the quickstart works as written.

Each runs in a copy of the project's example setup (manifests/, pyproject.toml, conftest.py) with
this interpreter's `pytest` and `primgate`, and must exit 0. Commands that would reach the live
`*.prim.sh` services (a `--primgate` run without `--primgate-sandbox`) are not run, only listed.
"""

from __future__ import annotations

import re
import shlex
import shutil
import subprocess
import sysconfig
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[1]
DOCS = (REPO / "README.md", REPO / "docs" / "quickstart.md")
SCRIPTS = Path(sysconfig.get_path("scripts"))


def commands(path: Path) -> list[str]:
    """``pytest …`` and ``primgate …`` lines of the file's bash blocks, comments stripped."""
    found = []
    for block in re.findall(r"```bash\n(.*?)```", path.read_text(encoding="utf-8"), re.S):
        for line in block.splitlines():
            for part in line.split("&&"):
                words = shlex.split(part, comments=True)
                if words and words[0] in ("pytest", "primgate"):
                    found.append(shlex.join(words))
    return found


def live(command: str) -> bool:
    """A gate run that would send requests to the live services."""
    words = shlex.split(command)
    return (words[0] == "pytest" and "--primgate-sandbox" not in words
            and "--primgate-dry-run" not in words) or (words[:2] == ["primgate", "done"]
                                                       and "--sandbox" not in words)


ALL = [(path.relative_to(REPO).as_posix(), c) for path in DOCS for c in commands(path)]
RUN = list({c: (p, c) for p, c in reversed(ALL) if not live(c)}.values())[::-1]
"""Commands to run, each once (README first)."""


def test_the_docs_have_the_commands() -> None:
    readme = [c for p, c in ALL if p == "README.md"]
    assert "pytest --primgate --primgate-sandbox --ci manifests/" in readme
    assert "primgate done smoke-gate-examples --sandbox" in readme
    assert len(readme) >= 8
    assert [c for p, c in ALL if live(c)] == [
        "pytest --primgate --ci --group store --junit-xml=gate.xml"  # quickstart, live on purpose
    ]


@pytest.fixture(scope="module")
def example(tmp_path_factory: pytest.TempPathFactory) -> Path:
    root = tmp_path_factory.mktemp("readme")
    shutil.copytree(REPO / "manifests", root / "manifests")
    for name in ("pyproject.toml", "conftest.py", "tests/__init__.py", "tests/plans.py"):
        (root / name).parent.mkdir(parents=True, exist_ok=True)
        shutil.copy(REPO / name, root / name)
    return root


@pytest.mark.slow
@pytest.mark.parametrize(("doc", "command"), RUN)
def test_command_exits_0(example: Path, doc: str, command: str) -> None:
    words = shlex.split(command)
    argv = [str(SCRIPTS / words[0]), *words[1:]]
    proc = subprocess.run(argv, cwd=example, capture_output=True, text=True, timeout=280,
                          check=False, stdin=subprocess.DEVNULL)
    out = proc.stdout[-3000:] + proc.stderr[-2000:]
    assert proc.returncode == 0, f"{doc}: {command}\n{out}"
    assert "Traceback" not in out


def test_done_finds_the_example_manifest(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    from pytest_primgate.commands.done import find_manifest

    for name in ("PRIMGATE_SMOKE_MANIFEST", "WG_SMOKE_MANIFEST"):
        monkeypatch.delenv(name, raising=False)
    manifest = tmp_path / "manifests" / "smoke" / "manifest.toml"
    manifest.parent.mkdir(parents=True)
    manifest.write_text("")
    assert find_manifest(None, tmp_path) == manifest
    preferred = tmp_path / "tests" / "smoke" / "manifest.toml"
    preferred.parent.mkdir(parents=True)
    preferred.write_text("")
    assert find_manifest(None, tmp_path) == preferred
