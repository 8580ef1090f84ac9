"""Property-based fuzzing of every manifest loader with mutants of the example manifests.

Mutants of ``manifests/smoke-test-plan.json``, ``manifests/smoke/manifest.toml`` and
``manifests/prims/*.yaml``: deleted keys, wrong types, huge and non-finite numbers, deep
nesting, unicode, duplicate keys, renamed keys and YAML alias bombs. Every mutant either loads
or is refused with a ``ManifestError`` that names the file: any other exception is a bug.
Most examples call the loaders directly; a few batches go through ``pytest --primgate
--collect-only`` in a subprocess (no traceback, no INTERNALERROR, every error names its file).

Bounded for CI (numbers in docs/manifests.md): examples are derandomized (the same every run)
and capped by ``PRIMGATE_FUZZ_EXAMPLES`` (default 120 per loader, a third of that in
collection batches); no example may take longer than a second or two.
"""

from __future__ import annotations

import copy
import json
import os
import re
import shutil
from pathlib import Path
from typing import Any

import pytest
import tomli_w
import yaml
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from pytest_primgate.manifests.errors import ManifestError
from pytest_primgate.manifests.plan import load_plan
from pytest_primgate.manifests.prims import load_prims
from pytest_primgate.manifests.smoke import parse_smoke

ROOT = Path(__file__).resolve().parents[1] / "manifests"
EXAMPLES = int(os.environ.get("PRIMGATE_FUZZ_EXAMPLES", "120"))
BATCHES = max(2, EXAMPLES // 40)
BATCH_SIZE = 5

FUZZ = settings(
    max_examples=EXAMPLES, deadline=None, derandomize=True, database=None,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large],
)

PLAN = json.loads((ROOT / "smoke-test-plan.json").read_text())
SMOKE_TEXT = (ROOT / "smoke" / "manifest.toml").read_text()
PRIMS = {p.name: yaml.safe_load(p.read_text()) for p in sorted((ROOT / "prims").glob("*.yaml"))}

DEEP = "__PRIMGATE_DEEP_{}__"
"""Placeholder replaced by N nested arrays after serialising (serialisers recurse too)."""

special_strings = st.sampled_from([
    "", " ", "\x00", "A=B", "=", "http://[::1/", "https://[::1]:99999/", "{{x}}", "{{ }}",
    "GET", "get", "$", "$.a[0]", "é中😀", "\u202e", "a" * 5000, "nan", "-1", "1e308",
])
numbers = st.one_of(
    st.integers(), st.integers(min_value=10**18, max_value=10**40),
    st.sampled_from([float("nan"), float("inf"), float("-inf"), 1e308, -0.0, 0, -1, 101]),
    st.floats(allow_nan=True, allow_infinity=True),
)
scalars = st.one_of(st.none(), st.booleans(), numbers, special_strings, st.text(max_size=12))
values = st.recursive(
    scalars,
    lambda inner: st.lists(inner, max_size=3) | st.dictionaries(st.text(max_size=6), inner,
                                                               max_size=3),
    max_leaves=6,
)
depths = st.sampled_from([2, 30, 61, 62, 63, 64, 65, 200, 995, 3000])
kinds = st.sampled_from(["delete", "replace", "replace", "nest", "rename", "duplicate"])


def _paths(value: Any, prefix: tuple[Any, ...] = ()) -> list[tuple[Any, ...]]:
    out = [prefix]
    if isinstance(value, dict):
        for key, child in value.items():
            out += _paths(child, (*prefix, key))
    elif isinstance(value, list):
        for index, child in enumerate(value):
            out += _paths(child, (*prefix, index))
    return out


@st.composite
def mutant(draw: st.DrawFn, base: Any) -> tuple[Any, list[int], list[tuple[str, Any]]]:
    """(mutated document, depths to splice in, duplicate top-level keys to add)."""
    doc = copy.deepcopy(base)
    deep: list[int] = []
    duplicates: list[tuple[str, Any]] = []
    for _ in range(draw(st.integers(1, 3))):
        path = draw(st.sampled_from(_paths(doc)))
        kind = draw(kinds)
        parent: Any = doc
        for part in path[:-1]:
            parent = parent[part]
        last = path[-1] if path else None
        if kind == "duplicate" and isinstance(doc, dict) and doc:
            duplicates.append((draw(st.sampled_from(sorted(doc))), draw(values)))
            continue
        if last is None:
            continue
        if kind == "delete":
            del parent[last]
        elif kind == "replace":
            parent[last] = draw(values)
        elif kind == "nest":
            depth = draw(depths)
            deep.append(depth)
            parent[last] = DEEP.format(len(deep) - 1)
        elif kind == "rename" and isinstance(parent, dict):
            parent[draw(st.text(max_size=8))] = parent.pop(last)
    return doc, deep, duplicates


def _splice(text: str, deep: list[int], quote: str) -> str:
    for index, depth in enumerate(deep):
        token = DEEP.format(index)
        text = text.replace(f"{quote}{token}{quote}", "[" * depth + "1" + "]" * depth)
        text = text.replace(token, "[" * depth + "1" + "]" * depth)
    return text


def plan_text(case: tuple[Any, list[int], list[tuple[str, Any]]]) -> str:
    doc, deep, duplicates = case
    text = json.dumps(doc, indent=1)
    if duplicates and text.endswith("}"):
        extra = "".join(f",\n {json.dumps(k)}: {json.dumps(v)}" for k, v in duplicates)
        text = text[:-1].rstrip() + extra + "\n}"
    return _splice(text, deep, '"')


def _toml_safe(value: Any) -> Any:
    if value is None:
        return ""
    if isinstance(value, dict):
        return {str(k): _toml_safe(v) for k, v in value.items()}
    if isinstance(value, list):
        return [_toml_safe(v) for v in value]
    return value


def smoke_text(case: tuple[Any, list[int], list[tuple[str, Any]]]) -> str:
    doc, deep, duplicates = case
    text = tomli_w.dumps(_toml_safe(doc)) if isinstance(doc, dict) else "scenario = 1\n"
    for key, value in duplicates:
        text += f"{json.dumps(key)} = {json.dumps(_toml_safe(value))}\n"
    return _splice(text, deep, '"')


bombs = st.builds(
    lambda width, levels: "id: bomb\na0: &a0 [" + ", ".join(["lol"] * width) + "]\n" + "".join(
        f"a{i}: &a{i} [" + ", ".join([f"*a{i - 1}"] * width) + "]\n" for i in range(1, levels)
    ),
    st.integers(2, 12), st.integers(2, 10),
)


def prim_text(case: tuple[Any, list[int], list[tuple[str, Any]]], bomb: str | None) -> str:
    doc, deep, duplicates = case
    if bomb is not None:
        return bomb
    text = yaml.safe_dump(doc, allow_unicode=True, sort_keys=False)
    for key, value in duplicates:
        text += yaml.safe_dump({key: value}, allow_unicode=True)
    return _splice(text, deep, "'")


def _smoke_base() -> Any:
    import tomllib

    return tomllib.loads(SMOKE_TEXT)


SMOKE = _smoke_base()
prim_cases = st.tuples(
    st.sampled_from(sorted(PRIMS)).flatmap(lambda name: mutant(PRIMS[name])),
    st.none() | st.none() | bombs,
)


def _clean(path: Path, call: Any) -> None:
    """The loader returns or raises a one-line ManifestError naming ``path``."""
    try:
        call()
    except ManifestError as exc:
        assert str(exc).startswith(str(path)), str(exc)
        assert len(str(exc)) < 700


@FUZZ
@given(case=mutant(PLAN))
def test_plan_mutants_load_or_fail_cleanly(tmp_path_factory: pytest.TempPathFactory,
                                           case: Any) -> None:
    path = tmp_path_factory.mktemp("plan") / "smoke-test-plan.json"
    path.write_text(plan_text(case), encoding="utf-8")
    _clean(path, lambda: load_plan(path))


@FUZZ
@given(case=mutant(SMOKE))
def test_smoke_mutants_load_or_fail_cleanly(case: Any) -> None:
    text = smoke_text(case)
    _clean(Path("fuzz.toml"), lambda: parse_smoke(text, "fuzz.toml"))


@FUZZ
@given(case=prim_cases)
def test_prim_mutants_load_or_fail_cleanly(tmp_path_factory: pytest.TempPathFactory,
                                           case: Any) -> None:
    path = tmp_path_factory.mktemp("prim") / "p.yaml"
    path.write_text(prim_text(*case), encoding="utf-8")
    _clean(path, lambda: load_prims([path]))


_ERROR_LINE = re.compile(r"primgate: invalid manifest: (\S+?):")


@settings(FUZZ, max_examples=BATCHES, suppress_health_check=[
    HealthCheck.too_slow, HealthCheck.data_too_large, HealthCheck.function_scoped_fixture,
])
@given(
    plans=st.lists(mutant(PLAN), min_size=BATCH_SIZE, max_size=BATCH_SIZE),
    smokes=st.lists(mutant(SMOKE), min_size=BATCH_SIZE, max_size=BATCH_SIZE),
    prims=st.lists(prim_cases, min_size=BATCH_SIZE, max_size=BATCH_SIZE),
)
def test_mutants_collect_without_tracebacks(
    pytester: pytest.Pytester, plans: list[Any], smokes: list[Any], prims: list[Any]
) -> None:
    for old in pytester.path.iterdir():  # one pytester directory serves every example
        if old.is_dir() and old.name[:4] in ("plan", "smok", "prim"):
            shutil.rmtree(old)
    for index in range(BATCH_SIZE):
        for kind, text in (
            ("plan", plan_text(plans[index])), ("smoke", smoke_text(smokes[index])),
            ("prim", prim_text(*prims[index])),
        ):
            directory = pytester.path / f"{kind}{index}"
            if kind == "plan":
                target = directory / "smoke-test-plan.json"
            elif kind == "smoke":
                target = directory / "smoke" / "manifest.toml"
            else:
                target = directory / "prims" / "p.yaml"
            target.parent.mkdir(parents=True, exist_ok=True)
            target.write_text(text, encoding="utf-8")
            if kind == "prim":
                (directory / "smoke-test-plan.json").write_text(
                    (ROOT / "smoke-test-plan.json").read_text()
                )
    result = pytester.runpytest_subprocess("--primgate", "--collect-only", "-q", timeout=120)
    output = result.stdout.str() + result.stderr.str()
    assert "Traceback" not in output, output
    assert "INTERNALERROR" not in output, output
    assert result.ret in (pytest.ExitCode.OK, pytest.ExitCode.INTERRUPTED), output
    errors = re.findall(r"_+ ERROR collecting (\S+) _+\n(.*)\n", output)
    for nodeid, line in errors:
        named = _ERROR_LINE.match(line)
        assert named is not None, (nodeid, line)
        assert Path(named.group(1)).name in ("smoke-test-plan.json", "manifest.toml", "p.yaml")
