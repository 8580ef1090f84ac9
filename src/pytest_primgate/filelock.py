"""An exclusive ``flock`` with a bounded wait: the one way processes of a run coordinate."""

from __future__ import annotations

import fcntl
import time
from typing import IO, Any


def lock_exclusive(handle: IO[Any], timeout: float, poll: float = 0.02) -> None:
    """Take an exclusive lock on an open file; ``TimeoutError`` after ``timeout`` seconds."""
    deadline = time.monotonic() + timeout
    while True:
        try:
            fcntl.flock(handle, fcntl.LOCK_EX | fcntl.LOCK_NB)
            return
        except BlockingIOError:
            if time.monotonic() > deadline:
                raise TimeoutError(f"timed out waiting for a lock on {handle.name}") from None
            time.sleep(poll)


def unlock(handle: IO[Any]) -> None:
    """Release a lock taken with ``lock_exclusive``."""
    fcntl.flock(handle, fcntl.LOCK_UN)
