"""Through pgbouncer (SPEC 9.5), from Debian's package, a throwaway one per test
in front of the suite's PostgreSQL: in transaction mode the server says at
start that LISTEN cannot work there, and with ISSUES_LISTEN_DATABASE_URL
events cross two replicas within a second; in session mode, a call whose
statement is queued in pgbouncer past its deadline holds its thread no more
than a second longer."""

from __future__ import annotations

import concurrent.futures
import pathlib
from typing import Iterator

import grpc
import psycopg2
import pytest

from .. import harness
from ..pg_cluster import Pair, Pgbouncer, sql, wait_for
from .test_pg_failover import Watch
from .test_replicas_events import _check_two_replicas

pytestmark = [pytest.mark.postgres, pytest.mark.pg_cluster]


@pytest.fixture
def fresh_db(postgres_admin_url: str) -> Iterator[tuple[str, str, int]]:
    """A fresh database on the suite's PostgreSQL: (its direct url, its name, the server's port)."""
    url, name = harness.create_database(postgres_admin_url)
    try:
        yield url, name, harness.database_host_port(postgres_admin_url)[1]
    finally:
        harness.close_databases()
        harness.drop_database(postgres_admin_url, name)


@pytest.mark.parametrize("mode", ["transaction", "session"])
def test_listen_through_pgbouncer_and_events_across_two_replicas_within_a_second(
    mode: str, fresh_db, tmp_path: pathlib.Path
) -> None:
    """Transaction mode: the server says at start that LISTEN cannot work and
    watchers poll; ISSUES_LISTEN_DATABASE_URL (direct) brings events back within
    a second. Session mode works as is."""
    direct, name, pg_port = fresh_db
    # Session mode pins a server connection to each client connection: room for
    # two replicas' pools (16 each), notifiers and listeners.
    bouncer = Pgbouncer(pg_port, mode=mode, pool_size=40)
    servers: list[harness.ServerProcess] = []
    try:
        through = bouncer.url(name)
        alone = harness.ServerProcess(through, tmp_path)
        servers.append(alone)
        said = [e for e in alone.log_entries() if "LISTEN" in e.get("msg", "")]
        if mode == "transaction":
            assert len(said) == 1 and said[0]["level"] == "warning", said
            assert "by polling" in said[0]["msg"] and "ISSUES_LISTEN_DATABASE_URL" in said[0]["msg"], said
        else:
            assert len(said) == 1 and said[0]["msg"].startswith("LISTEN works"), said
        assert alone.stop() == 0
        env = {"ISSUES_LISTEN_DATABASE_URL": direct} if mode == "transaction" else {}
        servers[:] = []
        for replica in ("a", "b"):
            (tmp_path / replica).mkdir()
            servers.append(harness.ServerProcess(through, tmp_path / replica, env=env))
        for server in servers:
            assert any(e.get("msg", "").startswith("LISTEN works") for e in server.log_entries())
        token, _ = harness.mint_token(direct)
        delays = _check_two_replicas(servers[0].target, servers[1].target, token)
        print({f"slowest event across replicas through pgbouncer, {mode} mode (s)": round(max(delays), 3)})
    finally:
        for server in servers:
            server.stop()
        bouncer.stop()


def test_a_call_queued_in_pgbouncer_is_released_at_its_deadline(fresh_db, tmp_path: pathlib.Path) -> None:
    direct, name, pg_port = fresh_db
    bouncer = Pgbouncer(pg_port, mode="session", pool_size=2)  # two server connections for the whole server
    server = None
    blocker = None
    try:
        server = harness.ServerProcess(
            bouncer.url(name), tmp_path, env={"ISSUES_LISTEN_DATABASE_URL": direct, "ISSUES_DB_POOL_SIZE": "8"}
        )
        token, _ = harness.mint_token(direct)
        harness.close_databases()
        with grpc.insecure_channel(server.target) as channel:
            api = harness.Api(channel, token)
            api.CreateIssue(title="before", description=[])
            # Every statement on issues now waits for this lock; calls beyond the
            # two server connections wait in pgbouncer for one.
            blocker = psycopg2.connect(direct)
            blocker.cursor().execute("BEGIN; LOCK TABLE issues IN ACCESS EXCLUSIVE MODE")
            stub_call = harness.issue_service_pb2_grpc.IssueServiceStub(channel).ListIssues
            deadline = 2.0

            def call(_: int) -> grpc.StatusCode:
                try:
                    stub_call(
                        harness.issue_service_pb2.ListIssuesRequest(limit=5), metadata=api.metadata, timeout=deadline
                    )
                    return grpc.StatusCode.OK
                except grpc.RpcError as exc:
                    return exc.code()

            with concurrent.futures.ThreadPoolExecutor(6) as pool:
                codes = list(pool.map(call, range(6)))
            assert set(codes) == {grpc.StatusCode.DEADLINE_EXCEEDED}, codes

            # Each call's thread let go of it within its deadline plus a second.
            def finished() -> list[float]:
                lines = [
                    e
                    for e in server.log_entries()
                    if e.get("msg") == "rpc" and e.get("method", "").endswith("/ListIssues")
                ]
                return [e["duration_ms"] for e in lines] if len(lines) == 6 else []

            durations = wait_for(finished, 10, "every ListIssues call to end")
            print({"queued calls' thread time (ms)": sorted(durations)})
            assert max(durations) <= (deadline + 1.0) * 1000, durations
            blocker.rollback()
            # The connections that kept their server connection serve again
            # (the cut ones, still queued in pgbouncer, sent no COMMIT).
            assert api.CreateIssue(title="after", description=[]).title == "after"
    finally:
        if blocker is not None:
            blocker.close()
        if server is not None:
            server.stop()
        bouncer.stop()


def test_a_failover_behind_pgbouncer_gives_no_sequence_twice(tmp_path: pathlib.Path) -> None:
    """pgbouncer (transaction mode) keeps the server's connections open while it
    is pointed at a promoted, lagging standby: the watchers' poll (no LISTEN
    through it) notices the events it lacks and ends the open watch; the first
    append there notices the new timeline, the counters move on, and no
    sequence is given twice."""
    pair = Pair(synchronous=False)
    bouncer = None
    server = None
    try:
        sql(pair.primary.port, "CREATE DATABASE issues")
        bouncer = Pgbouncer(pair.primary.port, mode="transaction", pool_size=10)
        server = harness.ServerProcess(bouncer.url("issues"), tmp_path)
        token, _ = harness.mint_token(pair.url("issues"))
        harness.close_databases()
        with grpc.insecure_channel(server.target) as channel:
            api = harness.Api(channel, token)
            for i in range(3):
                api.CreateIssue(title=f"kept {i}", description=[])
            pair.cut_replication()
            for i in range(3):
                api.CreateIssue(title=f"lost {i}", description=[])
            seen = [e.sequence for e in api.ListEvents(after_sequence=0).items]
            assert len(seen) == 6
            watch = Watch(server.target, token, after=0)
            wait_for(lambda: watch.sequences == seen, 30, "the watch to see the six events")
            pair.primary.stop_server(mode="immediate")
            pair.promote_standby()
            bouncer.point_at(pair.standby.port)
            # Before anything is written there: the poll finds the history went back.
            wait_for(lambda: watch.ended is not None, 30, "the watch to end")
            assert watch.ended == grpc.StatusCode.OUT_OF_RANGE, (watch.ended, watch.message)
            watch.close()
            created = wait_for(lambda: _create(api), 30, "a write through pgbouncer after the failover")
            after_kept = api.ListEvents(after_sequence=seen[2]).items
            assert [e.issue_id for e in after_kept] == [created.uuid]
            assert after_kept[0].sequence > max(seen), (after_kept[0].sequence, seen)
            with pytest.raises(grpc.RpcError) as refused:
                api.ListEvents(after_sequence=seen[4])
            assert refused.value.code() == grpc.StatusCode.OUT_OF_RANGE
        assert any("history changed" in e.get("msg", "") for e in server.log_entries())
    finally:
        if server is not None:
            server.stop()
        if bouncer is not None:
            bouncer.stop()
        pair.stop()


def _create(api: harness.Api):  # -> the created issue, or None while the switch is on
    try:
        return api.CreateIssue(title="after the failover", description=[])
    except grpc.RpcError as exc:
        assert exc.code() == grpc.StatusCode.UNAVAILABLE, exc
        return None
