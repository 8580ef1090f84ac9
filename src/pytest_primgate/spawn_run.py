"""``--spawn N``: provision N servers and run the session's items on them as xdist SSH workers.

Called on the controller from ``pytest_configure`` (before pytest-xdist's own, which is
``trylast``), so setting ``config.option.tx``/``dist`` here makes xdist start one worker per
server over ``ssh`` (execnet ``ssh=`` specs, host key pinned in a private known_hosts file).
xdist rsyncs pytest and the project's rootdir into the worker's directory on the server; path
arguments are made absolute so that xdist can map them into that copy.
"""

from __future__ import annotations

import dataclasses
import shlex
import shutil
import sys
import tempfile
from importlib import metadata
from pathlib import Path
from typing import TYPE_CHECKING, Any

import httpx
import pytest

from pytest_primgate.fixtures.vps import WORKER_SERVER, current_run_id
from pytest_primgate.vps import (
    DEFAULT_USER,
    SPAWN_ROOT,
    ServerInfo,
    SpawnError,
    VpsPool,
    connect,
    known_hosts_line,
)

if TYPE_CHECKING:
    from pytest_primgate.settings import Settings

VERSION_CHECK = ("import importlib.metadata as m; "
                 "print(m.version('pytest-primgate'), m.version('pytest-xdist'))")


def _local_versions() -> str:
    return f"{metadata.version('pytest-primgate')} {metadata.version('pytest-xdist')}"


def remote_python(server: ServerInfo) -> str:
    """The interpreter to run workers with: this one on loopback, ``python3`` elsewhere."""
    return sys.executable if server.ip in ("127.0.0.1", "::1") else "python3"


class SpawnSession:
    """The servers of a ``--spawn`` run, their worker specs, and their teardown."""

    def __init__(self, config: pytest.Config, pool: VpsPool, http: httpx.Client,
                 workdir: Path) -> None:
        self.config = config
        self.pool = pool
        self.http = http
        self.workdir = workdir
        self.servers: list[ServerInfo] = []
        self.specs: dict[str, str] = {}
        """ssh part of each worker spec -> server id."""
        self.remote_dirs: dict[str, str] = {}

    def _bootstrap(self, server: ServerInfo) -> None:
        """Make sure the server's Python has this plugin at our version (install if not)."""
        python = remote_python(server)
        conn = connect(server, self.pool.key, user=DEFAULT_USER,
                       timeout=min(self.pool.timeout, 15.0))
        try:
            wanted = _local_versions()
            check = f"{shlex.quote(python)} -c {shlex.quote(VERSION_CHECK)}"
            found = conn.run(check, hide=True, warn=True).stdout.strip()
            if found != wanted:
                conn.run(f"{shlex.quote(python)} -m pip install -q "
                         f"pytest-primgate=={wanted.split()[0]} pytest-xdist", hide=True,
                         warn=True)
                found = conn.run(check, hide=True, warn=True).stdout.strip()
            if found != wanted:
                raise SpawnError(f"server {server.id}: could not install pytest-primgate "
                                 f"{wanted.split()[0]} for {python} (found {found or 'none'})")
            remote_dir = f"/tmp/primgate-{self.pool.run_id}-{server.id}"
            conn.run(f"mkdir -p {shlex.quote(remote_dir)}", hide=True)
            self.remote_dirs[server.id] = remote_dir
        finally:
            conn.close()

    def start(self, count: int) -> None:
        """Create ``count`` servers, bootstrap them and point xdist at them."""
        key_file = self.pool.key.write_private(self.workdir / "id_ed25519")
        known_hosts = self.workdir / "known_hosts"
        for _ in range(count):
            self.servers.append(self.pool.create())
        known_hosts.write_text("".join(known_hosts_line(s) + "\n" for s in self.servers))
        tx = []
        for server in self.servers:
            self._bootstrap(server)
            ssh = (f"-i {key_file} -p {server.ssh_port} -o StrictHostKeyChecking=yes "
                   f"-o UserKnownHostsFile={known_hosts} -o IdentitiesOnly=yes "
                   f"-o BatchMode=yes {DEFAULT_USER}@{server.ip}")
            self.specs[ssh] = server.id
            tx.append(f"ssh={ssh}//python={remote_python(server)}"
                      f"//chdir={self.remote_dirs[server.id]}")
        option = self.config.option
        option.tx = tx
        if getattr(option, "dist", "no") == "no":
            option.dist = "load"
        option.numprocesses = len(tx)
        self._absolute_args()
        self.config.pluginmanager.register(self, "primgate-spawn-session")

    def _absolute_args(self) -> None:
        """Path arguments as absolute paths under rootdir (xdist maps them into its copy)."""
        params = self.config.invocation_params
        root = self.config.rootpath
        args = []
        for arg in params.args:
            head, sep, tail = str(arg).partition("::")
            path = (params.dir / head) if head and not head.startswith("-") else None
            if path is not None and path.exists():
                path = path.resolve()
                if path != root and root not in path.parents:
                    raise SpawnError(f"--spawn runs files under rootdir only; {head} is outside "
                                     f"{root}")
                arg = str(path) + sep + tail
            args.append(str(arg))
        if not any(a == "--rootdir" or a.startswith("--rootdir=") for a in args):
            args.append(f"--rootdir={root.name}")  # the worker's copy, relative to its chdir
        self.config.invocation_params = dataclasses.replace(params, args=tuple(args))

    # xdist hooks (registered only while a spawn session exists)

    def pytest_xdist_setupnodes(self, config: pytest.Config, specs: Any) -> None:
        """Ship the project's rootdir to each server along with pytest."""
        dsession = config.pluginmanager.getplugin("dsession")
        manager = getattr(dsession, "nodemanager", None)
        roots = getattr(manager, "roots", None)
        if isinstance(roots, list) and config.rootpath not in roots:
            roots.append(config.rootpath)

    def pytest_configure_node(self, node: Any) -> None:
        """Tell each worker which server it runs on."""
        server = self.specs.get(str(getattr(node.gateway.spec, "ssh", "")))
        if server:
            node.workerinput[WORKER_SERVER] = server

    def teardown(self) -> list[str]:
        """Remove the worker directories, delete servers and key, drop the private key file."""
        errors: list[str] = []
        if self.config.pluginmanager.is_registered(self):
            self.config.pluginmanager.unregister(self)
        try:
            for server in list(self.pool.servers.values()):
                remote_dir = self.remote_dirs.get(server.id)
                if remote_dir:
                    try:
                        conn = connect(server, self.pool.key, timeout=5.0)
                        try:
                            conn.run(f"rm -rf {shlex.quote(remote_dir)}", hide=True, warn=True)
                        finally:
                            conn.close()
                    except Exception as exc:
                        print(f"primgate spawn: could not remove {remote_dir} on {server.id}: "
                              f"{exc}", file=sys.stderr)
            errors = self.pool.close()
        finally:
            self.http.close()
            shutil.rmtree(self.workdir, ignore_errors=True)
        for error in errors:
            print(f"primgate spawn: {error} (run `primgate reap`)", file=sys.stderr)
        return errors


def provision(config: pytest.Config, settings: Settings) -> SpawnSession:
    """Spawn ``settings.spawn`` servers as xdist workers; on failure delete what was made.

    Raises ``SpawnError`` (an infra error) with a one-line reason.
    """

    from pytest_primgate.wallet import WalletError, load_wallet
    from pytest_primgate.wallet_setup import setup_wallet
    from pytest_primgate.x402.client import make_x402_client
    from pytest_primgate.x402.spend import SpendPolicy

    if not config.pluginmanager.hasplugin("xdist"):
        raise SpawnError("--spawn needs pytest-xdist (it runs the items as SSH workers)")
    try:
        wallet = load_wallet(settings)
        with httpx.Client(timeout=settings.timeout) as plain:
            setup_wallet(plain, wallet, settings)
    except WalletError as exc:
        raise SpawnError(f"wallet for spawning: {exc}") from None
    policy = SpendPolicy(max_payment=settings.max_payment,
                         budget=settings.budget, pay_to=settings.pay_to)
    http = make_x402_client(wallet.account, policy, timeout=settings.timeout)
    pool = VpsPool(
        http, settings.urlmap.rewrite(SPAWN_ROOT), run_id=current_run_id(config),
        process="spawn",
        wallet_key=bytes(wallet.account.key).hex() if wallet.source == "ephemeral" else None,
        wallet_source=wallet.source, timeout=settings.spawn_timeout,
    )
    session = SpawnSession(config, pool, http, Path(tempfile.mkdtemp(prefix="primgate-spawn-")))
    try:
        session.start(settings.spawn)
    except BaseException:
        session.teardown()
        raise
    return session
