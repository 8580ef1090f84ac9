"""Run jobs on threads as soon as their dependencies finished, a bounded number at a time.

Pure threading, no pytest: the plan items hand their HTTP work to a ``DependencyExecutor`` and
report the results in plan order (docs/performance.md, "Concurrency"). Ready jobs are taken
longest-remaining-chain first, so a deep dependency chain is never queued behind independent
reads. ``InFlightCaps`` bounds what runs at once: in total and per host.
"""

from __future__ import annotations

import contextlib
import heapq
import threading
from collections.abc import Callable, Iterator, Sequence
from concurrent.futures import Future
from dataclasses import dataclass, field
from typing import Generic, TypeVar

R = TypeVar("R")


@dataclass(frozen=True)
class Job(Generic[R]):
    """One unit of work: ``run`` starts once every job in ``deps`` (by key) has finished."""

    key: str
    run: Callable[[], R]
    deps: tuple[str, ...] = ()


class InFlightCaps:
    """At most ``total`` holders at once, and at most ``per_host`` for one host."""

    def __init__(self, total: int, per_host: int) -> None:
        self._total = threading.BoundedSemaphore(max(1, total))
        self._per_host = max(1, per_host)
        self._hosts: dict[str, threading.BoundedSemaphore] = {}
        self._lock = threading.Lock()

    def _host(self, host: str) -> threading.BoundedSemaphore:
        with self._lock:
            sem = self._hosts.get(host)
            if sem is None:
                sem = self._hosts[host] = threading.BoundedSemaphore(self._per_host)
            return sem

    @contextlib.contextmanager
    def hold(self, host: str) -> Iterator[None]:
        """One slot for ``host`` (taken first, so a full host never holds a global slot)."""
        host_sem = self._host(host)
        with host_sem, self._total:
            yield


class WaitProbe:
    """Whether computing ahead pays: attempts spend their time waiting, not computing.

    CPython threads only overlap waiting (the GIL serialises the rest), and handing work to
    threads costs CPU. So items run one by one on the main thread, each attempt timed, until
    an attempt waited (wall time minus the main thread's CPU time) at least as long as it
    computed and either ``clear_wait`` seconds (50 ms: a service far away) or ``min_wait`` (20
    ms) in ``needed`` attempts in a row (one slow answer on a busy machine does not decide).
    From then on work is computed ahead; the decision is never taken back.
    """

    def __init__(self, min_wait: float = 0.02, clear_wait: float = 0.05,
                 needed: int = 2) -> None:
        self.min_wait = min_wait
        self.clear_wait = clear_wait
        self.needed = needed
        self.in_a_row = 0
        self.decided = False

    def observe(self, wall: float, cpu: float) -> bool:
        """One attempt took ``wall`` seconds, ``cpu`` of them computing; True once ahead pays."""
        cpu = max(cpu, 0.0)
        wait = wall - cpu
        waited = wait >= self.min_wait and wait >= cpu
        self.in_a_row = self.in_a_row + 1 if waited else 0
        if (waited and wait >= self.clear_wait) or self.in_a_row >= self.needed:
            self.decided = True
        return self.decided


@dataclass(order=True)
class _Ready:
    priority: tuple[int, int]
    key: str = field(compare=False)


class DependencyExecutor:
    """Start each job when its dependencies are done, on at most ``workers`` threads.

    Dependencies outside the submitted set are ignored (the caller decides what a missing
    dependency means). Worker threads are daemons and stop when ``stop()`` is called or the
    work runs out; a job's exception is its future's exception.
    """

    def __init__(self, workers: int, *, name: str = "primgate") -> None:
        self._workers = max(1, workers)
        self._name = name
        self._cond = threading.Condition()
        self._ready: list[_Ready] = []
        self._jobs: dict[str, Job[object]] = {}
        self._futures: dict[str, Future[object]] = {}
        self._waiting: dict[str, int] = {}
        self._dependants: dict[str, list[str]] = {}
        self._height: dict[str, int] = {}
        self._order: dict[str, int] = {}
        self._threads: list[threading.Thread] = []
        self._stopped = False
        self._running = 0
        self._blocked = 0
        self._unfinished = 0

    def submit(self, jobs: Sequence[Job[R]]) -> dict[str, Future[R]]:
        """Add ``jobs`` (keys new to this executor); returns a future per key."""
        fresh = {job.key: job for job in jobs if job.key not in self._jobs}
        futures: dict[str, Future[R]] = {}
        with self._cond:
            if self._stopped:
                raise RuntimeError("executor is stopped")
            for key, job in fresh.items():
                self._jobs[key] = job  # type: ignore[assignment]
                self._order[key] = len(self._order)
                future: Future[R] = Future()
                self._futures[key] = future  # type: ignore[assignment]
                futures[key] = future
            self._unfinished += len(fresh)
            for key, job in fresh.items():
                pending = [d for d in dict.fromkeys(job.deps)
                           if d in self._futures and d != key and not self._futures[d].done()]
                self._waiting[key] = len(pending)
                for dep in pending:
                    self._dependants.setdefault(dep, []).append(key)
            self._heights(list(fresh))
            for key in fresh:
                if self._waiting[key] == 0:
                    self._push(key)
            self._spawn()
        return futures

    def _heights(self, keys: list[str]) -> None:
        """Longest chain of dependants below each new job (its scheduling priority)."""
        for key in reversed(keys):  # dependants come later in the list of a plan
            below = [self._height.get(d, 0) for d in self._dependants.get(key, ())]
            self._height[key] = 1 + max(below, default=0)

    def _push(self, key: str) -> None:
        heapq.heappush(self._ready, _Ready((-self._height[key], self._order[key]), key))
        self._cond.notify()

    def _spawn(self) -> None:
        alive = [t for t in self._threads if t.is_alive()]
        self._threads = alive
        for i in range(len(alive), min(self._workers + self._blocked, self._unfinished)):
            thread = threading.Thread(target=self._work, name=f"{self._name}-{i}", daemon=True)
            self._threads.append(thread)
            thread.start()

    def _work(self) -> None:
        while True:
            with self._cond:
                while not self._stopped and self._unfinished and (
                    not self._ready or self._running - self._blocked >= self._workers
                ):
                    self._cond.wait(0.5)
                if self._stopped or not self._ready:
                    return
                key = heapq.heappop(self._ready).key
                self._running += 1
            future = self._futures[key]
            if future.set_running_or_notify_cancel():
                try:
                    result = self._jobs[key].run()
                except BaseException as exc:
                    future.set_exception(exc)
                else:
                    future.set_result(result)
            with self._cond:
                self._running -= 1
                self._finished(key)

    def _finished(self, key: str) -> None:
        """``key`` ended: its dependants may start (call with ``_cond`` held)."""
        self._unfinished -= 1
        for dependant in self._dependants.pop(key, ()):
            self._waiting[dependant] -= 1
            if self._waiting[dependant] == 0:
                self._push(dependant)
        self._cond.notify_all()

    def external(self, key: str) -> Callable[[], None]:
        """``key`` runs outside the executor (on the caller's thread): jobs submitted later that
        depend on it wait until the returned function is called (once, when it has ended)."""
        future: Future[object] = Future()
        future.set_running_or_notify_cancel()
        with self._cond:
            self._futures[key] = future
            self._jobs.setdefault(key, Job(key, lambda: None))
            self._order[key] = len(self._order)
            self._height.setdefault(key, 1)
            self._unfinished += 1

        def release() -> None:
            if future.done():
                return
            future.set_result(None)
            with self._cond:
                self._finished(key)

        return release

    @contextlib.contextmanager
    def blocking(self) -> Iterator[None]:
        """Around a job's wait for something outside the executor: its thread does not count
        against ``workers`` meanwhile, so the jobs that wait never starve the others."""
        with self._cond:
            self._blocked += 1
            self._spawn()
            self._cond.notify_all()
        try:
            yield
        finally:
            with self._cond:
                self._blocked -= 1

    def stop(self) -> None:
        """Start nothing more; cancel every job that has not started."""
        with self._cond:
            self._stopped = True
            self._ready.clear()
            for future in self._futures.values():
                future.cancel()
            self._cond.notify_all()

    def join(self, timeout: float) -> bool:
        """Wait up to ``timeout`` seconds for the worker threads; True when all ended."""
        for thread in list(self._threads):
            thread.join(timeout)
        return not any(t.is_alive() for t in self._threads)
