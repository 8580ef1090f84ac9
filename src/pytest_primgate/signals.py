"""SIGINT, SIGTERM and SIGHUP end an enabled run like Ctrl-C: results file, teardown, exit 2.

Installed on the controller (or the single process) only, from the main thread. The first
signal raises ``KeyboardInterrupt`` (pytest's own interruption path: fixtures, the sandbox,
spawned servers are torn down); every signal marks the run interrupted. A second signal is only
recorded: landing in pytest's shutdown it would otherwise kill the run before the results file
and the teardown. A third one raises again (the way out of a teardown that hangs). While the
results are being written (``finishing``) signals are only recorded.
"""

from __future__ import annotations

import signal
import threading
from types import FrameType
from typing import Any

SIGNALS = tuple(
    s for s in (getattr(signal, n, None) for n in ("SIGINT", "SIGTERM", "SIGHUP")) if s is not None
)

RECORD_ONLY = 2
"""The second signal is recorded, not raised."""


class SignalGuard:
    """Turns the run's termination signals into one interruption, and remembers it."""

    def __init__(self) -> None:
        self.received: list[str] = []
        self.finishing = False
        self._previous: dict[int, Any] = {}

    @property
    def interrupted(self) -> bool:
        """A termination signal arrived during the run."""
        return bool(self.received)

    def install(self) -> None:
        """Install the handlers (only from the main thread; elsewhere do nothing)."""
        if threading.current_thread() is not threading.main_thread():
            return
        for signum in SIGNALS:
            self._previous[signum] = signal.signal(signum, self._handler)

    def restore(self) -> None:
        """Put the previous handlers back."""
        for signum, previous in self._previous.items():
            signal.signal(signum, previous if previous is not None else signal.SIG_DFL)
        self._previous.clear()

    def _handler(self, signum: int, frame: FrameType | None) -> None:
        self.received.append(signal.Signals(signum).name)
        if self.finishing or len(self.received) == RECORD_ONLY:
            return
        raise KeyboardInterrupt(f"primgate: received {signal.Signals(signum).name}")

    def begin_finish(self) -> None:
        """From now on signals are recorded, not raised: the run is writing its results."""
        self.finishing = True
