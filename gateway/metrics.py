"""HTTP request metrics of the gateway: a count by method, route and status,
and a latency histogram, recorded by a plain ASGI middleware.

The route label is the RPC a request was transcoded to (`GetIssue`), or the
name of the handler that served it (`healthz`, `metrics`, the blob URLs'),
or `unmatched`: never the path itself, whose ids would make a series per
issue.
"""

from __future__ import annotations

import time

from prometheus_client import Counter, Histogram
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from common.metrics import LATENCY_BUCKETS

__all__ = ["HTTP_REQUESTS", "HTTP_SECONDS", "RequestMetrics"]

HTTP_REQUESTS = Counter(
    "issues_http_requests", "HTTP requests answered by the gateway.", ["method", "route", "code"]
)
HTTP_SECONDS = Histogram(
    "issues_http_request_duration_seconds", "Time from an HTTP request's arrival to the end of its answer.",
    ["method", "route"], buckets=LATENCY_BUCKETS,
)


# Any other method is counted as "other": a client must not be able to mint series.
_METHODS = frozenset({"GET", "HEAD", "POST", "PUT", "PATCH", "DELETE", "OPTIONS"})


def route_of(scope: Scope) -> str:
    """What served the request; the router leaves it in the scope once it has matched."""
    resolution = scope.get("gateway.resolution")
    if resolution is not None and resolution.binding is not None:
        return str(resolution.binding.method.name)
    endpoint = scope.get("endpoint")
    return getattr(endpoint, "__name__", None) or "unmatched"


class RequestMetrics:
    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        started = time.perf_counter()
        status = 500  # what the client gets if the app fails before answering

        async def note_status(message: Message) -> None:
            nonlocal status
            if message["type"] == "http.response.start":
                status = message["status"]
            await send(message)

        try:
            await self.app(scope, receive, note_status)
        finally:
            route = route_of(scope)
            method = scope["method"] if scope["method"] in _METHODS else "other"
            HTTP_REQUESTS.labels(method, route, str(status)).inc()
            HTTP_SECONDS.labels(method, route).observe(time.perf_counter() - started)
