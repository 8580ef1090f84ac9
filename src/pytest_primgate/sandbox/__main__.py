"""``python -m pytest_primgate.sandbox``: serve the sandbox until SIGINT or SIGTERM."""

from __future__ import annotations

import argparse
import signal
import sys
import threading
from collections.abc import Sequence
from types import FrameType

from pytest_primgate.sandbox.config import SandboxConfig, add_arguments, from_args
from pytest_primgate.sandbox.faults import FaultSpecError
from pytest_primgate.sandbox.process import LISTENING_PREFIX


def serve(config: SandboxConfig) -> int:
    """Serve in the foreground; print the listening line first; stop cleanly on a signal."""
    from pytest_primgate.sandbox.app import SandboxApp
    from pytest_primgate.sandbox.server import SandboxServer

    app = SandboxApp(config)
    try:
        server = SandboxServer(app)
    except OSError as exc:
        app.close()
        print(f"sandbox: cannot listen on {config.host}:{config.port}: {exc}", file=sys.stderr)
        return 2

    def on_signal(signum: int, frame: FrameType | None) -> None:
        # Raising here could land inside socketserver's request handling, whose
        # ``except Exception`` would swallow it; ask serve_forever to return instead.
        threading.Thread(target=server.shutdown, daemon=True).start()

    previous = {sig: signal.signal(sig, on_signal) for sig in (signal.SIGTERM, signal.SIGINT)}
    try:
        print(f"{LISTENING_PREFIX}{server.url}", flush=True)
        server.serve_forever(poll_interval=0.2)
    except KeyboardInterrupt:
        pass
    finally:
        for sig, handler in previous.items():
            signal.signal(sig, handler)
        server.server_close()
        app.close()
    return 0


def build_parser(prog: str = "python -m pytest_primgate.sandbox") -> argparse.ArgumentParser:
    """The sandbox's argument parser."""
    parser = argparse.ArgumentParser(prog=prog, description="prim.sh-compatible sandbox")
    add_arguments(parser)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    """Parse arguments and serve."""
    parser = build_parser()
    args = parser.parse_args(argv)
    try:
        config = from_args(args)
    except (FaultSpecError, ValueError) as exc:
        parser.error(str(exc))
    return serve(config)


if __name__ == "__main__":
    sys.exit(main())
