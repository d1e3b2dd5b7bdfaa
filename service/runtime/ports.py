"""Checking the listen addresses before anything starts, so that a port in use is one line, not a traceback.

`serve` checks both addresses before it opens the database: a second server
started by mistake says which address is taken and which flag moves it, exits
2, and has logged nothing as serving.
"""

from __future__ import annotations


# What moves each address: the flag, then its environment variable.
_FLAGS = {"gRPC": ("--grpc-listen", "ISSUES_GRPC_LISTEN"), "HTTP": ("--http-listen", "ISSUES_HTTP_LISTEN")}


class CannotListen(Exception):
    """The one line to print for an address that cannot be bound."""


def refusal(listen: str, protocol: str, exc: OSError | ValueError) -> CannotListen:
    flag, env = _FLAGS[protocol]
    reason = exc.strerror.lower() if isinstance(exc, OSError) and exc.strerror else str(exc)
    return CannotListen(f"cannot serve {protocol} on {listen}: {reason}; "
                        f"choose another address with {flag} HOST:PORT (or {env})")


def check_free(listen: str, protocol: str) -> None:
    """Bind `listen` and let it go at once: CannotListen if another process holds it."""
    from gateway.server import bind

    try:
        bind(listen).close()
    except (OSError, ValueError) as exc:
        raise refusal(listen, protocol, exc) from None

