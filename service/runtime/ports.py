"""Checking the listen addresses before anything starts, so that a port in use is one line, not a traceback.

`serve` checks both addresses before it opens the database: a second server
started by mistake says which address is taken and which flag moves it, exits
2, and has logged nothing as serving.
"""

from __future__ import annotations

import socket

# What moves each address: the flag, then its environment variable.
_FLAGS = {"gRPC": ("--grpc-listen", "ISSUES_GRPC_LISTEN"), "HTTP": ("--http-listen", "ISSUES_HTTP_LISTEN")}


class CannotListen(Exception):
    """The one line to print for an address that cannot be bound."""


def refusal(listen: str, protocol: str, exc: OSError | ValueError) -> CannotListen:
    flag, env = _FLAGS[protocol]
    reason = exc.strerror.lower() if isinstance(exc, OSError) and exc.strerror else str(exc)
    return CannotListen(
        f"cannot serve {protocol} on {listen}: {reason}; choose another address with {flag} HOST:PORT (or {env})"
    )


def check_free(listen: str, protocol: str) -> None:
    """Bind `listen` and let it go at once: CannotListen if another process holds it.

    Its own socket, not gateway.server.bind: importing the gateway here would
    load prometheus_client before `--workers` has set its multi-process directory.
    """
    host, sep, port = listen.rpartition(":")
    try:
        if not sep or not port.isdigit():
            raise ValueError(f"listen address {listen!r} must be HOST:PORT")
        family, kind, proto, _, address = socket.getaddrinfo(
            host.strip("[]") or None, int(port), type=socket.SOCK_STREAM, flags=socket.AI_PASSIVE
        )[0]
        with socket.socket(family, kind, proto) as probe:
            probe.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
            probe.bind(address)
    except (OSError, ValueError) as exc:
        raise refusal(listen, protocol, exc) from None
