"""Where things listen unless told otherwise, and the variables that tell them.

A flag wins over its environment variable, which wins over the default.
"""

from __future__ import annotations

import os

GRPC_LISTEN = ("ISSUES_GRPC_LISTEN", "127.0.0.1:50051")
HTTP_LISTEN = ("ISSUES_HTTP_LISTEN", "127.0.0.1:8080")
# Where the standalone gateway (and the CLI) find the gRPC server.
GRPC_TARGET = ("ISSUES_GRPC_TARGET", "127.0.0.1:50051")
DATABASE_URL = ("DATABASE_URL", "sqlite:///issues.db")
# Browser origins allowed to call the HTTP gateway, comma-separated (`*`: any); empty: CORS off.
CORS_ORIGINS = ("ISSUES_CORS_ORIGINS", "")
# The largest attachment: CreateAttachment refuses to register more, the gateway to stream more.
MAX_UPLOAD_BYTES = ("ISSUES_MAX_UPLOAD_BYTES", str(512 << 20))


def resolve(default: tuple[str, str], flag_value: str | None = None) -> str:
    """The flag if given, else the environment variable if set and non-empty, else the default."""
    if flag_value is not None:
        return flag_value
    env, fallback = default
    return os.environ.get(env) or fallback
