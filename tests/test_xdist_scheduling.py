"""primgate's xdist scheduler driven without worker processes: fake workers, real config."""

from __future__ import annotations

import time
from pathlib import Path

import pytest

from pytest_primgate.xdist_scheduling import DependencyScheduling, work_units
from tests.plans import plan, t, write


class FakeGateway:
    def __init__(self, name: str) -> None:
        self.id = name


class FakeWorker:
    """What the scheduler uses of an xdist WorkerController."""

    def __init__(self, name: str) -> None:
        self.gateway = FakeGateway(name)
        self.shutting_down = False
        self.sent: list[int] = []

    def send_runtest_some(self, indices: list[int]) -> None:
        assert not self.shutting_down, "work sent after shutdown"
        self.sent.extend(indices)

    def shutdown(self) -> None:
        self.shutting_down = True


def shaped_plan(directory: Path, chains: int, chain_len: int, reads: int) -> list[str]:
    """A plan like a real one: chains of dependent tests plus independent reads; node ids."""
    tests = [t("ROOT", "https://store.prim.sh/")]
    for c in range(chains):
        prev = "ROOT" if c % 2 == 0 else None
        for k in range(chain_len):
            tid = f"C{c}-{k}"
            tests.append(t(tid, "https://store.prim.sh/x", depends_on=[prev] if prev else []))
            prev = tid
    tests += [t(f"R{i}", "https://store.prim.sh/r") for i in range(reads)]
    write(directory, plan({"g": tests}))
    return [f"smoke-test-plan.json::g::{x['id']}" for x in tests]


def scheduler(pytester: pytest.Pytester, workers: int) -> DependencyScheduling:
    config = pytester.parseconfigure("-p", "xdist", "--tx", f"{workers}*popen")
    return DependencyScheduling(config)


def run_to_end(
    sched: DependencyScheduling, workers: list[FakeWorker], ids: list[str]
) -> dict[str, list[int]]:
    """Register, schedule and complete every test in order; return what each worker ran."""
    for w in workers:
        sched.add_node(w)
    for w in workers:
        sched.add_node_collection(w, ids)
    assert sched.collection_is_completed
    sched.schedule()
    done = {w.gateway.id: 0 for w in workers}
    for _ in range(len(ids) + 1):
        progressed = False
        for w in workers:
            if done[w.gateway.id] < len(w.sent):
                sched.mark_test_complete(w, w.sent[done[w.gateway.id]])
                done[w.gateway.id] += 1
                progressed = True
        if not progressed:
            break
    return {w.gateway.id: w.sent for w in workers}


def test_components_stay_together_and_every_test_runs_once_at_5000(
    pytester: pytest.Pytester,
) -> None:
    ids = shaped_plan(pytester.path, chains=200, chain_len=6, reads=3800)
    assert len(ids) == 5001
    sched = scheduler(pytester, 2)
    workers = [FakeWorker("gw0"), FakeWorker("gw1")]
    started = time.perf_counter()
    sent = run_to_end(sched, workers, ids)
    elapsed = time.perf_counter() - started
    everything = sent["gw0"] + sent["gw1"]
    assert sorted(everything) == list(range(len(ids)))
    assert sched.tests_finished and not sched.has_pending
    assert all(w.shutting_down for w in workers)
    owner = {ids[i]: name for name, idx in sent.items() for i in idx}
    even_chains = [f"C{c}-{k}" for c in range(0, 200, 2) for k in range(6)]
    assert len({owner[f"smoke-test-plan.json::g::{x}"] for x in [*even_chains, "ROOT"]}) == 1
    for c in range(1, 200, 2):
        assert len({owner[f"smoke-test-plan.json::g::C{c}-{k}"] for k in range(6)}) == 1
    assert sent["gw0"] and sent["gw1"], "independent tests spread over both workers"
    assert elapsed < 1.0, f"scheduling 5,000 tests took {elapsed:.2f} s"


def test_dependency_order_kept_inside_a_unit(pytester: pytest.Pytester) -> None:
    ids = shaped_plan(pytester.path, chains=3, chain_len=4, reads=10)
    units = work_units(ids, pytester.path, workers=2)
    for unit in units:
        assert unit == sorted(unit)
    assert sorted(i for u in units for i in u) == list(range(len(ids)))


def test_a_crashed_worker_gives_back_what_it_had_not_finished(
    pytester: pytest.Pytester,
) -> None:
    ids = shaped_plan(pytester.path, chains=2, chain_len=3, reads=30)
    sched = scheduler(pytester, 2)
    a, b = FakeWorker("gw0"), FakeWorker("gw1")
    for w in (a, b):
        sched.add_node(w)
        sched.add_node_collection(w, ids)
    sched.schedule()
    first = list(a.sent)
    sched.mark_test_complete(a, first[0])
    crashed = sched.remove_node(a)
    assert crashed == ids[first[1]]
    replacement = FakeWorker("gw2")
    sched.add_node(replacement)
    sched.add_node_collection(replacement, ids)
    sched.schedule()
    ran: list[int] = []
    for _ in range(len(ids) + 1):
        batch = [(w, w.sent.pop(0)) for w in (b, replacement) if w.sent]
        if not batch:
            break
        for w, index in batch:
            ran.append(index)
            sched.mark_test_complete(w, index)
    assert sorted([first[0], first[1], *ran]) == list(range(len(ids)))
    assert sched.tests_finished


def test_a_worker_that_finished_normally_returns_nothing(pytester: pytest.Pytester) -> None:
    ids = shaped_plan(pytester.path, chains=1, chain_len=2, reads=4)
    sched = scheduler(pytester, 1)
    w = FakeWorker("gw0")
    run_to_end(sched, [w], ids)
    assert sched.remove_node(w) is None
    assert sched.remove_node(w) is None, "removing an unknown worker is harmless"


def test_more_workers_than_units_shuts_down_the_idle_ones(pytester: pytest.Pytester) -> None:
    ids = shaped_plan(pytester.path, chains=1, chain_len=3, reads=0)
    sched = scheduler(pytester, 3)
    workers = [FakeWorker(f"gw{i}") for i in range(3)]
    sent = run_to_end(sched, workers, ids)
    assert sorted(i for s in sent.values() for i in s) == list(range(len(ids)))
    assert sum(1 for s in sent.values() if s) == 1
    assert all(w.shutting_down for w in workers)


def test_a_plan_without_dependencies_is_bundled_without_decoding(
    pytester: pytest.Pytester, monkeypatch: pytest.MonkeyPatch
) -> None:
    from pytest_primgate import xdist_scheduling

    def refuse(text: str) -> None:
        raise AssertionError("a plan without depends_on was decoded")

    ids = shaped_plan(pytester.path, chains=0, chain_len=0, reads=40)
    xdist_scheduling._components.cache_clear()
    monkeypatch.setattr(xdist_scheduling.json, "loads", refuse)
    units = work_units(ids, pytester.path, workers=2)
    assert [len(u) for u in units] == [5] * 8 + [1]
    assert sorted(i for u in units for i in u) == list(range(len(ids)))


def test_an_escaped_depends_on_key_still_links_its_tests(pytester: pytest.Pytester) -> None:
    from pytest_primgate.xdist_scheduling import _components

    tests = [t("A", "https://store.prim.sh/"), t("B", "https://store.prim.sh/")]
    tests[1]["depends_on"] = ["A"]
    path = write(pytester.path, plan({"g": tests}))
    text = path.read_text().replace('"depends_on"', '"depends\\u005fon"')
    path.write_text(text)
    _components.cache_clear()
    ids = [f"smoke-test-plan.json::g::{x}" for x in ("A", "B")]
    assert work_units(ids, pytester.path, workers=2) == [[0, 1]]


def test_plans_named_on_the_command_line_are_read_while_workers_start(
    pytester: pytest.Pytester,
) -> None:
    from pytest_primgate import xdist_scheduling
    from pytest_primgate.lifecycle import named_plans

    ids = shaped_plan(pytester.path, chains=2, chain_len=3, reads=10)
    (pytester.path / "other.json").write_text("{}")
    config = pytester.parseconfigure("-p", "xdist", "--tx", "2*popen", "--primgate", ".")
    plans = named_plans(config)
    assert plans == [str(config.rootpath / "smoke-test-plan.json")]
    xdist_scheduling._components.cache_clear()
    sched = DependencyScheduling(config, plans=plans)
    sent = run_to_end(sched, [FakeWorker("gw0"), FakeWorker("gw1")], ids)
    assert sorted(sent["gw0"] + sent["gw1"]) == list(range(len(ids)))
    info = xdist_scheduling._components.cache_info()
    assert (info.misses, info.hits) == (1, 1), "read once, ahead; found by the scheduling pass"
