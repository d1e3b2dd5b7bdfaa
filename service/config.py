"""Settings of the service: defaults, overridden by environment, overridden by flags."""

from __future__ import annotations

import os
from dataclasses import dataclass

DEFAULTS = {
    "database_url": ("DATABASE_URL", "sqlite:///issues.db"),
    "grpc_listen": ("ISSUES_GRPC_LISTEN", "127.0.0.1:50051"),
    "http_listen": ("ISSUES_HTTP_LISTEN", "127.0.0.1:8080"),
    "grpc_target": ("ISSUES_GRPC_TARGET", "127.0.0.1:50051"),
}


def setting(name: str, flag_value: str | None = None) -> str:
    """A flag wins over its environment variable, which wins over the default."""
    if flag_value is not None:
        return flag_value
    env, default = DEFAULTS[name]
    return os.environ.get(env) or default


@dataclass(frozen=True)
class Settings:
    database_url: str
    grpc_listen: str
    # None turns the in-process HTTP gateway off.
    http_listen: str | None
    workers: int = 16
    # Larger requests are refused by gRPC before they are parsed.
    max_message_bytes: int = 1 << 20
    shutdown_grace_seconds: float = 10.0
