"""The dependency executor, the in-flight caps, parallel attempts and ordered run state."""

from __future__ import annotations

import itertools
import threading
import time

import pytest

from pytest_primgate.attempts import run_attempts
from pytest_primgate.executor import DependencyExecutor, InFlightCaps, Job, WaitProbe
from pytest_primgate.model import AttemptResult
from pytest_primgate.runstate import RunState


class Tracker:
    """Records start/end order and the largest number of jobs running at once."""

    def __init__(self) -> None:
        self.lock = threading.Lock()
        self.now = 0
        self.peak = 0
        self.started: list[str] = []
        self.ended: list[str] = []

    def job(self, key: str, seconds: float = 0.02) -> Job[str]:
        def run() -> str:
            with self.lock:
                self.now += 1
                self.peak = max(self.peak, self.now)
                self.started.append(key)
            time.sleep(seconds)
            with self.lock:
                self.now -= 1
                self.ended.append(key)
            return key

        return run  # type: ignore[return-value]


def _jobs(tracker: Tracker, spec: dict[str, tuple[str, ...]]) -> list[Job[str]]:
    return [Job(key, tracker.job(key), deps) for key, deps in spec.items()]  # type: ignore[arg-type]


def test_a_job_starts_only_after_its_dependencies_ended() -> None:
    tracker = Tracker()
    spec = {"a": (), "b": ("a",), "c": ("a",), "d": ("b", "c"), "e": ()}
    executor = DependencyExecutor(4)
    futures = executor.submit(_jobs(tracker, spec))
    assert {k: f.result(timeout=10) for k, f in futures.items()} == {k: k for k in spec}
    for key, deps in spec.items():
        for dep in deps:
            assert tracker.ended.index(dep) < tracker.started.index(key), (dep, key)
    assert tracker.peak >= 2, "independent jobs overlapped"


def test_never_more_than_workers_at_once_and_longest_chain_first() -> None:
    tracker = Tracker()
    spec: dict[str, tuple[str, ...]] = {f"r{i}": () for i in range(10)}
    spec.update({"c0": (), "c1": ("c0",), "c2": ("c1",)})
    executor = DependencyExecutor(3)
    futures = executor.submit(_jobs(tracker, spec))
    for future in futures.values():
        future.result(timeout=10)
    assert tracker.peak == 3
    assert tracker.started[0] == "c0", "the head of the 3-long chain goes before single jobs"


def test_a_failing_job_carries_its_exception_and_its_dependants_still_run() -> None:
    def boom() -> str:
        raise ValueError("boom")

    executor = DependencyExecutor(2)
    futures = executor.submit([Job("a", boom), Job("b", lambda: "b", ("a",))])
    with pytest.raises(ValueError, match="boom"):
        futures["a"].result(timeout=10)
    assert futures["b"].result(timeout=10) == "b"  # the caller decides what a failure means


def test_stop_cancels_what_has_not_started() -> None:
    gate = threading.Event()
    executor = DependencyExecutor(1)
    futures = executor.submit([Job("a", lambda: gate.wait(10)), Job("b", lambda: "b", ("a",))])
    time.sleep(0.05)
    executor.stop()
    gate.set()
    assert futures["a"].result(timeout=10) is True
    assert futures["b"].cancelled()
    assert executor.join(5)


def test_jobs_waiting_outside_the_executor_do_not_starve_the_others() -> None:
    """Two workers, both jobs waiting for something only the third job provides."""
    executor = DependencyExecutor(2)
    provided = threading.Event()

    def waiter() -> str:
        with executor.blocking():
            assert provided.wait(10)
        return "waited"

    def provider() -> str:
        provided.set()
        return "provided"

    futures = executor.submit([Job("w1", waiter), Job("w2", waiter), Job("p", provider)])
    assert futures["p"].result(timeout=10) == "provided"
    assert futures["w1"].result(timeout=10) == futures["w2"].result(timeout=10) == "waited"


def test_in_flight_caps_per_host_and_in_total() -> None:
    caps = InFlightCaps(total=3, per_host=2)
    lock = threading.Lock()
    now: dict[str, int] = {"a": 0, "b": 0, "": 0}
    peak = dict(now)

    def hold(host: str) -> None:
        with caps.hold(host):
            with lock:
                for key in (host, ""):
                    now[key] += 1
                    peak[key] = max(peak[key], now[key])
            time.sleep(0.02)
            with lock:
                for key in (host, ""):
                    now[key] -= 1

    threads = [threading.Thread(target=hold, args=(h,)) for h in "ab" * 6]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(10)
    assert peak["a"] == 2 and peak["b"] == 2 and peak[""] == 3


@pytest.mark.parametrize("outcomes", [
    "".join(p) for p in itertools.product("PF", repeat=3)
] + ["U", "PU", "S"])
def test_parallel_attempts_decide_as_the_sequential_loop(outcomes: str) -> None:
    """Each attempt's outcome is fixed by its index; parallel reads them in index order."""
    names = {"P": "passed", "F": "failed", "U": "unreachable", "S": "skipped"}

    def make() -> tuple[list[int], object]:
        calls = [0]
        lock = threading.Lock()

        def attempt() -> AttemptResult:
            with lock:
                index = calls[0]
                calls[0] += 1
            letter = outcomes[min(index, len(outcomes) - 1)]
            return AttemptResult(names[letter], f"attempt {index}")  # type: ignore[arg-type]

        return calls, attempt

    _, sequential = make()
    expected = run_attempts(sequential, 3, 2)  # type: ignore[arg-type]
    calls, parallel = make()
    got = run_attempts(parallel, 3, 2, parallel=True)  # type: ignore[arg-type]
    assert got.outcome == expected.outcome
    if set(outcomes) <= {"P", "F"}:
        assert sorted(got.letters.split(",")) == sorted(expected.letters.split(","))
    assert calls[0] <= max(2, len(expected.attempts)), "no attempt beyond the decision"


def test_ordered_run_state_sees_only_earlier_tests() -> None:
    state = RunState()
    state.record("p", "late", "passed", {"x": "late"}, order=5)
    state.record("p", "early", "passed", {"x": "early", "y": "1"}, order=1)
    state.record("p", "mid", "failed", {}, order=3)
    assert state.variables("p", before=4) == {"x": "early", "y": "1"}
    assert state.variables("p", before=9) == {"x": "late", "y": "1"}, "later order wins"
    assert state.blocker("p", ("early",), before=2) is None
    assert state.blocker("p", ("late",), before=2) == ("late", "not run")
    assert state.blocker("p", ("mid",), before=4) == ("mid", "failed")
    assert state.blocker("p", ("late",)) is None, "without an order: everything recorded"


def test_the_probe_turns_ahead_only_once_waiting_outweighs_computing() -> None:
    fast = WaitProbe()
    assert not fast.observe(0.0566, 0.0559)  # the first attempt: 56 ms making the client
    for _ in range(2000):  # then loopback answers: 1.3 ms wall, 1.1 ms of it computing
        assert not fast.observe(0.0013, 0.0011)
    hiccups = WaitProbe()
    for _ in range(50):  # now and then one 30 ms stall on a busy machine
        assert not hiccups.observe(0.031, 0.001)
        assert not hiccups.observe(0.0013, 0.0011)
    far = WaitProbe()
    assert far.observe(0.157, 0.057)  # 100 ms away: the first attempt decides
    assert far.observe(0.001, 0.001) and far.decided  # never taken back
    near = WaitProbe()
    assert not near.observe(0.026, 0.001)  # 25 ms away: two in a row decide
    assert near.observe(0.026, 0.001)
    busy = WaitProbe()
    for _ in range(10):
        assert not busy.observe(0.200, 0.150)  # waiting 50 ms, computing 150 ms: threads lose
    short = WaitProbe()
    for _ in range(10):
        assert not short.observe(0.012, 0.001)  # 11 ms waits: below the 20 ms floor


def test_jobs_after_an_external_one_wait_until_it_is_released() -> None:
    executor = DependencyExecutor(4)
    release = executor.external("inline")
    ran: list[str] = []
    futures = executor.submit([Job("after", lambda: ran.append("after"), ("inline",)),
                               Job("free", lambda: ran.append("free"))])
    futures["free"].result(timeout=5)
    time.sleep(0.05)
    assert ran == ["free"] and not futures["after"].done()
    release()
    release()  # a second call changes nothing
    futures["after"].result(timeout=5)
    assert ran == ["free", "after"]
    executor.stop()
    assert executor.join(5)
