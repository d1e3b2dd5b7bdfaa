"""Calls stuck on a database lock: at SIGTERM past the grace, or past their
own deadline, their work is cancelled and never commits afterwards; SIGTERM
also stops the server taking calls at once and exits within the grace plus a
few seconds."""

from __future__ import annotations

import collections
import pathlib
import signal
import sqlite3
import threading
import time
import urllib.parse
from typing import Any, Callable, Iterator

import grpc
import psycopg2
import pytest
from grpc_health.v1 import health_pb2, health_pb2_grpc

from issues.v1 import issue_service_pb2 as pb
from service.storage.models import Issue

from .. import harness

GRACE = 2.0


@pytest.fixture
def server(fresh_database_url: str, tmp_path: pathlib.Path) -> Iterator[harness.ServerProcess]:
    process = harness.ServerProcess(fresh_database_url, tmp_path, env={"ISSUES_SHUTDOWN_GRACE": str(GRACE)})
    yield process
    process.stop(signal.SIGKILL)


def hold_write_lock(url: str) -> Callable[[], None]:
    """Take a lock that blocks every issue write until the returned release() is called."""
    parts = urllib.parse.urlsplit(url)
    if parts.scheme == "sqlite":
        conn: Any = sqlite3.connect(urllib.parse.unquote(parts.path[1:]), isolation_level=None, check_same_thread=False)
        conn.execute("BEGIN IMMEDIATE")
    else:
        conn = psycopg2.connect(url)
        conn.cursor().execute("LOCK TABLE issues IN EXCLUSIVE MODE")  # reads go on, writes wait

    def release() -> None:
        conn.rollback()
        conn.close()

    return release


def test_sigterm_is_bounded_and_nothing_reported_failed_commits_later(server):
    token, _ = harness.mint_token(server.database_url, "member")
    channel = grpc.insecure_channel(server.target)
    api = harness.Api(channel, token)
    target = api.CreateIssue(title="contended").uuid
    health_updates = health_pb2_grpc.HealthStub(channel).Watch(health_pb2.HealthCheckRequest(), timeout=60)
    assert next(health_updates).status == health_pb2.HealthCheckResponse.SERVING

    release = hold_write_lock(server.database_url)
    outcomes: dict[str, grpc.StatusCode] = {}

    def attempt(key: str, call: Callable[[], Any]) -> None:
        try:
            call()
            outcomes[key] = grpc.StatusCode.OK
        except grpc.RpcError as error:
            outcomes[key] = error.code()

    calls = [
        threading.Thread(target=attempt, args=(f"create-{i}", lambda i=i: api.CreateIssue(title=f"create-{i}")))
        for i in range(4)
    ]
    calls += [
        threading.Thread(
            target=attempt, args=(f"owner-{i}", lambda i=i: api.UpdateIssue(issue_id=target, owner=f"owner-{i}"))
        )
        for i in range(4)
    ]
    try:
        for thread in calls:
            thread.start()
        time.sleep(0.7)  # every call is now waiting on the lock
        assert outcomes == {}

        started = time.monotonic()
        server.process.send_signal(signal.SIGTERM)
        assert next(health_updates).status == health_pb2.HealthCheckResponse.NOT_SERVING
        with pytest.raises(grpc.RpcError) as refused:
            api.CreateIssue(title="late")  # no new calls during the drain
        assert refused.value.code() in (grpc.StatusCode.UNAVAILABLE, grpc.StatusCode.CANCELLED)

        server.process.wait(timeout=GRACE + 15)
        elapsed = time.monotonic() - started
        for thread in calls:
            thread.join(timeout=10)
    finally:
        release()
        channel.close()

    assert elapsed < GRACE + 5, elapsed
    assert len(outcomes) == 8 and set(outcomes.values()) <= {grpc.StatusCode.UNAVAILABLE}, outcomes
    time.sleep(0.5)  # anything that would commit late has had its chance
    rows = harness.in_database(server.database_url, lambda: list(Issue.select(Issue.title, Issue.owner).tuples()))
    titles = {title for title, _ in rows}
    owners = {owner for _, owner in rows}
    assert "late" not in titles
    for key, code in outcomes.items():
        if code != grpc.StatusCode.OK:
            assert key not in titles and key not in owners, f"{key} was reported {code.name} but committed"
    assert any("cancelled the database work" in e.get("msg", "") for e in server.log_entries())


def test_a_write_past_its_deadline_is_cancelled_and_never_commits(server):
    token, _ = harness.mint_token(server.database_url, "member")
    with grpc.insecure_channel(server.target) as channel:
        api = harness.Api(channel, token)
        target = api.CreateIssue(title="contended").uuid
        release = hold_write_lock(server.database_url)
        try:
            update = channel.unary_unary(
                "/issues.v1.IssueService/UpdateIssue", request_serializer=pb.UpdateIssueRequest.SerializeToString
            )
            with pytest.raises(grpc.RpcError) as error:
                update(pb.UpdateIssueRequest(issue_id=target, owner="too late"), metadata=api.metadata, timeout=1.0)
            assert error.value.code() == grpc.StatusCode.DEADLINE_EXCEEDED
            time.sleep(1.0)  # the watchdog has cancelled the stuck statement by now
        finally:
            release()
        time.sleep(0.5)  # a late commit would land now
        assert api.GetIssue(issue_id=target).owner == "Unassigned"
        assert api.UpdateIssue(issue_id=target, owner="in time").owner == "in time"  # the server is fine


@pytest.mark.parametrize("workers", [1, 2])
def test_every_call_has_its_access_line_after_sigterm(fresh_database_url, tmp_path, workers):
    """Access lines are written in batches (common/logs.py); the ones still
    pending when SIGTERM comes are written before the process exits, in a
    worker process (os._exit) as in a single one."""
    server = harness.ServerProcess(fresh_database_url, tmp_path, workers=workers)
    try:
        token, slug = harness.mint_token(server.database_url, "member")
        with grpc.insecure_channel(server.target) as channel:
            api = harness.Api(channel, token)
            issue_id = api.CreateIssue(title="logged").uuid
            for _ in range(50):
                api.GetIssue(issue_id=issue_id)
        assert server.stop() == 0
        lines = [e for e in server.log_entries() if e.get("msg") == "rpc" and e.get("workspace") == slug]
        # Counted, not ordered: two workers' batches reach the file in either order.
        assert collections.Counter(e["method"].rsplit("/", 1)[1] for e in lines) == {"CreateIssue": 1, "GetIssue": 50}
    finally:
        server.stop(signal.SIGKILL)
