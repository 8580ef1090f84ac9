"""Pure checks of plan tests: shape matching, templating, captures, free-route and notes rules.

The shape vocabulary and the wording of mismatch messages follow prim.sh's gate runner
(``matchShape``, reference §2.6), with these deliberate differences:

- ``[shape]`` checks **every** element against ``expected[0]``, not only the first; the path
  names the element (``$.results[3].url``);
- ``"number >= N"`` also accepts a decimal or negative N; ``True``/``False`` are never numbers;
- JSON ``null`` is reported as ``null`` (JavaScript says ``object``), a missing key as
  ``undefined``; ``"object"`` is a type word (upstream would compare it as a literal);
- a value that is still an unresolved ``{{var}}`` (starts with ``{{``, ends with ``}}``) only
  requires a string, as upstream; once rendered it is an ordinary literal, compared exactly.
"""

from __future__ import annotations

import json
import math
import re
from collections.abc import Mapping
from decimal import Decimal
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from pytest_primgate.manifests.plan import PlanTest

TEMPLATE = re.compile(r"\{\{\s*(\w+)\s*\}\}")
NUMBER_AT_LEAST = re.compile(r"^number\s*>=\s*(-?\d+(?:\.\d+)?)$")
COUNTS_AS_PASS = re.compile(r"(\d{3})\s*=\s*([^.;,]*?)\s*,?\s*counts as pass", re.IGNORECASE)
TYPE_WORDS = frozenset(
    {"string", "number", "boolean", "array", "array (non-empty)", "non-empty string", "object"}
)


def js_type(value: Any) -> str:
    """The JavaScript ``typeof`` name of a JSON value (``undefined`` for a missing key)."""
    if value is _MISSING:
        return "undefined"
    if value is None:
        return "null"
    if isinstance(value, bool):
        return "boolean"
    if isinstance(value, int | float):
        return "number"
    if isinstance(value, str):
        return "string"
    if isinstance(value, list):
        return "array"
    return "object"


class _Missing:
    def __repr__(self) -> str:
        return "undefined"


_MISSING: Any = _Missing()


def _dump(value: Any) -> str:
    """``JSON.stringify`` as the upstream messages print it."""
    if value is _MISSING:
        return "undefined"
    if isinstance(value, float) and not isinstance(value, bool):
        return js_string(value)
    return json.dumps(value, separators=(",", ":"), ensure_ascii=False)


def match_shape(actual: Any, expected: Any, path: str = "$") -> str | None:
    """None when ``actual`` has the ``expected`` shape, else the first mismatch with its path."""
    if expected is None:
        return None
    if isinstance(expected, str):
        return _match_word(actual, expected, path)
    if isinstance(expected, list):
        if not isinstance(actual, list):
            return f"{path}: expected array, got {js_type(actual)}"
        if expected:
            for index, element in enumerate(actual):
                problem = match_shape(element, expected[0], f"{path}[{index}]")
                if problem is not None:
                    return problem
        return None
    if isinstance(expected, dict):
        if not isinstance(actual, dict):
            return f"{path}: expected object, got {js_type(actual)}"
        for key, sub in expected.items():
            problem = match_shape(actual.get(key, _MISSING), sub, f"{path}.{key}")
            if problem is not None:
                return problem
        return None
    if isinstance(expected, bool) or isinstance(actual, bool):
        same = isinstance(actual, bool) and isinstance(expected, bool) and actual is expected
    else:
        same = actual == expected and js_type(actual) == js_type(expected)
    return None if same else f"{path}: expected {_dump(expected)}, got {_dump(actual)}"


def _match_word(actual: Any, word: str, path: str) -> str | None:
    kind = js_type(actual)
    if word in ("string", "number", "boolean", "array", "object"):
        ok = kind == word
        return None if ok else f"{path}: expected {word}, got {kind}"
    if word == "array (non-empty)":
        if kind != "array":
            return f"{path}: expected array, got {kind}"
        return None if actual else f"{path}: expected non-empty array, got empty"
    if word == "non-empty string":
        if kind != "string":
            return f"{path}: expected string, got {kind}"
        return None if actual else f"{path}: expected non-empty string"
    at_least = NUMBER_AT_LEAST.match(word)
    if at_least:
        if kind != "number" or (isinstance(actual, float) and math.isnan(actual)):
            return f"{path}: expected number, got {kind}"
        bound = float(at_least.group(1))
        if actual >= bound:
            return None
        return f"{path}: expected >= {at_least.group(1)}, got {js_string(actual)}"
    if word.startswith("{{") and word.endswith("}}"):
        return None if kind == "string" else f"{path}: expected string (template), got {kind}"
    if actual == word and kind == "string":
        return None
    return f"{path}: expected {json.dumps(word, ensure_ascii=False)}, got {_dump(actual)}"


def render(value: Any, variables: Mapping[str, str]) -> Any:
    """Replace ``{{name}}`` in strings, recursively through lists and dict values.

    Unknown names stay in place (``unresolved`` lists them). Keys are never templated.
    """
    if isinstance(value, str):
        if "{{" not in value:
            return value
        return TEMPLATE.sub(lambda m: variables.get(m.group(1), m.group(0)), value)
    if isinstance(value, list):
        return [render(v, variables) for v in value]
    if isinstance(value, dict):
        return {k: render(v, variables) for k, v in value.items()}
    return value


def unresolved(value: Any) -> list[str]:
    """Sorted names of ``{{vars}}`` still present in string values (keys excluded)."""
    names: set[str] = set()

    def walk(v: Any) -> None:
        if isinstance(v, str):
            names.update(TEMPLATE.findall(v))
        elif isinstance(v, list):
            for x in v:
                walk(x)
        elif isinstance(v, dict):
            for x in v.values():
                walk(x)

    walk(value)
    return sorted(names)


CAPTURE_SEGMENT = re.compile(r"^([^\[\]]*)((?:\[-?\d+\])*)$")


def resolve_capture(body: Any, path: str) -> tuple[bool, Any]:
    """Follow ``$.a.b[0].id`` through ``body``; ``(False, None)`` when missing or null."""
    if not path.startswith("$"):
        return False, None
    rest = path[1:]
    node = body
    for segment in (s for s in rest.split(".") if s):
        match = CAPTURE_SEGMENT.match(segment)
        if match is None:
            return False, None
        name, indexes = match.groups()
        if name:
            if not isinstance(node, dict) or name not in node:
                return False, None
            node = node[name]
        for index in re.findall(r"-?\d+", indexes):
            if not isinstance(node, list):
                return False, None
            try:
                node = node[int(index)]
            except IndexError:
                return False, None
    return (node is not None), node


def js_string(value: float | int) -> str:
    """A number as JavaScript's ``String(n)`` prints it (shortest digits, exponent rules)."""
    if isinstance(value, int) and abs(value) < 2**53:
        return str(value)
    number = float(value)
    if math.isnan(number):
        return "NaN"
    if math.isinf(number):
        return "Infinity" if number > 0 else "-Infinity"
    if number == 0:
        return "0"
    sign = "-" if number < 0 else ""
    exact = Decimal(repr(abs(number)))
    digits = "".join(map(str, exact.as_tuple().digits)).rstrip("0") or "0"
    point = exact.adjusted() + 1
    size = len(digits)
    if size <= point <= 21:
        return sign + digits + "0" * (point - size)
    if 0 < point <= 21:
        return sign + digits[:point] + "." + digits[point:]
    if -6 < point <= 0:
        return sign + "0." + "0" * -point + digits
    mantissa = digits[0] + ("." + digits[1:] if size > 1 else "")
    return f"{sign}{mantissa}e{'+' if point > 0 else '-'}{abs(point - 1)}"


def capture_value(value: Any) -> str:
    """A captured value as the upstream runner stores it (JavaScript ``String(value)``)."""
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, int | float):
        return js_string(value)
    if isinstance(value, dict | list):
        return json.dumps(value, separators=(",", ":"), ensure_ascii=False)
    return str(value)


def counts_as_pass(notes: str | None) -> dict[int, str]:
    """Statuses that the notes excuse: ``"409 = already registered, counts as pass"``."""
    if not notes:
        return {}
    return {int(code): text.strip() for code, text in COUNTS_AS_PASS.findall(notes)}


def status_ok(status: int, expected: tuple[int, ...]) -> bool:
    """Whether ``status`` is one of the expected statuses."""
    return status in expected


def is_root_url(endpoint: str) -> bool:
    """A URL whose path is empty or ``/`` (the health checks)."""
    from urllib.parse import urlsplit

    path = urlsplit(endpoint).path
    return path in ("", "/")


def needs_payment(test: PlanTest) -> bool:
    """A paid test that does not itself expect the 402: it will need the x402 client."""
    return not is_free(test) and 402 not in test.expected_status


def is_free(test: PlanTest) -> bool:
    """SPEC §4: GET on a root URL, notes that say "free", or ``"paid": false``."""
    if test.paid is not None:
        return not test.paid
    if test.method == "GET" and is_root_url(test.endpoint) and "/v1/" not in test.endpoint:
        return True
    return "free" in (test.notes or "").lower()
