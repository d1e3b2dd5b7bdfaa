"""gzip for the gateway's JSON and text answers (API replies, /openapi.json,
/metrics), when the client accepts it and the body is worth it.

Only whole bodies of these media types are compressed: a Server-Sent Events
stream must reach the client event by event (a compressor would hold them
back), and raw-body downloads are streamed through as stored, so neither is
ever touched. Starlette's GZipMiddleware decides by the media types it
excludes, and a download may have any media type; this decides by the ones
it includes. (No `br`: no library the gateway already has gives it.) An
answer that carries an ETag (one issue or comment) is sent as it is: a
strong validator names one representation, and these are small.
"""

from __future__ import annotations

import gzip

from starlette.datastructures import MutableHeaders
from starlette.types import ASGIApp, Message, Receive, Scope, Send

__all__ = ["MIN_BYTES", "Compression", "accepts_gzip"]

# Smaller bodies gain less than the header and the work cost.
MIN_BYTES = 1024
COMPRESSIBLE = frozenset({b"application/json", b"text/plain"})
# Fast, and within a few percent of level 9 on JSON.
LEVEL = 6


def accepts_gzip(accept_encoding: str) -> bool:
    """Whether an Accept-Encoding value admits gzip: by name with a q above 0,
    or else by `*` with a q above 0 (a `gzip;q=0` refuses it whatever `*` says)."""
    weights: dict[str, float] = {}
    for part in accept_encoding.split(","):
        name, _, params = part.partition(";")
        name = name.strip().lower()
        if name not in ("gzip", "*"):
            continue
        q = params.strip().lower()
        try:
            weights[name] = float(q[2:]) if q.startswith("q=") else 1.0
        except ValueError:
            weights[name] = 0.0
    return weights.get("gzip", weights.get("*", 0.0)) > 0


class Compression:
    def __init__(self, app: ASGIApp, min_bytes: int = MIN_BYTES) -> None:
        self.app = app
        self.min_bytes = min_bytes

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        accept = _first(scope["headers"], b"accept-encoding")
        wanted = accept is not None and accepts_gzip(accept.decode("latin-1"))
        start: Message | None = None

        async def send_compressed(message: Message) -> None:
            nonlocal start
            if message["type"] == "http.response.start":
                start = message  # held until the body shows whether it is whole
                return
            if start is not None and message["type"] == "http.response.body":
                raw = start["headers"]
                media_type = (_first(raw, b"content-type") or b"").partition(b";")[0].strip().lower()
                # An answer with an ETag stays as it is: its strong validator
                # names these bytes, and a gzip of them would need another.
                if (
                    media_type in COMPRESSIBLE
                    and _first(raw, b"content-encoding") is None
                    and _first(raw, b"etag") is None
                ):
                    headers = MutableHeaders(scope=start)
                    headers.add_vary_header("Accept-Encoding")  # the answer depends on it: caches must know
                    body = message.get("body", b"")
                    if wanted and not message.get("more_body", False) and len(body) >= self.min_bytes:
                        body = gzip.compress(body, compresslevel=LEVEL)
                        headers["Content-Encoding"] = "gzip"
                        headers["Content-Length"] = str(len(body))
                        message = {**message, "body": body}
                await send(start)
                start = None
            await send(message)

        await self.app(scope, receive, send_compressed)


def _first(raw: list[tuple[bytes, bytes]], name: bytes) -> bytes | None:
    """The first value of a header in an ASGI header list (names are lower case there), as Headers.get reads it."""
    for key, value in raw:
        if key == name:
            return value
    return None
