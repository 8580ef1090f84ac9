"""Which ``routes_map`` routes no plan test covers, and the tests that cover them (pure).

Follows prim.sh's ``scripts/gen-gate.ts`` (I-33): a route is covered by a test with the same
method on the prim's host whose path matches the template (``{{var}}`` and literal segments
match ``:param``; literal route segments must be equal; the most specific route wins). A
generated test has ``generated: true``, the prim's id prefix numbered after the highest existing
number, and ``depends_on`` the prim's health test, the funding test when paid, and the tests
that create the resources its path names. Decisions: ``docs/decisions.md`` ("primgate gen").
"""

from __future__ import annotations

import functools
import re
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import urlsplit

from pytest_primgate.generate.shapes import id_capture, route_template, schema_to_shape
from pytest_primgate.manifests.prims import Prim
from pytest_primgate.manifests.routes_map import RouteEntry

PREFIXES = {"wallet": "W", "faucet": "FC", "store": "ST", "search": "SE", "email": "E",
            "spawn": "SP", "infer": "INF", "track": "TR", "token": "TK", "domain": "D",
            "mem": "M"}
"""Test id prefix per prim (gen-gate's table); any other prim uses its id upper-cased."""
BUILTINS = frozenset({"test_prefix", "runner", "iso_timestamp", "agent_address", "eip191_sig",
                      "ssh_pubkey"})
PARAM_VARS = {"address": "agent_address", "key": "object_key", "msgId": "message_id",
              "whId": "webhook_id"}
SINGULAR = {"wallets": "wallet", "buckets": "bucket", "servers": "server",
            "mailboxes": "mailbox", "messages": "message", "domains": "domain",
            "webhooks": "webhook", "objects": "object", "models": "model",
            "ssh-keys": "ssh_key", "fund-requests": "fund_request"}
FUNDING_PATH = ("v1", "faucet", "usdc")
WRITE_METHODS = frozenset({"POST", "PUT", "PATCH"})
_ID = re.compile(r"^([A-Z]+)-(?:[A-Z]*)(\d+)$")

SchemaLookup = Callable[[str], Mapping[str, Mapping[str, Any]]]
"""prim id -> ``{"METHOD /template": {"status", "response"}}``."""


@dataclass
class Generation:
    """What ``primgate gen`` adds to a plan."""

    tests: list[dict[str, Any]] = field(default_factory=list)
    """New tests, in the order they are appended to ``tests``."""
    routes: list[tuple[RouteEntry, str]] = field(default_factory=list)
    """Each uncovered route and the id of the test generated for it."""
    placements: dict[str, list[tuple[str, str | None]]] = field(default_factory=dict)
    """Existing group id -> (new test id, id it goes before, or None: appended)."""
    new_groups: list[dict[str, Any]] = field(default_factory=list)
    captures: dict[str, dict[str, str]] = field(default_factory=dict)
    """Existing generated test id -> its captures with the ones newly needed."""
    notes: list[str] = field(default_factory=list)


def split_path(path: str) -> list[str]:
    """Non-empty segments of a URL path (``/`` has none)."""
    return [s for s in path.split("/") if s]


def _is_param(segment: str) -> bool:
    return segment.startswith(":") or (segment.startswith("{") and not segment.startswith("{{"))


def match_score(route: Sequence[str], test: Sequence[str]) -> int | None:
    """How many literal segments agree, or None when the test path does not fit the route."""
    if len(route) != len(test):
        return None
    score = 0
    for r, t in zip(route, test, strict=True):
        if _is_param(r):
            continue
        if "{{" in t or r != t:
            return None
        score += 1
    return score


def prim_host(endpoint: str) -> str:
    """Host of a prim.yaml ``endpoint`` (``store.prim.sh`` or a URL)."""
    if "://" in endpoint:
        return (urlsplit(endpoint).hostname or "").lower()
    return endpoint.split("/")[0].split(":")[0].lower()


def base_url(endpoint: str) -> str:
    """``https://<endpoint>`` unless the endpoint already has a scheme."""
    return endpoint.rstrip("/") if "://" in endpoint else f"https://{endpoint.rstrip('/')}"


@functools.lru_cache(maxsize=65536)
def _parse(method: str, endpoint: str) -> tuple[str, str, tuple[str, ...]] | None:
    try:
        parts = urlsplit(endpoint)
        host = (parts.hostname or "").lower()
    except ValueError:
        return None
    return method.upper(), host, tuple(split_path(parts.path))


def test_route(test: Mapping[str, Any]) -> tuple[str, str, tuple[str, ...]] | None:
    """(method, host, path segments) of a plan test's endpoint, query dropped."""
    endpoint = test.get("endpoint")
    if not isinstance(endpoint, str):
        return None
    return _parse(str(test.get("method", "GET")), endpoint)


class RouteIndex:
    """One prim's routes grouped by method, length and which segments are literal: a test is
    matched with one dict lookup per literal pattern instead of a scan over every route."""

    def __init__(self, host: str, routes: Sequence[RouteEntry]) -> None:
        self.host = host
        Table = dict[tuple[str, ...], tuple[int, RouteEntry]]
        self.patterns: dict[tuple[str, int], dict[tuple[int, ...], Table]] = {}
        for order, route in enumerate(routes):
            segments = split_path(route.path)
            literal = tuple(i for i, seg in enumerate(segments) if not _is_param(seg))
            tables = self.patterns.setdefault((route.method, len(segments)), {})
            values = tuple(segments[i] for i in literal)
            tables.setdefault(literal, {}).setdefault(values, (order, route))

    def covering(self, test: Mapping[str, Any]) -> RouteEntry | None:
        """The most specific route a test exercises (first listed on a tie)."""
        parsed = test_route(test)
        if parsed is None or parsed[1] != self.host:
            return None
        segments = parsed[2]
        best: tuple[int, int, RouteEntry] | None = None
        for literal, table in self.patterns.get((parsed[0], len(segments)), {}).items():
            values = tuple(segments[i] for i in literal)
            if any("{{" in v for v in values):
                continue
            found = table.get(values)
            if found is not None and (best is None or (-len(literal), found[0]) < best[:2]):
                best = (-len(literal), found[0], found[1])
        return best[2] if best else None


def covering_route(test: Mapping[str, Any], host: str,
                   routes: Sequence[RouteEntry]) -> RouteEntry | None:
    """The most specific route of one prim a test exercises (first listed on a tie)."""
    return RouteIndex(host, routes).covering(test)


def uncovered(tests: Sequence[Mapping[str, Any]], prim: Prim,
              routes: Sequence[RouteEntry]) -> list[RouteEntry]:
    """Routes of one prim (listed order, duplicates once) that no test covers."""
    index = RouteIndex(prim_host(prim.endpoint), routes)
    covered = {r.key for t in tests if (r := index.covering(t)) is not None}
    out: list[RouteEntry] = []
    for route in routes:
        if route.key not in covered and all(route.key != o.key for o in out):
            out.append(route)
    return out


def singular(word: str) -> str:
    """gen-gate's singular of a collection segment (``ssh-keys`` -> ``ssh_key``)."""
    return SINGULAR.get(word) or re.sub(r"s$", "", word).replace("-", "_")


def param_var(prim_id: str, segments: Sequence[str], index: int) -> str:
    """Template variable for the ``:param`` at ``segments[index]`` (gen-gate's names)."""
    name = segments[index].lstrip(":").strip("{}").split(":")[0]
    if name in PARAM_VARS:
        return PARAM_VARS[name]
    if name == "id":
        return f"{singular(segments[index - 1])}_id" if index > 0 else f"{prim_id}_id"
    return re.sub(r"([A-Z])", r"_\1", name).lower().lstrip("_")


def prefix_of(prim_id: str) -> str:
    """Test id prefix of a prim."""
    return PREFIXES.get(prim_id, prim_id.upper())


def _max_numbers(tests: Sequence[Mapping[str, Any]]) -> dict[str, int]:
    out: dict[str, int] = {}
    for test in tests:
        match = _ID.match(str(test.get("id", "")))
        if match:
            out[match.group(1)] = max(out.get(match.group(1), 0), int(match.group(2)))
    return out


def _captures(test: Mapping[str, Any]) -> dict[str, str]:
    raw = test.get("captures")
    return {str(k): str(v) for k, v in raw.items()} if isinstance(raw, dict) else {}


class _Planner:
    """Builds the generated tests of one run; holds the plan's tests and the run's additions."""

    def __init__(self, data: Mapping[str, Any], schemas: SchemaLookup) -> None:
        self.groups: list[Mapping[str, Any]] = [
            g for g in data.get("groups") or [] if isinstance(g, dict)]
        self.tests: list[dict[str, Any]] = [
            t for t in data.get("tests") or [] if isinstance(t, dict)]
        self.existing = {str(t.get("id")) for t in self.tests}
        self.by_id = {str(t.get("id")): t for t in self.tests}
        self.captured: dict[str, dict[str, Any]] = {}
        self.posts: dict[str, list[dict[str, Any]]] = {}
        for test in self.tests:
            for var in _captures(test):
                self.captured.setdefault(var, test)
            parsed = test_route(test)
            if parsed is not None and parsed[0] == "POST":
                self.posts.setdefault(parsed[1], []).append(test)
        self.schemas = schemas
        self.numbers = _max_numbers(self.tests)
        self.out = Generation()

    def next_id(self, prefix: str) -> str:
        self.numbers[prefix] = self.numbers.get(prefix, 0) + 1
        return f"{prefix}-{self.numbers[prefix]}"

    def all_tests(self) -> list[dict[str, Any]]:
        return [*self.tests, *self.out.tests]

    def group_of(self, prim: Prim) -> Mapping[str, Any] | None:
        return next((g for g in self.groups if g.get("id") == prim.id), None)

    def health(self, prim: Prim, host: str) -> str | None:
        group = self.group_of(prim)
        listed = set(group.get("tests") or []) if group else set()
        roots = [t for t in self.all_tests() if (r := test_route(t)) is not None
                 and r[0] == "GET" and r[1] == host and not r[2]]
        preferred = [t for t in roots if t.get("id") in listed] or roots
        return str(preferred[0]["id"]) if preferred else None

    def funding(self) -> str | None:
        for test in self.tests:
            parsed = test_route(test)
            if parsed and parsed[0] == "POST" and tuple(parsed[2][-3:]) == FUNDING_PATH:
                return str(test["id"])
        return None

    def creator(self, host: str, segments: Sequence[str]) -> dict[str, Any] | None:
        """The first test that POSTs to the collection ``segments`` (params match anything)."""
        candidates: list[dict[str, Any]] = [*self.posts.get(host, ()), *self.out.tests]
        for test in candidates:
            parsed = test_route(test)
            if (parsed and parsed[0] == "POST" and parsed[1] == host
                    and match_score(segments, parsed[2]) is not None):
                return test
        return None

    def capturer(self, var: str, exclude: str) -> dict[str, Any] | None:
        found = self.captured.get(var)
        if found is not None and found.get("id") != exclude:
            return found
        generated: dict[str, Any] | None = next(
            (t for t in self.out.tests if t.get("id") != exclude and var in _captures(t)), None)
        return generated

    def schema(self, prim: str, method: str, path: str) -> Mapping[str, Any]:
        return self.schemas(prim).get(f"{method} {route_template(path)}") or {}

    def add_capture(self, test: dict[str, Any], var: str, path: str) -> None:
        captures = {**_captures(test), var: path}
        test["captures"] = captures
        self.captured.setdefault(var, test)
        if test.get("id") in self.existing:
            self.out.captures[str(test["id"])] = captures

    def place(self, prim: Prim, test_id: str, segments: Sequence[str], method: str) -> None:
        """Into the prim's group (new when none has its id): a health test first, any other
        before the first DELETE of a resource its path lives under, else last."""
        group = self.group_of(prim)
        made = next((g for g in self.out.new_groups if g["id"] == prim.id), None)
        if group is None and made is None:
            made = {"id": prim.id, "name": f"{prim.name.removesuffix('.sh')} ({prim.name})",
                    "prompt": f"Test all {prim.name} endpoints on {prim.endpoint}.",
                    "tests": []}
            self.out.new_groups.append(made)
        if made is not None:
            current: list[str] = made["tests"]
        else:
            assert group is not None
            current = [str(x) for x in group.get("tests") or []]
            for placed, before_id in self.out.placements.get(prim.id, []):
                current.insert(current.index(before_id) if before_id in current
                               else len(current), placed)
        before = self._before(current, segments, method)
        if made is not None:
            made["tests"].insert(current.index(before) if before else len(current), test_id)
        else:
            self.out.placements.setdefault(prim.id, []).append((test_id, before))

    def _before(self, current: Sequence[str], segments: Sequence[str],
                method: str) -> str | None:
        if method == "GET" and not segments:
            return current[0] if current else None
        for tid in current:
            test = self.by_id.get(tid)
            parsed = test_route(test) if test is not None else None
            if (parsed and parsed[0] == "DELETE" and len(parsed[2]) < len(segments)
                    and match_score(segments[:len(parsed[2])], parsed[2]) is not None):
                return tid
        return None

    def health_test(self, prim: Prim, test_id: str) -> dict[str, Any]:
        return {"id": test_id, "service": prim.name, "test": "Health check", "method": "GET",
                "endpoint": f"{base_url(prim.endpoint)}/", "input": None,
                "expected": {"status": 200, "body": {"service": prim.name, "status": "ok"}},
                "depends_on": [], "captures": {}, "notes": "Free.", "generated": True}

    def borrowed_input(self, prim: Prim, route: RouteEntry,
                       routes: Sequence[RouteEntry]) -> Any:
        """Input of a test covering another route of the prim with the same request type."""
        if not route.request:
            return None
        index = RouteIndex(prim_host(prim.endpoint), routes)
        for test in self.tests:
            other = index.covering(test)
            if other is not None and other.key != route.key and other.request == route.request:
                return test.get("input")
        return {}

    def generate(self, prim: Prim, routes: Sequence[RouteEntry]) -> None:
        missing = uncovered(self.all_tests(), prim, routes)
        if not missing:
            return
        host = prim_host(prim.endpoint)
        prefix = prefix_of(prim.id)
        health = self.health(prim, host)
        if health is None:
            health = f"{prefix}-H1"
            root = next((r for r in missing if r.method == "GET" and not split_path(r.path)),
                        RouteEntry(prim.id, "GET", "/", 200, "Health check", "Free.", "", False,
                                   prim.path, prim.line))
            missing = [r for r in missing if r is not root]
            self.out.tests.append(self.health_test(prim, health))
            self.out.routes.append((root, health))
            self.by_id[health] = self.out.tests[-1]
            self.place(prim, health, [], "GET")
            if not missing:
                return
        ids = [self.next_id(prefix) for _ in missing]
        shells: list[dict[str, Any]] = []
        for route, test_id in zip(missing, ids, strict=True):
            shell: dict[str, Any] = {"id": test_id, "method": route.method,
                     "endpoint": base_url(prim.endpoint) + route.path, "generated": True}
            shells.append(shell)
            self.out.tests.append(shell)
            self.by_id[test_id] = shell
            self.out.routes.append((route, test_id))
        funding = self.funding()
        for route, shell, test_id in zip(missing, shells, ids, strict=True):
            self.fill(prim, route, shell, routes, health, funding)
            self.place(prim, test_id, split_path(route.path), route.method)

    def fill(self, prim: Prim, route: RouteEntry, shell: dict[str, Any],
             routes: Sequence[RouteEntry], health: str, funding: str | None) -> None:
        """Complete a generated test (its id, method and raw endpoint are set)."""
        test_id = str(shell["id"])
        host = prim_host(prim.endpoint)
        segments = split_path(route.path)
        deps = [health]
        if route.paid and funding:
            deps.append(funding)
        rendered = list(segments)
        for index, segment in enumerate(segments):
            if not _is_param(segment):
                continue
            var = param_var(prim.id, segments, index)
            rendered[index] = "{{" + var + "}}"
            creator = self.creator(host, segments[:index]) if index > 0 else None
            if creator is not None and creator.get("id") != test_id:
                deps.append(str(creator["id"]))
            if var in BUILTINS:
                continue
            if creator is not None and var in _captures(creator):
                continue
            holder = self.capturer(var, test_id)
            if holder is not None:
                deps.append(str(holder["id"]))
            elif creator is not None and creator.get("id") != test_id and creator.get("generated"):
                ctest = test_route(creator)
                cpath = "/" + "/".join(ctest[2]) if ctest else ""
                response = self.schema(prim.id, "POST", cpath).get("response")
                self.add_capture(creator, var, id_capture(response))
            elif creator is not None and creator.get("id") != test_id:
                path = id_capture(self.schema(prim.id, "POST", "/" + "/".join(segments[:index]))
                                  .get("response"))
                self.out.notes.append(
                    f"{test_id} needs {{{{{var}}}}}: hand-written {creator['id']} does not "
                    f"capture it (add \"captures\": {{\"{var}\": \"{path}\"}} to "
                    f"{creator['id']}; gen never edits hand-written tests)")
            else:
                self.out.notes.append(
                    f"{test_id} needs {{{{{var}}}}}: no test captures it; it runs blocked "
                    f"until one does")
        expected: dict[str, Any] = {"status": route.status}
        spec = self.schema(prim.id, route.method, route.path)
        body = schema_to_shape(spec.get("response")) if spec else None
        if body is not None:
            expected["body"] = body
        kept = _captures(shell)
        description = route.description or f"{route.method} {route.path}"
        notes = f"{'x402 paid' if route.paid else 'Free'}. {description}"
        shell.clear()
        shell.update({
            "id": test_id, "service": prim.name, "test": description, "method": route.method,
            "endpoint": base_url(prim.endpoint) + "/" + "/".join(rendered),
            "input": (self.borrowed_input(prim, route, routes)
                      if route.method in WRITE_METHODS else None),
            "expected": expected, "depends_on": list(dict.fromkeys(deps)), "captures": kept,
            "notes": notes,
        })
        if route.paid and "free" in description.lower():
            shell["paid"] = True
        shell["generated"] = True
        if not segments:
            shell["endpoint"] = base_url(prim.endpoint) + "/"


def plan_generation(data: Mapping[str, Any], prims: Sequence[Prim],
                    routes: Mapping[str, Sequence[RouteEntry]],
                    schemas: SchemaLookup) -> Generation:
    """The tests, group entries and captures that cover every route of ``prims``."""
    planner = _Planner(data, schemas)
    for prim in prims:
        entries = routes.get(prim.id) or ()
        if entries and prim.endpoint:
            planner.generate(prim, entries)
        elif entries:
            planner.out.notes.append(f"{prim.id} has routes_map but no endpoint: skipped")
    return planner.out

