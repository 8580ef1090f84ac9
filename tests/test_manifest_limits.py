"""Hostile manifests and option values: one clean ``file:line: field: message``, never a
traceback; nesting, alias expansion and numbers within the documented limits."""

from __future__ import annotations

import json
import time
from pathlib import Path

import pytest

from pytest_primgate.manifests.errors import ManifestError
from pytest_primgate.manifests.limits import MAX_DEPTH, MAX_YAML_NODES
from pytest_primgate.manifests.plan import load_plan
from pytest_primgate.manifests.prims import load_prims
from pytest_primgate.manifests.smoke import parse_smoke
from tests.plans import plan, results, t, write


def _plan_error(tmp_path: Path, text: str) -> ManifestError:
    path = tmp_path / "smoke-test-plan.json"
    path.write_text(text)
    with pytest.raises(ManifestError) as info:
        load_plan(path)
    assert str(info.value).startswith(str(path))
    return info.value


def _one_test(**fields: object) -> str:
    test = t("T-1", "https://store.prim.sh/v1/x")
    test.update(fields)
    return json.dumps(plan({"g": [test]}), indent=2)


def test_plan_method_of_wrong_type(tmp_path: Path) -> None:
    err = _plan_error(tmp_path, _one_test(method=[]))
    assert err.field == "tests[0].method"
    assert err.line == _one_test(method=[]).splitlines().index('      "method": [],') + 1


def test_plan_unparsable_url(tmp_path: Path) -> None:
    err = _plan_error(tmp_path, _one_test(endpoint="http://[::1/"))
    assert err.field == "tests[0].endpoint"
    assert "is not a valid URL" in err.message


def test_plan_nesting_at_the_limit_loads_and_beyond_is_refused(tmp_path: Path) -> None:
    def nested(levels: int) -> str:
        text = _one_test(method="POST")
        assert '"input": null' in text
        return text.replace('"input": null', '"input": ' + "[" * levels + "1" + "]" * levels)

    path = tmp_path / "ok.json"
    # document (1) > tests (2) > test (3) > input (4...): input may add MAX_DEPTH - 3 levels
    path.write_text(nested(MAX_DEPTH - 3))
    assert load_plan(path).tests["T-1"].method == "POST"
    for levels in (MAX_DEPTH - 2, 995, 20_000):
        err = _plan_error(tmp_path, nested(levels))
        assert err.message == f"nesting deeper than {MAX_DEPTH} levels"
        assert err.line == nested(levels).splitlines().index(
            next(x for x in nested(levels).splitlines() if '"input"' in x)) + 1


@pytest.mark.parametrize("literal", ["NaN", "Infinity", "-Infinity"])
def test_plan_non_finite_literals(tmp_path: Path, literal: str) -> None:
    err = _plan_error(tmp_path, _one_test().replace('"status": 200', f'"status": {literal}'))
    assert "numbers must be finite" in err.message
    assert err.line is not None


def test_plan_integer_beyond_the_digit_limit(tmp_path: Path) -> None:
    err = _plan_error(tmp_path, _one_test().replace('"status": 200', '"status": ' + "9" * 5000))
    assert err.message.startswith("invalid JSON:")


def _smoke_error(toml: str) -> ManifestError:
    with pytest.raises(ManifestError) as info:
        parse_smoke(f'[[scenario]]\nname = "s"\nscript = "s.sh"\n{toml}\n', "m.toml")
    assert str(info.value).startswith("m.toml:")
    return info.value


@pytest.mark.parametrize("value", ["inf", "nan", "-inf", "1e308", "0", "-1"])
def test_smoke_timeout_out_of_range(value: str) -> None:
    err = _smoke_error(f"timeout_seconds = {value}")
    assert (err.line, err.field) == (4, "scenario[0].timeout_seconds")


@pytest.mark.parametrize(("key", "value"), [("runs", "1000000000000"), ("quorum", "101")])
def test_smoke_runs_and_quorum_out_of_range(key: str, value: str) -> None:
    err = _smoke_error(f"{key} = {value}")
    assert err.field == f"scenario[0].{key}"
    assert err.message.startswith("must be <= 100")


@pytest.mark.parametrize("name", ['"A=B"', '"A\\u0000B"', '""'])
def test_smoke_invalid_env_names(name: str) -> None:
    err = _smoke_error(f'env = {{ {name} = "x" }}')
    assert err.field == "scenario[0].env"
    assert "must not be empty or contain '=' or NUL" in err.message


def test_smoke_nul_in_script_and_env_value() -> None:
    with pytest.raises(ManifestError) as info:
        parse_smoke('[[scenario]]\nname = "s"\nscript = "s\\u0000.sh"\n', "m.toml")
    assert info.value.field == "scenario[0].script"
    err = _smoke_error('env = { A = "x\\u0000" }')
    assert err.field == "scenario[0].env.A"


def test_smoke_deep_nesting_and_non_finite_anywhere() -> None:
    deep = "[" * (MAX_DEPTH + 1) + "]" * (MAX_DEPTH + 1)
    message = _smoke_error(f"expect_json = {deep}").message
    assert message == f"nesting deeper than {MAX_DEPTH} levels"
    very_deep = "[" * 5000 + "]" * 5000
    assert "nesting deeper" in _smoke_error(f"expect_json = {very_deep}").message
    err = _smoke_error("expect_json = { a = [1, nan] }")
    assert (err.field, err.message) == ("scenario[0].expect_json.a[1]", "must be a finite number")


def _prim_error(tmp_path: Path, text: str) -> ManifestError:
    path = tmp_path / "p.yaml"
    path.write_text(text)
    with pytest.raises(ManifestError) as info:
        load_prims([path])
    assert str(info.value).startswith(str(path))
    return info.value


BOMB = "id: bomb\na: &a [lol, lol, lol, lol, lol, lol, lol, lol, lol]\n" + "".join(
    f"{chr(98 + i)}: &{chr(98 + i)} [{', '.join(['*' + chr(97 + i)] * 9)}]\n" for i in range(8)
)


def test_prim_alias_bomb_is_refused_before_expanding(tmp_path: Path) -> None:
    assert len(BOMB) < 800
    started = time.monotonic()
    err = _prim_error(tmp_path, BOMB)
    assert time.monotonic() - started < 2
    assert err.message == (
        f"YAML aliases expand to more than {MAX_YAML_NODES} nodes (an alias bomb?); "
        "refused before expanding"
    )
    assert err.line is not None


def test_prim_small_aliases_are_fine(tmp_path: Path) -> None:
    path = tmp_path / "p.yaml"
    path.write_text("id: store\nstatus: live\nbase: &b {note: shared}\nother: *b\n")
    assert load_prims([path]).by_id["store"].status == "live"


def test_prim_recursive_alias_and_deep_nesting(tmp_path: Path) -> None:
    assert "refers to its own anchor" in _prim_error(tmp_path, "id: x\na: &a [*a]\n").message
    deep = "id: x\na: " + "[" * (MAX_DEPTH + 1) + "]" * (MAX_DEPTH + 1) + "\n"
    assert _prim_error(tmp_path, deep).message == f"nesting deeper than {MAX_DEPTH} levels"
    very = "id: x\na: " + "[" * 3000 + "]" * 3000 + "\n"
    assert "nesting deeper" in _prim_error(tmp_path, very).message


@pytest.mark.parametrize("value", [".nan", ".inf", "-.inf", "101", "-1"])
def test_prim_threshold_out_of_range(tmp_path: Path, value: str) -> None:
    err = _prim_error(tmp_path, f"id: s\nstatus: live\ngates:\n  pass_threshold: {value}\n")
    assert err.field == "gates.pass_threshold"
    assert err.line == 3


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (("--primgate-threshold", "store=nan"),
         "--primgate-threshold store must be a percentage from 0 to 100, got 'nan'"),
        (("--primgate-threshold", "store=inf"),
         "--primgate-threshold store must be a percentage from 0 to 100, got 'inf'"),
        (("--primgate-threshold", "store=101"),
         "--primgate-threshold store must be a percentage from 0 to 100, got '101'"),
        (("--primgate-budget", "nan"), "--primgate-budget must be a finite USDC amount"),
        (("--primgate-max-payment", "Infinity"),
         "--primgate-max-payment must be a finite USDC amount"),
        (("--primgate-budget", "1e30"), "--primgate-budget must be at most 1000000 USDC"),
        (("--primgate-holdout-threshold", "nan"),
         "--primgate-holdout-threshold must be a percentage from 0 to 100"),
        (("--primgate-max-response-bytes", "0"),
         "--primgate-max-response-bytes must be between 1 byte and 1 TiB"),
        (("--primgate-max-response-bytes", "lots"),
         "--primgate-max-response-bytes expects a size in bytes"),
    ],
)
def test_bad_numeric_options_are_usage_errors(
    pytester: pytest.Pytester, args: tuple[str, ...], message: str
) -> None:
    write(pytester.path, plan({"g": [t("T-1", "https://store.prim.sh/")]}))
    result = pytester.runpytest_subprocess("--primgate", "--primgate-dry-run", *args)
    assert result.ret == pytest.ExitCode.USAGE_ERROR
    text = result.stdout.str() + result.stderr.str()
    assert message in text
    assert "INTERNALERROR" not in text and "Traceback" not in text


def test_max_response_bytes_from_ini(pytester: pytest.Pytester) -> None:
    from pytest_primgate.settings import byte_size

    assert byte_size("10MiB", "x") == 10 << 20
    assert byte_size("512 KiB", "x") == 512 << 10
    pytester.makeini("[pytest]\nprimgate_max_response_bytes = nope\n")
    write(pytester.path, plan({"g": [t("T-1", "https://store.prim.sh/")]}))
    result = pytester.runpytest_subprocess("--primgate", "--primgate-dry-run")
    assert result.ret == pytest.ExitCode.USAGE_ERROR
    assert "expects a size in bytes" in result.stderr.str()


def test_hostile_plan_is_a_collection_error_exit_2(pytester: pytest.Pytester) -> None:
    (pytester.path / "smoke-test-plan.json").write_text(_one_test(method={"x": []}))
    result = pytester.runpytest_subprocess(
        "--primgate", "--primgate-ci", "--primgate-results-dir", "out"
    )
    assert result.ret == 2
    result.stdout.fnmatch_lines(["*smoke-test-plan.json:*: tests[[]0[]].method: *"])
    assert "Traceback" not in result.stdout.str()
    assert results(pytester.path / "out")["exit_code"] == 2


def test_memory_error_in_an_item_is_an_infrastructure_error(pytester: pytest.Pytester) -> None:
    pytester.makeconftest(
        "import pytest_primgate.plan_runner as runner\n\n"
        "def _exhausted(*args, **kwargs):\n    raise MemoryError()\n\n"
        "runner.run_attempt = _exhausted\n"
    )
    write(pytester.path, plan({"g": [
        t("T-1", "http://127.0.0.1:9/", paid=False),
        t("T-2", "http://127.0.0.1:9/", paid=False, depends_on=["T-1"]),
    ]}))
    result = pytester.runpytest_subprocess(
        "--primgate", "--primgate-ci", "--primgate-results-dir", "out"
    )
    assert result.ret == 2
    result.stdout.fnmatch_lines([
        "infrastructure: out of memory while running the item (MemoryError)",
        "*INFRA ERROR*",
    ])
    assert "Traceback" not in result.stdout.str()
    data = results(pytester.path / "out")
    assert data["exit_code"] == 2 and data["verdict"] == "INFRA ERROR"
    assert any("MemoryError" in line for line in data["infra_errors"])
    outcomes = {test["test_id"]: test["outcome"] for test in data["tests"]}
    assert outcomes == {"T-1": "failed", "T-2": "blocked"}
