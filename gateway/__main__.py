"""`python -m gateway --http-listen ADDR --grpc-target ADDR`: the gateway alone.

Flags override ISSUES_HTTP_LISTEN / ISSUES_GRPC_TARGET / ISSUES_CORS_ORIGINS,
which override 127.0.0.1:8080 / 127.0.0.1:50051 / no CORS. Runs until SIGINT
or SIGTERM, then drains.
"""

from __future__ import annotations

import argparse
import logging
import sys

from common import defaults, logs
from common.stop_signals import stop_event, wait_until_set

from .cors import parse_origins
from .server import start_in_thread

log = logging.getLogger("gateway")


def parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(
        prog="python -m gateway", description="The HTTP/JSON gateway of issues.v1.IssueService."
    )
    p.add_argument("--http-listen", help="default: ${} or {}".format(*defaults.HTTP_LISTEN))
    p.add_argument("--grpc-target", help="default: ${} or {}".format(*defaults.GRPC_TARGET))
    p.add_argument(
        "--cors-origins",
        help="comma-separated browser origins allowed to call, * for any "
        f"(default: ${defaults.CORS_ORIGINS[0]}; none: CORS off)",
    )
    p.add_argument("--max-body-bytes", type=int, default=1 << 20, help="larger JSON bodies get 413 (default 1 MiB)")
    p.add_argument(
        "--max-upload-bytes",
        type=int,
        help="larger uploads get 413 (default: ${} or {})".format(*defaults.MAX_UPLOAD_BYTES),
    )
    p.add_argument("--log-level", default="INFO")
    return p


def main(argv: list[str] | None = None) -> int:
    args = parser().parse_args(argv)
    logs.configure(args.log_level.upper())
    http_listen = defaults.resolve(defaults.HTTP_LISTEN, args.http_listen)
    grpc_target = defaults.resolve(defaults.GRPC_TARGET, args.grpc_target)

    stopping = stop_event()
    try:
        cors_origins = parse_origins(defaults.resolve(defaults.CORS_ORIGINS, args.cors_origins))
        max_upload = int(
            defaults.resolve(
                defaults.MAX_UPLOAD_BYTES, None if args.max_upload_bytes is None else str(args.max_upload_bytes)
            )
        )
        handle = start_in_thread(
            http_listen,
            grpc_target,
            max_body_bytes=args.max_body_bytes,
            max_upload_bytes=max_upload,
            cors_origins=cors_origins,
        )
    except (OSError, ValueError, RuntimeError) as exc:
        log.error("cannot start", extra={"error": str(exc)})
        return 1
    host = http_listen.rpartition(":")[0]
    log.info("serving http", extra={"http_listen": f"{host}:{handle.port}", "grpc_target": grpc_target})
    wait_until_set(stopping)
    log.info("shutting down")
    handle.stop()
    log.info("stopped")
    return 0


if __name__ == "__main__":
    sys.exit(main())
