"""Load prim.sh ``smoke-test-plan.json`` files: JSON Schema, graph checks, line positions.

The format is read exactly as upstream writes it (reference §1); unknown fields are tolerated
and listed for ``primgate lint``; the stale manual-run fields are ignored. A test listed by no
group is not collected (the upstream runner never runs it either) and is listed by lint.
Every problem is a ``ManifestError`` naming file, line and field.
"""

from __future__ import annotations

import functools
import gc
import json
import re
from collections.abc import Iterable, Iterator, Mapping, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any
from urllib.parse import urlsplit

from pytest_primgate.manifests.errors import ManifestError
from pytest_primgate.manifests.jsonlines import (
    LineIndex,
    lines_at,
    plan_positions,
    pointer_offset,
)
from pytest_primgate.manifests.limits import (
    DEPTH_MESSAGE,
    TooDeep,
    depth_offset,
    line_of,
    loads_json,
)

if TYPE_CHECKING:
    from jsonschema.exceptions import ValidationError

KNOWN_TOP = frozenset({"plan", "version", "network", "context", "groups", "tests"})
KNOWN_GROUP = frozenset(
    {"id", "name", "prompt", "tests", "canary_only", "interface", "setup", "cleanup"}
)
KNOWN_TEST = frozenset({
    "id", "service", "test", "method", "endpoint", "input", "expected", "depends_on", "captures",
    "notes", "skip", "paid", "retry", "generated",
    "actual_status", "actual_body", "result", "run_note",
})
TEMPLATE = re.compile(r"\{\{\s*\w+\s*\}\}")
TEMPLATE_KEY = re.compile(r'\{\{[^"\n]*"\s*:')
"""A JSON key that contains ``{{``: only then are keys walked for templates."""


@dataclass(frozen=True, slots=True)
class PlanGroup:
    """A group: an ordered list of test ids."""

    id: str
    name: str
    prompt: str
    test_ids: tuple[str, ...]
    line: int
    """0-based line of the group object."""
    canary_only: bool = False
    """Only ``--canary`` runs collect the group (prim.sh's runner leaves it out otherwise)."""
    interface: str = "api"
    """``api`` (the agent gets ``http_request``) or ``cli`` (``shell_exec``); canary only."""
    setup: str = ""
    """Name of the canary setup hook, '' for none."""
    cleanup: str = ""
    """Name of the canary cleanup hook, '' for none."""


BODY_SHAPE, SKIP, RETRY, GENERATED, PAID, FREE = 1, 2, 4, 8, 16, 32
"""Bits of ``PlanTest.flags``; ``paid`` is PAID, FREE or neither (not stated)."""


def plan_test_flags(
    *, has_body_shape: bool = False, skip: bool = False, retry: bool = False,
    generated: bool = False, paid: bool | None = None,
) -> int:
    """``PlanTest.flags`` for these values."""
    return (
        BODY_SHAPE * has_body_shape | SKIP * skip | RETRY * retry | GENERATED * generated
        | (0 if paid is None else PAID if paid else FREE)
    )


@dataclass(frozen=True, slots=True)
class PlanTest:
    """One HTTP test of a plan."""

    id: str
    service: str
    title: str
    method: str
    endpoint: str
    input: Any
    expected_status: tuple[int, ...]
    expected_body: Any
    body_equals: str | None
    depends_on: tuple[str, ...]
    captures: tuple[tuple[str, str], ...]
    notes: str
    flags: int
    """``has_body_shape``, ``skip``, ``retry``, ``generated`` and ``paid`` in one small int
    (``plan_test_flags``): one slot instead of five, at 100,000 tests 3 MB."""
    line: int
    """0-based line of the test's ``"id"`` key."""
    unknown_fields: tuple[str, ...]
    group: str

    @property
    def has_body_shape(self) -> bool:
        """``expected.body`` is given (and not null)."""
        return bool(self.flags & BODY_SHAPE)

    @property
    def skip(self) -> bool:
        return bool(self.flags & SKIP)

    @property
    def retry(self) -> bool:
        return bool(self.flags & RETRY)

    @property
    def generated(self) -> bool:
        return bool(self.flags & GENERATED)

    @property
    def paid(self) -> bool | None:
        """``paid`` as the plan states it; None when it does not."""
        return True if self.flags & PAID else False if self.flags & FREE else None


@dataclass(frozen=True)
class Plan:
    """A whole plan file."""

    path: str
    name: str
    version: Any
    network: str
    context: str
    groups: tuple[PlanGroup, ...]
    tests: dict[str, PlanTest]
    unknown_fields: tuple[str, ...]
    ungrouped: tuple[str, ...]


def field_name(parts: Iterable[str | int]) -> str:
    """``["tests", 5, "expected", "status"]`` -> ``tests[5].expected.status``."""
    out = ""
    for part in parts:
        if isinstance(part, int):
            out += f"[{part}]"
        else:
            out += f".{part}" if out else str(part)
    return out


class _Context:
    """File, text and line lookups for one plan being loaded."""

    def __init__(self, path: Path, text: str) -> None:
        self.path = str(path)
        self.text = text
        self._index: LineIndex | None = None

    @property
    def index(self) -> LineIndex:
        if self._index is None:
            self._index = LineIndex(self.text)
        return self._index

    def error(self, parts: Sequence[str | int], message: str) -> ManifestError:
        offset = pointer_offset(self.text, list(parts))
        return ManifestError(self.path, self.index.line(offset) + 1, field_name(parts), message)


def _schema_message(error: ValidationError) -> str:
    if error.validator == "required":
        return str(error.message).replace("is a required property", "is required")
    if error.validator == "enum":
        allowed = ", ".join(str(v) for v in list(error.validator_value))  # type: ignore[arg-type]
        return f"{error.instance!r} is not one of {allowed}"
    if error.validator == "anyOf" and list(error.absolute_path)[-1:] == ["status"]:
        return f"{error.instance!r} is not an HTTP status (an integer 100-599 or a list of them)"
    if error.validator == "pattern" and list(error.absolute_path)[-1:] == ["endpoint"]:
        return f"{error.instance!r} is not an absolute http(s) URL"
    if error.validator == "pattern":
        return f"{error.instance!r} is not a JSON path starting with '$'"
    return str(error.message)


_METHODS = frozenset({"GET", "POST", "PUT", "PATCH", "DELETE", "HEAD", "OPTIONS"})
_ENDPOINT = re.compile(r"^https?://[^/\s]+")
_TEST_TYPES: dict[str, tuple[type, ...]] = {
    "service": (str,), "test": (str,), "notes": (str, type(None)), "skip": (bool,),
    "paid": (bool,), "retry": (bool,), "generated": (bool,),
    "input": (type(None), dict, list, str), "depends_on": (list,), "captures": (dict,),
}
_GROUP_TYPES: dict[str, tuple[type, ...]] = {
    "name": (str,), "prompt": (str,), "canary_only": (bool,), "interface": (str,),
    "setup": (str,), "cleanup": (str,),
}


def _status_ok(value: Any) -> bool:
    return type(value) is int and 100 <= value <= 599


def _quick_valid(data: dict[str, Any]) -> bool:
    """A fast check that mirrors ``plan.schema.json`` for the common, valid case.

    It never decides that a plan is invalid: when it is unsure it returns False and the JSON
    Schema validator gives the verdict and the message. ``test_plan_quick_check_agrees`` keeps
    the two in step on every kind of bad plan the tests know.
    """
    groups, tests = data.get("groups"), data.get("tests")
    if not isinstance(groups, list) or not isinstance(tests, list):
        return False
    top: tuple[tuple[str, tuple[type, ...]], ...] = (
        ("plan", (str,)), ("network", (str,)), ("context", (str,)), ("version", (int, str)),
    )
    for key, kinds in top:
        if key in data and (not isinstance(data[key], kinds) or isinstance(data[key], bool)):
            return False
    for group in groups:
        if not isinstance(group, dict):
            return False
        gid, members = group.get("id"), group.get("tests")
        if not isinstance(gid, str) or not gid or not isinstance(members, list):
            return False
        if not all(isinstance(m, str) for m in members):
            return False
        for key, kinds in _GROUP_TYPES.items():
            if key in group and not isinstance(group[key], kinds):
                return False
    for test in tests:
        if not isinstance(test, dict):
            return False
        tid, method, endpoint, expected = (
            test.get("id"), test.get("method"), test.get("endpoint"), test.get("expected")
        )
        if not isinstance(tid, str) or not tid or not isinstance(method, str) or (
            method not in _METHODS
        ):
            return False
        if not isinstance(endpoint, str) or not _ENDPOINT.match(endpoint):
            return False
        if not isinstance(expected, dict):
            return False
        status = expected.get("status")
        if not (_status_ok(status) or (
            isinstance(status, list) and status and all(_status_ok(s) for s in status)
        )):
            return False
        if "body_equals" in expected and not isinstance(expected["body_equals"], str):
            return False
        for key, kinds in _TEST_TYPES.items():
            if key in test and not isinstance(test[key], kinds):
                return False
        if not all(isinstance(d, str) for d in test.get("depends_on", ())):
            return False
        captures = test.get("captures") or {}
        if not all(isinstance(v, str) and v.startswith("$") for v in captures.values()):
            return False
    return True


def _first_schema_error(data: Any) -> ValidationError | None:
    if isinstance(data, dict) and _quick_valid(data):
        return None
    from pytest_primgate.manifests.schema import validator  # jsonschema: only for bad plans

    errors = sorted(
        validator("plan").iter_errors(data),
        key=lambda e: (list(map(str, e.absolute_path)), e.message),
    )
    return errors[0] if errors else None


def _template_keys(value: Any, parts: list[str | int]) -> list[str | int] | None:
    if isinstance(value, dict):
        for key, sub in value.items():
            if TEMPLATE.search(key):
                return [*parts, key]
            found = _template_keys(sub, [*parts, key])
            if found is not None:
                return found
    elif isinstance(value, list):
        for index, sub in enumerate(value):
            found = _template_keys(sub, [*parts, index])
            if found is not None:
                return found
    return None


def _statuses(raw: Any) -> tuple[int, ...]:
    return tuple(raw) if isinstance(raw, list) else (int(raw),)


@contextmanager
def paused_gc(freeze: bool = False) -> Iterator[None]:
    """Pause the cyclic garbage collector while many small acyclic objects are built.

    A 10,000-test plan allocates enough to trigger full collections repeatedly; none of what
    is built forms cycles worth collecting, so pausing only saves time. With ``freeze``, the
    young garbage is collected once and what survives is moved out of the collector's sight
    (``gc.freeze``: collected items live until the session ends) until ``thaw`` is called.
    """
    enabled = gc.isenabled()
    gc.disable()
    try:
        yield
    finally:
        if freeze:
            gc.collect(0)  # the young garbage (pytest's per-item closures) goes first
            gc.freeze()
            _FROZEN[0] = True
        if enabled:
            gc.enable()


_FROZEN = [False]
"""Whether ``paused_gc(freeze=True)`` froze objects that ``thaw`` has not given back yet."""


def thaw() -> bool:
    """Give objects frozen by ``paused_gc(freeze=True)`` back to the collector; True if any."""
    if not _FROZEN[0]:
        return False
    _FROZEN[0] = False
    gc.unfreeze()
    return True


def load_plan(path: Path) -> Plan:
    """Read, validate and index a plan file; raises ``ManifestError``."""
    with paused_gc():
        try:
            return _load_plan(path)
        except RecursionError:
            text = path.read_text(encoding="utf-8", errors="replace")
            raise ManifestError(
                str(path), line_of(text, depth_offset(text)), "", DEPTH_MESSAGE
            ) from None


class _Constant(ValueError):
    """``NaN`` or ``Infinity`` in a plan: not JSON, and no number a test can use."""


def _refuse_constant(name: str) -> Any:
    raise _Constant(name)


_CONSTANT = re.compile(r"-?\b(?:NaN|Infinity)\b")


@functools.lru_cache(maxsize=1024)
def url_problem(url: str) -> str | None:
    """Why ``url`` cannot be requested (bad brackets, port or host), or None."""
    try:
        parts = urlsplit(url)
        parts.port  # noqa: B018 - raises ValueError for a bad port
    except ValueError as exc:
        return f"{url!r} is not a valid URL ({exc})"
    if not parts.hostname:
        return f"{url!r} has no host"
    if any(ch in url for ch in "\x00\r\n\t "):
        return f"{url!r} contains whitespace or control characters"
    return None


def _load_plan(path: Path) -> Plan:
    try:
        text = path.read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError) as exc:
        raise ManifestError(str(path), None, "", f"cannot read plan: {exc}") from None
    try:
        data = loads_json(text, parse_constant=_refuse_constant)
    except json.JSONDecodeError as exc:
        raise ManifestError(
            str(path), exc.lineno, "", f"invalid JSON: {exc.msg} (column {exc.colno})"
        ) from None
    except _Constant as exc:
        found = _CONSTANT.search(text)
        raise ManifestError(
            str(path), line_of(text, found.start() if found else None), "",
            f"invalid JSON: {exc} is not a number JSON allows (numbers must be finite)",
        ) from None
    except (TooDeep, RecursionError):
        raise ManifestError(str(path), line_of(text, depth_offset(text)), "",
                            DEPTH_MESSAGE) from None
    except ValueError as exc:  # e.g. an integer beyond Python's digit limit
        raise ManifestError(str(path), None, "", f"invalid JSON: {exc}") from None
    ctx = _Context(path, text)
    if not isinstance(data, dict):
        raise ManifestError(str(path), 1, "", "a plan must be a JSON object with groups and tests")
    error = _first_schema_error(data)
    if error is not None:
        raise ctx.error(list(error.absolute_path), _schema_message(error))
    return _build(ctx, data)


class _Sharing:
    """One object per distinct value of a plan: 10,000 tests repeat a few services, methods,
    endpoints and expected bodies, and the JSON decoder makes a new object for each.

    A plan's values are read-only once loaded (templating copies), so equal values can be
    one object. For JSON values ``repr`` is exact: equal reprs mean equal values and types.
    """

    def __init__(self, ids: Mapping[str, int]) -> None:
        self._texts: dict[str, str] = {tid: tid for tid in ids}
        self._values: dict[str, Any] = {}

    def text(self, value: str) -> str:
        return self._texts.setdefault(value, value)

    def value(self, value: Any) -> Any:
        if value is None or value == ():
            return value
        if isinstance(value, str):
            return self.text(value)
        return self._values.setdefault(repr(value), value)


def _lines(text: str, offsets: list[int], count: int) -> list[int]:
    """The lines of the first ``count`` offsets; 0 where the positions walk found none."""
    lines = lines_at(text, offsets[:count])
    return lines + [0] * (count - len(lines))


_CONSUMED: dict[str, Any] = {}
"""Stands in for a raw test whose ``PlanTest`` is built (``_build`` consumes its input)."""


def _build(ctx: _Context, data: Mapping[str, Any]) -> Plan:
    """The plan of validated JSON ``data``; its raw tests are consumed (freed) on the way."""
    raw_tests: list[dict[str, Any]] = data["tests"]
    raw_groups: list[dict[str, Any]] = data["groups"]
    test_offsets, group_offsets = plan_positions(ctx.text, [t["id"] for t in raw_tests])
    seen: dict[str, int] = {}
    keys_with_templates = TEMPLATE_KEY.search(ctx.text) is not None
    for index, raw in enumerate(raw_tests):
        problem = url_problem(raw["endpoint"])
        if problem is not None:
            raise ctx.error(["tests", index, "endpoint"], problem)
        if raw["id"] in seen:
            first = ctx.index.line(test_offsets[seen[raw["id"]]]) + 1
            raise ctx.error(
                ["tests", index, "id"], f"duplicate test id {raw['id']!r} (first at line {first})"
            )
        seen[raw["id"]] = index
        for part in ("input", "expected") if keys_with_templates else ():
            found = _template_keys(raw.get(part), ["tests", index, part])
            if found is not None:
                raise ctx.error(found, "templates are not allowed in object keys")
    membership: dict[str, str] = {}
    group_ids: set[str] = set()
    for gindex, group in enumerate(raw_groups):
        if group["id"] in group_ids:
            raise ctx.error(["groups", gindex, "id"], f"duplicate group id {group['id']!r}")
        group_ids.add(group["id"])
        for tindex, tid in enumerate(group["tests"]):
            if tid not in seen:
                raise ctx.error(
                    ["groups", gindex, "tests", tindex], f"group names unknown test {tid!r}"
                )
            if tid in membership:
                raise ctx.error(
                    ["groups", gindex, "tests", tindex],
                    f"test {tid!r} is already in group {membership[tid]!r}",
                )
            membership[tid] = group["id"]
    for index, raw in enumerate(raw_tests):
        for dindex, dep in enumerate(raw.get("depends_on", [])):
            if dep not in seen:
                raise ctx.error(
                    ["tests", index, "depends_on", dindex], f"unknown test id {dep!r}"
                )
    _check_cycles(ctx, raw_tests, seen)
    share = _Sharing(seen)
    text, values = share.text, share.value
    test_lines = _lines(ctx.text, test_offsets, len(raw_tests))
    unknown_of: dict[tuple[str, ...], tuple[str, ...]] = {}
    tests: dict[str, PlanTest] = {}
    for index, line in enumerate(test_lines):
        raw = raw_tests[index]
        raw_tests[index] = _CONSUMED  # freed once built: the raw plan and its tests never peak
        expected = raw["expected"]
        tid = text(raw["id"])
        keys = tuple(raw)
        unknown_fields = unknown_of.get(keys)
        if unknown_fields is None:
            unknown_fields = unknown_of[keys] = tuple(sorted(set(keys) - KNOWN_TEST))
        depends_on = raw.get("depends_on")
        captures = raw.get("captures")
        tests[tid] = PlanTest(
            id=tid,
            service=text(raw.get("service", "")),
            title=text(raw.get("test", "")),
            method=text(raw["method"]),
            endpoint=text(raw["endpoint"]),
            input=values(raw.get("input")),
            expected_status=values(_statuses(expected["status"])),
            expected_body=values(expected.get("body")),
            body_equals=expected.get("body_equals"),
            depends_on=values(tuple(map(text, depends_on))) if depends_on else (),
            captures=values(tuple(captures.items())) if captures else (),
            notes=text(raw.get("notes") or ""),
            flags=plan_test_flags(
                has_body_shape="body" in expected and expected["body"] is not None,
                skip=bool(raw.get("skip", False)), retry=bool(raw.get("retry", False)),
                generated=bool(raw.get("generated", False)), paid=raw.get("paid"),
            ),
            line=line,
            unknown_fields=unknown_fields,
            group=text(membership.get(tid, "")),
        )
    group_lines = _lines(ctx.text, group_offsets, len(raw_groups))
    groups = tuple(
        PlanGroup(
            id=text(g["id"]), name=g.get("name", g["id"]), prompt=g.get("prompt", ""),
            test_ids=tuple(map(text, g["tests"])),
            line=line,
            canary_only=bool(g.get("canary_only", False)), interface=g.get("interface", "api"),
            setup=g.get("setup", ""), cleanup=g.get("cleanup", ""),
        )
        for g, line in zip(raw_groups, group_lines, strict=True)
    )
    unknown = set(data) - KNOWN_TOP
    for g in raw_groups:
        unknown |= {f"groups.{k}" for k in set(g) - KNOWN_GROUP}
    return Plan(
        path=ctx.path,
        name=str(data.get("plan", "")),
        version=data.get("version"),
        network=str(data.get("network", "")),
        context=str(data.get("context", "")),
        groups=groups,
        tests=tests,
        unknown_fields=tuple(sorted(unknown)),
        ungrouped=tuple(t for t in seen if t not in membership),
    )


def _check_cycles(ctx: _Context, raw_tests: list[dict[str, Any]], seen: dict[str, int]) -> None:
    deps = {raw["id"]: list(raw.get("depends_on", [])) for raw in raw_tests}
    state: dict[str, int] = {}
    for start in deps:
        if state.get(start):
            continue
        stack: list[tuple[str, int]] = [(start, 0)]
        trail: list[str] = []
        while stack:
            node, child = stack.pop()
            if child == 0:
                state[node] = 1
                trail.append(node)
            if child < len(deps[node]):
                stack.append((node, child + 1))
                nxt = deps[node][child]
                if state.get(nxt) == 1:
                    cycle = [*trail[trail.index(nxt):], nxt]
                    index = seen[node]
                    raise ctx.error(
                        ["tests", index, "depends_on", child],
                        "dependency cycle " + " -> ".join(cycle),
                    )
                if not state.get(nxt):
                    stack.append((nxt, 0))
            else:
                state[node] = 2
                trail.pop()


def dependency_closure(plan: Plan, test_ids: Iterable[str]) -> set[str]:
    """The transitive ``depends_on`` closure of ``test_ids`` (themselves included)."""
    out: set[str] = set()
    stack = list(test_ids)
    while stack:
        tid = stack.pop()
        if tid in out or tid not in plan.tests:
            continue
        out.add(tid)
        stack.extend(plan.tests[tid].depends_on)
    return out
