"""spawn.sh API client, ephemeral SSH keys, pinned fabric connections, run records and reaping.

Every server and key this tool creates is named ``primgate-<run_id>-…``. While a process holds
spawned resources it keeps a run record (``<state dir>/spawn/<run_id>/<process>.json``, mode
0600) naming them, the spawn base URL and, for an ephemeral wallet only, that wallet's key, so
that ``primgate reap`` can delete leftovers of a crashed process with the same wallet.
"""

from __future__ import annotations

import base64
import contextlib
import json
import os
import secrets
import socket
import tempfile
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import httpx

SPAWN_ROOT = "https://spawn.prim.sh"
"""The spawn.sh host; rewrite it with the run's URL map to reach staging or the sandbox."""
NAME_PREFIX = "primgate-"
STATE_ENV = "PRIMGATE_STATE_DIR"
DEFAULT_USER = "root"
MAX_PAGES = 50
CONNECT_TIMEOUT = 15.0

Progress = Callable[[str], None]


class SpawnError(Exception):
    """A VPS could not be spawned, reached or deleted (one line, no secrets): an infra error."""


def resource_name(run_id: str, suffix: str) -> str:
    """``primgate-<run_id>-<suffix>``: the label reap looks for."""
    return f"{NAME_PREFIX}{run_id}-{suffix}"


# -- ephemeral SSH key ----------------------------------------------------------------------


@dataclass(frozen=True)
class EphemeralKey:
    """An ed25519 key pair made in memory; the private half never reaches any output."""

    private: Any = field(repr=False)
    public_line: str

    @classmethod
    def generate(cls, comment: str = "primgate") -> EphemeralKey:
        """A fresh key pair."""
        from cryptography.hazmat.primitives import serialization
        from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

        key = Ed25519PrivateKey.generate()
        public = key.public_key().public_bytes(
            serialization.Encoding.OpenSSH, serialization.PublicFormat.OpenSSH
        ).decode()
        return cls(private=key, public_line=f"{public} {comment}")

    def _openssh_private(self) -> bytes:
        from cryptography.hazmat.primitives import serialization

        data: bytes = self.private.private_bytes(
            serialization.Encoding.PEM,
            serialization.PrivateFormat.OpenSSH,
            serialization.NoEncryption(),
        )
        return data

    def paramiko_key(self) -> Any:
        """The private key as a paramiko ``Ed25519Key`` (for fabric)."""
        import io

        import paramiko

        return paramiko.Ed25519Key.from_private_key(io.StringIO(self._openssh_private().decode()))

    def write_private(self, path: Path) -> Path:
        """Write the private key to ``path`` with mode 0600 (for ssh/execnet); returns it."""
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
        with os.fdopen(fd, "wb") as handle:
            handle.write(self._openssh_private())
        return path

    def __repr__(self) -> str:
        return f"EphemeralKey({self.public_line.split()[0]})"


# -- API client -----------------------------------------------------------------------------


@dataclass(frozen=True)
class ServerInfo:
    """The fields of a spawn.sh ``ServerResponse`` a session needs."""

    id: str
    name: str
    status: str
    ip: str
    ssh_port: int
    ssh_host_key: str
    raw: dict[str, Any] = field(default_factory=dict, repr=False, compare=False)

    @classmethod
    def from_json(cls, data: dict[str, Any]) -> ServerInfo:
        """Read a ``ServerResponse`` (sandbox extensions ``ssh_port``/``ssh_host_key`` optional)."""
        net = data.get("public_net") or {}
        ip = ((net.get("ipv4") or {}).get("ip")) or ""
        return cls(
            id=str(data.get("id", "")), name=str(data.get("name", "")),
            status=str(data.get("status", "")), ip=str(ip),
            ssh_port=int(data.get("ssh_port") or 22),
            ssh_host_key=str(data.get("ssh_host_key") or ""), raw=data,
        )


def _error_text(response: httpx.Response) -> str:
    try:
        body = response.json()
    except ValueError:
        return response.text[:200].strip() or response.reason_phrase
    error = body.get("error") if isinstance(body, dict) else None
    if isinstance(error, dict):
        return str(error.get("message") or error.get("code") or "")[:200]
    if isinstance(error, str):
        return str(body.get("message") or error)[:200]
    return response.text[:200]


def _error_code(response: httpx.Response) -> str:
    with contextlib.suppress(ValueError, AttributeError):
        error = response.json().get("error")
        return str(error.get("code") if isinstance(error, dict) else error or "")
    return ""


class SpawnClient:
    """spawn.sh over an ``httpx.Client`` that pays x402 challenges (``base_url``: spawn root)."""

    def __init__(self, http: httpx.Client, base_url: str) -> None:
        self.http = http
        self.base_url = base_url.rstrip("/")

    def _call(self, method: str, path: str, payload: Any = None,
              params: dict[str, Any] | None = None) -> Any:
        url = f"{self.base_url}{path}"
        try:
            response = self.http.request(method, url, json=payload, params=params)
        except httpx.HTTPError as exc:
            raise SpawnError(f"spawn API unreachable at {url}: {type(exc).__name__}: {exc}") \
                from None
        except Exception as exc:  # x402 spend refusals and signing errors
            if type(exc).__module__.startswith("pytest_primgate.x402"):
                raise SpawnError(f"spawn API payment failed for {method} {path}: {exc}") from None
            raise
        if response.status_code == 403 and _error_code(response) == "server_limit_exceeded":
            raise SpawnError(f"spawn API refused: server limit exceeded ({_error_text(response)})")
        if response.status_code >= 400:
            raise SpawnError(
                f"spawn API error {response.status_code}: {method} {path}: {_error_text(response)}"
            )
        try:
            return response.json()
        except ValueError:
            raise SpawnError(f"spawn API answered {method} {path} with invalid JSON") from None

    def create_key(self, name: str, public_key: str) -> dict[str, Any]:
        """``POST /v1/ssh-keys`` -> the key (``id`` ``sk_…``)."""
        data: dict[str, Any] = self._call("POST", "/v1/ssh-keys",
                                          {"name": name, "public_key": public_key})
        return data

    def create_server(self, name: str, ssh_key_ids: list[str], *, type: str = "small",
                      image: str = "ubuntu-24.04", location: str = "nyc3",
                      **extra: Any) -> ServerInfo:
        """``POST /v1/servers`` -> the new server (usually ``initializing``)."""
        body = {"name": name, "type": type, "image": image, "location": location,
                "ssh_keys": ssh_key_ids, **extra}
        data = self._call("POST", "/v1/servers", body)
        server = data.get("server") if isinstance(data, dict) else None
        if not isinstance(server, dict) or not server.get("id"):
            raise SpawnError("spawn API answered POST /v1/servers without server.id")
        return ServerInfo.from_json(server)

    def get_server(self, server_id: str) -> ServerInfo:
        """``GET /v1/servers/:id``."""
        return ServerInfo.from_json(self._call("GET", f"/v1/servers/{server_id}"))

    def wait_active(self, server_id: str, timeout: float, poll_interval: float = 0.5,
                    progress: Progress | None = None) -> ServerInfo:
        """Poll until ``status == "active"`` (or ``running``); bounded by ``timeout`` seconds."""
        start = time.monotonic()
        deadline = start + timeout
        max_polls = int(timeout / max(poll_interval, 0.01)) + 2
        server = self.get_server(server_id)
        for _ in range(max_polls):
            if server.status in ("active", "running"):
                return server
            now = time.monotonic()
            if now >= deadline:
                break
            if progress is not None:
                progress(f"waiting for server {server_id} ({server.status}, "
                         f"{now - start:.0f} s of {timeout:g} s)")
            time.sleep(min(poll_interval, max(deadline - now, 0.0)))
            server = self.get_server(server_id)
        if server.status in ("active", "running"):
            return server
        raise SpawnError(f"server {server_id} not active after {timeout:g} s "
                         f"(status {server.status})")

    def delete_server(self, server_id: str) -> None:
        """``DELETE /v1/servers/:id``."""
        self._call("DELETE", f"/v1/servers/{server_id}")

    def delete_key(self, key_id: str) -> None:
        """``DELETE /v1/ssh-keys/:id``."""
        self._call("DELETE", f"/v1/ssh-keys/{key_id}")

    def _pages(self, path: str) -> list[dict[str, Any]]:
        out: list[dict[str, Any]] = []
        for page in range(1, MAX_PAGES + 1):
            data = self._call("GET", path, params={"limit": 100, "page": page})
            out.extend(x for x in data.get("data", []) if isinstance(x, dict))
            if not (data.get("pagination") or {}).get("has_more"):
                break
        return out

    def list_servers(self) -> list[ServerInfo]:
        """Every server of the paying wallet (all pages, bounded)."""
        return [ServerInfo.from_json(s) for s in self._pages("/v1/servers")]

    def list_keys(self) -> list[dict[str, Any]]:
        """Every SSH key of the paying wallet (all pages, bounded)."""
        return self._pages("/v1/ssh-keys")


# -- SSH ------------------------------------------------------------------------------------


def known_hosts_line(server: ServerInfo) -> str:
    """The ``known_hosts`` line pinning the host key the API reported."""
    host = server.ip if server.ssh_port == 22 else f"[{server.ip}]:{server.ssh_port}"
    return f"{host} {' '.join(server.ssh_host_key.split()[:2])}"


def connect(server: ServerInfo, key: EphemeralKey, *, user: str = DEFAULT_USER,
            timeout: float = CONNECT_TIMEOUT, interval: float = 0.2) -> Any:
    """An open ``fabric.Connection`` to the server, host key pinned; bounded retries.

    Without a reported host key there is nothing to pin and the connection is refused.
    ``run`` does not read stdin (tests run with captured stdin).
    """
    import fabric
    import paramiko

    if not server.ssh_host_key:
        raise SpawnError(f"server {server.id} reported no SSH host key to pin; refusing to connect")
    kind, blob = server.ssh_host_key.split()[:2]
    host_key = paramiko.PKey.from_type_string(kind, base64.b64decode(blob))
    conn = fabric.Connection(
        config=fabric.Config(overrides={"run": {"in_stream": False},
                                        "load_ssh_configs": False}),
        host=server.ip, user=user, port=server.ssh_port, connect_timeout=int(max(timeout, 1)),
        connect_kwargs={"pkey": key.paramiko_key(), "look_for_keys": False,
                        "allow_agent": False},
    )
    conn.client.set_missing_host_key_policy(paramiko.RejectPolicy())
    name = server.ip if server.ssh_port == 22 else f"[{server.ip}]:{server.ssh_port}"
    conn.client.get_host_keys().add(name, kind, host_key)
    deadline = time.monotonic() + timeout
    attempts = 0
    last = ""
    while attempts < 1000:
        attempts += 1
        try:
            conn.open()
            return conn
        except paramiko.BadHostKeyException:
            conn.close()
            raise SpawnError(f"SSH host key of server {server.id} does not match the key the "
                             "spawn API reported") from None
        except paramiko.AuthenticationException:
            conn.close()
            raise SpawnError(f"SSH login as {user} to server {server.id} was rejected") from None
        except (OSError, paramiko.SSHException) as exc:
            last = type(exc).__name__
            conn.close()
        if time.monotonic() + interval > deadline:
            break
        time.sleep(interval)
    raise SpawnError(f"SSH to {user}@{server.ip}:{server.ssh_port} refused (server {server.id}, "
                     f"{attempts} attempts in {timeout:g} s, last {last})")


# -- run records and reaping ----------------------------------------------------------------


def state_dir() -> Path:
    """``$PRIMGATE_STATE_DIR``, else ``$XDG_STATE_HOME/primgate`` (``~/.local/state/primgate``)."""
    explicit = os.environ.get(STATE_ENV)
    if explicit:
        return Path(explicit)
    xdg = os.environ.get("XDG_STATE_HOME")
    base = Path(xdg) if xdg else Path.home() / ".local" / "state"
    return base / "primgate"


def _runs_dir() -> Path:
    return state_dir() / "spawn"


class RunRecord:
    """This process's record of what it spawned in one run, rewritten atomically on change."""

    def __init__(self, run_id: str, process: str, base_url: str, wallet_key: str | None,
                 wallet_source: str) -> None:
        self.path = _runs_dir() / run_id / f"{process}.json"
        self.data: dict[str, Any] = {
            "run_id": run_id, "process": process, "pid": os.getpid(),
            "host": socket.gethostname(), "started": time.time(), "base_url": base_url,
            "wallet_source": wallet_source, "wallet_key": wallet_key,
            "servers": {}, "keys": {},
        }

    def add(self, kind: str, rid: str, name: str) -> None:
        """Note a created server (``kind="servers"``) or key (``"keys"``)."""
        self.data[kind][rid] = name
        self._write()

    def remove(self, kind: str, rid: str) -> None:
        """Forget a deleted resource; the file goes away once nothing is left."""
        self.data[kind].pop(rid, None)
        if self.data["servers"] or self.data["keys"]:
            self._write()
        else:
            self.discard()

    def _write(self) -> None:
        self.path.parent.mkdir(parents=True, exist_ok=True, mode=0o700)
        fd, tmp = tempfile.mkstemp(dir=self.path.parent, prefix=".rec-")
        with os.fdopen(fd, "w") as handle:  # mkstemp files are 0600
            json.dump(self.data, handle)
        os.replace(tmp, self.path)

    def discard(self) -> None:
        """Remove the record (and the run's directory when empty)."""
        with contextlib.suppress(FileNotFoundError):
            self.path.unlink()
        with contextlib.suppress(OSError):
            self.path.parent.rmdir()


def _pid_alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


def _records(run_id: str | None = None) -> Iterator[tuple[Path, dict[str, Any]]]:
    root = _runs_dir()
    dirs = [root / run_id] if run_id else sorted(p for p in root.glob("*") if p.is_dir())
    for directory in dirs:
        for path in sorted(directory.glob("*.json")):
            try:
                yield path, json.loads(path.read_text())
            except (OSError, ValueError):
                continue


def record_is_over(data: dict[str, Any], older_than: float | None) -> bool:
    """A run is over when its process is gone, or it is older than ``older_than`` seconds."""
    if older_than is not None and time.time() - float(data.get("started", 0)) >= older_than:
        return True
    if data.get("host") != socket.gethostname():
        return False
    return not _pid_alive(int(data.get("pid", 0)))


@dataclass(frozen=True)
class ReapTarget:
    """Where and as whom to look for leftovers."""

    base_url: str
    account: Any = field(repr=False)
    prefix: str


def _reap_one(http: httpx.Client, target: ReapTarget, out: Progress) -> tuple[int, list[str]]:
    """Delete servers, then keys, named with ``target.prefix``; (count, errors)."""
    client = SpawnClient(http, target.base_url)
    errors: list[str] = []
    deleted = 0
    try:
        servers = client.list_servers()
    except SpawnError as exc:
        return 0, [str(exc)]
    for server in servers:
        if server.name.startswith(target.prefix):
            try:
                client.delete_server(server.id)
                out(f"deleted server {server.id} ({server.name})")
                deleted += 1
            except SpawnError as exc:
                errors.append(str(exc))
    try:
        keys = client.list_keys()
    except SpawnError as exc:
        return deleted, [*errors, str(exc)]
    for key in keys:
        name = str(key.get("name", ""))
        if name.startswith(target.prefix):
            try:
                client.delete_key(str(key.get("id")))
                out(f"deleted ssh key {key.get('id')} ({name})")
                deleted += 1
            except SpawnError as exc:
                errors.append(str(exc))
    return deleted, errors


def _paying_client(account: Any, timeout: float) -> httpx.Client:
    from decimal import Decimal

    from pytest_primgate.x402.client import make_x402_client
    from pytest_primgate.x402.spend import SpendPolicy

    policy = SpendPolicy(max_payment=Decimal("0.10"), budget=Decimal("1.00"), pay_to=())
    return make_x402_client(account, policy, timeout=timeout)


def reap(
    *,
    run_id: str | None = None,
    base_url: str | None = None,
    account: Any = None,
    older_than: float | None = None,
    all_runs: bool = False,
    include_live: bool = False,
    out: Progress = print,
    timeout: float = 30.0,
) -> tuple[int, list[str]]:
    """Delete leftovers of finished runs (one run with ``run_id``); (deleted count, errors).

    Runs come from the run records; ``account`` (else the record's ephemeral key) pays.
    ``all_runs`` also deletes every ``primgate-`` resource of ``account`` at ``base_url``.
    ``include_live`` treats runs whose process still lives as over (the controller at its end),
    except this process's own records.
    """
    from eth_account import Account

    targets: dict[tuple[str, str, str], ReapTarget] = {}
    done_paths: dict[tuple[str, str, str], list[Path]] = {}
    errors: list[str] = []
    for path, data in _records(run_id):
        if not include_live and not record_is_over(data, older_than):
            continue
        if include_live and data.get("pid") == os.getpid() and data.get("host") == \
                socket.gethostname():
            continue  # this process tears its own resources down itself
        acct = account
        if acct is None and data.get("wallet_key"):
            acct = Account.from_key(data["wallet_key"])
        if acct is None:
            errors.append(f"run {data.get('run_id')}: wallet {data.get('wallet_source')} is not "
                          "stored; pass --wallet")
            continue
        url = base_url or str(data.get("base_url"))
        prefix = resource_name(str(data.get("run_id")), "")
        key = (url, acct.address, prefix)
        targets[key] = ReapTarget(url, acct, prefix)
        done_paths.setdefault(key, []).append(path)
    if all_runs and account is not None and base_url:
        targets[(base_url, account.address, NAME_PREFIX)] = ReapTarget(base_url, account,
                                                                       NAME_PREFIX)
    deleted = 0
    for key, target in targets.items():
        with _paying_client(target.account, timeout) as http:
            count, errs = _reap_one(http, target, out)
        deleted += count
        errors.extend(errs)
        if not errs:
            for path in done_paths.get(key, []):
                with contextlib.suppress(FileNotFoundError):
                    path.unlink()
                with contextlib.suppress(OSError):
                    path.parent.rmdir()
    return deleted, errors


def reap_run(run_id: str, *, base_url: str | None = None, out: Progress = print) -> int:
    """At the end of a run (controller): delete what its processes left behind; count."""
    if not (_runs_dir() / run_id).is_dir():
        return 0
    deleted, errors = reap(run_id=run_id, base_url=base_url, include_live=True, out=out)
    for error in errors:
        out(f"primgate reap: {error}")
    return deleted


# -- one process's spawned servers ----------------------------------------------------------


class VpsPool:
    """Servers and one SSH key spawned by one process; ``close()`` deletes all of them.

    The key is registered on first use. Every created resource is noted in the run record
    before anything can fail, so a crash leaves a record ``primgate reap`` can act on.
    """

    def __init__(self, http: httpx.Client, base_url: str, *, run_id: str, process: str,
                 wallet_key: str | None, wallet_source: str, timeout: float,
                 poll_interval: float = 0.25, progress: Progress | None = None) -> None:
        self.client = SpawnClient(http, base_url)
        self.run_id = run_id
        self.process = process
        self.timeout = timeout
        self.poll_interval = poll_interval
        self.progress = progress
        self.key = EphemeralKey.generate(comment=resource_name(run_id, process))
        self.record = RunRecord(run_id, process, base_url, wallet_key, wallet_source)
        self.key_id: str | None = None
        self.servers: dict[str, ServerInfo] = {}
        self.connections: dict[str, Any] = {}
        self._count = 0

    def _ensure_key(self) -> str:
        if self.key_id is None:
            name = resource_name(self.run_id, f"{self.process}-key")
            created = self.client.create_key(name, self.key.public_line)
            self.key_id = str(created["id"])
            self.record.add("keys", self.key_id, name)
        return self.key_id

    def create(self, **extra: Any) -> ServerInfo:
        """Create one server and wait until it is active; deleted again if that fails."""
        key_id = self._ensure_key()
        self._count += 1
        name = resource_name(self.run_id, f"{self.process}-{self._count}")
        server = self.client.create_server(name, [key_id], **extra)
        self.servers[server.id] = server
        self.record.add("servers", server.id, name)
        try:
            server = self.client.wait_active(server.id, self.timeout, self.poll_interval,
                                             self.progress)
            self.servers[server.id] = server
            return server
        except BaseException:
            self.delete(server.id)
            raise

    def spawn(self, *, user: str = DEFAULT_USER, **extra: Any) -> Any:
        """A new active server and an open, host-key-pinned ``fabric.Connection`` to it."""
        server = self.create(**extra)
        try:
            conn = connect(server, self.key, user=user,
                           timeout=min(self.timeout, CONNECT_TIMEOUT))
        except BaseException:
            self.delete(server.id)
            raise
        self.connections[server.id] = conn
        return conn

    def server_of(self, conn: Any) -> str:
        """The id of the server a connection of this pool leads to ('' when unknown)."""
        return next((sid for sid, c in self.connections.items() if c is conn), "")

    def delete(self, server_id: str) -> str | None:
        """Close the connection and delete one server; the error message on failure."""
        conn = self.connections.pop(server_id, None)
        if conn is not None:
            with contextlib.suppress(Exception):
                conn.close()
        self.servers.pop(server_id, None)
        try:
            self.client.delete_server(server_id)
        except SpawnError as exc:
            if "error 404" not in str(exc):
                return f"could not delete server {server_id}: {exc}"
        self.record.remove("servers", server_id)
        return None

    def close(self) -> list[str]:
        """Delete every server, then the key; returns the errors (reap handles those)."""
        errors = [e for sid in list(self.servers) if (e := self.delete(sid))]
        key_id = self.key_id
        if key_id is not None:
            try:
                self.client.delete_key(key_id)
            except SpawnError as exc:
                if "error 404" not in str(exc):
                    errors.append(f"could not delete ssh key {key_id}: {exc}")
                    return errors
            self.record.remove("keys", key_id)
            self.key_id = None
        return errors


def new_process_tag() -> str:
    """A short tag for processes without an xdist worker id."""
    return f"p{secrets.token_hex(2)}"
