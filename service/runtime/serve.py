"""`python -m service serve`: migrate, serve gRPC and (unless told not to) the
HTTP gateway in-process, until SIGTERM or SIGINT, then drain.

With `--workers N` above 1, `workers.serve_workers` runs the same pieces in
processes of their own instead. Either way the database is first prepared
once (bootstrap.prepare_database). On PostgreSQL the webhook dispatcher is a
process of its own at a lower CPU priority (webhook_process.py); a single
process `serve` spawns it and adds its metrics to its own /metrics.

The server's modules (and with them prometheus_client) are imported only
once the mode is known: several processes need PROMETHEUS_MULTIPROC_DIR set
before that import.
"""

from __future__ import annotations

import logging
import shutil
import sys
import tempfile

from common.stop_signals import stop_event, wait_until_set

from ..api.rate_limit import RateLimit
from ..config import Settings
from ..webhook_config import WebhookSettings
from .bootstrap import prepare_database
from .grace import gateway_grace_seconds
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
    # After the server started (nothing to stop when it cannot): deliveries
    # made due meanwhile are found by the dispatcher's first claim.
    dispatcher, metrics_dir = _start_dispatcher_process(settings)
    try:
        gateway = _start_gateway(settings, server, cors_origins) if settings.http_listen else None
        wait_until_set(stopping)
        grace = settings.shutdown_grace_seconds
        log.info("shutting down", extra={"grace_seconds": grace})
        # Everything stops taking new work at once; then calls in flight get the grace.
        stopped = server.begin_stop(grace)
        if gateway is not None:
            gateway.begin_stop()
        if dispatcher is not None:
            dispatcher.begin_stop()
        server.finish_stop(grace, stopped)
        if gateway is not None:
            gateway.stop()
    finally:
        if dispatcher is not None:
            dispatcher.begin_stop()
            dispatcher.finish_stop()
        if metrics_dir is not None:
            shutil.rmtree(metrics_dir, ignore_errors=True)
    log.info("stopped")
    return 0


def _start_dispatcher_process(settings: Settings):  # -> (DispatcherProcess | None, its metrics dir | None)
    """On PostgreSQL: spawn the webhook dispatcher's process, its metrics
    (files in a directory of their own) added to this process's /metrics."""
    from .webhook_process import DispatcherConfig, DispatcherProcess, in_own_process

    if not in_own_process(settings.database_url):
        return None, None
    from prometheus_client import REGISTRY
    from prometheus_client.multiprocess import MultiProcessCollector

    metrics_dir = tempfile.mkdtemp(prefix="issues-webhook-metrics-")
    MultiProcessCollector(REGISTRY, path=metrics_dir)
    dispatcher = DispatcherProcess(DispatcherConfig.of(settings), metrics_dir)
    dispatcher.start()
    return dispatcher, metrics_dir


def _start_gateway(settings: Settings, server, cors_origins: tuple[str, ...]):  # -> gateway.server.GatewayHandle
    from gateway.server import start_in_thread  # only when serving HTTP

    from ..blobs.filesystem import FilesystemStore

    assert settings.http_listen is not None
    host = settings.grpc_listen.rsplit(":", 1)[0]
    gateway = start_in_thread(
        settings.http_listen,
        f"{host}:{server.port}",
        max_upload_bytes=settings.blobs.max_upload_bytes,
        cors_origins=cors_origins,
        graceful_seconds=gateway_grace_seconds(settings),
        transport=server.in_process,  # no loopback gRPC hop: the server's own handlers
    )
    http_host = settings.http_listen.rsplit(":", 1)[0]
    if isinstance(server.blobs, FilesystemStore) and not server.blobs.public_url:
        # The file store's signed URLs are the gateway's blob routes.
        server.blobs.public_url = f"http://{http_host}:{gateway.port}"
    log.info("serving http", extra={"http_listen": f"{http_host}:{gateway.port}"})
    return gateway
