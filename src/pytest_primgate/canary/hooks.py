"""Group ``setup`` / ``cleanup`` hooks, made pluggable.

A hook name maps to a function ``primgate_canary_setup_<name>(ctx)`` /
``primgate_canary_cleanup_<name>(ctx)`` in a conftest.py (or any registered plugin), or to an
entry point named ``<name>`` in group ``primgate.canary_hooks`` whose object has ``setup`` and
or ``cleanup``. Setup may return template variables for the group's prompt (``{{invite_code}}``).
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from importlib.metadata import entry_points
from typing import Any

ENTRY_POINT_GROUP = "primgate.canary_hooks"


class HookError(Exception):
    """A hook that cannot be found or that raised: one line."""


@dataclass
class CanaryContext:
    """What a hook sees and may change."""

    group: str
    prim_home: str | None
    connection: Any = None
    """CLI groups under ``--spawn``: the ``fabric.Connection`` to the group's server, where
    ``prim_home`` is (hooks run commands there with ``ctx.connection.run``)."""
    variables: dict[str, str] = field(default_factory=dict)
    state: dict[str, Any] = field(default_factory=dict)
    """Free for the hook: setup may leave things here for cleanup."""


Hook = Callable[[CanaryContext], Any]


def find_hook(kind: str, name: str, plugins: Iterable[object]) -> Hook:
    """The ``kind`` (setup/cleanup) hook called ``name``; ``HookError`` naming where to put it."""
    attr = f"primgate_canary_{kind}_{name}"
    for plugin in plugins:
        func = getattr(plugin, attr, None)
        if callable(func):
            found: Hook = func
            return found
    for ep in entry_points(group=ENTRY_POINT_GROUP):
        if ep.name == name:
            target = getattr(ep.load(), kind, None)
            if callable(target):
                loaded: Hook = target
                return loaded
    raise HookError(
        f"unknown {kind} hook {name!r}: define {attr}(ctx) in a conftest.py, or an entry point "
        f"{name!r} in group {ENTRY_POINT_GROUP!r} with a {kind}(ctx) function"
    )


def run_setup(name: str, ctx: CanaryContext, plugins: Iterable[object]) -> None:
    """Run a setup hook; string values it returns become prompt variables."""
    if not name:
        return
    hook = find_hook("setup", name, plugins)
    try:
        returned = hook(ctx)
    except Exception as exc:
        raise HookError(f"setup hook {name!r} failed: {type(exc).__name__}: {exc}") from None
    if isinstance(returned, dict):
        ctx.variables.update({str(k): str(v) for k, v in returned.items()})


def run_cleanup(name: str, ctx: CanaryContext, plugins: Iterable[object]) -> str | None:
    """Run a cleanup hook; returns the one-line problem instead of raising (cleanup always runs
    to the end)."""
    if not name:
        return None
    try:
        find_hook("cleanup", name, plugins)(ctx)
    except HookError as exc:
        return str(exc)
    except Exception as exc:
        return f"cleanup hook {name!r} failed: {type(exc).__name__}: {exc}"
    return None
