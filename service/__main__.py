"""Operator commands: `python -m service serve | migrate | token create`."""

from __future__ import annotations

import argparse
import logging
import signal
import sys
import threading

from common import logs

from . import auth
from .config import Settings, blob_settings, setting
from .storage import database, migrate

log = logging.getLogger("service")


def _open(url: str):
    db = database.open_database(url)
    database.bind(db)
    return db


def cmd_migrate(args: argparse.Namespace) -> int:
    db = _open(setting("database_url", args.database_url))
    applied = migrate.migrate(db)
    for m in applied:
        log.info("applied migration", extra={"version": m.version, "migration": m.name})
    log.info("schema up to date", extra={"applied": len(applied)})
    db.close_all()
    return 0


def cmd_token_create(args: argparse.Namespace) -> int:
    db = _open(setting("database_url", args.database_url))
    migrate.migrate(db)
    try:
        token = database.transaction(lambda: auth.create_token(args.workspace, args.email, args.role), write=True)
    except ValueError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    print(token)
    db.close_all()
    return 0


def cmd_gc(args: argparse.Namespace) -> int:
    from .blobs import open_store
    from .gc import collect

    database_url = setting("database_url", args.database_url)
    db = _open(database_url)
    migrate.migrate(db)
    blobs = blob_settings(database_url, setting("http_listen"))
    report = collect(open_store(blobs), blobs.unreferenced_after_seconds)
    log.info("gc done", extra=vars(report))
    db.close_all()
    return 0


def cmd_serve(args: argparse.Namespace) -> int:
    database_url = setting("database_url", args.database_url)
    http_listen = None if args.no_http else setting("http_listen", args.http_listen)
    settings = Settings(
        database_url=database_url,
        grpc_listen=setting("grpc_listen", args.grpc_listen),
        http_listen=http_listen,
        blobs=blob_settings(database_url, http_listen),
    )
    from .server import start  # imports grpc machinery only when serving

    db = _open(settings.database_url)
    applied = migrate.migrate(db)
    log.info("schema up to date", extra={"applied": len(applied)})
    first_token = database.transaction(auth.bootstrap_admin_token, write=True)
    if first_token:
        print(
            "No API tokens existed, so one admin token was created for workspace 'default'.\n"
            "It is shown only this once:\n" + first_token,
            flush=True,
        )
    server = start(settings, db)
    gateway = None
    if settings.http_listen:
        from gateway.server import start_in_thread

        from .blobs.filesystem import FilesystemStore
        from .blobs.http import BlobEndpoints

        host = settings.grpc_listen.rsplit(":", 1)[0]
        extra_routes = []
        if isinstance(server.blobs, FilesystemStore):
            # The embedded blob store's signed URLs live on the HTTP port too.
            extra_routes = BlobEndpoints(server.blobs, settings.blobs.max_upload_bytes).routes()
        gateway = start_in_thread(settings.http_listen, f"{host}:{server.port}", extra_routes=extra_routes)
        http_host = settings.http_listen.rsplit(":", 1)[0]
        if isinstance(server.blobs, FilesystemStore) and not server.blobs.public_url:
            server.blobs.public_url = f"http://{http_host}:{gateway.port}"
        log.info("serving http", extra={"http_listen": f"{http_host}:{gateway.port}"})

    stopping = threading.Event()
    for sig in (signal.SIGTERM, signal.SIGINT):
        signal.signal(sig, lambda *_: stopping.set())
    stopping.wait()
    log.info("shutting down", extra={"grace_seconds": settings.shutdown_grace_seconds})
    if gateway is not None:
        gateway.stop()
    server.stop(settings.shutdown_grace_seconds)
    log.info("stopped")
    return 0


def parser() -> argparse.ArgumentParser:
    top = argparse.ArgumentParser(prog="python -m service", description="The issues service.")
    top.add_argument("--log-level", default="INFO")
    commands = top.add_subparsers(dest="command", required=True)

    def with_db(p: argparse.ArgumentParser) -> argparse.ArgumentParser:
        p.add_argument("--database-url", help="default: $DATABASE_URL or sqlite:///issues.db")
        return p

    serve = with_db(commands.add_parser("serve", help="migrate, then serve gRPC and the HTTP gateway"))
    serve.add_argument("--grpc-listen", help="default: $ISSUES_GRPC_LISTEN or 127.0.0.1:50051")
    serve.add_argument("--http-listen", help="default: $ISSUES_HTTP_LISTEN or 127.0.0.1:8080")
    serve.add_argument("--no-http", action="store_true", help="do not run the HTTP gateway")
    serve.set_defaults(run=cmd_serve)

    with_db(commands.add_parser("migrate", help="apply pending migrations and exit")).set_defaults(run=cmd_migrate)

    gc = with_db(commands.add_parser("gc", help="remove expired uploads and long-unreferenced attachments"))
    gc.set_defaults(run=cmd_gc)

    token = commands.add_parser("token", help="manage API tokens")
    token_commands = token.add_subparsers(dest="token_command", required=True)
    create = with_db(token_commands.add_parser("create", help="mint a token and print it alone on stdout"))
    create.add_argument("--workspace", required=True, help="workspace slug; created if new")
    create.add_argument("--email", required=True)
    create.add_argument("--role", required=True, choices=["viewer", "member", "admin"])
    create.set_defaults(run=cmd_token_create)
    return top


def main(argv: list[str] | None = None) -> int:
    args = parser().parse_args(argv)
    logs.configure(args.log_level.upper())
    try:
        return args.run(args)
    except database.DatabaseUnavailable as exc:
        log.error("database unavailable", extra={"error": str(exc)})
        return 1


if __name__ == "__main__":
    sys.exit(main())
