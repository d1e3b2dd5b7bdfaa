"""GET /metrics (SPEC 9.3): Prometheus text from a real server's HTTP port,
parsed with prometheus_client's own parser, moving with real traffic."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import uuid

import grpc
import httpx
import pytest
from prometheus_client.parser import text_string_to_metric_families

from service.storage.database import POOL_SIZE

from .. import harness
from .test_gateway_server import free_port

Samples = dict[tuple[str, frozenset[tuple[str, str]]], float]


def scrape(base_url: str) -> Samples:
    response = httpx.get(f"{base_url}/metrics", timeout=10)  # no token
    assert response.status_code == 200
    assert response.headers["content-type"].startswith("text/plain; version=0.0.4")
    return {
        (s.name, frozenset(s.labels.items())): s.value
        for family in text_string_to_metric_families(response.text)
        for s in family.samples
    }


def value(samples: Samples, name: str, **labels: str) -> float:
    return samples.get((name, frozenset(labels.items())), 0.0)


def test_grpc_calls_move_the_counters_and_histograms(grpc_server, make_token):
    token, _ = make_token("viewer")
    before = scrape(grpc_server.http_url)
    with grpc.insecure_channel(grpc_server.target) as channel:
        api = harness.Api(channel, token)
        for _ in range(3):
            with pytest.raises(grpc.RpcError):
                api.GetIssue(issue_id=str(uuid.uuid4()))
    after = scrape(grpc_server.http_url)

    not_found = dict(method="GetIssue", code="NOT_FOUND")
    assert (
        value(after, "issues_grpc_requests_total", **not_found)
        - value(before, "issues_grpc_requests_total", **not_found)
        == 3
    )
    count = "issues_grpc_request_duration_seconds_count"
    assert value(after, count, method="GetIssue") - value(before, count, method="GetIssue") == 3
    # Three fast calls land in a bucket well below the gateway's deadline.
    bucket = "issues_grpc_request_duration_seconds_bucket"
    assert value(after, bucket, method="GetIssue", le="10.0") >= 3


def test_http_requests_count_once_on_each_side_and_probes_stay_out_of_the_log(grpc_server, make_token):
    token, _ = make_token("viewer")
    before = scrape(grpc_server.http_url)
    answer = httpx.get(f"{grpc_server.http_url}/api/v1/issues?limit=1", headers={"Authorization": f"Bearer {token}"})
    after = scrape(grpc_server.http_url)

    assert answer.status_code == 200
    http_ok = dict(method="GET", route="ListIssues", code="200")
    assert (
        value(after, "issues_http_requests_total", **http_ok) - value(before, "issues_http_requests_total", **http_ok)
        == 1
    )
    grpc_ok = dict(method="ListIssues", code="OK")
    assert (
        value(after, "issues_grpc_requests_total", **grpc_ok) - value(before, "issues_grpc_requests_total", **grpc_ok)
        == 1
    )
    scrapes = dict(method="GET", route="metrics", code="200")
    assert value(after, "issues_http_requests_total", **scrapes) >= 1
    assert not [e for e in grpc_server.log_entries() if e.get("path") == "/metrics"]


def test_pool_and_event_stream_gauges_are_exported(grpc_server):
    samples = scrape(grpc_server.http_url)
    assert value(samples, "issues_db_pool_connections_max") == POOL_SIZE
    assert 0 <= value(samples, "issues_db_pool_connections_in_use") <= POOL_SIZE
    assert ("issues_event_streams_open", frozenset()) in samples
    assert value(samples, "issues_event_streams_open") >= 0  # other tests' watchers may be open


@pytest.mark.backend_independent
def test_the_standalone_gateway_shows_its_own_metrics(grpc_server, make_token):
    token, _ = make_token("viewer")
    port = free_port()
    process = subprocess.Popen(
        [sys.executable, "-m", "gateway", "--http-listen", f"127.0.0.1:{port}", "--grpc-target", grpc_server.target],
        env=os.environ.copy(),
        stderr=subprocess.PIPE,
        text=True,
    )
    try:
        assert process.stderr is not None
        for line in process.stderr:
            if json.loads(line).get("msg") in ("serving http", "cannot start"):
                break
        base = f"http://127.0.0.1:{port}"
        assert (
            httpx.get(f"{base}/api/v1/issues/{uuid.uuid4()}", headers={"Authorization": f"Bearer {token}"}).status_code
            == 404
        )
        samples = scrape(base)
    finally:
        process.send_signal(signal.SIGTERM)
        process.communicate(timeout=30)
    assert value(samples, "issues_http_requests_total", method="GET", route="GetIssue", code="404") == 1
    assert not any(name.startswith("issues_grpc_") for name, _ in samples)  # the server process keeps its own
