"""Health answers while every IssueService slot is stuck on a database lock.

A real server process with its default 16 call slots (and 64 waiting
places); the test holds an ACCESS EXCLUSIVE lock on the issues table from
its own PostgreSQL connection, so GetIssue calls block in the database.
"""

from __future__ import annotations

import time

import grpc
import psycopg2
import pytest
from grpc_health.v1 import health_pb2, health_pb2_grpc

from issues.v1 import issue_service_pb2, issue_service_pb2_grpc

from .. import harness

RUNNING, WAITING, BEYOND = 16, 64, 4


def _waiting_on_locks(url: str) -> int:
    with psycopg2.connect(url) as conn, conn.cursor() as cur:
        cur.execute(
            "SELECT count(*) FROM pg_stat_activity WHERE datname = current_database() AND wait_event_type = 'Lock'"
        )
        return cur.fetchone()[0]


def _until(predicate, timeout: float) -> bool:
    deadline = time.monotonic() + timeout
    while not predicate():
        if time.monotonic() > deadline:
            return False
        time.sleep(0.05)
    return True


def _code(call: grpc.Future) -> grpc.StatusCode:
    return call.exception().code() if call.exception() is not None else grpc.StatusCode.OK


@pytest.mark.parametrize("backend", ["postgres"], scope="session")
def test_health_answers_promptly_while_every_slot_is_blocked(backend, fresh_database_url, tmp_path):
    server = harness.ServerProcess(fresh_database_url, tmp_path)
    token, _ = harness.mint_token(fresh_database_url, "member")
    metadata = (("authorization", f"Bearer {token}"),)
    lock = psycopg2.connect(fresh_database_url)
    try:
        with grpc.insecure_channel(server.target) as channel:
            stub = issue_service_pb2_grpc.IssueServiceStub(channel)
            issue = stub.CreateIssue(issue_service_pb2.CreateIssueRequest(title="t"), metadata=metadata)
            lock.cursor().execute("LOCK TABLE issues IN ACCESS EXCLUSIVE MODE")

            request = issue_service_pb2.GetIssueRequest(issue_id=issue.uuid)
            calls = [
                stub.GetIssue.future(request, timeout=60, metadata=metadata) for _ in range(RUNNING + WAITING + BEYOND)
            ]
            # Exactly the running slots reach the database and block there ...
            assert _until(lambda: _waiting_on_locks(fresh_database_url) >= RUNNING, 20)
            # ... the calls past the waiting places are refused at once ...
            assert _until(lambda: sum(c.done() for c in calls) >= BEYOND, 5)
            refused = [c for c in calls if c.done()]
            assert len(refused) == BEYOND and {_code(c) for c in refused} == {grpc.StatusCode.UNAVAILABLE}

            # ... and health still finds a thread.
            health = health_pb2_grpc.HealthStub(channel)
            started = time.monotonic()
            reply = health.Check(health_pb2.HealthCheckRequest(service="issues.v1.IssueService"), timeout=5)
            elapsed = time.monotonic() - started
            assert reply.status == health_pb2.HealthCheckResponse.SERVING
            assert elapsed < 1.0, elapsed
            assert _waiting_on_locks(fresh_database_url) == RUNNING

            # The waiting calls give up after their wait, UNAVAILABLE, not queued forever.
            assert _until(lambda: sum(c.done() for c in calls) >= BEYOND + WAITING, 10)
            assert {_code(c) for c in calls if c.done()} == {grpc.StatusCode.UNAVAILABLE}

            lock.rollback()  # the blocked calls now finish, and well
            assert {_code(c) for c in calls if c not in refused and c.exception(timeout=30) is None} == {
                grpc.StatusCode.OK
            }
            assert sum(_code(c) == grpc.StatusCode.OK for c in calls) == RUNNING
    finally:
        lock.close()
        server.stop()
