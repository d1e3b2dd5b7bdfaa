"""PostgreSQL in production (SPEC 9.5): a failover to a synchronous standby
under concurrent writers loses no acknowledged write and writes succeed again
within 5 s of the promotion; a restart is logged as one warning each by the
notifier and the listener, with no traceback; `serve` and `migrate` on a
standby exit 2 with one line. Each test runs throwaway clusters of its own."""

from __future__ import annotations

import pathlib
import subprocess
import sys
import threading
import time
import uuid
from typing import Iterator

import grpc
import pytest

from .. import harness
from ..pg_cluster import Pair, sql, wait_for

pytestmark = [pytest.mark.postgres, pytest.mark.pg_cluster]

# What the figures in the README come from; printed with -s.
FIGURES: dict[str, float] = {}


@pytest.fixture
def sync_pair() -> Iterator[Pair]:
    pair = Pair(synchronous=True)
    try:
        yield pair
    finally:
        pair.stop()


class Writers:
    """`count` threads creating issues through `target` until stopped: what was acknowledged, what failed how."""

    def __init__(self, target: str, token: str, count: int = 4) -> None:
        self.acknowledged: list[tuple[float, str]] = []
        self.failures: list[tuple[float, grpc.StatusCode]] = []
        self._stop = threading.Event()
        self._channel = grpc.insecure_channel(target)
        self._api = harness.Api(self._channel, token)
        self._threads = [threading.Thread(target=self._run, daemon=True) for _ in range(count)]
        for thread in self._threads:
            thread.start()

    def _run(self) -> None:
        while not self._stop.is_set():
            try:
                created = self._api.CreateIssue(title=f"w-{uuid.uuid4().hex[:8]}", description=[])
                self.acknowledged.append((time.monotonic(), created.uuid))
            except grpc.RpcError as exc:
                self.failures.append((time.monotonic(), exc.code()))
                time.sleep(0.05)

    def stop(self) -> None:
        self._stop.set()
        for thread in self._threads:
            thread.join(60)
        self._channel.close()


def test_a_synchronous_failover_loses_no_acknowledged_write(sync_pair: Pair, tmp_path: pathlib.Path) -> None:
    sql(sync_pair.primary.port, "CREATE DATABASE issues")
    url = sync_pair.url("issues")
    server = harness.ServerProcess(url, tmp_path)
    try:
        token, _ = harness.mint_token(url)
        harness.close_databases()
        writers = Writers(server.target, token)
        try:
            wait_for(lambda: len(writers.acknowledged) >= 50, 60, "writes before the failover")
            stopping = time.monotonic()
            sync_pair.primary.stop_server(mode="immediate")  # the primary dies
            time.sleep(1.0)
            promoted = time.monotonic()  # from the moment the promotion is asked for
            sync_pair.promote_standby()
            first = wait_for(
                lambda: [t for t, _ in writers.acknowledged if t > promoted], 30, "a write after the promotion"
            )[0]
            wait_for(
                lambda: len([t for t, _ in writers.acknowledged if t > promoted]) >= 50, 60, "writes after the failover"
            )
        finally:
            writers.stop()
        back_within = first - promoted
        FIGURES["writes back after promotion (s)"] = back_within
        assert back_within <= 5.0, f"writes came back {back_within:.2f} s after the promotion"
        # Calls during the switch failed UNAVAILABLE, nothing else.
        assert {code for _, code in writers.failures} <= {grpc.StatusCode.UNAVAILABLE}, writers.failures
        assert all(t >= stopping for t, _ in writers.failures), (stopping, writers.failures)
        # Every acknowledged write is on the new primary.
        with grpc.insecure_channel(server.target) as channel:
            api = harness.Api(channel, token)
            for _, created in writers.acknowledged:
                assert api.GetIssue(issue_id=created).uuid == created
        FIGURES["acknowledged writes read back"] = len(writers.acknowledged)
        FIGURES["calls failed during the switch"] = len(writers.failures)
        print(FIGURES)
    finally:
        assert server.stop() == 0


def test_serve_and_migrate_refuse_a_standby_with_one_line(sync_pair: Pair, tmp_path: pathlib.Path) -> None:
    standby = f"postgresql://postgres@127.0.0.1:{sync_pair.standby.port}/postgres"
    for command in (["serve", "--no-http"], ["migrate"]):
        done = subprocess.run(
            [sys.executable, "-m", "service", *command, "--database-url", standby],
            capture_output=True,
            text=True,
            timeout=60,
            cwd=tmp_path,
        )
        assert done.returncode == 2, done.stderr
        lines = done.stderr.strip().splitlines()
        assert len(lines) == 1 and "DATABASE_URL" in lines[0] and "standby" in lines[0], done.stderr


def test_a_database_restart_is_one_warning_each_and_no_traceback(own_postgres, tmp_path: pathlib.Path) -> None:
    url = own_postgres.url
    server = harness.ServerProcess(url, tmp_path)
    try:
        token, _ = harness.mint_token(url)
        harness.close_databases()
        writers = Writers(server.target, token)
        watch = Watch(server.target, token, after=0)  # its feed polls and reads through the restart
        try:
            wait_for(lambda: len(writers.acknowledged) >= 20, 60, "writes before the restart")
            own_postgres.stop_server()
            time.sleep(3.0)  # several reconnection attempts fail meanwhile
            own_postgres.start_server()
            restarted = time.monotonic()
            wait_for(
                lambda: len([t for t, _ in writers.acknowledged if t > restarted]) >= 20, 60, "writes after the restart"
            )
            # The listener and the notifier have found the database again.
            wait_for(
                lambda: (
                    sum(
                        e.get("msg") in ("the event listener reconnected", "the notifier reconnected")
                        for e in server.log_entries()
                    )
                    == 2
                ),
                30,
                "both to reconnect",
            )
        finally:
            writers.stop()
        try:
            # The watch went on through the restart: one event per acknowledged write (a
            # call that failed committed nothing), each once, in order.
            wait_for(lambda: len(watch.sequences) >= len(writers.acknowledged), 30, "the watch to catch up")
            time.sleep(0.5)
            assert watch.ended is None and len(watch.sequences) == len(writers.acknowledged)
            assert watch.sequences == list(range(1, len(watch.sequences) + 1))
        finally:
            watch.close()
        entries = server.log_entries()
        assert not [e for e in entries if "exc" in e or "Traceback" in str(e)], "tracebacks in the log"
        lost = [e["msg"] for e in entries if e.get("level") == "warning" and "lost the database" in e.get("msg", "")]
        assert sorted(lost) == sorted(
            [
                "the event listener lost the database; it reconnects every second, and watchers poll meanwhile",
                "the notifier lost the database; it reconnects with the next commit (at most once a second), and other replicas' watchers poll meanwhile",
                # the webhook dispatcher's process (PostgreSQL runs it beside the server)
                "the webhook dispatcher's listener lost the database; it reconnects every second, and the dispatcher polls meanwhile",
            ]
        ), lost
    finally:
        assert server.stop() == 0


@pytest.fixture
def async_pair() -> Iterator[Pair]:
    pair = Pair(synchronous=False)
    try:
        yield pair
    finally:
        pair.stop()


class Watch:
    """A WatchEvents stream in a thread: the sequences it got and the status it ended with."""

    def __init__(self, target: str, token: str, after: int) -> None:
        self.sequences: list[int] = []
        self.ended: grpc.StatusCode | None = None
        self.message = ""
        self._channel = grpc.insecure_channel(target)
        stub = harness.issue_service_pb2_grpc.IssueServiceStub(self._channel)
        self._stream = stub.WatchEvents(
            harness.issue_service_pb2.WatchEventsRequest(after_sequence=after),
            metadata=(("authorization", f"Bearer {token}"),),
        )
        threading.Thread(target=self._run, daemon=True).start()

    def _run(self) -> None:
        try:
            for event in self._stream:
                self.sequences.append(event.sequence)
        except grpc.RpcError as exc:
            self.ended, self.message = exc.code(), exc.details()

    def close(self) -> None:
        self._stream.cancel()
        self._channel.close()


def _http_events(server: harness.ServerProcess, token: str, **params: object) -> tuple[int, dict]:
    import json
    import urllib.error
    import urllib.parse
    import urllib.request

    request = urllib.request.Request(
        f"{server.http_url}/api/v1/events?{urllib.parse.urlencode(params)}",
        headers={"Authorization": f"Bearer {token}", "Accept": "application/json"},
    )
    try:
        with urllib.request.urlopen(request, timeout=30) as response:
            return response.status, json.loads(response.read())
    except urllib.error.HTTPError as exc:
        return exc.code, json.loads(exc.read())


def test_an_asynchronous_failover_ends_watches_and_refuses_lost_cursors(
    async_pair: Pair, tmp_path: pathlib.Path
) -> None:
    primary = async_pair.primary
    sql(primary.port, "CREATE DATABASE issues")
    url = async_pair.url("issues")
    server = harness.ServerProcess(url, tmp_path, http=True)
    watch = None
    try:
        token, _ = harness.mint_token(url)
        # A workspace whose only events are lost: the standby has no counter row for it.
        other_token, _ = harness.mint_token(url)
        harness.close_databases()
        with grpc.insecure_channel(server.target) as channel:
            api = harness.Api(channel, token)
            other = harness.Api(channel, other_token)
            for i in range(3):
                api.CreateIssue(title=f"kept {i}", description=[])
            async_pair.cut_replication()  # the standby has those three events, and no more
            watch = Watch(server.target, token, after=0)
            for i in range(3):
                api.CreateIssue(title=f"lost {i}", description=[])
            other.CreateIssue(title="lost in a workspace with no kept event", description=[])
            other_seen = [e.sequence for e in other.ListEvents(after_sequence=0).items]
            assert other_seen == [1]
            wait_for(lambda: len(watch.sequences) == 6, 30, "the watcher to see six events")
            seen = list(watch.sequences)
            status, page = _http_events(server, token, after=0, limit=5)
            assert status == 200 and [e["sequence"] for e in page["items"]] == seen[:5]
            old_token = page["next_page_token"]

            primary.stop_server(mode="immediate")
            promoted = time.monotonic()
            async_pair.promote_standby()

            # The open watch ends OUT_OF_RANGE, saying to resync: no silent gap.
            wait_for(lambda: watch.ended is not None, 30, "the watch to end")
            print({"watch ended after the promotion (s)": round(time.monotonic() - promoted, 2)})
            assert watch.ended == grpc.StatusCode.OUT_OF_RANGE and "resync" in watch.message, (
                watch.ended,
                watch.message,
            )
            assert watch.sequences == seen
            # New writes never reuse a sequence a client saw.
            created = api.CreateIssue(title="after the failover", description=[])
            fresh = Watch(server.target, token, after=3)  # sequence 3 is kept: good
            wait_for(lambda: fresh.sequences, 30, "the kept cursor's watch to get the new event")
            assert len(fresh.sequences) == 1 and fresh.sequences[0] > max(seen), fresh.sequences
            fresh.close()
            # Resuming from a lost event, by cursor or by page token, is OUT_OF_RANGE (HTTP 400).
            for lost in seen[3:]:
                resumed = Watch(server.target, token, after=lost)
                wait_for(lambda: resumed.ended is not None, 30, "the resume to be refused")
                assert resumed.ended == grpc.StatusCode.OUT_OF_RANGE, (lost, resumed.ended)
                status, body = _http_events(server, token, after=lost)
                assert status == 400 and body["error"]["status"] == "OUT_OF_RANGE", body
            status, body = _http_events(server, token, page_token=old_token)
            assert status == 400 and body["error"]["status"] == "OUT_OF_RANGE", body
            assert api.GetIssue(issue_id=created.uuid).title == "after the failover"
            # The workspace that had no counter row on the standby does not start at 1 again.
            other.CreateIssue(title="after the failover", description=[])
            assert [e.sequence for e in other.ListEvents(after_sequence=0).items][0] > max(other_seen)
            status, body = _http_events(server, other_token, after=other_seen[0])
            assert status == 400 and body["error"]["status"] == "OUT_OF_RANGE", body
    finally:
        if watch is not None:
            watch.close()
        assert server.stop() == 0


def test_writes_leave_a_host_that_went_read_only(async_pair: Pair, tmp_path: pathlib.Path) -> None:
    """The old primary stays up but is fenced read-only; the standby is promoted:
    pooled connections to the read-only host are dropped, writes go to the new primary."""
    primary, standby = async_pair.primary, async_pair.standby
    sql(primary.port, "CREATE DATABASE issues")
    url = async_pair.url("issues")
    server = harness.ServerProcess(url, tmp_path)
    try:
        token, _ = harness.mint_token(url)
        harness.close_databases()
        writers = Writers(server.target, token)
        try:
            wait_for(lambda: len(writers.acknowledged) >= 20, 60, "writes before the switch")
            sql(primary.port, "ALTER SYSTEM SET default_transaction_read_only = on")
            sql(primary.port, "SELECT pg_reload_conf()")
            time.sleep(1.0)  # writes meet the read-only host, and fail UNAVAILABLE
            promoted = time.monotonic()
            async_pair.promote_standby()
            first = wait_for(
                lambda: [t for t, _ in writers.acknowledged if t > promoted], 30, "a write after the promotion"
            )[0]
            wait_for(
                lambda: len([t for t, _ in writers.acknowledged if t > promoted]) >= 20, 60, "writes after the switch"
            )
        finally:
            writers.stop()
        assert first - promoted <= 5.0, f"writes came back {first - promoted:.2f} s after the promotion"
        assert {code for _, code in writers.failures} <= {grpc.StatusCode.UNAVAILABLE}, writers.failures
        # The writes after the switch are on the new primary.
        later = [created for t, created in writers.acknowledged if t > first]
        found = sql(standby.port, "SELECT count(*) FROM issues WHERE uuid = ANY(%s::uuid[])", (later,), dbname="issues")
        assert found[0][0] == len(later)
    finally:
        assert server.stop() == 0
