"""Live events (SPEC 8.12): the outbox, WatchEvents over gRPC, the JSON list
and Server-Sent Events over HTTP, against a real server on both databases."""

from __future__ import annotations

import json
import subprocess
import sys
import threading
import time
from typing import Any, Callable, Iterator

import grpc
import httpx
import pytest

from common.jsonout import to_json
from gateway import sse
from issues.v1 import issue_service_pb2 as pb, issue_service_pb2_grpc

from .. import harness

# -- helpers -------------------------------------------------------------------


class Http:
    def __init__(self, server: harness.ServerProcess, token: str) -> None:
        self.client = httpx.Client(base_url=server.http_url, headers={"Authorization": f"Bearer {token}"}, timeout=30)

    def __getattr__(self, name: str) -> Any:
        return getattr(self.client, name)

    def ok(self, method: str, path: str, **kwargs: Any) -> Any:
        response = self.client.request(method, path, **kwargs)
        assert response.status_code < 300, response.text
        return response.json() if response.content else None

    def events(self, after: int = 0, **params: Any) -> list[dict[str, Any]]:
        """Every event after `after`, page by page."""
        out: list[dict[str, Any]] = []
        query: dict[str, Any] = {"after": after, "limit": 1000, **params}
        while True:
            page = self.ok("GET", "/api/v1/events", params=query)
            out += page["items"]
            if not page["next_page_token"]:
                return out
            query = {k: v for k, v in query.items() if k != "after"} | {"page_token": page["next_page_token"]}


@pytest.fixture
def account(grpc_server: harness.ServerProcess, make_token: Callable[..., tuple[str, str]]) -> tuple[str, str]:
    return make_token("admin")


def watch(channel: grpc.Channel, token: str, **fields: Any) -> Any:
    stub = issue_service_pb2_grpc.IssueServiceStub(channel)
    return stub.WatchEvents(pb.WatchEventsRequest(**fields), metadata=(("authorization", f"Bearer {token}"),))


_open: list[Collector] = []


@pytest.fixture(autouse=True)
def _close_streams() -> Iterator[None]:
    """Every watch a test opened ends with it (the server is shared)."""
    yield
    while _open:
        _open.pop().close()


class Collector:
    """Reads a stream in a thread of its own, keeping every event as JSON."""

    def close(self) -> None:
        cancel = getattr(self._stream, "cancel", None) or getattr(self._stream, "close", None)
        if cancel is not None:
            try:
                cancel()
            except Exception:  # noqa: BLE001 - a generator running in the reader thread refuses to close: it ends with the test's stop
                pass

    def __init__(self, stream: Iterator[Any], convert: Callable[[Any], dict[str, Any]] = to_json) -> None:
        _open.append(self)
        self.events: list[dict[str, Any]] = []
        self.error: BaseException | None = None
        self._stream = stream
        self._convert = convert
        self._thread = threading.Thread(target=self._run, daemon=True)
        self._thread.start()

    def _run(self) -> None:
        try:
            for item in self._stream:
                self.events.append(self._convert(item))
        except BaseException as exc:  # noqa: BLE001 - kept for the test to look at
            self.error = exc

    def wait_for(
        self, condition: Callable[[list[dict[str, Any]]], bool], timeout: float = 15.0
    ) -> list[dict[str, Any]]:
        deadline = time.monotonic() + timeout
        while not condition(list(self.events)):
            if time.monotonic() > deadline:
                raise AssertionError(f"timed out; seen {len(self.events)} events, error {self.error!r}")
            time.sleep(0.02)
        return list(self.events)


def sse_events(
    url: str,
    token: str,
    *,
    headers: dict[str, str] | None = None,
    params: Any = None,
    stop: threading.Event | None = None,
) -> Iterator[dict[str, Any]]:
    """Parse a Server-Sent Events stream into {"id", "event", "data"} dicts (comments as {"comment"})."""
    with httpx.stream(
        "GET",
        url,
        params=params,
        timeout=httpx.Timeout(30, read=None),
        headers={
            "Authorization": f"Bearer {token}",
            "Accept": "text/event-stream",
            **(headers or {}),
        },
    ) as response:
        assert response.status_code == 200, response.read()
        assert response.headers["content-type"].startswith("text/event-stream")
        frame: dict[str, Any] = {}
        for line in response.iter_lines():
            if stop is not None and stop.is_set():
                return
            if line == "":
                if frame:
                    yield frame
                frame = {}
            elif line.startswith(":"):
                yield {"comment": line[1:].strip()}
            else:
                key, _, value = line.partition(": ")
                frame[key] = json.loads(value) if key == "data" else value


def sse_json(frame: dict[str, Any]) -> dict[str, Any]:
    return frame


def upload(api: Http, data: bytes = b"plan") -> str:
    created = api.ok("POST", "/api/v1/attachments", json={"file_name": "plan.md", "size_bytes": len(data)})
    assert httpx.put(created["upload_url"], content=data).status_code == 200
    return created["attachment"]["uuid"]


# -- every mutation emits its event ------------------------------------------


def test_every_mutation_emits_its_type_with_the_contracts_json(grpc_server, account):
    token, _ = account
    api = Http(grpc_server, token)
    start = api.ok("GET", "/api/v1/events")["items"]
    assert start == []  # a fresh workspace has none

    parent = api.ok("POST", "/api/v1/issues", json={"title": "parent", "description": []})
    issue = api.ok(
        "POST",
        "/api/v1/issues",
        json={"title": "t", "description": [], "comment": "first", "parent_id": parent["uuid"]},
    )
    updated = api.ok("PATCH", f"/api/v1/issues/{issue['uuid']}", json={"status": "in_progress", "owner": "ann"})
    api.ok("PATCH", f"/api/v1/issues/{issue['uuid']}", json={"owner": "ann"})  # a no-op: no event
    comment = api.ok("POST", f"/api/v1/issues/{issue['uuid']}/comments", json={"content": "hello"})
    edited = api.ok("PATCH", f"/api/v1/issues/{issue['uuid']}/comments/{comment['uuid']}", json={"content": "hi"})
    reacted = api.ok(
        "POST", f"/api/v1/issues/{issue['uuid']}/comments/{comment['uuid']}/reactions", json={"emoji": "👍"}
    )
    api.ok(
        "POST", f"/api/v1/issues/{issue['uuid']}/comments/{comment['uuid']}/reactions", json={"emoji": "👍"}
    )  # no-op
    api.ok("DELETE", f"/api/v1/issues/{issue['uuid']}/comments/{comment['uuid']}/reactions/%F0%9F%91%8D")
    api.ok("DELETE", f"/api/v1/issues/{issue['uuid']}/comments/{comment['uuid']}/reactions/%F0%9F%91%8D")  # no-op
    before_delete = api.ok("GET", f"/api/v1/issues/{issue['uuid']}/comments")["items"]
    api.ok("DELETE", f"/api/v1/issues/{issue['uuid']}/comments/{comment['uuid']}")
    file = api.ok(
        "POST", f"/api/v1/issues/{issue['uuid']}/files", json={"attachment_id": upload(api), "file_type": "plan"}
    )
    moves = {"open": ["in_progress"], "in_progress": ["resolved", "open"], "resolved": ["open"], "rejected": ["open"]}
    workflow = api.ok("PUT", "/api/v1/workflow", json={"transitions": moves})
    api.ok("PUT", "/api/v1/workflow", json={"transitions": moves})  # the same again: no event
    history = api.ok("GET", f"/api/v1/issues/{issue['uuid']}/history")["items"]
    parent_shown = api.ok("GET", f"/api/v1/issues/{parent['uuid']}")
    child_before = api.ok("GET", f"/api/v1/issues/{issue['uuid']}")
    api.ok("DELETE", f"/api/v1/issues/{parent['uuid']}")

    got = api.events()
    assert [e["type"] for e in got] == [
        "issue.created",
        "issue.created",
        "comment.created",
        "issue.updated",
        "comment.created",
        "comment.updated",
        "reaction.added",
        "reaction.removed",
        "comment.deleted",
        "file.added",
        "workflow.updated",
        "issue.updated",
        "issue.deleted",
    ]
    assert [e["sequence"] for e in got] == list(range(1, len(got) + 1))
    by_type = {}
    for e in got:
        by_type.setdefault(e["type"], []).append(e)
        assert set(e) == {"sequence", "type", "issue_id", "actor", "occurred_at", "data"}
        assert e["actor"] == api.ok("GET", "/api/v1/events", params={"after": 0, "limit": 1})["items"][0]["actor"]
    created = by_type["issue.created"]
    assert created[0]["data"]["uuid"] == parent["uuid"] and created[0]["issue_id"] == parent["uuid"]
    assert {k: v for k, v in created[1]["data"].items() if k != "sub_issues_count"} == {
        k: v for k, v in issue.items() if k != "sub_issues_count"
    }
    assert by_type["comment.created"][0]["data"]["content"] == "first"
    change = by_type["issue.updated"][0]
    assert {k: v for k, v in change["data"].items() if k != "changes"} == updated
    # The change's history entries, exactly as history shows them.
    assert change["data"]["changes"] == [h for h in history if h["action"] in ("status_changed", "owner_changed")]
    assert [h["action"] for h in change["data"]["changes"]] == ["status_changed", "owner_changed"]
    assert by_type["comment.created"][1]["data"] == comment
    assert by_type["comment.updated"][0]["data"] == edited
    assert by_type["reaction.added"][0]["data"] == {
        **reacted,
        "reaction": {"emoji": "👍", "user": reacted["reactions"][0]["users"][0]},
    }
    assert by_type["reaction.removed"][0]["data"]["reactions"] == []
    assert by_type["reaction.removed"][0]["data"]["reaction"]["emoji"] == "👍"
    # A delete shows the resource as it was.
    assert by_type["comment.deleted"][0]["data"] == [c for c in before_delete if c["uuid"] == comment["uuid"]][0]
    assert by_type["comment.deleted"][0]["issue_id"] == issue["uuid"]
    assert by_type["file.added"][0]["data"] == file
    assert by_type["workflow.updated"][0]["data"] == workflow
    assert by_type["workflow.updated"][0]["issue_id"] is None
    detached = by_type["issue.updated"][1]
    assert detached["issue_id"] == issue["uuid"] and detached["data"]["parent_id"] is None
    assert [h["action"] for h in detached["data"]["changes"]] == ["parent_changed"]
    assert child_before["parent_id"] == parent["uuid"]
    assert by_type["issue.deleted"][0]["data"] == parent_shown


def test_a_bulk_update_emits_each_issues_update_then_one_bulk_event(grpc_server, account):
    api = Http(grpc_server, account[0])
    a = api.ok("POST", "/api/v1/issues", json={"title": "a", "description": []})
    b = api.ok("POST", "/api/v1/issues", json={"title": "b", "description": [], "priority": "high"})
    ids = [a["uuid"], b["identifier"].lower(), "NOPE-9"]
    answer = api.ok("POST", "/api/v1/issues:bulkUpdate", json={"ids": ids, "updates": {"priority": "high"}})
    assert [r["outcome"] for r in answer["results"]] == ["updated", "unchanged", "failed"]
    api.ok(
        "POST", "/api/v1/issues:bulkUpdate", json={"ids": ["NOPE-9"], "updates": {"priority": "low"}}
    )  # none updated: no event

    got = api.events()
    assert [e["type"] for e in got] == ["issue.created", "issue.created", "issue.updated", "issues.bulk_updated"]
    assert got[2]["issue_id"] == a["uuid"] and got[2]["data"]["priority"] == "high"
    bulk = got[3]
    assert bulk["issue_id"] is None
    assert bulk["data"] == {
        "ids": ids,
        "fields": ["priority"],
        "updated": 1,
        "results": [
            {"id": ids[0], "outcome": "updated", "error": None},
            {"id": ids[1], "outcome": "unchanged", "error": None},
            {"id": "NOPE-9", "outcome": "failed", "error": answer["results"][2]["error"]},
        ],
    }
    assert answer["results"][2]["error"]["status"] == "NOT_FOUND" and answer["results"][2]["error"]["code"] == 404


def test_a_type_filter_and_paging(grpc_server, account):
    api = Http(grpc_server, account[0])
    issue = api.ok("POST", "/api/v1/issues", json={"title": "t", "description": []})
    for i in range(5):
        api.ok("POST", f"/api/v1/issues/{issue['uuid']}/comments", json={"content": f"c{i}"})
    only = api.events(type=["comment.created"])
    assert [e["data"]["content"] for e in only] == [f"c{i}" for i in range(5)]
    first = api.ok("GET", "/api/v1/events", params={"limit": 2})
    assert [e["sequence"] for e in first["items"]] == [1, 2] and first["next_page_token"]
    second = api.ok("GET", "/api/v1/events", params={"limit": 2, "page_token": first["next_page_token"]})
    assert [e["sequence"] for e in second["items"]] == [3, 4]
    last = api.ok("GET", "/api/v1/events", params={"after": 4, "limit": 2})
    assert [e["sequence"] for e in last["items"]] == [5, 6] and last["next_page_token"] == ""
    # AIP-158: the next request may repeat the first one's parameters, `after` included.
    first = api.ok("GET", "/api/v1/events", params={"after": 1, "limit": 2})
    again = api.ok("GET", "/api/v1/events", params={"after": 1, "limit": 2, "page_token": first["next_page_token"]})
    assert [e["sequence"] for e in again["items"]] == [4, 5]
    chained = api.ok("GET", "/api/v1/events", params={"after": 1, "limit": 2, "page_token": again["next_page_token"]})
    assert [e["sequence"] for e in chained["items"]] == [6] and chained["next_page_token"] == ""
    defaulted = api.ok("GET", "/api/v1/events", params={"limit": 2})  # no after: 0, which may come again
    assert api.ok("GET", "/api/v1/events", params={"after": 0, "limit": 2, "page_token": defaulted["next_page_token"]})
    changed = api.get("/api/v1/events", params={"after": 2, "limit": 2, "page_token": first["next_page_token"]})
    assert changed.status_code == 400
    assert changed.json()["error"]["message"].startswith(
        "page_token: was made for other parameters (after_sequence (?after=))"
    ), changed.text
    # The token alone goes on with the first request's types; another type with it is refused.
    typed = api.ok("GET", "/api/v1/events", params={"type": "comment.created", "limit": 2})
    alone = api.ok("GET", "/api/v1/events", params={"page_token": typed["next_page_token"]})
    repeated = api.ok(
        "GET", "/api/v1/events", params={"type": "comment.created", "page_token": typed["next_page_token"]}
    )
    assert [e["data"]["content"] for e in alone["items"]] == ["c2", "c3", "c4"] and alone == repeated
    other = api.get("/api/v1/events", params={"type": "issue.created", "page_token": typed["next_page_token"]})
    assert other.status_code == 400 and other.json()["error"]["message"].startswith(
        "page_token: was made for other parameters (types (?type=))"
    ), other.text


# -- WatchEvents ---------------------------------------------------------------


def test_watch_replays_then_follows_and_a_viewer_may_watch(grpc_server, channel, make_token):
    token, slug = make_token("admin")
    viewer, _ = make_token("viewer", slug)
    api = Http(grpc_server, token)
    api.ok("POST", "/api/v1/issues", json={"title": "before", "description": []})
    replaying = Collector(watch(channel, viewer, after_sequence=0))
    live = Collector(watch(channel, viewer))  # no cursor: from now on
    replaying.wait_for(lambda seen: len(seen) == 1)
    time.sleep(0.3)  # the live watcher has joined by now (it may not see "before" either way)
    api.ok("POST", "/api/v1/issues", json={"title": "after", "description": []})
    assert [e["data"]["title"] for e in replaying.wait_for(lambda seen: len(seen) == 2)] == ["before", "after"]
    assert [e["data"]["title"] for e in live.wait_for(lambda seen: len(seen) == 1)] == ["after"]
    assert [e["sequence"] for e in replaying.events] == [1, 2]
    log = grpc_server.log_entries()
    assert not [e for e in log if e.get("method", "").endswith("WatchEvents") and e.get("code") == "INTERNAL"]


def test_workspace_isolation(grpc_server, channel, make_token):
    mine, _ = make_token("admin")
    theirs, _ = make_token("admin")
    seen = Collector(watch(channel, mine, after_sequence=0))
    Http(grpc_server, theirs).ok("POST", "/api/v1/issues", json={"title": "theirs", "description": []})
    Http(grpc_server, mine).ok("POST", "/api/v1/issues", json={"title": "mine", "description": []})
    assert [e["data"]["title"] for e in seen.wait_for(lambda s: len(s) >= 1)] == ["mine"]
    time.sleep(0.5)
    assert [e["data"]["title"] for e in seen.events] == ["mine"]
    assert [e["data"]["title"] for e in Http(grpc_server, mine).events()] == ["mine"]


def test_bad_cursors_and_filters_are_refused(grpc_server, channel, account):
    token, _ = account
    api = Http(grpc_server, token)
    api.ok("POST", "/api/v1/issues", json={"title": "one", "description": []})
    for fields, named in (
        ({"after_sequence": -1}, "after_sequence"),
        ({"after_sequence": 99}, "after_sequence"),
        ({"types": ["issue.exploded"]}, "types[0]"),
        ({"types": ["nonsense"]}, "types[0]"),
    ):
        with pytest.raises(grpc.RpcError) as refused:
            next(iter(watch(channel, token, **fields)))
        assert refused.value.code() == grpc.StatusCode.INVALID_ARGUMENT
        assert named in harness.bad_request_fields(refused.value)
    # Over HTTP each violation names the query parameter, as the client wrote it.
    for params, named in (
        ({"after": "-1"}, "after"),
        ({"after": "x"}, "after"),
        ({"type": "nope.nope"}, "type[0]"),
        ({"after": 1, "page_token": "abc"}, "page_token"),
        ({"page_token": "abc"}, "page_token"),
        ({"limit": 1001}, "limit"),
        ({"limit": 0}, "limit"),
        ({"after": 5000}, "after"),
    ):
        response = api.get("/api/v1/events", params=params)
        assert response.status_code == 400, (params, response.text)
        fields = [v["field"] for d in response.json()["error"]["details"] for v in d.get("field_violations", [])]
        assert named in fields, response.text
        assert "after_sequence" not in response.text and "types[" not in response.text, response.text
    # Over Server-Sent Events a refusal comes before any header: an ordinary error response.
    response = api.get("/api/v1/events", params={"after": 5000}, headers={"Accept": "text/event-stream"})
    assert response.status_code == 400 and response.json()["error"]["status"] == "INVALID_ARGUMENT"
    assert response.json()["error"]["message"].startswith("after:"), response.text
    response = api.get("/api/v1/events", params={"limit": 5}, headers={"Accept": "text/event-stream"})
    assert response.status_code == 400 and "limit" in response.text
    response = api.get("/api/v1/events", headers={"Accept": "text/event-stream", "Last-Event-ID": "x"})
    assert response.status_code == 400
    assert (
        httpx.get(f"{grpc_server.http_url}/api/v1/events", headers={"Accept": "text/event-stream"}).status_code == 401
    )


# -- exactly once, in order, under concurrent writers ---------------------------


WRITERS = 8
WRITES_EACH = 12


def _write_concurrently(grpc_server: harness.ServerProcess, token: str, parent: str) -> set[tuple[str, str]]:
    """8 writers creating (some under `parent`) and updating issues over gRPC; the (type, title) of every acknowledged write."""
    acknowledged: set[tuple[str, str]] = set()
    lock = threading.Lock()

    def writer(n: int) -> None:
        with grpc.insecure_channel(grpc_server.target) as ch:
            api = harness.Api(ch, token)
            for i in range(WRITES_EACH):
                try:
                    issue = api.CreateIssue(
                        title=f"w{n}-{i}", description=[], **({"parent_id": parent} if i % 4 == 2 else {})
                    )
                    with lock:
                        acknowledged.add(("issue.created", issue.title))
                    if i % 3 == 0:  # moves the counters too: more locks taken before the events' one
                        api.UpdateIssue(issue_id=issue.uuid, status=2, update_mask={"paths": ["status"]})
                        with lock:
                            acknowledged.add(("issue.updated", issue.title))
                    if i % 2:
                        api.UpdateIssue(issue_id=issue.uuid, title=f"w{n}-{i}-u", update_mask={"paths": ["title"]})
                        with lock:
                            acknowledged.add(("issue.updated", f"w{n}-{i}-u"))
                except grpc.RpcError as exc:  # an unacknowledged write may or may not have committed
                    assert exc.code() in (grpc.StatusCode.UNAVAILABLE, grpc.StatusCode.DEADLINE_EXCEEDED), exc

    threads = [threading.Thread(target=writer, args=(n,)) for n in range(WRITERS)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    return acknowledged


def _check_exactly_once(seen: list[dict[str, Any]], acknowledged: set[tuple[str, str]]) -> None:
    sequences = [e["sequence"] for e in seen]
    assert sequences == sorted(set(sequences)), "sequences must strictly increase"
    assert sequences == list(range(sequences[0], sequences[0] + len(sequences))), "no gap"
    keys = [(e["type"], e["data"]["title"]) for e in seen]
    assert len(keys) == len(set(keys)), "no event twice"
    assert acknowledged <= set(keys), f"missing: {sorted(acknowledged - set(keys))[:5]}"


def test_every_acknowledged_write_reaches_grpc_and_sse_watchers_once_in_order(grpc_server, channel, account):
    token, _ = account
    seed = Http(grpc_server, token).ok("POST", "/api/v1/issues", json={"title": "seed", "description": []})
    over_grpc = Collector(watch(channel, token, after_sequence=1))
    stop = threading.Event()
    over_sse = Collector(
        sse_events(f"{grpc_server.http_url}/api/v1/events", token, params={"after": 1}, stop=stop), convert=sse_json
    )
    time.sleep(0.3)
    acknowledged = _write_concurrently(grpc_server, token, seed["uuid"])
    assert len(acknowledged) >= WRITERS * WRITES_EACH  # nothing was refused on this quiet machine
    total = len(Http(grpc_server, token).events(after=1))
    got_grpc = over_grpc.wait_for(lambda s: len(s) >= total, timeout=30)
    frames = over_sse.wait_for(lambda s: len([f for f in s if "data" in f]) >= total, timeout=30)
    stop.set()
    _check_exactly_once(got_grpc, acknowledged)
    events = [f["data"] for f in frames if "data" in f]
    assert [int(f["id"]) for f in frames if "data" in f] == [e["sequence"] for e in events]
    assert all(f["event"] == f["data"]["type"] for f in frames if "data" in f)
    _check_exactly_once(events, acknowledged)
    assert got_grpc == events  # the same events, the same JSON
    assert got_grpc[0]["sequence"] == 2


def test_resuming_after_a_dropped_connection_loses_nothing(grpc_server, channel, account):
    token, _ = account
    api = Http(grpc_server, token)
    for i in range(3):
        api.ok("POST", "/api/v1/issues", json={"title": f"a{i}", "description": []})
    first = watch(channel, token, after_sequence=0)
    seen = [to_json(next(first)) for _ in range(2)]
    first.cancel()  # the connection drops after two
    for i in range(3):
        api.ok("POST", "/api/v1/issues", json={"title": f"b{i}", "description": []})
    again = Collector(watch(channel, token, after_sequence=seen[-1]["sequence"]))
    seen += again.wait_for(lambda s: len(s) == 4)
    assert [e["data"]["title"] for e in seen] == ["a0", "a1", "a2", "b0", "b1", "b2"]
    # Over SSE: Last-Event-ID wins over the query (a browser sends both when it reconnects).
    frames = sse_events(
        f"{grpc_server.http_url}/api/v1/events", token, params={"after": 0}, headers={"Last-Event-ID": "4"}
    )
    titles = []
    for frame in frames:
        if "data" in frame:
            titles.append(frame["data"]["data"]["title"])
        if len(titles) == 2:
            break
    frames.close()
    assert titles == ["b1", "b2"]


def test_sse_sends_a_comment_line_while_idle(grpc_server, account):
    token, _ = account
    started = time.monotonic()
    for frame in sse_events(f"{grpc_server.http_url}/api/v1/events", token):
        if frame.get("comment") == "keep-alive":
            break
    # The shared server's interval is a second (conftest): sooner than the
    # default ten shows ISSUES_SSE_HEARTBEAT_SECONDS reached it.
    assert time.monotonic() - started < sse.HEARTBEAT_SECONDS


# -- retention ------------------------------------------------------------------


def test_gc_prunes_old_events_and_an_older_cursor_is_out_of_range(grpc_server, channel, make_token, tmp_path):
    token, _ = make_token("admin")
    api = Http(grpc_server, token)
    for i in range(3):
        api.ok("POST", "/api/v1/issues", json={"title": f"old{i}", "description": []})
    time.sleep(1.2)
    env = {"DATABASE_URL": grpc_server.database_url, "ISSUES_EVENT_RETENTION": "1s", "PATH": "/usr/bin:/bin"}
    done = subprocess.run(
        [sys.executable, "-m", "service", "gc"], env=env, capture_output=True, text=True, timeout=120, cwd=tmp_path
    )
    assert done.returncode == 0, done.stderr
    api.ok("POST", "/api/v1/issues", json={"title": "new", "description": []})
    assert [e["data"]["title"] for e in api.events()] == ["new"]  # after=0: everything kept
    response = api.get("/api/v1/events", params={"after": 1})
    assert response.status_code == 400 and response.json()["error"]["status"] == "OUT_OF_RANGE"
    assert "pruned" in response.json()["error"]["message"]
    with pytest.raises(grpc.RpcError) as refused:
        next(iter(watch(channel, token, after_sequence=2)))
    assert refused.value.code() == grpc.StatusCode.OUT_OF_RANGE
    assert [e["data"]["title"] for e in api.events(after=3)] == ["new"]  # nothing after 3 was pruned


# -- the README's lines ------------------------------------------------------------


@pytest.mark.parametrize("backend", ["sqlite"], scope="session")
def test_the_readme_event_lines_follow_live_as_written(backend, grpc_server, make_token):
    import os
    import pathlib
    import selectors

    from .test_readme import block_after

    token, _ = make_token("admin")
    lines = [line for line in block_after("events-walkthrough").splitlines() if line.strip()]
    assert any("WatchEvents" in line for line in lines) and any(line.startswith("curl -N") for line in lines)
    env = {**os.environ, "TOKEN": token, "PATH": f"{pathlib.Path(sys.executable).parent}:{os.environ['PATH']}"}
    api = Http(grpc_server, token)
    api.ok("POST", "/api/v1/issues", json={"title": "already there", "description": []})
    for line in lines:
        line = line.replace("localhost:50051", grpc_server.target).replace(
            "localhost:8080", f"127.0.0.1:{grpc_server.http_port}"
        )
        process = subprocess.Popen(["bash", "-c", line], stdout=subprocess.PIPE, stderr=subprocess.PIPE, env=env)
        try:
            if "WatchEvents" not in line and not line.startswith("curl -N"):
                out, err = process.communicate(timeout=30)
                assert process.returncode == 0, err
                assert json.loads(out)["items"][0]["data"]["title"] == "already there"
                continue
            title = f"live {time.monotonic_ns()}"
            selector = selectors.DefaultSelector()
            selector.register(process.stdout, selectors.EVENT_READ)
            output = b""
            deadline = time.monotonic() + 20
            written = False
            while title.encode() not in output:
                assert time.monotonic() < deadline, (
                    line,
                    output[-500:],
                    process.stderr.read1() if process.poll() is not None else b"",
                )
                if selector.select(timeout=0.2):
                    output += process.stdout.read1()
                if not written and b"already there" in output:  # it replayed: now a change live
                    api.ok("POST", "/api/v1/issues", json={"title": title, "description": []})
                    written = True
        finally:
            process.terminate()
            process.wait(10)


def test_a_watch_ends_unauthenticated_once_its_token_is_revoked(grpc_server, channel, make_token, database_url):
    from .test_token_admin import listed, service_cli

    token, slug = make_token("viewer", email="leaving@example.com")
    watching = Collector(watch(channel, token, after_sequence=0))
    time.sleep(0.5)
    assert watching.error is None
    (record,) = [t for t in listed(database_url, slug) if t["email"] == "leaving@example.com"]
    assert service_cli(database_url, "token", "revoke", str(record["id"])).returncode == 0
    deadline = time.monotonic() + 10
    while watching.error is None:
        assert time.monotonic() < deadline, "the stream outlived its token"
        time.sleep(0.1)
    assert watching.error.code() == grpc.StatusCode.UNAUTHENTICATED
    assert "revoked" in watching.error.details()
