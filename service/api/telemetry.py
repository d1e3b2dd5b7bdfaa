"""Prometheus metrics of the gRPC side: calls by method and code, their
latency, and the event streams open (served on the HTTP port's /metrics).

Recorded by the call pipeline when a call (or a whole stream) ends, with
the duration its access line shows.
"""

from __future__ import annotations

import threading

from prometheus_client import Counter, Gauge, Histogram

from common.metrics import LATENCY_BUCKETS

__all__ = ["EVENT_STREAMS", "GRPC_REQUESTS", "GRPC_SECONDS", "observe_call"]

GRPC_REQUESTS = Counter("issues_grpc_requests", "IssueService calls, by method and status code.", ["method", "code"])
GRPC_SECONDS = Histogram(
    "issues_grpc_request_duration_seconds",
    "IssueService call latency (a stream: until it ends), by method.",
    ["method"],
    buckets=LATENCY_BUCKETS,
)
# WatchEvents streams, counted by the event hub while each is open.
# "livesum": with several worker processes, the total of the live ones.
EVENT_STREAMS = Gauge("issues_event_streams_open", "Event streams (WatchEvents) open now.", multiprocess_mode="livesum")

# (full method, code) -> the labelled children: labels() costs a lock and a
# tuple per call, this a dict lookup.
_children: dict[tuple[str, str], tuple[Counter, Histogram]] = {}
_lock = threading.Lock()


def observe_call(method: str, code: str, seconds: float) -> None:
    """Count one ended call of `method` ("/issues.v1.IssueService/GetIssue") with `code` ("OK")."""
    children = _children.get((method, code))
    if children is None:
        short = method.rsplit("/", 1)[-1]
        with _lock:
            children = _children.setdefault(
                (method, code), (GRPC_REQUESTS.labels(short, code), GRPC_SECONDS.labels(short))
            )
    children[0].inc()
    children[1].observe(seconds)
