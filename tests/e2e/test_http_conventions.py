"""HTTP as curl and browsers expect it, against the real gateway and server on
both databases: `Location` on 201 Created, compression, stream tickets and
CORS for a browser's event streams, Last-Event-ID named in its errors, and
/metrics labelling OPTIONS and 405 answers by their route."""

from __future__ import annotations

import json
import time

import grpc
import httpx

from service.app import stream_tickets, tokens

from .. import harness
from .test_gateway_e2e import gateway_url, http, ok  # noqa: F401 - fixtures
from .test_gateway_http import ALLOWED_ORIGIN, cors_url  # noqa: F401 - fixtures
from .test_prometheus import scrape, value


def test_a_201_names_the_new_items_url_in_location(http):
    issue = http.member.post("/api/v1/issues", json={"title": "t", "description": []})
    assert issue.status_code == 201
    assert issue.headers["Location"] == f"/api/v1/issues/{issue.json()['uuid']}"
    assert ok(http.viewer.get(issue.headers["Location"]))["uuid"] == issue.json()["uuid"]

    # Under a parent: the parent as the request named it, then the new id.
    identifier = issue.json()["identifier"]
    comment = http.member.post(f"/api/v1/issues/{identifier}/comments", json={"content": "c"})
    assert comment.headers["Location"] == f"/api/v1/issues/{identifier}/comments/{comment.json()['uuid']}"
    # The comment's own URL: where it is edited.
    edited = http.member.patch(comment.headers["Location"], json={"content": "d"})
    assert ok(edited)["content"] == "d"

    # The reply wraps the resource: its id is the wrapped attachment's.
    made = http.member.post("/api/v1/attachments", json={"file_name": "a.txt", "size_bytes": 1})
    attachment = made.json()["attachment"]
    assert made.headers["Location"] == f"/api/v1/attachments/{attachment['uuid']}"
    assert ok(http.viewer.get(made.headers["Location"]))["attachment"]["uuid"] == attachment["uuid"]

    # A repeat of the create gets the same answer, Location included.
    key = {"Idempotency-Key": "location-1"}
    first = http.member.post("/api/v1/issues", json={"title": "u", "description": []}, headers=key)
    again = http.member.post("/api/v1/issues", json={"title": "u", "description": []}, headers=key)
    assert first.headers["Location"] == again.headers["Location"]
    # Other answers carry none.
    assert "Location" not in http.viewer.get(issue.headers["Location"]).headers
    assert "Location" not in edited.headers


def test_a_last_event_id_past_the_last_event_is_refused_naming_the_header(http):
    ok(http.member.post("/api/v1/issues", json={"title": "t", "description": []}), 201)
    stream = {"Accept": "text/event-stream"}
    for headers, params, named in (
        ({"Last-Event-ID": "5000"}, {}, "Last-Event-ID"),
        ({"Last-Event-ID": "5000"}, {"after": 0}, "Last-Event-ID"),  # the header wins
        ({}, {"after": 5000}, "after"),
    ):
        response = http.viewer.get("/api/v1/events", headers={**stream, **headers}, params=params)
        assert response.status_code == 400, response.text
        error = response.json()["error"]
        assert error["message"].startswith(f"{named}: is past the workspace's last event"), error
        assert [v["field"] for d in error["details"] for v in d.get("field_violations", [])] == [named]
        assert "after_sequence" not in response.text


def test_options_and_405_on_a_real_route_are_counted_under_its_route(gateway_url, http):
    route = "/api/v1/issues/{issue_id}"
    name = "issues_http_requests_total"
    before = scrape(gateway_url)
    path = "/api/v1/issues/00000000-0000-4000-8000-000000000000"
    assert http.viewer.options(path).status_code == 204
    assert http.viewer.put(path, json={}).status_code == 405
    assert httpx.options(f"{gateway_url}/healthz").status_code == 204
    assert httpx.get(f"{gateway_url}/no/such/route").status_code == 404
    after = scrape(gateway_url)

    def moved(**labels: str) -> float:
        return value(after, name, **labels) - value(before, name, **labels)

    assert moved(method="OPTIONS", route=route, code="204") == 1
    assert moved(method="PUT", route=route, code="405") == 1
    assert moved(method="OPTIONS", route="healthz", code="204") == 1
    assert moved(method="GET", route="unmatched", code="404") == 1  # only what matches no route
    assert moved(method="OPTIONS", route="unmatched", code="204") == 0


def first_events(url: str, count: int, **kwargs) -> list[dict]:
    """The first `count` events of a Server-Sent Events stream, as JSON."""
    seen: list[dict] = []
    with httpx.stream("GET", url, timeout=30, **kwargs) as response:
        assert response.status_code == 200, response.read()
        for line in response.iter_lines():
            if line.startswith("data: "):
                seen.append(json.loads(line[6:]))
                if len(seen) == count:
                    return seen
    return seen


def test_a_stream_ticket_opens_the_event_streams_and_nothing_else(gateway_url, http, make_token):
    ok(http.member.post("/api/v1/issues", json={"title": "seen", "description": []}), 201)
    minted = ok(http.viewer.post("/api/v1/events:ticket", json={}))
    ticket = minted["ticket"]
    assert ticket.startswith("evt_") and minted["expires_at"].endswith("Z")

    # What an EventSource does: a URL, no headers but Accept (and Last-Event-ID when it resumes).
    [event] = first_events(
        f"{gateway_url}/api/v1/events?after=0&ticket={ticket}", 1, headers={"Accept": "text/event-stream"}
    )
    assert event["type"] == "issue.created" and event["data"]["title"] == "seen"
    listed = httpx.get(f"{gateway_url}/api/v1/events", params={"after": 0, "ticket": ticket})
    assert [e["sequence"] for e in ok(listed)["items"]] == [event["sequence"]]

    # Nothing but the event streams: not even reading an issue, and never a write.
    for method, path in (("GET", "/api/v1/issues"), ("POST", "/api/v1/events:ticket")):
        refused = httpx.request(method, f"{gateway_url}{path}", headers={"Authorization": f"Bearer {ticket}"}, json={})
        assert refused.status_code == 403 and "stream ticket" in refused.json()["error"]["message"], refused.text
    # One credential at a time; a ticket that was altered is no ticket.
    both = http.viewer.get("/api/v1/events", params={"ticket": ticket})
    assert both.status_code == 400 and both.json()["error"]["details"][0]["field_violations"][0]["field"] == "ticket"
    altered = ticket[:-2] + ("AA" if not ticket.endswith("AA") else "BB")
    assert httpx.get(f"{gateway_url}/api/v1/events", params={"ticket": altered}).status_code == 401
    assert httpx.get(f"{gateway_url}/api/v1/events", params={"ticket": "iss_not_a_ticket"}).status_code == 401


def test_a_stream_ticket_expires_and_dies_with_its_token(grpc_server, gateway_url, make_token):
    token, slug = make_token("viewer")
    grpc_channel = grpc.insecure_channel(grpc_server.target)
    with grpc_channel:
        minted = harness.Api(grpc_channel, token).CreateEventsTicket()
        other, _ = make_token("admin")  # another workspace: its events are not this ticket's
        harness.Api(grpc_channel, other).CreateIssue(title="elsewhere")
        assert httpx.get(f"{gateway_url}/api/v1/events", params={"after": 0, "ticket": minted.ticket}).json() == {
            "items": [],
            "next_page_token": "",
        }
    # An expired ticket opens nothing (signed with the server's secret, from its database, 61 s ago).
    harness.use_database(grpc_server.database_url)
    stale, _ = stream_tickets.mint(token, now=time.time() - 61)
    expired = httpx.get(f"{gateway_url}/api/v1/events", params={"ticket": stale})
    assert expired.status_code == 401 and "expired" in expired.json()["error"]["message"]
    # Revoking the token that minted it revokes the ticket.
    [row] = tokens.list_tokens(slug)
    tokens.revoke_token(row.id)
    deadline = time.monotonic() + 10  # servers remember a token for half a second
    while (refused := httpx.get(f"{gateway_url}/api/v1/events", params={"ticket": minted.ticket})).status_code == 200:
        assert time.monotonic() < deadline, "the revoked token's ticket still opens streams"
        time.sleep(0.1)
    assert refused.status_code == 401 and "revoked" in refused.json()["error"]["message"], refused.text


def test_a_browser_may_resume_an_event_stream_cross_origin(cors_url):
    preflight = httpx.options(
        f"{cors_url}/api/v1/events",
        headers={
            "Origin": ALLOWED_ORIGIN,
            "Access-Control-Request-Method": "GET",
            "Access-Control-Request-Headers": "last-event-id",
        },
    )
    assert preflight.status_code == 204
    allowed = {h.strip().lower() for h in preflight.headers["access-control-allow-headers"].split(",")}
    assert "last-event-id" in allowed


def test_a_stream_a_ticket_opened_outlives_the_ticket(grpc_server, gateway_url, make_token):
    token, _ = make_token("member")
    harness.use_database(grpc_server.database_url)
    ticket, _ = stream_tickets.mint(token, now=time.time() - 55)  # 5 s left to open a stream
    seen: list[dict] = []
    with httpx.stream(
        "GET",
        f"{gateway_url}/api/v1/events",
        params={"ticket": ticket},
        headers={"Accept": "text/event-stream"},
        timeout=30,
    ) as stream:
        assert stream.status_code == 200
        time.sleep(8)  # the ticket expires, and the stream's token check (every 5 s) runs
        with grpc.insecure_channel(grpc_server.target) as channel:
            harness.Api(channel, token).CreateIssue(title="after the ticket expired")
        for line in stream.iter_lines():
            if line.startswith("data: "):
                seen.append(json.loads(line[6:]))
                break
    assert seen and seen[0]["data"]["title"] == "after the ticket expired"


def test_json_openapi_and_metrics_are_gzipped_when_accepted_and_event_streams_never(gateway_url, http):
    import gzip as gzip_module

    for i in range(8):
        ok(http.member.post("/api/v1/issues", json={"title": f"issue {i} " + "x" * 100, "description": []}), 201)
    accept = {"Accept-Encoding": "gzip"}
    for url, client in (
        (f"{gateway_url}/api/v1/issues", http.viewer),
        (f"{gateway_url}/openapi.json", httpx),
        (f"{gateway_url}/metrics", httpx),
    ):
        with client.stream("GET", url, headers=accept) as response:
            raw = b"".join(response.iter_raw())
        assert response.status_code == 200 and response.headers["content-encoding"] == "gzip", url
        assert "accept-encoding" in response.headers["vary"].lower()
        assert int(response.headers["content-length"]) == len(raw)
        plain = client.get(url, headers={"Accept-Encoding": "identity"})
        assert "content-encoding" not in plain.headers and len(raw) < len(plain.content)
        if url.endswith("/issues"):
            assert json.loads(gzip_module.decompress(raw)) == plain.json()
    # Small answers, refusals of gzip, and event streams go as they are.
    small = http.viewer.get("/api/v1/issues?limit=1", headers=accept)
    assert "content-encoding" not in small.headers
    for refusal in ("gzip;q=0", "*;q=1, gzip;q=0"):  # an explicit gzip;q=0 wins over *
        refused = http.viewer.get("/api/v1/issues", headers={"Accept-Encoding": refusal})
        assert "content-encoding" not in refused.headers, refusal
    # One issue's answer carries a strong ETag naming its identity bytes: sent as it is.
    big = ok(
        http.member.post(
            "/api/v1/issues", json={"title": "big", "description": [{"type": "text", "text": "y" * 2000}]}
        ),
        201,
    )
    one = http.viewer.get(f"/api/v1/issues/{big['uuid']}", headers=accept)
    assert one.headers["etag"] and "content-encoding" not in one.headers
    with http.viewer.stream(
        "GET", "/api/v1/events", params={"after": 0}, headers={**accept, "Accept": "text/event-stream"}
    ) as stream:
        assert stream.status_code == 200 and "content-encoding" not in stream.headers
        for line in stream.iter_lines():
            if line.startswith("data: "):
                assert json.loads(line[6:])["type"] == "issue.created"  # each event as it comes, uncompressed
                break
