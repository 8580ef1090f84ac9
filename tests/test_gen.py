"""`primgate gen`: the example plan and prims end to end, upstream prim.yaml files, formatting,
captures and errors."""

from __future__ import annotations

import difflib
import json
import shutil
from pathlib import Path
from typing import Any

import pytest

from pytest_primgate.cli import main
from tests.plans import plan, t

ROOT = Path(__file__).resolve().parents[1]
MANIFESTS = ROOT / "manifests"
RECONCILE_SCHEMA = {"prim": "store", "routes": {"POST /v1/buckets/:id/quota/reconcile": {
    "status": 200, "response": {
        "type": "object", "required": ["bucket_id", "previous_bytes", "actual_bytes",
                                       "delta_bytes"],
        "properties": {"bucket_id": {"type": "string", "minLength": 1},
                       "previous_bytes": {"type": "integer", "minimum": 0},
                       "actual_bytes": {"type": "integer", "minimum": 0},
                       "delta_bytes": {"type": "integer"}}}}}}


def gen(capsys: pytest.CaptureFixture[str], *args: str | Path) -> tuple[int, list[str]]:
    code = main(["gen", *map(str, args)])
    return code, capsys.readouterr().out.splitlines()


def only_insertions(before: str, after: str) -> bool:
    """Every line of ``before`` is still there, in order, untouched."""
    ops = difflib.SequenceMatcher(None, before.splitlines(), after.splitlines(),
                                  autojunk=False).get_opcodes()
    return all(op in ("equal", "insert") for op, *_ in ops)


@pytest.fixture
def example(pytester: pytest.Pytester) -> Path:
    """A copy of the example plan and prim files; a schema directory for store."""
    shutil.copy(MANIFESTS / "smoke-test-plan.json", pytester.path / "smoke-test-plan.json")
    shutil.copytree(MANIFESTS / "prims", pytester.path / "prims")
    schemas = pytester.path / "schemas"
    schemas.mkdir()
    (schemas / "store.json").write_text(json.dumps(RECONCILE_SCHEMA), encoding="utf-8")
    return pytester.path


def test_example_plan_gen_runs_green_and_is_idempotent(
    example: Path, pytester: pytest.Pytester, capsys: pytest.CaptureFixture[str]
) -> None:
    plan_path = example / "smoke-test-plan.json"
    prims = sorted((example / "prims").glob("*.yaml"))
    original = plan_path.read_bytes()
    common = ("--plan", plan_path, "--status", "live,new", "--schemas", example / "schemas")

    code, out = gen(capsys, "--check", *prims, *common)
    assert code == 1 and plan_path.read_bytes() == original
    assert out == [
        "Missing 2 test(s) for routes_map routes:",
        f"  FC-1  POST https://faucet.prim.sh/v1/faucet/eth  ({example}/prims/faucet.yaml:12)",
        "  ST-11  POST https://store.prim.sh/v1/buckets/{{bucket_id}}/quota/reconcile  "
        f"({example}/prims/store.yaml:47)",
    ]

    code, out = gen(capsys, *prims, *common)
    assert code == 0 and out[0] == f"Generated 2 test(s) in {plan_path}:"
    after = plan_path.read_text(encoding="utf-8")
    assert only_insertions(original.decode(), after)
    data = json.loads(after)
    before_tests = json.loads(original)["tests"]
    assert data["tests"][:len(before_tests)] == before_tests
    tests = {x["id"]: x for x in data["tests"]}
    assert tests["FC-1"] == {
        "id": "FC-1", "service": "faucet.sh",
        "test": "Dispense test ETH on Base Sepolia (once per hour per address)",
        "method": "POST", "endpoint": "https://faucet.prim.sh/v1/faucet/eth",
        "input": {"address": "{{agent_address}}"}, "expected": {"status": 200},
        "depends_on": ["H-3"], "captures": {},
        "notes": "Free. Dispense test ETH on Base Sepolia (once per hour per address)",
        "generated": True,
    }
    assert tests["ST-11"] == {
        "id": "ST-11", "service": "store.sh",
        "test": "Recompute the usage of a bucket from its stored objects", "method": "POST",
        "endpoint": "https://store.prim.sh/v1/buckets/{{bucket_id}}/quota/reconcile",
        "input": None,
        "expected": {"status": 200, "body": {
            "bucket_id": "non-empty string", "previous_bytes": "number >= 0",
            "actual_bytes": "number >= 0", "delta_bytes": "number"}},
        "depends_on": ["H-2", "F-1", "ST-1"], "captures": {},
        "notes": "x402 paid. Recompute the usage of a bucket from its stored objects",
        "generated": True,
    }
    groups = {g["id"]: g for g in data["groups"]}
    assert groups["store"]["tests"][-3:] == ["ST-7", "ST-11", "ST-8"]
    assert groups["faucet"] == {"id": "faucet", "name": "faucet (faucet.sh)",
                                "prompt": "Test all faucet.sh endpoints on faucet.prim.sh.",
                                "tests": ["FC-1"]}

    generated = plan_path.read_bytes()
    code, out = gen(capsys, *prims, *common)
    assert (code, out) == (0, ["All routes of the selected prims have test coverage."])
    assert plan_path.read_bytes() == generated
    assert gen(capsys, "--check", *prims, *common)[0] == 0
    assert main(["lint", str(plan_path)]) == 0

    result = pytester.runpytest_subprocess(
        "--primgate", "--primgate-sandbox", "--ci", "-p", "no:cacheprovider", "-p", "no:xdist",
        "-rA", "smoke-test-plan.json")
    result.assert_outcomes(passed=27)
    result.stdout.fnmatch_lines([
        "PASSED smoke-test-plan.json::store::ST-11", "PASSED smoke-test-plan.json::faucet::FC-1",
        "primgate: PASSED*"])
    assert result.ret == 0


def test_upstream_prims_against_the_example_plan(
    upstream_dir: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """prim.sh HEAD: every prim is on hold, so ``--status all`` selects them; 47 routes lack a
    test in the example plan, and 4 prims a health test (51 tests)."""
    prims = sorted((upstream_dir / "prim" / "head" / "packages").glob("*/prim.yaml"))
    plan_path = MANIFESTS / "smoke-test-plan.json"
    original = plan_path.read_bytes()
    code, out = gen(capsys, "--check", *prims, "--plan", plan_path, "--status", "all")
    assert code == 1 and plan_path.read_bytes() == original
    assert out[0] == "Missing 51 test(s) for routes_map routes:"
    ids = [line.split("  ")[1] for line in out[1:52]]
    assert [i for i in ids if i.endswith("-H1")] == ["E-H1", "FEEDBACK-H1", "GATE-H1", "SP-H1"]
    listed = [line.split("  ")[2] for line in out[1:52] if not line.split("  ")[1].endswith("H1")]
    assert len(listed) == 47
    assert "POST https://store.prim.sh/v1/buckets/{{bucket_id}}/quota/reconcile" in listed
    assert "POST https://store.prim.sh/v1/buckets/{{bucket_id}}/presign" in listed
    assert "DELETE https://email.prim.sh/v1/mailboxes/{{mailbox_id}}/webhooks/{{webhook_id}}" \
        in listed
    assert not any("/v1/buckets/{{bucket_id}}/objects" in x for x in listed)
    assert out[52:] == [
        "note: E-7 needs {{message_id}}: no test captures it; it runs blocked until one does",
        "note: W-7 needs {{fund_request_id}}: no test captures it; it runs blocked until one does",
        "note: W-8 needs {{fund_request_id}}: no test captures it; it runs blocked until one does",
    ]
    code, out = gen(capsys, "--check", *prims, "--plan", plan_path)
    assert (code, out) == (0, ["No prim selected by --status live (statuses found: hold)."])


def prim_file(directory: Path, prim_id: str, routes: list[str], status: str = "live") -> Path:
    lines = [f"id: {prim_id}", f"name: {prim_id}.sh", f"endpoint: {prim_id}.prim.sh",
             f"status: {status}", "routes_map:"]
    for route in routes:
        lines += [f'  - route: "{route}"', "    status: 200",
                  "    errors: [{status: 402, code: payment_required}]"]
    path = directory / f"{prim_id}.yaml"
    path.write_text("\n".join(lines) + "\n", encoding="utf-8")
    return path


def things_plan(tmp_path: Path, **write: Any) -> Path:
    body = plan({"things": [
        t("TH-1", "https://things.prim.sh/", service="things.sh"),
        t("TH-2", "https://things.prim.sh/v1/things", service="things.sh", method="POST",
          notes="x402 paid."),
    ]})
    path = tmp_path / "smoke-test-plan.json"
    path.write_bytes(json.dumps(body, **write).replace("\n", "\r\n").encode())
    return path


def test_hand_written_creator_is_never_edited(tmp_path: Path,
                                              capsys: pytest.CaptureFixture[str]) -> None:
    plan_path = things_plan(tmp_path, indent=4)
    original = json.loads(plan_path.read_bytes())
    prims = prim_file(tmp_path, "things", ["POST /v1/things", "GET /v1/things/:id"])
    code, out = gen(capsys, prims, "--plan", plan_path)
    assert code == 0
    assert out[-1] == ('note: THINGS-1 needs {{thing_id}}: hand-written TH-2 does not capture '
                       'it (add "captures": {"thing_id": "$.id"} to TH-2; gen never edits '
                       'hand-written tests)')
    data = json.loads(plan_path.read_bytes())
    assert data["tests"][:2] == original["tests"]
    assert data["tests"][2]["depends_on"] == ["TH-1", "TH-2"]
    raw = plan_path.read_bytes().decode()
    assert '\r\n        {\r\n            "id": "THINGS-1",\r\n' in raw
    assert "\n" not in raw.replace("\r\n", "")


def test_generated_creator_gets_the_capture_later_runs_need(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    plan_path = things_plan(tmp_path, indent=2)
    prims = prim_file(tmp_path, "widgets", ["POST /v1/widgets"])
    assert gen(capsys, prims, "--plan", plan_path)[0] == 0
    first = json.loads(plan_path.read_bytes())
    assert [x["id"] for x in first["tests"][2:]] == ["WIDGETS-H1", "WIDGETS-1"]
    assert first["tests"][3]["captures"] == {}
    prims = prim_file(tmp_path, "widgets", ["POST /v1/widgets", "DELETE /v1/widgets/:id",
                                            "GET /v1/widgets/:id/parts"])
    code, out = gen(capsys, prims, "--plan", plan_path)
    assert code == 0 and not any(line.startswith("note:") for line in out)
    data = json.loads(plan_path.read_bytes())
    tests = {x["id"]: x for x in data["tests"]}
    assert tests["WIDGETS-1"]["captures"] == {"widget_id": "$.id"}
    assert tests["WIDGETS-3"]["endpoint"] == "https://widgets.prim.sh/v1/widgets/{{widget_id}}/parts"
    assert tests["WIDGETS-3"]["depends_on"] == ["WIDGETS-H1", "WIDGETS-1"]
    widgets = next(g for g in data["groups"] if g["id"] == "widgets")
    assert widgets["tests"] == ["WIDGETS-H1", "WIDGETS-1", "WIDGETS-3", "WIDGETS-2"]
    again = plan_path.read_bytes()
    assert gen(capsys, prims, "--plan", plan_path)[0] == 0 and plan_path.read_bytes() == again


def test_compact_plan_keeps_its_style(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    plan_path = things_plan(tmp_path)
    prims = prim_file(tmp_path, "things", ["POST /v1/things", "GET /v1/things"])
    assert gen(capsys, prims, "--plan", plan_path)[0] == 0
    text = plan_path.read_text(encoding="utf-8")
    assert "\n" not in text and '"tests": ["TH-1", "TH-2", "THINGS-1"]' in text


@pytest.mark.parametrize(("yaml_text", "message"), [
    ('id: x\nendpoint: x.prim.sh\nstatus: live\nroutes_map:\n  - route: "FETCH /v1/x"\n',
     "x.yaml:5: routes_map[0].route: expected 'METHOD /path', got 'FETCH /v1/x'"),
    ('id: x\nendpoint: x.prim.sh\nstatus: live\nroutes_map:\n  - route: "GET /v1/x"\n'
     "    status: ok\n", "x.yaml:5: routes_map[0].status: expected an HTTP status code, got 'ok'"),
    ("id: x\nstatus: live\nroutes_map: {}\n", "x.yaml:1: routes_map: routes_map must be a list"),
])
def test_bad_prim_file_is_one_line(tmp_path: Path, capsys: pytest.CaptureFixture[str],
                                   yaml_text: str, message: str) -> None:
    (tmp_path / "x.yaml").write_text(yaml_text, encoding="utf-8")
    plan_path = things_plan(tmp_path, indent=2)
    code, out = gen(capsys, tmp_path / "x.yaml", "--plan", plan_path)
    assert code == 2 and len(out) == 1
    assert out[0].startswith(f"primgate gen: {tmp_path}/{message}")


def test_unknown_status_is_generated_for_as_live(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    prims = prim_file(tmp_path, "things", ["GET /v1/things", "DELETE /v1/things"],
                      status="shipped")
    code, out = gen(capsys, prims, "--plan", things_plan(tmp_path), "--check")
    assert code == 1
    assert any("DELETE https://things.prim.sh/v1/things" in line for line in out)


def test_bad_plan_and_bad_status(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    prims = prim_file(tmp_path, "things", ["GET /v1/things"])
    bad = tmp_path / "bad.plan.json"
    bad.write_text('{"plan": "x",\n "groups": 3}', encoding="utf-8")
    code, out = gen(capsys, prims, "--plan", bad)
    assert (code, out) == (2, [f"primgate gen: {bad}:1: 'tests' is required"])
    code, out = gen(capsys, prims, "--plan", things_plan(tmp_path), "--status", "live,shipped")
    assert (code, out) == (2, ["primgate gen: --status: unknown status 'shipped' (use live, new, "
                               "off, a prim.yaml status or all)"])


def test_upstream_plan_agrees_with_gen_gate(upstream_dir: Path,
                                            capsys: pytest.CaptureFixture[str]) -> None:
    """prim.sh's plan was grown by gen-gate from the reference-era prim.yaml files: against
    those every route is covered; against HEAD's, only the routes added since are missing."""
    prim = upstream_dir / "prim"
    plan_path = prim / "smoke-test-plan.json"
    reference = sorted((prim / "prim-yaml").glob("*.yaml"))
    assert gen(capsys, "--check", *reference, "--plan", plan_path) == (
        0, ["All routes of the selected prims have test coverage."])
    head = sorted((prim / "head" / "packages").glob("*/prim.yaml"))
    code, out = gen(capsys, "--check", *head, "--plan", plan_path, "--status", "all")
    assert code == 1
    assert [line.split("  ")[1:3] for line in out[1:]] == [
        ["FC-1", "GET https://faucet.prim.sh/v1/faucet/treasury"],
        ["FC-2", "POST https://faucet.prim.sh/v1/faucet/refill"],
        ["FEEDBACK-H1", "GET https://feedback.prim.sh/"],
        ["FEEDBACK-1", "POST https://feedback.prim.sh/v1/submit"],
        ["FEEDBACK-2", "GET https://feedback.prim.sh/v1/feed"],
        ["GATE-H1", "GET https://gate.prim.sh/"],
        ["GATE-1", "POST https://gate.prim.sh/v1/redeem"],
        ["ST-12", "POST https://store.prim.sh/v1/buckets/{{bucket_id}}/presign"],
    ]


@pytest.mark.parametrize("style", [
    {"indent": "\t"}, {"indent": 1}, {"indent": 2, "sort_keys": True},
    {"separators": (",", ":")}, {},
])
def test_any_json_style_only_gains_characters(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], style: dict[str, Any]
) -> None:
    body = plan({"things": [t("TH-1", "https://things.prim.sh/", service="things.sh")],
                 "empty": []})
    plan_path = tmp_path / "smoke-test-plan.json"
    original = json.dumps(body, **style) + "\n"
    plan_path.write_text(original, encoding="utf-8")
    prims = prim_file(tmp_path, "things", ["POST /v1/things", "GET /v1/things/:id",
                                           "DELETE /v1/things/:id", "GET /v1/things/:id/x"])
    assert gen(capsys, prims, "--plan", plan_path)[0] == 0
    after = plan_path.read_text(encoding="utf-8")
    ops = difflib.SequenceMatcher(None, original, after, autojunk=False).get_opcodes()
    assert all(op in ("equal", "insert") for op, *_ in ops)
    assert json.loads(after)["groups"][0]["tests"] == [
        "TH-1", "THINGS-1", "THINGS-2", "THINGS-4", "THINGS-3"]
    tight = "separators" in style
    assert ('"id":"THINGS-1"' in after) is tight and ('"id": "THINGS-1"' in after) is not tight
    assert gen(capsys, prims, "--plan", plan_path)[0] == 0
    assert plan_path.read_text(encoding="utf-8") == after


def test_missing_health_test_is_generated_once(tmp_path: Path,
                                               capsys: pytest.CaptureFixture[str]) -> None:
    plan_path = things_plan(tmp_path, indent=2)
    prims = prim_file(tmp_path, "widgets", ["GET /v1/widgets", "GET /"])
    code, out = gen(capsys, "--check", prims, "--plan", plan_path)
    assert code == 1 and out == [
        "Missing 2 test(s) for routes_map routes:",
        f"  WIDGETS-H1  GET https://widgets.prim.sh/  ({prims}:9)",
        f"  WIDGETS-1  GET https://widgets.prim.sh/v1/widgets  ({prims}:6)",
    ]
    assert gen(capsys, prims, "--plan", plan_path)[0] == 0
    data = json.loads(plan_path.read_bytes())
    health = data["tests"][2]
    assert (health["id"], health["endpoint"], health["depends_on"]) == (
        "WIDGETS-H1", "https://widgets.prim.sh/", [])
    assert health["expected"] == {"status": 200, "body": {"service": "widgets.sh",
                                                          "status": "ok"}}
    assert data["tests"][3]["depends_on"] == ["WIDGETS-H1"]
    assert data["groups"][-1]["tests"] == ["WIDGETS-H1", "WIDGETS-1"]
