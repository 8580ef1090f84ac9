"""Run one group's canary inside its pytest item: docs, model, tools, hooks, clean-up.

The only canary module that knows pytest's config and the run's session; everything it
calls is separately testable.
"""

from __future__ import annotations

import os
import shutil
import tempfile
from collections.abc import Mapping
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any

import httpx
import pytest

from pytest_primgate.canary import prompt as prompts
from pytest_primgate.canary.chat import ChatClient, chat_url
from pytest_primgate.canary.hooks import CanaryContext, HookError, run_cleanup, run_setup
from pytest_primgate.canary.loop import MAX_ROUNDS_API, MAX_ROUNDS_CLI, Limits, run_loop
from pytest_primgate.canary.remote_shell import RemoteShell, RemoteShellError
from pytest_primgate.canary.result import CanaryResult
from pytest_primgate.canary.tools import (
    HTTP_TOOL,
    SHELL_TOOL,
    ToolOutcome,
    http_request,
    shell_exec,
)
from pytest_primgate.canary.verdict import verdict
from pytest_primgate.session import get_session
from pytest_primgate.settings import get_settings

DEFAULT_MODEL = "openrouter/auto"
SHELL_TIMEOUT = 30.0
MAX_DOC_FETCH = prompts.MAX_DOC_BYTES


@dataclass(frozen=True)
class CanarySpec:
    """What collection knows about a group's canary (no I/O needed to build it)."""

    plan_path: str
    group: str
    name: str
    prompt: str
    interface: str
    setup: str
    cleanup: str
    prims: tuple[str, ...]
    endpoints: tuple[tuple[str, str], ...]
    """(prim id, host) of the covered prims known to the registry (infer included)."""

    @property
    def is_cli(self) -> bool:
        """``interface: "cli"``: the agent gets ``shell_exec`` instead of ``http_request``."""
        return self.interface == "cli"

    def docs(self, rootdir: Path, llms_dir: Path | None) -> prompts.DocSource:
        """Where this group's llms.txt is (CLI groups use their prompt alone)."""
        if self.is_cli:
            return prompts.DocSource()
        return prompts.find_docs(
            self.prims, plan_dir=Path(self.plan_path).parent, rootdir=rootdir,
            llms_dir=llms_dir, endpoints=dict(self.endpoints),
        )


def model_target(config: pytest.Config, spec: CanarySpec) -> tuple[str, str]:
    """(chat URL, model name): ``--primgate-canary-endpoint`` or the infer prim's /v1/chat."""
    settings = get_settings(config)
    model = settings.canary_model or os.environ.get("CANARY_MODEL") or DEFAULT_MODEL
    if settings.canary_endpoint:
        return chat_url(settings.canary_endpoint), model
    host = dict(spec.endpoints).get("infer") or "infer.prim.sh"
    return f"https://{host}/v1/chat", model


def _fetch_docs(http: httpx.Client, url: str, timeout: float) -> str | None:
    try:
        with http.stream("GET", url, timeout=timeout) as response:
            if response.status_code != 200:
                return None
            out = bytearray()
            for chunk in response.iter_bytes():
                out.extend(chunk)
                if len(out) >= MAX_DOC_FETCH:
                    break
            return bytes(out[:MAX_DOC_FETCH]).decode("utf-8", errors="replace")
    except httpx.HTTPError:
        return None


def build_prompt(
    config: pytest.Config, spec: CanarySpec, variables: Mapping[str, str]
) -> tuple[str, str]:
    """(system message, user message) for the group."""
    settings = get_settings(config)
    group_prompt = prompts.substitute(spec.prompt, variables)
    if spec.is_cli:
        return prompts.CLI_SYSTEM, group_prompt
    source = spec.docs(config.rootpath, settings.canary_llms_dir)
    docs: str | None = None
    if source.path is not None:
        docs = prompts.read_docs(source.path)
    elif source.url is not None:
        http = get_session(config).http_client()
        docs = _fetch_docs(http, settings.urlmap.rewrite(source.url), settings.timeout)
    first = spec.prims[0] if spec.prims else spec.group
    host = dict(spec.endpoints).get(first) or f"{first}.prim.sh"
    text = prompts.api_prompt(group_prompt, f"{first}.sh", host, docs or prompts.NO_DOCS)
    return prompts.API_SYSTEM, text


def _remote_shell(request: pytest.FixtureRequest) -> tuple[Any, RemoteShell]:
    """A server from the ``spawn_vps`` pool and a temporary PRIM_HOME on it.

    A server that cannot be spawned raises ``SpawnError`` (an infra error, as for any
    ``spawn_vps`` user); a server that cannot make the directory is deleted again.
    """
    pool = request.getfixturevalue("_primgate_vps_pool")
    conn = pool.spawn()
    server_id = pool.server_of(conn)
    try:
        return pool, RemoteShell.open(conn, server_id)
    except BaseException:
        pool.delete(server_id)
        raise


def run_group(config: pytest.Config, request: pytest.FixtureRequest, spec: CanarySpec,
              test_id: str) -> CanaryResult:
    """Set up, run the agent loop, clean up; never raises for the group's own problems.

    CLI groups run their commands in a local temporary PRIM_HOME, or under ``--spawn`` on a
    server spawned for the group (deleted when the group ends, pass or fail).
    """
    settings = get_settings(config)
    session = get_session(config)
    pool: Any = None
    remote: RemoteShell | None = None
    remote_problem: str | None = None
    if spec.is_cli and settings.spawn:
        try:
            pool, remote = _remote_shell(request)
        except RemoteShellError as exc:
            remote_problem = str(exc)
    prim_home: str | None = None
    if remote is not None:
        prim_home = remote.home
    elif spec.is_cli and remote_problem is None:
        prim_home = tempfile.mkdtemp(prefix="primgate-canary-")
    ctx = CanaryContext(group=spec.group, prim_home=prim_home,
                        connection=remote.conn if remote is not None else None)
    plugins = list(config.pluginmanager.get_plugins())
    url, model = model_target(config, spec)
    owned: list[httpx.Client] = []
    result: CanaryResult | None = None
    try:
        if remote_problem is not None:
            result = _error(spec.group, remote_problem, model)
        try:
            if result is None:
                run_setup(spec.setup, ctx, plugins)
        except HookError as exc:
            result = _error(spec.group, str(exc), model)
        payer: Any = None
        if result is None and (not spec.is_cli or not settings.canary_endpoint):
            problem = session.payer_problem(request)
            if problem is not None:
                result = _error(spec.group, f"x402 client unavailable: {problem}", model)
            else:
                payer = session.payer(request)
        if result is None:
            if settings.canary_endpoint:
                http = httpx.Client(timeout=settings.timeout)
                owned.append(http)
                key = os.environ.get(settings.canary_api_key_env) or None
                chat = ChatClient(http, url, model, api_key=key, test_id=test_id)
            else:
                chat = ChatClient(payer, url, model, test_id=test_id)
            try:
                system, text = build_prompt(config, spec, ctx.variables)
            except OSError as exc:
                raise _Abort(f"cannot read the group's llms.txt: {exc}") from None

            def run_tool(name: str, args: dict[str, Any], left: float) -> ToolOutcome:
                if name == "shell_exec" and remote is not None:
                    return remote.run(args, timeout=min(SHELL_TIMEOUT, left))
                if name == "shell_exec":
                    assert prim_home is not None
                    return shell_exec(args, prim_home=prim_home,
                                      timeout=min(SHELL_TIMEOUT, left))
                return http_request(payer, args, timeout=min(settings.timeout, left),
                                    test_id=test_id)

            limits = Limits(
                max_rounds=MAX_ROUNDS_CLI if spec.is_cli else MAX_ROUNDS_API,
                time_limit=settings.canary_timeout,
            )
            tools = [SHELL_TOOL] if spec.is_cli else [HTTP_TOOL]
            result = run_loop(spec.group, system=system, prompt=text, model=chat, tools=tools,
                              run_tool=run_tool, limits=limits)
    except _Abort as exc:
        result = _error(spec.group, str(exc), model)
    finally:
        cleanup_problem = run_cleanup(spec.cleanup, ctx, plugins)
        for client in owned:
            client.close()
        if remote is not None:
            removed = remote.close()
            deleted = pool.delete(remote.server_id)
            cleanup_problem = cleanup_problem or removed or deleted
        elif prim_home is not None:
            shutil.rmtree(prim_home, ignore_errors=True)
    assert result is not None
    if cleanup_problem is not None and result.error is None:
        result = replace(result, error=cleanup_problem,
                         verdict=verdict(result.steps, cleanup_problem))
    return replace(result, prim_home=prim_home,
                   vps=remote.server_id if remote is not None else None)


class _Abort(Exception):
    """A problem that ends the group before its loop, as an ``error`` verdict."""


def _error(group: str, message: str, model: str) -> CanaryResult:
    return CanaryResult(group=group, verdict="error", error=message, stopped="setup error",
                        model=model)
