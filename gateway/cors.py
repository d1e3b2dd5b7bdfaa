"""CORS: off unless origins are allowed (ISSUES_CORS_ORIGINS), then answered for them alone.

A plain ASGI middleware that only adds headers: the app itself answers a
preflight `OPTIONS` (204 with `Allow`, from the route table), and this turns
that `Allow` into `Access-Control-Allow-Methods` when the origin is allowed.
A request from any other origin gets no CORS headers, which is how a browser
is told no.
"""

from __future__ import annotations

from typing import Iterable
from urllib.parse import urlsplit

from starlette.datastructures import Headers, MutableHeaders
from starlette.types import ASGIApp, Message, Receive, Scope, Send

__all__ = ["Cors", "parse_origins"]

# What a browser client may send and read besides the CORS-safelisted headers.
# Last-Event-ID: a browser resuming an event stream sends it.
ALLOWED_HEADERS = "Authorization, Content-Type, Idempotency-Key, If-Match, If-None-Match, Last-Event-ID, grpc-timeout"
EXPOSED_HEADERS = "ETag, Location, Retry-After, WWW-Authenticate"
PREFLIGHT_MAX_AGE_SECONDS = 600


def parse_origins(text: str) -> tuple[str, ...]:
    """`https://a.example, http://localhost:3000` -> its origins; `*` allows any. ValueError if malformed."""
    origins = tuple(o.strip().rstrip("/") for o in text.split(",") if o.strip())
    for origin in origins:
        if origin == "*":
            continue
        parts = urlsplit(origin)
        if parts.scheme not in ("http", "https") or not parts.netloc or parts.path or parts.query:
            raise ValueError(f"CORS origin {origin!r} must be scheme://host[:port], or *")
    return origins


class Cors:
    def __init__(self, app: ASGIApp, origins: Iterable[str] = ()) -> None:
        self.app = app
        self.origins = frozenset(origins)
        self.any_origin = "*" in self.origins

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http" or not self.origins:
            await self.app(scope, receive, send)
            return
        request_headers = Headers(scope=scope)
        origin = request_headers.get("origin")
        allowed = origin is not None and (self.any_origin or origin in self.origins)
        preflight = scope["method"] == "OPTIONS" and "access-control-request-method" in request_headers

        async def send_with_cors(message: Message) -> None:
            if message["type"] == "http.response.start":
                headers = MutableHeaders(scope=message)
                headers.add_vary_header("Origin")  # the answer depends on it: caches must know
                if allowed:
                    headers["Access-Control-Allow-Origin"] = "*" if self.any_origin else str(origin)
                    if preflight:
                        headers["Access-Control-Allow-Methods"] = headers.get("allow", "")
                        headers["Access-Control-Allow-Headers"] = ALLOWED_HEADERS
                        headers["Access-Control-Max-Age"] = str(PREFLIGHT_MAX_AGE_SECONDS)
                    else:
                        headers["Access-Control-Expose-Headers"] = EXPOSED_HEADERS
            await send(message)

        await self.app(scope, receive, send_with_cors)
