"""Bounds on request headers, answered with a 431 that names the header.

The Authorization header travels on as gRPC metadata, which the server caps
(8 KiB soft, 16 KiB hard) and would refuse as RESOURCE_EXHAUSTED, a
misleading 429. No header this API reads comes near these bounds.
"""

from __future__ import annotations

from starlette.types import ASGIApp, Receive, Scope, Send

from .errors import error_response, http_error

__all__ = ["MAX_HEADER_BYTES", "MAX_HEADERS_BYTES", "HeaderLimits"]

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
                    await self._refuse(scope, receive, send, shown,
                                       f"the {shown} header is larger than {MAX_HEADER_BYTES} bytes")
                    return
            if total > MAX_HEADERS_BYTES:
                await self._refuse(scope, receive, send, "headers",
                                   f"the request headers total more than {MAX_HEADERS_BYTES} bytes")
                return
        await self.app(scope, receive, send)

    @staticmethod
    async def _refuse(scope: Scope, receive: Receive, send: Send, field: str, message: str) -> None:
        await error_response(http_error(431, message, field=field))(scope, receive, send)
