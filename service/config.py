"""Settings of the service: defaults, overridden by environment, overridden by flags."""

from __future__ import annotations

import os
import pathlib
import urllib.parse
from dataclasses import dataclass

from common import defaults

DEFAULTS = {
    "database_url": defaults.DATABASE_URL,
    "grpc_listen": defaults.GRPC_LISTEN,
    "http_listen": defaults.HTTP_LISTEN,
    "grpc_target": defaults.GRPC_TARGET,
    # Seconds calls in flight get to finish at SIGTERM before their database
    # work is cancelled.
    "shutdown_grace": ("ISSUES_SHUTDOWN_GRACE", "10"),
    "cors_origins": defaults.CORS_ORIGINS,
    # Calls a second per token, `RATE` or `RATE/BURST`; empty: no limit.
    "rate_limit": ("ISSUES_RATE_LIMIT", ""),
    # How long events are kept (pruned by `gc`): seconds, or a number with s, m, h or d.
    "event_retention": ("ISSUES_EVENT_RETENTION", "7d"),
    # gRPC server processes of `serve`; more than 1 runs them under a supervisor.
    "workers": ("ISSUES_WORKERS", "1"),
    # Database connections each process keeps at most.
    "db_pool_size": ("ISSUES_DB_POOL_SIZE", "16"),
    # Where the event listener LISTENs; empty: DATABASE_URL (not through a
    # pgbouncer in transaction mode, which cannot carry a LISTEN).
    "listen_database_url": ("ISSUES_LISTEN_DATABASE_URL", ""),
}

MAX_POOL_SIZE = 1000

_UNITS = {"s": 1, "m": 60, "h": 3600, "d": 86400}


def duration(name: str, flag_value: str | None = None) -> int:
    """A setting that is a whole number of seconds, or of s, m, h or d (`7d`); ValueError naming it otherwise."""
    text = setting(name, flag_value).strip()
    number, unit = (text[:-1], text[-1]) if text[-1:] in _UNITS else (text, "s")
    if not number.isdigit() or int(number) <= 0:
        raise ValueError(
            f"{DEFAULTS[name][0]}: expected seconds, or a number with s, m, h or d (e.g. 7d), got {text!r}"
        )
    return int(number) * _UNITS[unit]


def pool_size(flag_value: str | None = None) -> int:
    """ISSUES_DB_POOL_SIZE: a whole number from 1 to MAX_POOL_SIZE; ValueError naming it otherwise."""
    text = setting("db_pool_size", flag_value).strip()
    if not text.isdigit() or not 1 <= int(text) <= MAX_POOL_SIZE:
        raise ValueError(
            f"ISSUES_DB_POOL_SIZE: expected a whole number of connections from 1 to {MAX_POOL_SIZE}, got {text!r}"
        )
    return int(text)


def setting(name: str, flag_value: str | None = None) -> str:
    """A flag wins over its environment variable, which wins over the default."""
    return defaults.resolve(DEFAULTS[name], flag_value)


def seconds(name: str, flag_value: str | None = None) -> float:
    """A setting that is a positive number of seconds; ValueError naming it otherwise."""
    text = setting(name, flag_value)
    try:
        value = float(text)
    except ValueError:
        value = -1.0
    if not 0 < value < 86_400:
        raise ValueError(f"{DEFAULTS[name][0]}: expected a number of seconds above 0, got {text!r}")
    return value


@dataclass(frozen=True)
class Settings:
    database_url: str
    grpc_listen: str
    # None turns the in-process HTTP gateway off.
    http_listen: str | None
    blobs: BlobSettings
    # IssueService calls one process runs at once (its call slots; see
    # api/admission.py). Processes are `worker_processes`.
    call_slots: int = 16
    # Larger requests are refused by gRPC before they are parsed.
    max_message_bytes: int = 1 << 20
    shutdown_grace_seconds: float = 10.0
    # SO_REUSEPORT on the gRPC port, for several server processes on one port.
    reuse_port: bool = False
    # Browser origins the in-process gateway answers CORS for (comma-separated; "" is off).
    cors_origins: str = ""
    # ISSUES_RATE_LIMIT as given (`RATE` or `RATE/BURST`; "" is no limit), checked by `serve`.
    rate_limit: str = ""
    # gRPC server processes (`serve --workers N`); above 1, a supervisor runs
    # them on one port (reuse_port) and the HTTP gateway in a process of its own.
    worker_processes: int = 1
    # A worker's own address besides the shared port, where the supervisor's
    # gateway reaches this worker in particular.
    worker_listen: str | None = None
    # The rate-limit table the worker processes of one host share (a file the
    # supervisor creates); None: this process counts alone.
    rate_limit_table: str | None = None
    # Database connections each process keeps at most (ISSUES_DB_POOL_SIZE).
    db_pool_size: int = 16
    # ISSUES_LISTEN_DATABASE_URL: where the event listener LISTENs ("": database_url).
    listen_database_url: str = ""


@dataclass(frozen=True)
class BlobSettings:
    """Where attachment bytes go and how long their URLs live."""

    # "file" (a directory served by this process over HTTP) or "s3://bucket".
    store: str
    directory: pathlib.Path
    # Base of the file store's signed URLs: how clients reach the HTTP port.
    # None: the address the HTTP gateway is bound to.
    public_url: str | None
    s3_endpoint_url: str | None = None
    max_upload_bytes: int = 512 << 20
    upload_url_seconds: int = 3600
    download_url_seconds: int = 300
    # `gc` removes ready attachments nothing references after this long.
    unreferenced_after_seconds: int = 86400


def blob_settings(database_url: str, http_listen: str | None) -> BlobSettings:
    """Blob settings from ISSUES_BLOB_* variables; the directory defaults to
    `blobs/` beside the SQLite file (or the working directory)."""
    env = os.environ
    parts = urllib.parse.urlsplit(database_url)
    beside = (
        pathlib.Path(urllib.parse.unquote(parts.path[1:])).parent if parts.scheme == "sqlite" else pathlib.Path(".")
    )
    return BlobSettings(
        store=env.get("ISSUES_BLOB_STORE") or "file",
        directory=pathlib.Path(env.get("ISSUES_BLOB_DIR") or beside / "blobs"),
        public_url=env.get("ISSUES_PUBLIC_URL") or None,
        s3_endpoint_url=env.get("ISSUES_S3_ENDPOINT_URL") or None,
        max_upload_bytes=int(env.get("ISSUES_MAX_UPLOAD_BYTES") or 512 << 20),
        unreferenced_after_seconds=int(env.get("ISSUES_GC_UNREFERENCED_AFTER") or 86400),
    )
