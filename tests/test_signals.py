"""SignalGuard: which termination signals raise and which are only recorded."""

from __future__ import annotations

import os
import signal

import pytest

from pytest_primgate.signals import SignalGuard


def test_first_signal_raises_second_is_recorded_third_raises_again() -> None:
    guard = SignalGuard()
    guard.install()
    try:
        with pytest.raises(KeyboardInterrupt, match="received SIGTERM"):
            os.kill(os.getpid(), signal.SIGTERM)
        os.kill(os.getpid(), signal.SIGHUP)
        assert guard.received == ["SIGTERM", "SIGHUP"] and guard.interrupted
        with pytest.raises(KeyboardInterrupt, match="received SIGINT"):
            os.kill(os.getpid(), signal.SIGINT)
    finally:
        guard.restore()
    assert signal.getsignal(signal.SIGTERM) is signal.SIG_DFL


def test_while_finishing_signals_are_only_recorded() -> None:
    guard = SignalGuard()
    guard.install()
    try:
        guard.begin_finish()
        for _ in range(3):
            os.kill(os.getpid(), signal.SIGINT)
        assert guard.received == ["SIGINT"] * 3
    finally:
        guard.restore()
