"""`serve`'s own gateway calls the service in-process (issue 18 item 4): no
loopback gRPC connection (file uploads and downloads included), yet the
same pipeline as a gRPC call: access lines,
deadlines that cut the database work off, refusals once stopping, and event
streams that end when their HTTP client goes away.

Real `python -m service serve` processes; the contract itself runs on both
transports through test_gateway_e2e's `gateway_url`.
"""

from __future__ import annotations

import pathlib
import signal
import threading
import time
from typing import Iterator

import grpc
import httpx
import pytest
from google.api import httpbody_pb2

from issues.v1 import issue_service_pb2, issue_service_pb2_grpc
from service.storage.models import Issue

from .. import harness
from .test_gateway_e2e import gateway_url  # noqa: F401 - the fixture: each transport
from .test_shutdown import hold_write_lock

GRACE = 2.0


@pytest.fixture
def server(fresh_database_url: str, tmp_path: pathlib.Path) -> Iterator[harness.ServerProcess]:
    process = harness.ServerProcess(fresh_database_url, tmp_path, http=True, env={"ISSUES_SHUTDOWN_GRACE": str(GRACE)})
    yield process
    # SIGTERM, not SIGKILL: a killed server writes no coverage data, and these
    # tests are most of what runs serve's in-process transport.
    process.stop(signal.SIGTERM, timeout=GRACE + 10)


def _established_on(pid: int, port: int) -> int:
    """How many of `pid`'s TCP connections have `port` at either end (from /proc)."""
    inodes = set()
    for fd in pathlib.Path(f"/proc/{pid}/fd").iterdir():
        try:
            target = fd.readlink().as_posix()
        except OSError:
            continue  # closed meanwhile
        if target.startswith("socket:["):
            inodes.add(target[8:-1])
    found = 0
    for table in ("tcp", "tcp6"):
        for line in pathlib.Path(f"/proc/{pid}/net/{table}").read_text().splitlines()[1:]:
            fields = line.split()
            local_port, remote_port = (int(a.rsplit(":", 1)[1], 16) for a in fields[1:3])
            if fields[3] == "01" and fields[9] in inodes and port in (local_port, remote_port):
                found += 1
    return found


def _rpc_lines(server: harness.ServerProcess, method: str, *, at_least: int = 0) -> list[dict]:
    """The access lines of `method`, waiting (up to 10 s) until there are
    `at_least`: the server writes them in batches within 50 ms (common/logs.py)."""
    deadline = time.monotonic() + 10
    while True:
        lines = [
            e for e in server.log_entries() if e.get("msg") == "rpc" and e.get("method", "").endswith(f"/{method}")
        ]
        if len(lines) >= at_least or time.monotonic() > deadline:
            return lines
        time.sleep(0.02)


def test_http_calls_reach_the_service_without_a_grpc_connection(server):
    token, slug = harness.mint_token(server.database_url, "member")
    headers = {"Authorization": f"Bearer {token}"}
    with httpx.Client(base_url=server.http_url, headers=headers, timeout=30) as http:
        created = http.post("/api/v1/issues", json={"title": "in-process", "description": []})
        assert created.status_code == 201, created.text
        assert http.get(f"/api/v1/issues/{created.json()['uuid']}").json()["title"] == "in-process"
        assert http.get("/api/v1/issues/not-a-uuid").status_code == 400
        with http.stream("GET", "/api/v1/events", headers={"Accept": "text/event-stream"}) as events:
            assert next(events.iter_lines()) == ": connected"
        # A file's bytes both ways (the client- and server-streaming blob calls), in chunks.
        data = bytes(range(256)) * 1024
        registered = http.post("/api/v1/attachments", json={"file_name": "f.bin", "size_bytes": len(data)})
        assert registered.status_code == 201, registered.text
        assert httpx.put(registered.json()["upload_url"], content=data, timeout=30).json()["status"] == "ready"
        got = http.get(f"/api/v1/attachments/{registered.json()['attachment']['uuid']}").json()
        assert httpx.get(got["download_url"], timeout=30).content == data
    assert server.process is not None
    assert _established_on(server.process.pid, server.port) == 0

    # The same pipeline as over gRPC: one access line per call, with its code and workspace.
    _rpc_lines(server, "DownloadBlob", at_least=1)  # the last call's line: the others' are written by then
    assert [(e["code"], e["workspace"]) for e in _rpc_lines(server, "CreateIssue")] == [("OK", slug)]
    assert [e["code"] for e in _rpc_lines(server, "GetIssue")] == ["OK", "INVALID_ARGUMENT"]
    assert [e["code"] for e in _rpc_lines(server, "UploadBlob") + _rpc_lines(server, "DownloadBlob")] == ["OK", "OK"]

    # The check sees a gRPC connection when there is one.
    with grpc.insecure_channel(server.target) as channel:
        harness.Api(channel, token).GetIssue(issue_id=created.json()["uuid"])
        assert _established_on(server.process.pid, server.port) >= 1


def test_an_event_stream_ends_on_the_server_when_its_http_client_goes(server):
    token, _ = harness.mint_token(server.database_url, "viewer")
    with httpx.stream(
        "GET",
        f"{server.http_url}/api/v1/events",
        timeout=30,
        headers={"Authorization": f"Bearer {token}", "Accept": "text/event-stream"},
    ) as events:
        frames = events.iter_lines()  # kept: an iterator dropped would close the response
        assert next(frames) == ": connected"
        time.sleep(0.3)
        assert _rpc_lines(server, "WatchEvents") == []  # open: logged when it ends
    deadline = time.monotonic() + 10
    while not (lines := _rpc_lines(server, "WatchEvents")) and time.monotonic() < deadline:
        time.sleep(0.05)
    assert [e["code"] for e in lines] == ["CANCELLED"]


def test_a_write_past_its_grpc_timeout_is_504_and_never_commits(server):
    token, _ = harness.mint_token(server.database_url, "member")
    release = hold_write_lock(server.database_url)
    try:
        started = time.monotonic()
        answer = httpx.post(
            f"{server.http_url}/api/v1/issues",
            json={"title": "too late", "description": []},
            headers={"Authorization": f"Bearer {token}", "grpc-timeout": "700m"},
            timeout=30,
        )
        elapsed = time.monotonic() - started
    finally:
        release()
    assert answer.status_code == 504 and answer.json()["error"]["status"] == "DEADLINE_EXCEEDED", answer.text
    assert elapsed < 5, elapsed
    time.sleep(0.5)  # anything that would commit late has had its chance
    titles = harness.in_database(server.database_url, lambda: [t for (t,) in Issue.select(Issue.title).tuples()])
    assert "too late" not in titles
    lines = _rpc_lines(server, "CreateIssue", at_least=1)
    assert [e["code"] for e in lines] in (["DEADLINE_EXCEEDED"], ["UNAVAILABLE"], ["CANCELLED"]), lines


def test_sigterm_fails_held_http_calls_uncommitted_and_takes_no_new_ones(server):
    token, _ = harness.mint_token(server.database_url, "member")
    headers = {"Authorization": f"Bearer {token}"}
    release = hold_write_lock(server.database_url)
    statuses: dict[str, int] = {}

    def create(title: str) -> None:
        answer = httpx.post(
            f"{server.http_url}/api/v1/issues", json={"title": title, "description": []}, headers=headers, timeout=30
        )
        statuses[title] = answer.status_code

    calls = [threading.Thread(target=create, args=(f"held-{i}",)) for i in range(4)]
    try:
        for thread in calls:
            thread.start()
        assert server.process is not None
        # Every call connected (and, given a moment more, waits on the lock) before the signal.
        deadline = time.monotonic() + 15
        while _established_on(server.process.pid, server.http_port) < 4 and time.monotonic() < deadline:
            time.sleep(0.05)
        time.sleep(0.5)
        assert statuses == {}
        server.process.send_signal(signal.SIGTERM)
        time.sleep(0.3)
        try:
            late = httpx.post(
                f"{server.http_url}/api/v1/issues",
                json={"title": "late", "description": []},
                headers=headers,
                timeout=10,
            ).status_code
        except httpx.TransportError:
            late = 0  # the listener is closed already: refused as well
        server.process.wait(timeout=GRACE + 15)
        for thread in calls:
            thread.join(timeout=10)
    finally:
        release()
    assert late in (0, 503), late
    assert statuses == {f"held-{i}": 503 for i in range(4)}, statuses
    time.sleep(0.5)
    titles = harness.in_database(server.database_url, lambda: [t for (t,) in Issue.select(Issue.title).tuples()])
    assert not [t for t in titles if t.startswith("held-") or t == "late"], titles


def test_a_request_past_the_servers_message_limit_is_refused_alike_on_both_transports(gateway_url, grpc_server):
    """In-process the request is never encoded, yet the server's receive limit
    (1 MiB) holds as over gRPC: 450,000 numbers are 0.9 MB of JSON, 4.9 MB of protobuf."""
    token, slug = harness.mint_token(grpc_server.database_url, "member")
    body = {"title": "too big", "description": [{"type": "paragraph", "values": [0] * 450_000}]}
    answer = httpx.post(
        f"{gateway_url}/api/v1/issues", json=body, headers={"Authorization": f"Bearer {token}"}, timeout=60
    )
    assert answer.status_code == 429 and answer.json()["error"]["status"] == "RESOURCE_EXHAUSTED", answer.text
    assert "larger than max" in answer.json()["error"]["message"]
    listed = httpx.get(f"{gateway_url}/api/v1/issues", headers={"Authorization": f"Bearer {token}"}, timeout=30)
    assert listed.json()["count"] == 0, slug


def test_an_upload_whose_body_outlasts_its_grpc_timeout_is_504_and_stores_nothing(server):
    """The in-process UploadBlob's own deadline: the handler waits on requests
    the client is slow to send, and gives up at the call's deadline."""
    token, _ = harness.mint_token(server.database_url, "member")
    headers = {"Authorization": f"Bearer {token}"}
    data = bytes(range(256)) * 256
    with httpx.Client(base_url=server.http_url, headers=headers, timeout=30) as http:
        registered = http.post("/api/v1/attachments", json={"file_name": "slow.bin", "size_bytes": 2 * len(data)})
        assert registered.status_code == 201, registered.text

        def slow_body() -> Iterator[bytes]:
            yield data
            time.sleep(2)  # well past the 500 ms grpc-timeout (not an assert: the server's deadline decides)
            yield data

        answer = httpx.put(
            registered.json()["upload_url"], content=slow_body(), headers={"grpc-timeout": "500m"}, timeout=30
        )
        assert answer.status_code == 504 and answer.json()["error"]["status"] == "DEADLINE_EXCEEDED", answer.text
        got = http.get(f"/api/v1/attachments/{registered.json()['attachment']['uuid']}")
        assert got.status_code == 200 and got.json()["attachment"]["status"] != "ready", got.text
    assert [e["code"] for e in _rpc_lines(server, "UploadBlob", at_least=1)] == ["DEADLINE_EXCEEDED"]


def test_an_upload_over_grpc_whose_requests_outlast_its_deadline_is_logged_deadline_exceeded(server):
    """The same deadline over gRPC: the client hears DEADLINE_EXCEEDED from its
    own deadline, and the server's access line says so too. The server's
    request iterator just ends there, so the handler saw too few bytes: it
    was logged INVALID_ARGUMENT, blaming a request that was only slow."""
    token, _ = harness.mint_token(server.database_url, "member")
    with httpx.Client(base_url=server.http_url, headers={"Authorization": f"Bearer {token}"}, timeout=30) as http:
        registered = http.post("/api/v1/attachments", json={"file_name": "slow.bin", "size_bytes": 2 * 1024})
        assert registered.status_code == 201, registered.text
        url = httpx.URL(registered.json()["upload_url"])
        _, _, workspace_id, attachment_id = url.path.split("/")
        first = issue_service_pb2.UploadBlobRequest(
            workspace_id=int(workspace_id),
            attachment_id=attachment_id,
            expires=int(url.params["expires"]),
            signature=url.params["signature"],
            chunk=httpbody_pb2.HttpBody(data=b"x" * 1024),
        )

        def slow_requests() -> Iterator[issue_service_pb2.UploadBlobRequest]:
            yield first
            time.sleep(2)  # well past the 500 ms deadline
            yield issue_service_pb2.UploadBlobRequest(chunk=httpbody_pb2.HttpBody(data=b"x" * 1024))

        with grpc.insecure_channel(server.target) as channel, pytest.raises(grpc.RpcError) as failed:
            issue_service_pb2_grpc.IssueServiceStub(channel).UploadBlob(slow_requests(), timeout=0.5)
        assert failed.value.code() == grpc.StatusCode.DEADLINE_EXCEEDED
        got = http.get(f"/api/v1/attachments/{attachment_id}")
        assert got.status_code == 200 and got.json()["attachment"]["status"] != "ready", got.text
    assert [e["code"] for e in _rpc_lines(server, "UploadBlob", at_least=1)] == ["DEADLINE_EXCEEDED"]
