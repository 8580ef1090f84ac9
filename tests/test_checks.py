"""Pure checks: the shape vocabulary with exact messages, templating, captures and notes rules."""

from __future__ import annotations

import dataclasses
import json
from pathlib import Path
from typing import Any

import pytest

from pytest_primgate import checks
from pytest_primgate.manifests.plan import Plan, PlanTest, load_plan, plan_test_flags
from tests.plans import require_upstream

EXAMPLE_PLAN = Path(__file__).resolve().parents[1] / "manifests" / "smoke-test-plan.json"


@pytest.fixture(scope="module")
def upstream() -> Plan:
    return load_plan(require_upstream() / "prim" / "smoke-test-plan.json")


@pytest.fixture(scope="module")
def example() -> Plan:
    """The project's own example plan: the rules tests need no upstream files."""
    return load_plan(EXAMPLE_PLAN)


def _shape_words(plan: Plan) -> set[str]:
    words: set[str] = set()

    def walk(shape: Any) -> None:
        if isinstance(shape, str):
            words.add(shape)
        elif isinstance(shape, list):
            for x in shape:
                walk(x)
        elif isinstance(shape, dict):
            for x in shape.values():
                walk(x)

    for test in plan.tests.values():
        walk(test.expected_body)
    return words


MATCHES: list[tuple[Any, Any]] = [
    ("abc", "string"),
    ("", "string"),
    (3, "number"),
    (2.5, "number"),
    (True, "boolean"),
    (False, "boolean"),
    ([], "array"),
    ([1], "array (non-empty)"),
    ("x", "non-empty string"),
    (1, "number >= 1"),
    (7.5, "number >= 1"),
    (0.5, "number >= 0.25"),
    (-1, "number >= -2"),
    ({"a": 1}, "object"),
    ("0xabc", "{{agent_address}}"),
    ("ok", "ok"),
    (True, True),
    (1, 1.0),
    (None, None),
    ({"any": "thing"}, None),
    ({"service": "store.sh", "status": "ok", "extra": [1, 2]}, {"service": "store.sh"}),
    ({"a": {"b": {"c": "deep"}}}, {"a": {"b": {"c": "string"}}}),
    ([], [{"url": "string"}]),
    ([{"url": "u"}, {"url": "v"}], [{"url": "string"}]),
    ([1, "x"], []),
    ({"n": None}, {"n": None}),
]


@pytest.mark.parametrize(("actual", "expected"), MATCHES)
def test_shape_matches(actual: Any, expected: Any) -> None:
    assert checks.match_shape(actual, expected) is None


MISMATCHES: list[tuple[Any, Any, str]] = [
    (1, "string", "$: expected string, got number"),
    (None, "string", "$: expected string, got null"),
    ("1", "number", "$: expected number, got string"),
    (True, "number", "$: expected number, got boolean"),
    (1, "boolean", "$: expected boolean, got number"),
    ({}, "array", "$: expected array, got object"),
    ("x", "array (non-empty)", "$: expected array, got string"),
    ([], "array (non-empty)", "$: expected non-empty array, got empty"),
    (3, "non-empty string", "$: expected string, got number"),
    ("", "non-empty string", "$: expected non-empty string"),
    ("5", "number >= 1", "$: expected number, got string"),
    (False, "number >= 0", "$: expected number, got boolean"),
    (0, "number >= 1", "$: expected >= 1, got 0"),
    (0.1, "number >= 0.25", "$: expected >= 0.25, got 0.1"),
    (1e-7, "number >= 1", "$: expected >= 1, got 1e-7"),
    ([], "object", "$: expected object, got array"),
    (5, "{{mailbox_id}}", "$: expected string (template), got number"),
    ("fail", "ok", '$: expected "ok", got "fail"'),
    (1, "1", '$: expected "1", got 1'),
    (None, "ok", '$: expected "ok", got null'),
    ("é", "è", '$: expected "è", got "é"'),
    (1, True, "$: expected true, got 1"),
    (False, True, "$: expected true, got false"),
    (2, 1, "$: expected 1, got 2"),
    (2.5, 1, "$: expected 1, got 2.5"),
    (1, 0, "$: expected 0, got 1"),
    ({"a": 1}, [{"url": "string"}], "$: expected array, got object"),
    ("x", {"a": "string"}, "$: expected object, got string"),
    (None, {"a": "string"}, "$: expected object, got null"),
    ([], {"a": "string"}, "$: expected object, got array"),
    ({"bucket": {}}, {"bucket": {"id": "string"}}, "$.bucket.id: expected string, got undefined"),
    ({}, {"testnet": True}, "$.testnet: expected true, got undefined"),
    ({}, {"status": "ok"}, '$.status: expected "ok", got undefined'),
    ({"a": {"b": [{"c": 1}]}}, {"a": {"b": [{"c": "string"}]}},
     "$.a.b[0].c: expected string, got number"),
    (
        {"results": [{"url": "u", "content": "x"}, {"url": "v", "content": ""}]},
        {"results": [{"url": "string", "content": "non-empty string"}]},
        "$.results[1].content: expected non-empty string",
    ),
    ([1, 2, "three"], ["number"], "$[2]: expected number, got string"),
]


@pytest.mark.parametrize(("actual", "expected", "message"), MISMATCHES)
def test_shape_mismatch_message(actual: Any, expected: Any, message: str) -> None:
    assert checks.match_shape(actual, expected) == message


def test_shape_reports_the_first_mismatch_in_key_order() -> None:
    problem = checks.match_shape({"a": 1, "b": 2}, {"b": "string", "a": "string"})
    assert problem == "$.b: expected string, got number"


def test_shape_path_prefix() -> None:
    assert checks.match_shape(1, "string", "$.x") == "$.x: expected string, got number"


def test_every_upstream_shape_accepts_a_conforming_body(upstream: Plan) -> None:
    """The vocabulary covers every shape the real plan uses (no word falls through as literal)."""
    words = set()

    def walk(shape: Any) -> None:
        if isinstance(shape, str):
            words.add(shape)
        elif isinstance(shape, list):
            for x in shape:
                walk(x)
        elif isinstance(shape, dict):
            for x in shape.values():
                walk(x)

    for test in upstream.tests.values():
        walk(test.expected_body)
    type_words = {w for w in words if w in checks.TYPE_WORDS or w.startswith("number >=")}
    assert type_words == {
        "string", "number", "boolean", "array", "array (non-empty)", "non-empty string",
        "number >= 1",
    }
    assert {"{{agent_address}}", "{{mailbox_id}}"} <= words


def test_render_recurses_and_keeps_unknown_names() -> None:
    value = {
        "name": "{{test_prefix}}-bucket",
        "list": ["{{ runner }}", 3, None, {"k": "{{missing}}"}],
        "{{key}}": "{{test_prefix}}",
    }
    out = checks.render(value, {"test_prefix": "gate-1", "runner": "r", "key": "no"})
    assert out == {
        "name": "gate-1-bucket",
        "list": ["r", 3, None, {"k": "{{missing}}"}],
        "{{key}}": "gate-1",
    }
    assert checks.render("https://x/{{a}}/{{b}}", {"a": "1"}) == "https://x/1/{{b}}"
    assert checks.render(None, {"a": "1"}) is None
    assert checks.render(True, {}) is True


def test_render_does_not_reexpand_values() -> None:
    assert checks.render("{{a}}", {"a": "{{b}}", "b": "x"}) == "{{b}}"


def test_unresolved_lists_names_sorted_unique_without_keys() -> None:
    value = {"{{key}}": ["{{b}}", "{{ a }}", "x{{b}}y"], "n": 1, "s": "{{c}}"}
    assert checks.unresolved(value) == ["a", "b", "c"]
    assert checks.unresolved("plain") == []
    assert checks.unresolved("{{ not valid-name }}") == []


BODY = {
    "bucket": {"id": "b_1", "count": 3, "ok": True, "none": None},
    "messages": [{"id": "m0"}, {"id": "m1"}],
    "id": "top",
}


@pytest.mark.parametrize(
    ("path", "found", "value"),
    [
        ("$.bucket.id", True, "b_1"),
        ("$.id", True, "top"),
        ("$.messages[0].id", True, "m0"),
        ("$.messages[-1].id", True, "m1"),
        ("$.messages", True, [{"id": "m0"}, {"id": "m1"}]),
        ("$.bucket.count", True, 3),
        ("$.bucket.ok", True, True),
        ("$", True, BODY),
        ("$.bucket.none", False, None),
        ("$.bucket.missing", False, None),
        ("$.messages[5].id", False, None),
        ("$.id[0]", False, None),
        ("$.id.deeper", False, None),
        ("bucket.id", False, None),
        ("$.a[x]", False, None),
    ],
)
def test_resolve_capture(path: str, found: bool, value: Any) -> None:
    assert checks.resolve_capture(BODY, path) == (found, value)


def test_resolve_capture_on_top_level_array() -> None:
    assert checks.resolve_capture([{"id": "a"}, {"id": "b"}], "$[1].id") == (True, "b")
    assert checks.resolve_capture([{"id": "a"}], "$[0]") == (True, {"id": "a"})
    assert checks.resolve_capture([[1, 2]], "$[0][1]") == (True, 2)


@pytest.mark.parametrize(
    ("value", "text"),
    [
        ("s", "s"),
        (True, "true"),
        (False, "false"),
        (42, "42"),
        (2.0, "2"),
        (1.5, "1.5"),
        (0.1, "0.1"),
        (-0.0, "0"),
        (1e21, "1e+21"),
        (1e-7, "1e-7"),
        (1e-6, "0.000001"),
        (123456789012345680000.0, "123456789012345680000"),
        (10**22, "1e+22"),
        ({"a": [1, "é"]}, '{"a":[1,"é"]}'),
        ([1, None], "[1,null]"),
    ],
)
def test_capture_value_is_javascript_string(value: Any, text: str) -> None:
    assert checks.capture_value(value) == text


@pytest.mark.parametrize(
    ("notes", "excused"),
    [
        ("EIP-191 signature of 'Register {address} with prim.sh at {timestamp}'. "
         "409 = already registered, counts as pass.", {409: "already registered"}),
        ("Free, rate-limited (2h). 429 = rate limited, counts as pass. "
         "Wallet must be in allowlist.",
         {429: "rate limited"}),
        ("409=exists COUNTS AS PASS", {409: "exists"}),
        ("409 = exists, counts as pass; 429 = rate limited, counts as pass.",
         {409: "exists", 429: "rate limited"}),
        ("OpenRouter may not support embeddings — 502 with provider_error counts as soft_fail",
         {}),
        ("x402 paid ($0.05).", {}),
        ("", {}),
        (None, {}),
    ],
)
def test_counts_as_pass(notes: str | None, excused: dict[int, str]) -> None:
    assert checks.counts_as_pass(notes) == excused


def test_counts_as_pass_on_upstream(upstream: Plan) -> None:
    found = {t.id: checks.counts_as_pass(t.notes) for t in upstream.tests.values()}
    assert {k: v for k, v in found.items() if v} == {
        "W-1": {409: "already registered"},
        "F-1": {429: "rate limited"},
        "F-2": {429: "rate limited"},
    }


def test_status_ok() -> None:
    assert checks.status_ok(200, (200,))
    assert checks.status_ok(201, (200, 201))
    assert not checks.status_ok(402, (200, 201))


def test_is_free_on_upstream_tests(upstream: Plan) -> None:
    free = sorted(t.id for t in upstream.tests.values() if checks.is_free(t))
    assert free == sorted(
        ["H-1", "H-2", "H-3", "H-4", "H-5", "H-6", "INF-H1", "W-4", "F-1", "F-2", "F-3"]
    )


FLAGS = ("has_body_shape", "skip", "retry", "generated", "paid")


def _variant(test: PlanTest, **changes: Any) -> PlanTest:
    flags = {name: changes.pop(name, getattr(test, name)) for name in FLAGS}
    return dataclasses.replace(test, flags=plan_test_flags(**flags), **changes)


@pytest.mark.parametrize("paid", [None, True, False])
@pytest.mark.parametrize("bits", range(16))
def test_plan_test_flags_keep_every_combination(
    example: Plan, paid: bool | None, bits: int
) -> None:
    values = {name: bool(bits >> i & 1) for i, name in enumerate(FLAGS[:4])}
    test = _variant(example.tests["H-1"], paid=paid, **values)
    assert {name: getattr(test, name) for name in FLAGS} == {**values, "paid": paid}


def test_plan_flags_are_read_from_the_plan(tmp_path: Path) -> None:
    base = json.loads(EXAMPLE_PLAN.read_text())
    first = next(t for t in base["tests"] if t["id"] == "H-1")
    variants = [
        {**first, "id": "A", "skip": True, "paid": False, "expected": {"status": 200}},
        {**first, "id": "B", "retry": True, "generated": True, "paid": True},
        {**first, "id": "C", "expected": {"status": 200, "body": None}},
    ]
    plan = {**base, "groups": [{"id": "g", "name": "g", "prompt": "", "tests": ["A", "B", "C"]}],
            "tests": variants}
    path = tmp_path / "smoke-test-plan.json"
    path.write_text(json.dumps(plan))
    tests = load_plan(path).tests
    assert {tid: {name: getattr(test, name) for name in FLAGS} for tid, test in tests.items()} == {
        "A": {"has_body_shape": False, "skip": True, "retry": False, "generated": False,
              "paid": False},
        "B": {"has_body_shape": True, "skip": False, "retry": True, "generated": True,
              "paid": True},
        "C": {"has_body_shape": False, "skip": False, "retry": False, "generated": False,
              "paid": None},
    }


def test_example_plan_uses_the_upstream_shape_vocabulary(example: Plan) -> None:
    """Own data covers the upstream plan's type words ("array" is in test_shape_matches)."""
    words = _shape_words(example)
    type_words = {w for w in words if w in checks.TYPE_WORDS or w.startswith("number >=")}
    assert type_words == {
        "string", "number", "boolean", "array (non-empty)", "non-empty string", "number >= 1",
    }
    found = {t.id: checks.counts_as_pass(t.notes) for t in example.tests.values()}
    assert {k: v for k, v in found.items() if v} == {
        "W-1": {409: "already registered"}, "F-1": {429: "rate limited"},
    }


def test_is_free_rules(example: Plan) -> None:
    health = example.tests["H-1"]
    assert health.endpoint.endswith("/") and checks.is_free(health)
    assert checks.is_free(_variant(health, endpoint="https://store.prim.sh"))
    assert not checks.is_free(_variant(health, method="POST", notes=""))
    assert not checks.is_free(_variant(health, endpoint="https://store.prim.sh/v1/", notes=""))
    assert not checks.is_free(_variant(health, paid=True))
    paid = example.tests["ST-1"]
    assert not checks.is_free(paid)
    assert checks.is_free(_variant(paid, paid=False))
    assert checks.is_free(_variant(paid, notes="FREE route"))
    assert not checks.is_free(_variant(paid, notes="FREE route", paid=True))


def test_needs_payment(example: Plan) -> None:
    assert checks.needs_payment(example.tests["ST-1"])
    assert not checks.needs_payment(example.tests["H-1"])
    assert not checks.needs_payment(_variant(example.tests["ST-1"], expected_status=(402,)))
