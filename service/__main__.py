"""Operator commands: `python -m service serve | migrate | gc | workspace create|update|list | token create|list|revoke`."""

from __future__ import annotations

import argparse
import json
import logging
import sys
from typing import Any, Callable

from common import logs

from . import operator_database
from .app import tokens
from .config import Settings, blob_settings, duration, pool_size, seconds, setting
from .domain.times import iso_seconds
from .storage import conninfo, database, migrate

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
    message, fields = migrate.outcome(applied)
    log.info(message, extra=fields)
    db.close_all()
    return 0


def _operator_command(args: argparse.Namespace, work: Callable[[], str]) -> int:
    """Open the existing database, run `work` and print what it returns.

    Bad arguments (ValueError) are a usage error, exit 2; a database,
    workspace or token that does not exist (LookupError) exit 1, naming the
    database looked in and, when there is one, a hint (the closest slug).
    """
    url = setting("database_url", args.database_url)
    try:
        db = operator_database.open_existing(url)
    except operator_database.MissingDatabase as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 1
    try:
        output = work()
    except ValueError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    except LookupError as exc:
        hint = f"; {exc.args[1]}" if len(exc.args) > 1 else ""
        print(f"error: {exc.args[0]} in {operator_database.shown(url)}{hint}", file=sys.stderr)
        return 1
    finally:
        db.close_all()
    print(output)
    return 0


def _workspace_line(workspace: Any) -> dict[str, str]:
    return {"slug": workspace.slug, "prefix": workspace.prefix, "created_at": workspace.created_at.isoformat() + "Z"}


def cmd_workspace(args: argparse.Namespace) -> int:
    from .app import workspaces

    def work() -> str:
        if args.workspace_command == "create":
            shown = [workspaces.create_workspace(args.slug, args.prefix)]
        elif args.workspace_command == "update":
            shown = [workspaces.update_workspace(args.slug, args.prefix)]
        else:
            shown = workspaces.list_workspaces()
        lines = [_workspace_line(w) for w in shown]
        if args.json:
            return json.dumps(lines if args.workspace_command == "list" else lines[0])
        width = max([len("SLUG"), *(len(line["slug"]) for line in lines)])
        rows = [f"{'SLUG':<{width}}  {'PREFIX':<10}  CREATED"]
        rows += [f"{line['slug']:<{width}}  {line['prefix']:<10}  {line['created_at']}" for line in lines]
        return "\n".join(rows)

    return _operator_command(args, work)


def cmd_token_create(args: argparse.Namespace) -> int:
    return _operator_command(args, lambda: tokens.create_token(args.workspace, args.email, args.role, args.expires_in))


def cmd_token_list(args: argparse.Namespace) -> int:
    from .token_table import render_json, render_table

    render = render_json if args.json else render_table
    return _operator_command(args, lambda: render(tokens.list_tokens(args.workspace)))


def cmd_token_revoke(args: argparse.Namespace) -> int:
    def revoke() -> str:
        revoked_at = tokens.revoke_token(args.id)
        return f"token {args.id} revoked at {iso_seconds(revoked_at)}"

    return _operator_command(args, revoke)


def _days(text: str) -> int:
    """argparse type: a positive whole number of days (else a usage error, exit 2)."""
    if not text.isdigit() or not 0 < int(text) <= tokens.MAX_EXPIRY_DAYS:
        raise argparse.ArgumentTypeError(
            f"expected a whole number of days from 1 to {tokens.MAX_EXPIRY_DAYS}, got {text!r}"
        )
    return int(text)


def cmd_gc(args: argparse.Namespace) -> int:
    from .app.gc import collect
    from .blobs import SIGNING_KEY_NAME, open_store
    from .storage.secrets import server_secret

    try:
        retention = duration("event_retention")
    except ValueError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    database_url = setting("database_url", args.database_url)
    try:
        db = operator_database.open_existing(database_url)
    except operator_database.MissingDatabase as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 1
    blobs = blob_settings(database_url, setting("http_listen"))
    store = open_store(blobs, lambda: database.transaction(lambda: server_secret(SIGNING_KEY_NAME), write=True))
    report = collect(store, blobs.unreferenced_after_seconds, event_retention_seconds=retention)
    log.info("gc done", extra=vars(report))
    db.close_all()
    return 0


def cmd_serve(args: argparse.Namespace) -> int:
    from .runtime.serve import serve  # imports grpc machinery only when serving

    database_url = setting("database_url", args.database_url)
    http_listen = None if args.no_http else setting("http_listen", args.http_listen)
    try:
        grace = seconds("shutdown_grace", args.shutdown_grace)
        workers = _worker_count(setting("workers", args.workers))
        pool = pool_size()
        if setting("listen_database_url"):
            conninfo.parse(setting("listen_database_url"), "ISSUES_LISTEN_DATABASE_URL")
    except ValueError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    return serve(
        Settings(
            database_url=database_url,
            grpc_listen=setting("grpc_listen", args.grpc_listen),
            http_listen=http_listen,
            blobs=blob_settings(database_url, http_listen),
            shutdown_grace_seconds=grace,
            cors_origins=setting("cors_origins", args.cors_origins),
            rate_limit=setting("rate_limit"),
            worker_processes=workers,
            db_pool_size=pool,
            listen_database_url=setting("listen_database_url"),
        )
    )


MAX_WORKERS = 64


def _worker_count(text: str) -> int:
    if not text.strip().isdigit() or not 1 <= int(text) <= MAX_WORKERS:
        raise ValueError(f"ISSUES_WORKERS / --workers: expected a whole number from 1 to {MAX_WORKERS}, got {text!r}")
    return int(text)


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
    serve.add_argument(
        "--cors-origins",
        metavar="ORIGINS",
        help="comma-separated browser origins the HTTP gateway answers CORS for, * for any "
        "(default: $ISSUES_CORS_ORIGINS, or none: CORS off)",
    )
    serve.add_argument(
        "--shutdown-grace",
        metavar="SECONDS",
        help="at SIGTERM, how long calls in flight may finish before their work is cancelled "
        "(default: $ISSUES_SHUTDOWN_GRACE or 10)",
    )
    serve.add_argument(
        "--workers",
        metavar="N",
        help="gRPC server processes on the one port (SO_REUSEPORT), with the HTTP gateway in a process of "
        "its own, under a supervisor that restarts any that dies (default: $ISSUES_WORKERS or 1: one "
        "process, the gateway in it)",
    )
    serve.set_defaults(run=cmd_serve)

    with_db(commands.add_parser("migrate", help="apply pending migrations and exit")).set_defaults(run=cmd_migrate)

    gc = with_db(
        commands.add_parser(
            "gc",
            help="remove expired uploads, long-unreferenced attachments and events older than ISSUES_EVENT_RETENTION",
        )
    )
    gc.set_defaults(run=cmd_gc)

    workspace = commands.add_parser("workspace", help="manage workspaces and their identifier prefixes")
    workspace_commands = workspace.add_subparsers(dest="workspace_command", required=True)
    ws_create = with_db(workspace_commands.add_parser("create", help="create a workspace"))
    ws_create.add_argument("--slug", required=True)
    ws_create.add_argument(
        "--prefix", help="2 to 10 upper-case letters or digits (default: from the slug, e.g. acme -> ACM)"
    )
    ws_update = with_db(
        workspace_commands.add_parser("update", help="change a workspace's prefix; old identifiers still resolve")
    )
    ws_update.add_argument("--slug", required=True)
    ws_update.add_argument("--prefix", required=True)
    ws_list = with_db(workspace_commands.add_parser("list", help="list the workspaces"))
    for p in (ws_create, ws_update, ws_list):
        p.add_argument("--json", action="store_true", help="print JSON instead of a table")
        p.set_defaults(run=cmd_workspace)

    token = commands.add_parser("token", help="manage API tokens")
    token_commands = token.add_subparsers(dest="token_command", required=True)
    create = with_db(token_commands.add_parser("create", help="mint a token and print it alone on stdout"))
    create.add_argument(
        "--workspace", required=True, help="an existing workspace's slug (`workspace create` makes one)"
    )
    create.add_argument("--email", required=True)
    create.add_argument("--role", required=True, choices=["viewer", "member", "admin"])
    create.add_argument(
        "--expires-in", metavar="DAYS", type=_days, help="refuse the token after DAYS days (default: never)"
    )
    create.set_defaults(run=cmd_token_create)
    listing = with_db(token_commands.add_parser("list", help="the workspace's tokens (never the tokens themselves)"))
    listing.add_argument("--workspace", required=True, help="workspace slug")
    listing.add_argument("--json", action="store_true", help="a JSON array instead of a table")
    listing.set_defaults(run=cmd_token_list)
    revoke = with_db(token_commands.add_parser("revoke", help="refuse the token from now on, on every server"))
    revoke.add_argument("id", type=int, help="the token's id, from `token list`")
    revoke.set_defaults(run=cmd_token_revoke)
    return top


def main(argv: list[str] | None = None) -> int:
    args = parser().parse_args(argv)
    logs.configure(args.log_level.upper())
    try:
        return args.run(args)
    except (conninfo.BadConnectionString, database.ReadOnlyDatabase) as exc:
        print(f"error: {exc}", file=sys.stderr)  # the operator's to fix: one line, exit 2
        return 2
    except database.DatabaseUnavailable as exc:
        log.error("database unavailable", extra={"error": exc.reason})
        return 1


if __name__ == "__main__":
    sys.exit(main())
