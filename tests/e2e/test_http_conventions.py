"""HTTP as curl and browsers expect it, against the real gateway and server on
both databases: `Location` on 201 Created, compression, CORS for event
streams, Last-Event-ID named in its errors, and /metrics labelling OPTIONS
and 405 answers by their route."""

from __future__ import annotations

import httpx

from .test_gateway_e2e import gateway_url, http, ok  # noqa: F401 - fixtures
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
    for headers, params, named in (({"Last-Event-ID": "5000"}, {}, "Last-Event-ID"),
                                   ({"Last-Event-ID": "5000"}, {"after": 0}, "Last-Event-ID"),  # the header wins
                                   ({}, {"after": 5000}, "after")):
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
