"""`python -m gateway --http-listen ADDR --grpc-target ADDR`: the gateway alone.

Flags override ISSUES_HTTP_LISTEN / ISSUES_GRPC_TARGET, which override
127.0.0.1:8080 / 127.0.0.1:50051. Runs until SIGINT or SIGTERM, then drains.
"""

from __future__ import annotations

import argparse
import logging
import os
import signal
import sys
import threading

from .server import start_in_thread

log = logging.getLogger("gateway")

DEFAULT_HTTP_LISTEN = "127.0.0.1:8080"
DEFAULT_GRPC_TARGET = "127.0.0.1:50051"


def parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(prog="python -m gateway", description="The HTTP/JSON gateway of issues.v1.IssueService.")
    p.add_argument("--http-listen", help=f"default: $ISSUES_HTTP_LISTEN or {DEFAULT_HTTP_LISTEN}")
    p.add_argument("--grpc-target", help=f"default: $ISSUES_GRPC_TARGET or {DEFAULT_GRPC_TARGET}")
    p.add_argument("--max-body-bytes", type=int, default=1 << 20, help="larger request bodies get 413 (default 1 MiB)")
    p.add_argument("--log-level", default="INFO")
    return p


def main(argv: list[str] | None = None) -> int:
    args = parser().parse_args(argv)
    from service import logs  # the same JSON log lines as the service

    logs.configure(args.log_level.upper())
    http_listen = args.http_listen or os.environ.get("ISSUES_HTTP_LISTEN") or DEFAULT_HTTP_LISTEN
    grpc_target = args.grpc_target or os.environ.get("ISSUES_GRPC_TARGET") or DEFAULT_GRPC_TARGET

    stopping = threading.Event()
    for sig in (signal.SIGTERM, signal.SIGINT):
        signal.signal(sig, lambda *_: stopping.set())
    try:
        handle = start_in_thread(http_listen, grpc_target, max_body_bytes=args.max_body_bytes)
    except (OSError, ValueError, RuntimeError) as exc:
        log.error("cannot start", extra={"error": str(exc)})
        return 1
    host = http_listen.rpartition(":")[0]
    log.info("serving http", extra={"http_listen": f"{host}:{handle.port}", "grpc_target": grpc_target})
    stopping.wait()
    log.info("shutting down")
    handle.stop()
    log.info("stopped")
    return 0


if __name__ == "__main__":
    sys.exit(main())
