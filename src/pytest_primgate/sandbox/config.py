"""Sandbox configuration, shared by the server, the subprocess launcher and the CLI."""

from __future__ import annotations

import argparse
from collections.abc import Sequence
from dataclasses import dataclass

from pytest_primgate.sandbox.faults import FaultSpec, parse_faults

SANDBOX_PAY_TO = "0x5A4db0C5b1C0e9F1ab3c6F7d8E9a0b1c2D3e4f50"
"""The fixed address every sandbox paywall asks payments for (checksummed, no known key)."""

SANDBOX_NETWORK = "eip155:84532"


@dataclass(frozen=True)
class SandboxConfig:
    """Everything a sandbox instance needs; route modules read it as ``app.config``."""

    host: str = "127.0.0.1"
    port: int = 0
    network: str = SANDBOX_NETWORK
    pay_to: str = SANDBOX_PAY_TO
    faucet_drip_usdc: str = "10.00"
    faucet_cooldown_seconds: float = 7200.0
    spawn_active_delay: float = 0.5
    spawn_server_limit: int = 3
    v1_routes: tuple[str, ...] = ()
    """Route patterns answered with x402 v1, e.g. ``"GET /infer/v1/models"``."""
    faults: tuple[FaultSpec, ...] = ()
    seed: int = 0
    quiet: bool = True
    """No per-request log lines (the default: logging costs time on every request)."""


LOOPBACK_HOSTS = ("127.0.0.1", "::1", "localhost")
MAX_PORT = 65535


def check_loopback(host: str) -> None:
    """The sandbox binds to loopback only."""
    if host not in LOOPBACK_HOSTS:
        raise ValueError(f"refusing to bind to {host!r}; use 127.0.0.1 or ::1")


def add_arguments(parser: argparse.ArgumentParser) -> None:
    """Options shared by ``python -m pytest_primgate.sandbox`` and ``primgate sandbox``."""
    d = SandboxConfig()
    parser.add_argument("--host", default=d.host, help="loopback address (127.0.0.1 or ::1)")
    parser.add_argument("--port", type=int, default=d.port, help="port (0 = any free port)")
    parser.add_argument("--fault", action="append", default=[], metavar="SPEC",
                        help='fault rule, e.g. "path=/store/*,method=GET,every=3,status=500"')
    parser.add_argument("--network", default=d.network, help="CAIP-2 network of the paywall")
    parser.add_argument("--pay-to", default=d.pay_to, help="address payments must go to")
    parser.add_argument("--v1-route", action="append", default=[], metavar="ROUTE",
                        help='answer this route with x402 v1, e.g. "GET /infer/v1/models"')
    parser.add_argument("--faucet-drip-usdc", default=d.faucet_drip_usdc)
    parser.add_argument("--faucet-cooldown", type=float, default=d.faucet_cooldown_seconds,
                        help="seconds between two faucet drips to one address")
    parser.add_argument("--spawn-active-delay", type=float, default=d.spawn_active_delay)
    parser.add_argument("--spawn-server-limit", type=int, default=d.spawn_server_limit)
    parser.add_argument("--seed", type=int, default=d.seed)
    parser.add_argument("--verbose", action="store_true", help="log every request to stderr")


def from_args(args: argparse.Namespace) -> SandboxConfig:
    """A config from parsed arguments; raises ValueError with a clear message."""
    check_loopback(args.host)
    if not 0 <= args.port <= MAX_PORT:
        raise ValueError(f"--port must be 0 to {MAX_PORT} (0: any free port), got {args.port}")
    faults = parse_faults(args.fault)
    return SandboxConfig(
        host=args.host,
        port=args.port,
        network=args.network,
        pay_to=args.pay_to,
        faucet_drip_usdc=args.faucet_drip_usdc,
        faucet_cooldown_seconds=args.faucet_cooldown,
        spawn_active_delay=args.spawn_active_delay,
        spawn_server_limit=args.spawn_server_limit,
        v1_routes=tuple(args.v1_route),
        faults=faults,
        seed=args.seed,
        quiet=not args.verbose,
    )


def _fault_text(spec: FaultSpec) -> str:
    parts = []
    for key, value in spec.to_dict().items():
        if value != getattr(FaultSpec(), key):
            parts.append(f"{key}={value}")
    return ",".join(parts) or "path=*"


def to_argv(config: SandboxConfig, extra_faults: Sequence[str] = ()) -> list[str]:
    """Command-line arguments that rebuild ``config`` in a subprocess."""
    argv = [
        "--host", config.host,
        "--port", str(config.port),
        "--network", config.network,
        "--pay-to", config.pay_to,
        "--faucet-drip-usdc", config.faucet_drip_usdc,
        "--faucet-cooldown", repr(config.faucet_cooldown_seconds),
        "--spawn-active-delay", repr(config.spawn_active_delay),
        "--spawn-server-limit", str(config.spawn_server_limit),
        "--seed", str(config.seed),
    ]
    for route in config.v1_routes:
        argv += ["--v1-route", route]
    for spec in config.faults:
        argv += ["--fault", _fault_text(spec)]
    for text in extra_faults:
        argv += ["--fault", text]
    if not config.quiet:
        argv.append("--verbose")
    return argv
