"""The interpreter of this run, handed to child processes (scenario scripts, spawned workers).

A scenario script that calls ``primgate`` or ``python`` must get the ones of the run that started
it, also when pytest was started by absolute path from a virtualenv that is not activated.
"""

from __future__ import annotations

import os
import sys
import sysconfig
from collections.abc import Mapping


def scripts_dir() -> str:
    """The folder of this interpreter's console scripts (``<venv>/bin``), where ``primgate`` is."""
    return sysconfig.get_path("scripts") or os.path.dirname(sys.executable)


def run_env(base: Mapping[str, str]) -> dict[str, str]:
    """``base`` with ``PRIMGATE_PYTHON`` set to this interpreter and its scripts first on PATH."""
    env = dict(base)
    env["PRIMGATE_PYTHON"] = sys.executable
    scripts = scripts_dir()
    path = [p for p in env.get("PATH", os.defpath).split(os.pathsep) if p and p != scripts]
    env["PATH"] = os.pathsep.join([scripts, *path])
    return env
