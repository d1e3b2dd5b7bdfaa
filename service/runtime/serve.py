"""`python -m service serve`: migrate, serve gRPC and (unless told not to) the
HTTP gateway in-process, until SIGTERM or SIGINT, then drain.

With `--workers N` above 1, `workers.serve_workers` runs the same pieces in
processes of their own instead: `run_worker` in each gRPC worker,
`run_gateway` in the gateway's.

The server's modules (and with them prometheus_client) are imported only
once the mode is known: several processes need PROMETHEUS_MULTIPROC_DIR set
before that import.
"""

from __future__ import annotations

import logging
import os
import shlex
import socket
import sys
import threading
from typing import Callable

import peewee

from common import defaults
from common.stop_signals import stop_event, wait_until_set

from ..api.rate_limit import RateLimit
from ..app import tokens
from ..config import Settings
from ..storage import conninfo, database, migrate
from ..webhook_config import WebhookSettings
from .ports import CannotListen, check_free

log = logging.getLogger("service")


def serve(settings: Settings) -> int:
    cors_origins: tuple[str, ...] = ()
    if settings.http_listen:
        from gateway.cors import parse_origins

        try:
            cors_origins = parse_origins(settings.cors_origins)
        except ValueError as exc:
            log.error("cannot start", extra={"error": f"ISSUES_CORS_ORIGINS: {exc}"})
            return 2
    try:
        RateLimit.parse(settings.rate_limit)
        WebhookSettings.from_env()
    except ValueError as exc:
        log.error("cannot start", extra={"error": str(exc)})
        return 2
    try:
        check_free(settings.grpc_listen, "gRPC")
        if settings.http_listen:
            check_free(settings.http_listen, "HTTP")
    except CannotListen as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    if settings.worker_processes > 1:
        from .workers import serve_workers

        return serve_workers(settings, cors_origins)

    from .server import start

    stopping = stop_event()  # a SIGTERM while starting is kept for when serving has begun
    db = prepare_database(settings)
    server = start(settings, db)
    gateway = _start_gateway(settings, server, cors_origins) if settings.http_listen else None
    wait_until_set(stopping)
    grace = settings.shutdown_grace_seconds
    log.info("shutting down", extra={"grace_seconds": grace})
    # Everything stops taking new work at once; then calls in flight get the grace.
    stopped = server.begin_stop(grace)
    if gateway is not None:
        gateway.begin_stop()
    server.finish_stop(grace, stopped)
    if gateway is not None:
        gateway.stop()
    log.info("stopped")
    return 0


def prepare_database(settings: Settings) -> peewee.Database:
    """Open and migrate the database; on one with no tokens, mint and print the first."""
    db = database.open_database(settings.database_url, pool_size=settings.db_pool_size)
    database.bind(db)
    applied = migrate.migrate(db)
    message, fields = migrate.outcome(applied)
    log.info(message, extra=fields)
    first_token = tokens.bootstrap_admin_token()
    if first_token:
        print(first_token_banner(first_token, settings.database_url), flush=True)
    return db


def first_token_banner(token: str, database_url: str) -> str:
    """The first admin token, framed so that it stands out between pip's output and the JSON logs,
    with the one line that sets up a second terminal and how to mint another."""
    setup = [f"cd {shlex.quote(os.getcwd())}"]
    if sys.prefix != sys.base_prefix:  # a virtual environment: the second terminal needs it too
        setup.append(f"source {shlex.quote(sys.prefix)}/bin/activate")
    exports = f"export TOKEN={token}"
    # The operator commands there need the database too; a password stays
    # out of what is printed (and of the logs that keep stdout).
    secret = database_url != defaults.DATABASE_URL[1] and "password" in conninfo.parse(database_url).params
    if database_url != defaults.DATABASE_URL[1] and not secret:
        exports += f" DATABASE_URL={shlex.quote(database_url)}"
    rule = "=" * 78
    return "\n".join([
        "", rule,
        "No API tokens existed, so one admin token was created for workspace 'default'.",
        "It is shown only this once; keep it:", "", f"    {token}", "",
        "In a second terminal, to use it:", f"    {' && '.join([*setup, exports])}",
        *(["    (and export DATABASE_URL as the server's: not shown, it holds a password)"] if secret else []),
        "Lost it? Mint another there (the server may keep running):",
        "    python -m service token create --workspace default --email you@example.com --role admin",
        rule, "",
    ])


def _gateway_grace(settings: Settings) -> float:
    from .server import CANCEL_MARGIN_SECONDS

    # Longer than the gRPC side's drain, so that HTTP callers get its answer.
    return settings.shutdown_grace_seconds + CANCEL_MARGIN_SECONDS + 2


def _start_gateway(settings: Settings, server, cors_origins: tuple[str, ...]):  # -> gateway.server.GatewayHandle
    from gateway.server import start_in_thread  # only when serving HTTP

    from ..blobs.filesystem import FilesystemStore

    assert settings.http_listen is not None
    host = settings.grpc_listen.rsplit(":", 1)[0]
    gateway = start_in_thread(
        settings.http_listen, f"{host}:{server.port}", max_upload_bytes=settings.blobs.max_upload_bytes,
        cors_origins=cors_origins, graceful_seconds=_gateway_grace(settings),
    )
    http_host = settings.http_listen.rsplit(":", 1)[0]
    if isinstance(server.blobs, FilesystemStore) and not server.blobs.public_url:
        # The file store's signed URLs are the gateway's blob routes.
        server.blobs.public_url = f"http://{http_host}:{gateway.port}"
    log.info("serving http", extra={"http_listen": f"{http_host}:{gateway.port}"})
    return gateway


# -- the processes of `serve --workers N` ------------------------------------------


def run_worker(settings: Settings, stopping: threading.Event, ready: Callable[[], None]) -> int:
    """One gRPC worker process: serve until `stopping`, then drain like `serve` does."""
    from .server import start

    db = database.open_database(settings.database_url, pool_size=settings.db_pool_size)
    database.bind(db)
    server = start(settings, db)
    ready()
    wait_until_set(stopping)
    grace = settings.shutdown_grace_seconds
    log.info("shutting down", extra={"grace_seconds": grace})
    server.stop(grace)
    log.info("stopped")
    return 0


def run_gateway(
    settings: Settings, sock: socket.socket, http_listen: str, grpc_target: str, cors_origins: tuple[str, ...],
    stopping: threading.Event, ready: Callable[[], None],
) -> int:
    """The gateway process: serve HTTP on `sock` in front of the workers until `stopping`, then drain."""
    from gateway.server import start_in_thread

    gateway = start_in_thread(
        http_listen, grpc_target, max_upload_bytes=settings.blobs.max_upload_bytes, cors_origins=cors_origins,
        graceful_seconds=_gateway_grace(settings), sock=sock,
    )
    log.info("serving http", extra={"http_listen": http_listen, "grpc_target": grpc_target})
    ready()
    wait_until_set(stopping)
    log.info("shutting down")
    gateway.stop()
    log.info("stopped")
    return 0
