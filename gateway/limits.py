"""Bounds on request headers, answered with a 431 that names the header,
and on request bodies, answered with a 413.

The Authorization header travels on as gRPC metadata, which the server caps
(8 KiB soft, 16 KiB hard) and would refuse as RESOURCE_EXHAUSTED, a
misleading 429. No header this API reads comes near these bounds.
"""

from __future__ import annotations

from starlette.requests import Request
from starlette.types import ASGIApp, Receive, Scope, Send

from .errors import GatewayError, error_response, http_error

__all__ = ["MAX_HEADERS_BYTES", "MAX_HEADER_BYTES", "HeaderLimits", "declared_length", "too_large"]

MAX_HEADER_BYTES = 4096
MAX_HEADERS_BYTES = 32768


class HeaderLimits:
    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] == "http":
            total = 0
            for name, value in scope["headers"]:
                total += len(name) + len(value)
                if len(value) > MAX_HEADER_BYTES:
                    shown = "-".join(p.capitalize() for p in name.decode("latin-1").split("-"))
                    await self._refuse(
                        scope, receive, send, shown, f"the {shown} header is larger than {MAX_HEADER_BYTES} bytes"
                    )
                    return
            if total > MAX_HEADERS_BYTES:
                await self._refuse(
                    scope, receive, send, "headers", f"the request headers total more than {MAX_HEADERS_BYTES} bytes"
                )
                return
        await self.app(scope, receive, send)

    @staticmethod
    async def _refuse(scope: Scope, receive: Receive, send: Send, field: str, message: str) -> None:
        await error_response(http_error(431, message, field=field))(scope, receive, send)


def too_large(limit: int) -> GatewayError:
    return http_error(413, f"the request body is larger than {limit} bytes")


def declared_length(request: Request, limit: int) -> int | None:
    """The body's Content-Length, if sent; 400 if it is no number, 413 if over `limit`.

    Bodies are still counted as they stream: the header may be missing (chunked) or a lie.
    """
    length = request.headers.get("content-length")
    if length is None:
        return None
    if not length.isdigit():
        raise http_error(400, "the Content-Length header is not a number")
    if int(length) > limit:
        raise too_large(limit)
    return int(length)
