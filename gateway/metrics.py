"""HTTP request metrics of the gateway: a count by method, route and status,
and a latency histogram, recorded by the access log's middleware.

The route label is the RPC a request was transcoded to (`GetIssue`), the
path template of an annotated resource answered without one (an `OPTIONS`,
a 405: `/api/v1/issues/{issue_id}`), the name of the handler that served it
(`healthz`, `metrics`), or `unmatched`: never the path itself, whose ids
would make a series per issue.
"""

from __future__ import annotations

import threading
from typing import Any

from prometheus_client import Counter, Histogram
from starlette.types import Scope

from common.metrics import LATENCY_BUCKETS

__all__ = ["HTTP_REQUESTS", "HTTP_SECONDS", "observe_request"]

HTTP_REQUESTS = Counter("issues_http_requests", "HTTP requests answered by the gateway.", ["method", "route", "code"])
HTTP_SECONDS = Histogram(
    "issues_http_request_duration_seconds",
    "Time from an HTTP request's arrival to its answer.",
    ["method", "route"],
    buckets=LATENCY_BUCKETS,
)


# Any other method is counted as "other": a client must not be able to mint series.
_METHODS = frozenset({"GET", "HEAD", "POST", "PUT", "PATCH", "DELETE", "OPTIONS"})


def route_of(scope: Scope) -> str:
    """What served the request; the router leaves it in the scope once it has matched."""
    resolution = scope.get("gateway.resolution")
    if resolution is not None:
        return str(resolution.binding.method.name) if resolution.binding is not None else resolution.template
    endpoint = scope.get("endpoint")
    return getattr(endpoint, "__name__", None) or "unmatched"


# (method, route, status) -> its counter and histogram: `labels` validates
# and locks on every call, a tenth of a GET's time in the gateway itself.
_children: dict[tuple[str, str, int], tuple[Any, Any]] = {}
_lock = threading.Lock()


def observe_request(scope: Scope, status: int, seconds: float) -> None:
    """Count one answered request (an access-log observer: it already times each request)."""
    route = route_of(scope)
    method = scope["method"] if scope["method"] in _METHODS else "other"
    key = (method, route, status)
    children = _children.get(key)
    if children is None:
        with _lock:
            children = _children.setdefault(
                key, (HTTP_REQUESTS.labels(method, route, str(status)), HTTP_SECONDS.labels(method, route))
            )
    children[0].inc()
    children[1].observe(seconds)
