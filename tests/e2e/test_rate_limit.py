"""The per-token rate limit (SPEC 9.3) through a real server: RESOURCE_EXHAUSTED
with RetryInfo over gRPC, 429 with Retry-After over HTTP, recovery, isolation."""

from __future__ import annotations

import os
import subprocess
import sys
import time
from typing import Iterator

import grpc
import httpx
import pytest
from google.rpc import error_details_pb2
from grpc_status import rpc_status

from .. import harness

# 1 call a second, bursts of 3: three calls pass, a fourth within the second
# waits (slow enough that a busy test machine still makes four calls in time).
LIMIT = "1/3"


@pytest.fixture(scope="module")
def limited(database_url: str, tmp_path_factory: pytest.TempPathFactory) -> Iterator[harness.ServerProcess]:
    server = harness.ServerProcess(
        database_url, tmp_path_factory.mktemp("limited"), http=True, env={"ISSUES_RATE_LIMIT": LIMIT}
    )
    yield server
    server.stop()


def retry_delay(error: grpc.RpcError) -> float | None:
    status = rpc_status.from_call(error)
    for detail in status.details if status else []:
        info = error_details_pb2.RetryInfo()
        if detail.Unpack(info):
            return info.retry_delay.ToNanoseconds() / 1e9
    return None


def outcomes(api: harness.Api, calls: int) -> list[grpc.RpcError | None]:
    found: list[grpc.RpcError | None] = []
    for _ in range(calls):
        try:
            api.ListIssues(limit=1)
            found.append(None)
        except grpc.RpcError as exc:
            found.append(exc)
    return found


def test_grpc_calls_past_the_burst_are_resource_exhausted_with_retry_info(limited):
    token, _ = harness.mint_token(limited.database_url, "viewer")
    other, _ = harness.mint_token(limited.database_url, "viewer")
    with grpc.insecure_channel(limited.target) as channel:
        api = harness.Api(channel, token)
        first = outcomes(api, 4)
        isolated = outcomes(harness.Api(channel, other), 3)  # another token has its own bucket
        error = first[3]
        assert first[:3] == [None, None, None]
        assert error is not None and error.code() == grpc.StatusCode.RESOURCE_EXHAUSTED
        assert "rate limit" in error.details()
        delay = retry_delay(error)
        assert delay is not None and 0 < delay <= 1.0
        assert isolated == [None, None, None]

        time.sleep(delay)
        assert outcomes(api, 2)[0] is None  # the bucket refilled by one call: admitted again


def test_http_calls_past_the_burst_are_429_with_retry_after_and_count_once(limited):
    token, _ = harness.mint_token(limited.database_url, "viewer")
    headers = {"Authorization": f"Bearer {token}"}
    with httpx.Client(base_url=limited.http_url, headers=headers) as http:
        answers = [http.get("/api/v1/issues?limit=1") for _ in range(4)]
        # Three pass: had the gateway counted its calls as well, the second would not.
        assert [a.status_code for a in answers] == [200, 200, 200, 429]
        refused = answers[3]
        assert refused.headers["Retry-After"] == "1"
        body = refused.json()["error"]
        assert body["status"] == "RESOURCE_EXHAUSTED" and "rate limit" in body["message"]
        assert [d["@type"] for d in body["details"]] == ["type.googleapis.com/google.rpc.RetryInfo"]

        time.sleep(int(refused.headers["Retry-After"]))
        assert http.get("/api/v1/issues?limit=1").status_code == 200


@pytest.mark.backend_independent
@pytest.mark.parametrize("value", ["fast", "0", "-1", "2/0", "1/2/3", "2/1.5"])
def test_a_malformed_rate_limit_stops_the_server_from_starting(database_url, tmp_path, value):
    done = subprocess.run(
        [
            sys.executable,
            "-m",
            "service",
            "serve",
            "--database-url",
            database_url,
            "--grpc-listen",
            "127.0.0.1:0",
            "--no-http",
        ],
        capture_output=True,
        text=True,
        timeout=60,
        cwd=tmp_path,
        env={**os.environ, "ISSUES_RATE_LIMIT": value},
    )
    assert done.returncode == 2
    assert "ISSUES_RATE_LIMIT: expected RATE or RATE/BURST" in done.stderr and repr(value) in done.stderr
    assert "serving grpc" not in done.stderr


def test_a_stream_tickets_calls_count_against_its_tokens_bucket(limited):
    """Minting tickets does not multiply a token's rate: a ticket's calls take from its token's bucket."""
    token, _ = harness.mint_token(limited.database_url, "viewer")
    with grpc.insecure_channel(limited.target) as channel:
        ticket = harness.Api(channel, token).CreateEventsTicket().ticket  # the bucket's first call
        by_ticket = harness.Api(channel, ticket)
        found: list[grpc.RpcError | None] = []
        for _ in range(3):
            try:
                by_ticket.ListEvents(after_sequence=0)
                found.append(None)
            except grpc.RpcError as exc:
                found.append(exc)
    assert found[:2] == [None, None]
    assert found[2] is not None and found[2].code() == grpc.StatusCode.RESOURCE_EXHAUSTED
