"""`primgate changed` on a temporary git repository."""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest
import yaml

from pytest_primgate.cli import main
from pytest_primgate.commands.changed import (
    categorize,
    find_changed,
    github_output,
    is_prim_file,
)
from tests.plans import plan, t


def git(repo: Path, *args: str) -> str:
    return subprocess.run(["git", "-C", str(repo), *args], check=True, capture_output=True,
                          text=True, timeout=30).stdout


def prim_yaml(prim_id: str, status: str, **extra: str) -> str:
    lines = [f"id: {prim_id}", f"name: {prim_id}.sh", f"endpoint: {prim_id}.prim.sh",
             f"status: {status}", *(f"{k}: {v}" for k, v in extra.items())]
    return "\n".join(lines) + "\n"


def write(repo: Path, rel: str, text: str) -> None:
    path = repo / rel
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(text, encoding="utf-8")


@pytest.fixture
def repo(tmp_path: Path) -> Path:
    """main: store testing, infer live, search live; the branch promotes store and edits infer."""
    root = tmp_path / "prims-repo"
    root.mkdir()
    git(root, "init", "-q", "-b", "main")
    git(root, "config", "user.email", "t@example.invalid")
    git(root, "config", "user.name", "t")
    write(root, "packages/store/prim.yaml", prim_yaml("store", "testing"))
    write(root, "packages/infer/prim.yaml", prim_yaml("infer", "live"))
    write(root, "packages/search/prim.yaml", prim_yaml("search", "live"))
    write(root, "primitives.yaml", "primitives:\n  - {id: ring, status: idea}\n"
                                   "  - {id: store, name: store.sh}\n")
    body = plan({
        "discovery": [t("H-1", "https://store.prim.sh/", service="store.sh"),
                      t("H-2", "https://search.prim.sh/", service="search.sh")],
        "store": [t("ST-1", "https://store.prim.sh/v1/buckets", service="store.sh")],
        "infer": [t("INF-T1", "https://infer.prim.sh/v1/chat", service="", notes="x")],
        "search": [t("SE-1", "https://search.prim.sh/v1/search", service="search.sh")],
    })
    write(root, "tests/smoke-test-plan.json", json.dumps(body, indent=2))
    git(root, "add", "-A")
    git(root, "commit", "-q", "-m", "base")
    git(root, "checkout", "-q", "-b", "promote")
    write(root, "packages/store/prim.yaml", prim_yaml("store", "live"))
    write(root, "packages/infer/prim.yaml", prim_yaml("infer", "live", note="new models"))
    git(root, "commit", "-q", "-am", "store goes live; infer gets a note")
    return root


def test_new_and_live_prims_and_their_groups(repo: Path) -> None:
    found = {p.id: p for p in find_changed(repo, "main")}
    assert set(found) == {"store", "infer"}
    assert (found["store"].category, found["store"].base_status, found["store"].status) == (
        "new", "testing", "live")
    assert found["store"].groups == ("discovery", "store")
    assert (found["infer"].category, found["infer"].groups) == ("live", ("infer",))


def test_text_output(repo: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["changed", "--base", "main", "--repo", str(repo)]) == 0
    assert capsys.readouterr().out.splitlines() == [
        "infer  live   live -> live  groups: infer  via: prim.yaml,code",
        "store  new    testing -> live  groups: discovery,store  via: prim.yaml,code",
        "groups: infer,discovery,store",
    ]


def test_json_and_github_output(repo: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str],
                                monkeypatch: pytest.MonkeyPatch) -> None:
    out_file = tmp_path / "github_output"
    monkeypatch.setenv("GITHUB_OUTPUT", str(out_file))
    assert main(["changed", "--base", "main", "--repo", str(repo), "--json",
                 "--github-output"]) == 0
    doc = json.loads(capsys.readouterr().out)
    assert doc["groups"] == ["infer", "discovery", "store"]
    assert (doc["hard_groups"], doc["soft_groups"]) == (["infer"], ["discovery", "store"])
    assert doc["prims"][1] == {"id": "store", "category": "new", "base_status": "testing",
                               "status": "live", "groups": ["discovery", "store"],
                               "reasons": ["prim.yaml", "code"]}
    assert out_file.read_text(encoding="utf-8") == (
        "groups=infer,discovery,store\nhard_groups=infer\nsoft_groups=discovery,store\n"
        "any=true\n")


def test_uncommitted_and_untracked_files_count(repo: Path) -> None:
    write(repo, "primitives.yaml", "primitives:\n  - {id: ring, status: testing}\n"
                                   "  - {id: store, name: store.sh}\n")
    write(repo, "packages/email/prim.yaml", prim_yaml("email", "mainnet"))
    found = {p.id: p for p in find_changed(repo / "packages", "main")}
    assert (found["ring"].category, found["ring"].groups) == ("other", ())
    assert (found["email"].category, found["email"].base_status) == ("new", None)
    assert set(found) == {"ring", "store", "infer", "email"}


def test_nothing_changed(repo: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["changed", "--base", "HEAD", "--repo", str(repo)]) == 0
    assert capsys.readouterr().out.splitlines() == ["no prim changes since HEAD", "groups: "]


def test_unknown_base_is_a_clear_error(repo: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["changed", "--base", "origin/nope", "--repo", str(repo)]) == 2
    assert capsys.readouterr().out == (
        "primgate changed: cannot resolve base 'origin/nope' (fetch it first?)\n")


def test_invalid_prim_file_is_named(repo: Path, capsys: pytest.CaptureFixture[str]) -> None:
    write(repo, "packages/store/prim.yaml", prim_yaml("store", "shipped"))
    assert main(["changed", "--base", "main", "--repo", str(repo)]) == 2
    out = capsys.readouterr().out
    assert out.startswith("primgate changed: packages/store/prim.yaml:4: status: ")


@pytest.mark.parametrize(("base", "now", "category"), [
    ("testing", "live", "new"), ("building", "mainnet", "new"), (None, "live", "new"),
    ("live", "live", "live"), ("testnet", "mainnet", "live"), ("live", "hold", "other"),
    ("idea", "testing", "other"), ("live", None, "other"), (None, "building", "other"),
])
def test_categorize(base: str | None, now: str | None, category: str) -> None:
    assert categorize(base, now) == category


def test_prim_file_names() -> None:
    assert is_prim_file("packages/store/prim.yaml") and is_prim_file("prim.yaml")
    assert is_prim_file("prims/store.yaml") and is_prim_file("manifests/prims/infer.yaml")
    assert is_prim_file("primitives.yaml") and not is_prim_file("packages/store/README.md")


@pytest.fixture
def code_repo(tmp_path: Path) -> Path:
    """main: store and search live with source folders, a plan, docs; the branch is empty."""
    root = tmp_path / "code-repo"
    root.mkdir()
    git(root, "init", "-q", "-b", "main")
    git(root, "config", "user.email", "t@example.invalid")
    git(root, "config", "user.name", "t")
    for prim in ("store", "search"):
        write(root, f"packages/{prim}/prim.yaml", prim_yaml(prim, "live"))
        write(root, f"packages/{prim}/src/service.ts", "export {};\n")
    write(root, "docs/guide.md", "# guide\n")
    body = plan({
        "discovery": [t("H-2", "https://store.prim.sh/", service="store.sh")],
        "store": [t("ST-1", "https://store.prim.sh/v1/buckets", service="store.sh")],
        "search": [t("SE-1", "https://search.prim.sh/v1/search", service="search.sh")],
        "email": [t("E-1", "https://email.prim.sh/v1/mailboxes", service="email.sh")],
    })
    write(root, "tests/smoke-test-plan.json", json.dumps(body, indent=2))
    git(root, "add", "-A")
    git(root, "commit", "-q", "-m", "base")
    git(root, "checkout", "-q", "-b", "work")
    return root


def changed_json(repo: Path, capsys: pytest.CaptureFixture[str], *args: str) -> Any:
    assert main(["changed", "--repo", str(repo), "--json", *args]) == 0
    return json.loads(capsys.readouterr().out)


def test_source_change_selects_the_live_prims_groups(
    code_repo: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    write(code_repo, "packages/store/src/service.ts", "export const broken = true;\n")
    git(code_repo, "commit", "-q", "-am", "store: refactor")
    doc = changed_json(code_repo, capsys, "--base", "main")
    assert doc["prims"] == [{"id": "store", "category": "live", "base_status": "live",
                             "status": "live", "groups": ["discovery", "store"],
                             "reasons": ["code"]}]
    assert (doc["hard_groups"], doc["soft_groups"]) == (["discovery", "store"], [])


def test_new_prim_selects_its_groups_as_new(code_repo: Path,
                                            capsys: pytest.CaptureFixture[str]) -> None:
    write(code_repo, "packages/email/prim.yaml", prim_yaml("email", "testnet"))
    write(code_repo, "packages/email/src/service.ts", "export {};\n")
    git(code_repo, "add", "-A")
    git(code_repo, "commit", "-q", "-m", "email prim")
    doc = changed_json(code_repo, capsys, "--base", "main")
    assert [(p["id"], p["category"], p["groups"], p["reasons"]) for p in doc["prims"]] == [
        ("email", "new", ["email"], ["prim.yaml", "code"])]
    assert (doc["hard_groups"], doc["soft_groups"]) == ([], ["email"])


def test_docs_only_change_selects_nothing(code_repo: Path, capsys: pytest.CaptureFixture[str],
                                          tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    write(code_repo, "docs/guide.md", "# guide\n\nmore words\n")
    write(code_repo, "README.md", "readme\n")
    git(code_repo, "add", "-A")
    git(code_repo, "commit", "-q", "-m", "docs")
    out_file = tmp_path / "github_output"
    monkeypatch.setenv("GITHUB_OUTPUT", str(out_file))
    assert main(["changed", "--repo", str(code_repo), "--base", "main", "--github-output"]) == 0
    assert capsys.readouterr().out.splitlines() == ["no prim changes since main", "groups: "]
    assert out_file.read_text(encoding="utf-8") == (
        "groups=\nhard_groups=\nsoft_groups=\nany=false\n")


def test_plan_test_change_selects_the_prim_it_exercises(
    code_repo: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    path = code_repo / "tests" / "smoke-test-plan.json"
    data = json.loads(path.read_text(encoding="utf-8"))
    data["tests"][2]["expected"]["status"] = 201
    path.write_text(json.dumps(data, indent=2), encoding="utf-8")
    doc = changed_json(code_repo, capsys, "--base", "main")
    assert [(p["id"], p["category"], p["reasons"]) for p in doc["prims"]] == [
        ("search", "live", ["plan"])]


def test_ini_prim_paths_map_other_folders(code_repo: Path,
                                          capsys: pytest.CaptureFixture[str]) -> None:
    write(code_repo, "pyproject.toml", "[tool.pytest.ini_options]\nprimgate_prim_paths = [\n"
          '  "search=services/search-api/**",\n  "packages/{id}/**",\n]\n')
    git(code_repo, "add", "-A")
    git(code_repo, "commit", "-q", "-m", "ini")
    write(code_repo, "services/search-api/main.go", "package main\n")
    doc = changed_json(code_repo, capsys, "--base", "HEAD")
    assert [(p["id"], p["reasons"]) for p in doc["prims"]] == [("search", ["code"])]
    doc = changed_json(code_repo, capsys, "--base", "HEAD", "--prim-paths", "lib/{id}/**")
    assert doc["prims"] == []
    assert main(["changed", "--repo", str(code_repo), "--base", "HEAD",
                 "--prim-paths", "services/**"]) == 2
    assert capsys.readouterr().out == (
        "primgate changed: primgate_prim_paths entry 'services/**' needs an {id} segment "
        "or PRIM=GLOB\n")


def test_all_lists_every_live_prim(code_repo: Path, capsys: pytest.CaptureFixture[str]) -> None:
    write(code_repo, "packages/email/prim.yaml", prim_yaml("email", "testing"))
    doc = changed_json(code_repo, capsys, "--all")
    assert [(p["id"], p["category"], p["groups"]) for p in doc["prims"]] == [
        ("search", "live", ["search"]), ("store", "live", ["discovery", "store"])]
    assert doc["hard_groups"] == ["search", "discovery", "store"]


ROOT = Path(__file__).resolve().parents[1]
WORKFLOWS = ROOT / ".github" / "workflows"


def test_workflows_validate_against_the_vendored_schema() -> None:
    """check-jsonschema ships GitHub's workflow schema: no network needed."""
    pytest.importorskip("check_jsonschema")
    out = subprocess.run(
        [sys.executable, "-m", "check_jsonschema", "--builtin-schema", "vendor.github-workflows",
         str(WORKFLOWS / "ci.yml"), str(WORKFLOWS / "gate.yml")],
        capture_output=True, text=True, timeout=60, check=False,
    )
    assert out.returncode == 0, out.stdout + out.stderr
    assert "ok -- validation done" in out.stdout


def test_gate_workflow_uses_existing_options_and_outputs() -> None:
    text = (WORKFLOWS / "gate.yml").read_text(encoding="utf-8")
    registered = (ROOT / "src" / "pytest_primgate" / "options.py").read_text(encoding="utf-8")
    used = set(re.findall(r"(--primgate[a-z-]*)", text))
    assert used >= {"--primgate", "--primgate-ci", "--primgate-group", "--primgate-markdown"}
    assert all(f'"{option}"' in registered for option in used), used
    assert "primgate changed --base" in text and "--github-output" in text
    outputs = set(re.findall(r"steps\.changed\.outputs\.([a-z_]+)", text))
    keys = {line.split("=")[0] for line in github_output([]).splitlines()}
    assert outputs == {"any", "hard_groups", "soft_groups"} and outputs <= keys
    workflow = yaml.safe_load(text)
    assert workflow["permissions"] == {"contents": "read", "pull-requests": "write"}
    ci = yaml.safe_load((WORKFLOWS / "ci.yml").read_text(encoding="utf-8"))
    assert ci["jobs"]["test"]["steps"][-1]["run"] == "bash .ci/run"


def test_gate_workflow_triggers_coverage_step_and_one_updated_comment() -> None:
    workflow = yaml.safe_load((WORKFLOWS / "gate.yml").read_text(encoding="utf-8"))
    triggers = workflow[True]  # YAML 1.1 reads the key `on` as true
    assert set(triggers) == {"pull_request", "push", "schedule", "workflow_dispatch"}
    assert "packages/**" in triggers["pull_request"]["paths"]
    assert triggers["push"]["branches"] == ["main"]
    assert triggers["push"]["paths"] == triggers["pull_request"]["paths"]
    assert len(triggers["schedule"][0]["cron"].split()) == 5
    steps = {s.get("id") or s.get("name") or s["uses"]: s
             for s in workflow["jobs"]["gate"]["steps"]}
    changed = steps["changed"]["run"]
    assert "primgate changed --all --github-output" in changed
    assert 'primgate changed --base "$BASE" --github-output' in changed
    assert "primgate gen --check $PRIMGATE_PRIM_FILES" in steps["coverage"]["run"]
    assert steps["coverage"]["if"] == "always() && steps.changed.outcome == 'success'"
    comment = next(s for s in steps.values() if s.get("name", "").startswith("Comment on"))
    script = comment["with"]["script"]
    assert "const marker = '<!-- primgate-gate -->';" in script
    assert "github.rest.issues.updateComment" in script
    assert script.index("updateComment") < script.index("createComment")
    assert "listComments" in script


def test_gate_workflow_coverage_step_script(tmp_path: Path) -> None:
    """The step's bash script, run as the runner would: skipped without a prims layout, exit 1
    with the uncovered routes written for the PR comment."""
    workflow = yaml.safe_load((WORKFLOWS / "gate.yml").read_text(encoding="utf-8"))
    step = next(s for s in workflow["jobs"]["gate"]["steps"] if s.get("id") == "coverage")
    env = {**os.environ, **workflow["env"],
           "PATH": f"{Path(sys.executable).parent}{os.pathsep}{os.environ['PATH']}"}

    def run_step() -> subprocess.CompletedProcess[str]:
        return subprocess.run(["bash", "-e", "-c", step["run"]], cwd=tmp_path, env=env,
                              capture_output=True, text=True, timeout=120, check=False)

    (tmp_path / "gate-results").mkdir()
    skipped = run_step()
    assert skipped.returncode == 0 and skipped.stdout.startswith("::notice title=primgate gen::")
    write(tmp_path, "packages/store/prim.yaml", prim_yaml("store", "live") + (
        'routes_map:\n  - route: "GET /v1/buckets"\n    status: 200\n'))
    write(tmp_path, "tests/smoke-test-plan.json", json.dumps(plan({"store": [
        t("H-2", "https://store.prim.sh/")]})))
    failed = run_step()
    assert failed.returncode == 1
    report = (tmp_path / "gate-results" / "gen-check.txt").read_text(encoding="utf-8")
    assert report.splitlines() == [
        "Missing 1 test(s) for routes_map routes:",
        "  ST-1  GET https://store.prim.sh/v1/buckets  (packages/store/prim.yaml:6)"]
