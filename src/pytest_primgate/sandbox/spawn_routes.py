"""spawn.sh: SSH keys and servers scoped to the paying wallet, each server a real ``sshd``.

Sandbox extensions of ``ServerResponse``: ``ssh_port`` (the loopback port of the server's sshd)
and ``ssh_host_key`` (its public host key line, so clients can pin it). A create body may carry
the sandbox-only ``"sandbox_sshd": "refuse"`` to get a server whose SSH port refuses
connections (for testing clients).
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import secrets
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Any

from pytest_primgate.sandbox.routing import BadRequest, guarded, json_object, page_of, query_int
from pytest_primgate.sandbox.sshd import SshdError, SshServer, free_port, host_key_line
from pytest_primgate.sandbox.types import Route, SandboxRequest, SandboxResponse

if TYPE_CHECKING:
    from pytest_primgate.sandbox.app import SandboxApp

PRIM = "spawn"
CREATE_PRICE = "0.01"
OTHER_PRICE = "0.001"
DELETE_PRICE = "0.005"
ACTION_PRICE = "0.002"
RESIZE_PRICE = "0.01"
REBUILD_PRICE = "0.005"
SERVER_TYPES = ("small",)
RESIZE_TYPES = ("small", "medium", "large")
IMAGES = ("ubuntu-24.04", "ubuntu-22.04", "debian-12", "fedora-41")
LOCATIONS = ("nyc3", "sfo3", "ams3", "lon1", "fra1", "sgp1", "tor1", "blr1", "syd1")
KEY_TYPES = ("ssh-ed25519", "ssh-rsa", "ecdsa-sha2-nistp256", "ecdsa-sha2-nistp384",
             "ecdsa-sha2-nistp521")


def _now() -> str:
    return datetime.now(UTC).isoformat(timespec="milliseconds").replace("+00:00", "Z")


def fingerprint(public_key: str) -> str:
    """OpenSSH ``SHA256:…`` fingerprint of a public key line; ValueError when malformed."""
    parts = public_key.strip().split()
    if len(parts) < 2 or parts[0] not in KEY_TYPES:
        raise ValueError("public_key must be an OpenSSH public key line (ssh-ed25519 AAAA…)")
    try:
        blob = base64.b64decode(parts[1], validate=True)
    except (binascii.Error, ValueError):
        raise ValueError("public_key is not valid base64") from None
    digest = base64.b64encode(hashlib.sha256(blob).digest()).decode().rstrip("=")
    return f"SHA256:{digest}"


@dataclass
class SshKey:
    """A registered public key."""

    id: str
    name: str
    public_key: str
    fingerprint: str
    owner_wallet: str
    created_at: str

    def response(self) -> dict[str, Any]:
        return {"id": self.id, "provider": "sandbox", "provider_id": self.id[3:],
                "name": self.name, "fingerprint": self.fingerprint,
                "public_key": self.public_key, "owner_wallet": self.owner_wallet,
                "created_at": self.created_at}


@dataclass
class Server:
    """A spawned server: metadata and its sshd (None when refusing SSH)."""

    id: str
    name: str
    type: str
    image: str
    location: str
    owner_wallet: str
    created_at: str
    created: float
    active_delay: float
    ssh_keys: list[str]
    labels: dict[str, str]
    sshd: SshServer | None
    port: int
    host_key: str = ""
    deleted: bool = False
    powered: bool = True
    extra: dict[str, Any] = field(default_factory=dict)

    @property
    def status(self) -> str:
        """``initializing`` until the delay passed, then ``running`` (``off`` once stopped)."""
        if time.monotonic() - self.created < self.active_delay:
            return "initializing"
        return "running" if self.powered else "off"

    def response(self) -> dict[str, Any]:
        return {"id": self.id, "provider": "sandbox", "provider_id": self.id[4:],
                "name": self.name, "type": self.type, "status": self.status,
                "image": self.image, "location": self.location,
                "public_net": {"ipv4": {"ip": "127.0.0.1"}, "ipv6": {"ip": "::1"}},
                "owner_wallet": self.owner_wallet, "created_at": self.created_at,
                "labels": dict(self.labels), "ssh_keys": list(self.ssh_keys),
                "ssh_port": self.port, "ssh_host_key": self.host_key}


class SpawnState:
    """All keys and servers of all wallets; ``close()`` stops every sshd."""

    def __init__(self, active_delay: float, server_limit: int) -> None:
        self.lock = threading.Lock()
        self.keys: dict[str, SshKey] = {}
        self.servers: dict[str, Server] = {}
        self.active_delay = active_delay
        self.server_limit = server_limit

    def snapshot(self) -> dict[str, Any]:
        with self.lock:
            return {"servers": len(self.servers), "ssh_keys": len(self.keys),
                    "sshd_pids": [s.sshd.pid for s in self.servers.values() if s.sshd]}

    def close(self) -> None:
        with self.lock:
            servers = list(self.servers.values())
            self.servers.clear()
        for server in servers:
            if server.sshd is not None:
                server.sshd.stop()

    def reset(self) -> None:
        self.close()
        with self.lock:
            self.keys.clear()

    def key(self, request: SandboxRequest) -> SshKey:
        key = self.keys.get(request.params["id"])
        if key is None:
            raise BadRequest("SSH key not found", 404, "not_found")
        if key.owner_wallet != request.payer:
            raise BadRequest("Caller does not own this SSH key", 403, "forbidden")
        return key

    def server(self, request: SandboxRequest) -> Server:
        server = self.servers.get(request.params["id"])
        if server is None:
            raise BadRequest("Server not found", 404, "not_found")
        if server.owner_wallet != request.payer:
            raise BadRequest("Caller does not own this server", 403, "forbidden")
        return server


def _choice(data: dict[str, Any], name: str, allowed: tuple[str, ...], default: str) -> str:
    value = data.get(name, default)
    if value not in allowed:
        code = "type_not_allowed" if name == "type" else "invalid_request"
        raise BadRequest(f"{name} must be one of {', '.join(allowed)}", 400, code)
    return str(value)


def routes(app: SandboxApp) -> list[Route]:
    """spawn.sh routes (all paid)."""
    state = SpawnState(app.config.spawn_active_delay, app.config.spawn_server_limit)
    app.state[PRIM] = state

    def create_key(request: SandboxRequest) -> SandboxResponse:
        """Register a public key."""
        data = json_object(request)
        name, public_key = data.get("name"), data.get("public_key")
        if not isinstance(name, str) or not name.strip():
            raise BadRequest("name is required")
        if not isinstance(public_key, str):
            raise BadRequest("public_key is required")
        try:
            fp = fingerprint(public_key)
        except ValueError as exc:
            raise BadRequest(str(exc)) from None
        key = SshKey(f"sk_{secrets.token_hex(8)}", name, " ".join(public_key.split()[:3]), fp,
                     str(request.payer), _now())
        with state.lock:
            state.keys[key.id] = key
        return SandboxResponse.json(201, key.response())

    def list_keys(request: SandboxRequest) -> SandboxResponse:
        """The payer's keys, paginated."""
        limit = query_int(request, "limit", 20, 1, 100)
        page = query_int(request, "page", 1, 1, 10**6)
        with state.lock:
            mine = [k.response() for k in state.keys.values() if k.owner_wallet == request.payer]
        return SandboxResponse.json(200, page_of(mine, page, limit))

    def get_key(request: SandboxRequest) -> SandboxResponse:
        """One key."""
        with state.lock:
            return SandboxResponse.json(200, state.key(request).response())

    def delete_key(request: SandboxRequest) -> SandboxResponse:
        """Forget a key (servers keep their authorized_keys, as on a real provider)."""
        with state.lock:
            key = state.key(request)
            del state.keys[key.id]
        return SandboxResponse.json(200, {"status": "deleted"})

    def create_server(request: SandboxRequest) -> SandboxResponse:
        """Create a server: its sshd starts now; status turns active after the delay."""
        data = json_object(request)
        name = data.get("name")
        if not isinstance(name, str) or not name.strip():
            raise BadRequest("name is required")
        type_ = _choice(data, "type", SERVER_TYPES, "small")
        image = _choice(data, "image", IMAGES, "ubuntu-24.04")
        location = _choice(data, "location", LOCATIONS, "nyc3")
        key_ids = data.get("ssh_keys") or []
        labels = data.get("labels") or {}
        if not isinstance(key_ids, list) or not all(isinstance(k, str) for k in key_ids):
            raise BadRequest("ssh_keys must be a list of SSH key ids")
        if not isinstance(labels, dict):
            raise BadRequest("labels must be an object")
        payer = str(request.payer)
        with state.lock:
            public_keys = []
            for key_id in key_ids:
                key = state.keys.get(key_id)
                if key is None or key.owner_wallet != payer:
                    raise BadRequest(f"SSH key {key_id} not found", 404, "not_found")
                public_keys.append(key.public_key)
            mine = [s for s in state.servers.values() if s.owner_wallet == payer]
            if len(mine) >= state.server_limit:
                raise BadRequest(
                    f"Server limit reached: {state.server_limit} concurrent servers per wallet",
                    403, "server_limit_exceeded",
                )
            server_id = f"srv_{secrets.token_hex(8)}"
            # reserve the slot before starting sshd outside the lock
            placeholder = Server(server_id, name, type_, image, location, payer, _now(),
                                 time.monotonic(), state.active_delay, list(key_ids),
                                 {str(k): str(v) for k, v in labels.items()}, None, 0)
            state.servers[server_id] = placeholder
        try:
            if data.get("sandbox_sshd") == "refuse":
                placeholder.port, placeholder.host_key = free_port(), host_key_line()
            else:
                sshd = SshServer(public_keys)
                placeholder.sshd, placeholder.port = sshd, sshd.port
                placeholder.host_key = sshd.host_key
        except (SshdError, OSError) as exc:
            with state.lock:
                state.servers.pop(server_id, None)
            raise BadRequest(f"could not start the server: {exc}", 502, "provider_error") from None
        placeholder.created = time.monotonic()
        started = _now()
        return SandboxResponse.json(201, {
            "server": placeholder.response(),
            "action": {"id": f"act_{secrets.token_hex(6)}", "command": "create",
                       "status": "in-progress", "started_at": started, "finished_at": None},
            "deposit_charged": CREATE_PRICE,
            "deposit_remaining": "0.00",
        })

    def list_servers(request: SandboxRequest) -> SandboxResponse:
        """The payer's servers, paginated."""
        limit = query_int(request, "limit", 20, 1, 100)
        page = query_int(request, "page", 1, 1, 10**6)
        with state.lock:
            mine = [s.response() for s in state.servers.values()
                    if s.owner_wallet == request.payer]
        return SandboxResponse.json(200, page_of(mine, page, limit))

    def get_server(request: SandboxRequest) -> SandboxResponse:
        """One server (status initializing until the delay passed, then active)."""
        with state.lock:
            return SandboxResponse.json(200, state.server(request).response())

    def delete_server(request: SandboxRequest) -> SandboxResponse:
        """Stop the server's sshd and remove its files."""
        with state.lock:
            server = state.server(request)
            del state.servers[server.id]
        if server.sshd is not None:
            server.sshd.stop()
        return SandboxResponse.json(200, {"status": "deleted", "deposit_refunded": "0.00"})

    def action(command: str, request: SandboxRequest) -> dict[str, Any]:
        now = _now()
        return {"id": f"act_{secrets.token_hex(6)}", "command": command, "status": "completed",
                "started_at": now, "finished_at": now}

    def power(command: str) -> Callable[[SandboxRequest], SandboxResponse]:
        def handler(request: SandboxRequest) -> SandboxResponse:
            with state.lock:
                server = state.server(request)
                server.powered = command != "stop_server"
            return SandboxResponse.json(200, {"action": action(command, request)})
        handler.__doc__ = f"{command.split('_')[0].capitalize()} a server."
        return handler

    def resize(request: SandboxRequest) -> SandboxResponse:
        """Change a server's type."""
        data = json_object(request)
        new_type = data.get("type")
        if new_type not in RESIZE_TYPES:
            raise BadRequest(f"type must be one of {', '.join(RESIZE_TYPES)}")
        if not isinstance(data.get("upgrade_disk", False), bool):
            raise BadRequest("upgrade_disk must be a boolean")
        with state.lock:
            server = state.server(request)
            server.type = str(new_type)
        return SandboxResponse.json(200, {"action": action("resize", request),
                                          "new_type": new_type, "deposit_delta": "0.00"})

    def rebuild(request: SandboxRequest) -> SandboxResponse:
        """Reinstall a server from an image."""
        data = json_object(request)
        image = data.get("image")
        if image not in IMAGES:
            raise BadRequest(f"image must be one of {', '.join(IMAGES)}")
        with state.lock:
            server = state.server(request)
            server.image = str(image)
        return SandboxResponse.json(200, {"action": action("rebuild", request),
                                          "root_password": None})

    table = [
        ("POST", "/v1/ssh-keys", create_key, OTHER_PRICE),
        ("GET", "/v1/ssh-keys", list_keys, OTHER_PRICE),
        ("GET", "/v1/ssh-keys/{id}", get_key, OTHER_PRICE),
        ("DELETE", "/v1/ssh-keys/{id}", delete_key, OTHER_PRICE),
        ("POST", "/v1/servers", create_server, CREATE_PRICE),
        ("GET", "/v1/servers", list_servers, OTHER_PRICE),
        ("GET", "/v1/servers/{id}", get_server, OTHER_PRICE),
        ("DELETE", "/v1/servers/{id}", delete_server, DELETE_PRICE),
        ("POST", "/v1/servers/{id}/start", power("start_server"), ACTION_PRICE),
        ("POST", "/v1/servers/{id}/stop", power("stop_server"), ACTION_PRICE),
        ("POST", "/v1/servers/{id}/reboot", power("reboot_server"), ACTION_PRICE),
        ("POST", "/v1/servers/{id}/resize", resize, RESIZE_PRICE),
        ("POST", "/v1/servers/{id}/rebuild", rebuild, REBUILD_PRICE),
    ]
    """Prices as spawn.sh's llms.txt states them."""
    return [Route(m, PRIM, p, guarded(h), price=price) for m, p, h, price in table]
