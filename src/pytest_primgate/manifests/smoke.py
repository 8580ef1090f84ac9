"""Load smoke manifests: workgraph's ``[[scenario]]`` TOML plus primgate's ``expect_*`` keys.

``load_smoke(path)`` parses with tomllib, validates with ``schemas/smoke.schema.json`` and the
checks a schema cannot express (unique names, regexes, quorum <= runs, require_assertions), and
raises ``ManifestError(path, line, field, message)`` on the first problem. Regexes are compiled
here, once, so the runner does no per-attempt compilation.
"""

from __future__ import annotations

import math
import re
import tomllib
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import regex

from pytest_primgate.manifests.errors import ManifestError
from pytest_primgate.manifests.limits import (
    DEPTH_MESSAGE,
    depth_offset,
    line_of,
    non_finite,
    too_deep,
)
from pytest_primgate.manifests.schema import validator
from pytest_primgate.manifests.tomllines import TomlLines

DEFAULT_TIMEOUT_SECONDS = 180.0
"""workgraph's ``DEFAULT_TIMEOUT_SECS``."""

SCENARIO_KEYS = frozenset({
    "name", "script", "owners", "description", "timeout_seconds",
    "expect_exit", "expect_stdout", "expect_stdout_regex", "expect_json", "expect_file",
    "endpoints", "env", "cwd", "prim", "runs", "quorum",
})
TOP_KEYS = frozenset({"scenario", "require_assertions"})
EXPECT_KEYS = ("expect_exit", "expect_stdout", "expect_stdout_regex", "expect_json", "expect_file")

_KEBAB = re.compile(r"^[a-z0-9]+(?:-[a-z0-9]+)*$")
_TOML_POSITION = re.compile(r"\(at line (\d+), column \d+\)")


@dataclass(frozen=True)
class ExpectFile:
    """``expect_file = {path, contains | regex | json}``; path-only means "must exist"."""

    path: str
    contains: tuple[str, ...] = ()
    regex: str | None = None
    json: Any = None
    has_json: bool = False
    pattern: Any = field(default=None, compare=False, repr=False)
    """The compiled ``regex`` pattern (matched with a time limit by the runner)."""


@dataclass(frozen=True)
class Scenario:
    """One ``[[scenario]]`` table."""

    name: str
    script: str
    owners: tuple[str, ...] = ()
    description: str = ""
    timeout_seconds: float = DEFAULT_TIMEOUT_SECONDS
    expect_exit: int | None = None
    expect_stdout: tuple[str, ...] = ()
    expect_stdout_regex: str | None = None
    expect_json: Any = None
    has_expect_json: bool = False
    expect_file: tuple[ExpectFile, ...] = ()
    endpoints: tuple[str, ...] = ()
    env: dict[str, str] = field(default_factory=dict)
    cwd: str | None = None
    prim: str | None = None
    runs: int | None = None
    quorum: int | None = None
    line: int = 0
    """0-based line of the ``[[scenario]]`` header."""
    unknown_fields: tuple[str, ...] = ()
    stdout_pattern: Any = field(default=None, compare=False, repr=False)
    """The compiled ``regex`` pattern of ``expect_stdout_regex``."""

    @property
    def has_assertions(self) -> bool:
        """True when the scenario states its expected output (any ``expect_*`` key)."""
        return (
            self.expect_exit is not None or bool(self.expect_stdout)
            or self.expect_stdout_regex is not None or self.has_expect_json
            or bool(self.expect_file)
        )


@dataclass(frozen=True)
class SmokeManifest:
    """A loaded smoke manifest."""

    path: str
    require_assertions: bool
    scenarios: tuple[Scenario, ...]
    unknown_fields: tuple[str, ...] = ()

    def owned_by(self, task: str) -> tuple[Scenario, ...]:
        """Scenarios whose owners contain ``task`` (exact match, as workgraph)."""
        return tuple(s for s in self.scenarios if task in s.owners)


def owners_kebab_ok(owner: str) -> bool:
    """Owners are task ids in kebab-case (``smoke-gate-is``)."""
    return bool(_KEBAB.match(owner))


def _type_name(value: Any) -> str:
    if isinstance(value, bool):
        return "boolean"
    if isinstance(value, int | float):
        return "number"
    if isinstance(value, str):
        return "string"
    if isinstance(value, list):
        return "array"
    if isinstance(value, dict):
        return "table"
    return type(value).__name__


_EXPECTED_TYPE = {
    "string": "a string", "number": "a number", "integer": "an integer",
    "boolean": "true or false", "array": "an array", "object": "a table",
}


def _field_name(path: list[str | int]) -> str:
    out = ""
    for part in path:
        if isinstance(part, int):
            out += f"[{part}]"
        else:
            out += ("." if out else "") + part
    return out


def _schema_message(error: Any) -> str:
    """A short, human message for one jsonschema error."""
    kind = error.validator
    value = error.instance
    if kind == "required":
        missing = str(error.message).split("'")[1] if "'" in error.message else "?"
        return f"missing required key '{missing}'"
    if kind == "type":
        want = _EXPECTED_TYPE.get(str(error.validator_value), str(error.validator_value))
        return f"must be {want}, got {_type_name(value)} {value!r}"
    if kind == "anyOf":
        wanted = [
            _EXPECTED_TYPE.get(str(e.validator_value), str(e.validator_value))
            for e in error.context if e.validator == "type" and not e.relative_path
        ]
        return f"must be {' or '.join(dict.fromkeys(wanted))}, got {_type_name(value)} {value!r}"
    if kind == "minLength":
        return "must not be empty"
    if kind in ("minimum", "exclusiveMinimum", "maximum"):
        op = {"minimum": ">=", "exclusiveMinimum": ">", "maximum": "<="}[kind]
        return f"must be {op} {error.validator_value}, got {value!r}"
    if kind == "pattern" and "=" in str(error.validator_value):
        return f"environment variable name {value!r} must not be empty or contain '=' or NUL"
    if kind == "pattern":
        return f"{value!r} must not contain a NUL character"
    if kind == "additionalProperties":
        return str(error.message).replace("Additional properties", "unknown keys")
    return str(error.message)


class _Locator:
    """Maps ``scenario[i].key`` fields to 1-based lines."""

    def __init__(self, path: str, text: str) -> None:
        self.path = path
        self.lines = TomlLines.scan(text)
        self.headers = self.lines.array_headers("scenario")

    def line(self, index: int | None, key: str | None = None, nth: int = 0) -> int | None:
        if index is None:
            found = self.lines.top_key_line(key) if key else None
            return None if found is None else found + 1
        if key is not None:
            found = self.lines.key_line("scenario", index, key, nth)
            if found is not None:
                return found + 1
        return self.headers[index] + 1 if index < len(self.headers) else None

    def error(
        self, index: int | None, key: str | None, message: str, nth: int = 0
    ) -> ManifestError:
        where = "" if index is None else f"scenario[{index}]"
        field_name = where + (("." if where else "") + key if key else "")
        return ManifestError(self.path, self.line(index, key, nth), field_name, message)


def _schema_error(loc: _Locator, error: Any) -> ManifestError:
    while error.validator == "anyOf" and error.context:
        # a branch whose type matched explains the problem better than "wrong type"
        deeper = [e for e in error.context if e.relative_path or e.validator != "type"]
        if not deeper:
            break
        error = min(deeper, key=_sort_key)
    path = list(error.absolute_path)
    if error.validator == "required":
        missing = error.message.split("'")[1] if "'" in error.message else None
        if missing:
            path = [*path, missing]
    field_name = _field_name(path)
    line: int | None = None
    if len(path) >= 2 and path[0] == "scenario" and isinstance(path[1], int):
        key = path[2] if len(path) >= 3 and isinstance(path[2], str) else None
        nth = path[3] if len(path) >= 4 and isinstance(path[3], int) else 0
        line = loc.line(path[1], key, nth)
    elif path and isinstance(path[0], str):
        line = loc.line(None, path[0])
    return ManifestError(loc.path, line, field_name, _schema_message(error))


def _path_error(loc: _Locator, path: list[str | int], message: str) -> ManifestError:
    """An error at a document path (``scenario[i].key...``), with the best line known."""
    line: int | None = None
    if len(path) >= 2 and path[0] == "scenario" and isinstance(path[1], int):
        key = path[2] if len(path) >= 3 and isinstance(path[2], str) else None
        line = loc.line(path[1], key)
    elif path and isinstance(path[0], str):
        line = loc.line(None, path[0])
    return ManifestError(loc.path, line, _field_name(path), message)


def _compile(loc: _Locator, index: int, key: str, pattern: str, nth: int = 0) -> Any:
    """Check the syntax with ``re`` (its messages) and compile with ``regex``, whose matching
    takes a time limit (the runner gives it what is left of the scenario's deadline)."""
    try:
        re.compile(pattern, re.MULTILINE)
        return regex.compile(pattern, regex.MULTILINE)
    except (re.error, regex.error) as exc:
        raise loc.error(index, key, f"invalid regex {pattern!r}: {exc}", nth) from None
    except (RecursionError, OverflowError, ValueError, MemoryError) as exc:
        raise loc.error(index, key, f"regex {pattern!r} is too complex ({exc})", nth) from None


def _expect_files(loc: _Locator, index: int, raw: Any) -> tuple[ExpectFile, ...]:
    entries = [raw] if isinstance(raw, dict) else list(raw or [])
    out: list[ExpectFile] = []
    for nth, entry in enumerate(entries):
        contains = entry.get("contains", ())
        regex = entry.get("regex")
        out.append(ExpectFile(
            path=entry["path"],
            contains=(contains,) if isinstance(contains, str) else tuple(contains),
            regex=regex,
            json=entry.get("json"),
            has_json="json" in entry,
            pattern=_compile(loc, index, "expect_file", regex, nth) if regex is not None else None,
        ))
    return tuple(out)


def _scenario(loc: _Locator, index: int, raw: dict[str, Any]) -> Scenario:
    regex = raw.get("expect_stdout_regex")
    stdout = raw.get("expect_stdout", ())
    runs = raw.get("runs")
    quorum = raw.get("quorum")
    if quorum is not None and runs is not None and quorum > runs:
        raise loc.error(index, "quorum", f"quorum ({quorum}) must not exceed runs ({runs})")
    timeout = raw.get("timeout_seconds", DEFAULT_TIMEOUT_SECONDS)
    if not math.isfinite(timeout):
        raise loc.error(index, "timeout_seconds", f"must be a finite number, got {timeout!r}")
    owners = tuple(o.strip() for o in raw.get("owners", ()) if o.strip())
    return Scenario(
        name=raw["name"],
        script=raw["script"],
        owners=owners,
        description=raw.get("description", ""),
        timeout_seconds=float(timeout),
        expect_exit=raw.get("expect_exit"),
        expect_stdout=(stdout,) if isinstance(stdout, str) else tuple(stdout),
        expect_stdout_regex=regex,
        expect_json=raw.get("expect_json"),
        has_expect_json="expect_json" in raw,
        expect_file=_expect_files(loc, index, raw.get("expect_file")),
        endpoints=tuple(raw.get("endpoints", ())),
        env=dict(raw.get("env", {})),
        cwd=raw.get("cwd"),
        prim=raw.get("prim"),
        runs=runs,
        quorum=quorum,
        line=(loc.line(index) or 1) - 1,
        unknown_fields=tuple(sorted(set(raw) - SCENARIO_KEYS)),
        stdout_pattern=_compile(loc, index, "expect_stdout_regex", regex) if regex else None,
    )


def parse_smoke(text: str, path: str) -> SmokeManifest:
    """Parse and validate manifest ``text``; ``path`` is used in errors and kept as is."""
    try:
        data = tomllib.loads(text)
    except RecursionError:
        line = line_of(text, depth_offset(text, "[{", "]}"))
        raise ManifestError(path, line, "", DEPTH_MESSAGE) from None
    except (ValueError, OverflowError) as exc:
        if not isinstance(exc, tomllib.TOMLDecodeError):
            raise ManifestError(path, None, "", f"invalid TOML: {exc}") from None
        message = str(exc)
        position = _TOML_POSITION.search(message)
        line = int(position.group(1)) if position else None
        if line is None and "(at end of document)" in message:
            line = max(1, len(text.splitlines()))
        cleaned = _TOML_POSITION.sub("", message).replace("(at end of document)", "").strip()
        raise ManifestError(path, line, "", f"invalid TOML: {cleaned}") from None
    loc = _Locator(path, text)
    for check, message in ((too_deep, DEPTH_MESSAGE), (non_finite, "must be a finite number")):
        found = check(data)
        if found is not None:
            raise _path_error(loc, list(found), message)
    errors = list(validator("smoke").iter_errors(data))
    if errors:
        raise _schema_error(loc, min(errors, key=_sort_key))
    raw_scenarios: list[dict[str, Any]] = data.get("scenario", [])
    require = bool(data.get("require_assertions", False))
    scenarios: list[Scenario] = []
    seen: dict[str, int] = {}
    for index, raw in enumerate(raw_scenarios):
        scenario = _scenario(loc, index, raw)
        if scenario.name in seen:
            first = seen[scenario.name]
            raise loc.error(
                index, "name",
                f"duplicate scenario name '{scenario.name}' (first defined at line "
                f"{loc.line(first, 'name')}, again at line {loc.line(index, 'name')}); "
                "the manifest is grow-only and a name collision masks a regression",
            )
        seen[scenario.name] = index
        if require and not scenario.has_assertions:
            raise loc.error(
                index, None,
                f"scenario '{scenario.name}' has no expect_* key, but the manifest sets "
                "require_assertions = true (state the expected output: expect_stdout, "
                "expect_stdout_regex, expect_json, expect_file or expect_exit)",
            )
        scenarios.append(scenario)
    return SmokeManifest(
        path=path,
        require_assertions=require,
        scenarios=tuple(scenarios),
        unknown_fields=tuple(sorted(set(data) - TOP_KEYS)),
    )


def _sort_key(error: Any) -> tuple[list[tuple[int, str]], int]:
    """Errors in file order: by path (indexes numerically), 'required' first."""
    parts = [(p, "") if isinstance(p, int) else (-1, str(p)) for p in error.absolute_path]
    return parts, 0 if error.validator == "required" else 1


def load_smoke(path: Path) -> SmokeManifest:
    """Load and validate the smoke manifest at ``path``."""
    try:
        text = path.read_text(encoding="utf-8")
    except OSError as exc:
        raise ManifestError(str(path), None, "", f"cannot read manifest: {exc.strerror}") from None
    except UnicodeDecodeError:
        raise ManifestError(str(path), None, "", "manifest is not UTF-8 text") from None
    return parse_smoke(text, str(path))
