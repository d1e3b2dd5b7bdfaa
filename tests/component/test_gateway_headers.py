"""The headers that stand for fields, mapped by the fields' names (SPEC 8.10),
against the recording fake upstream: what reaches the service, what the
client gets back. The real service behind them is in test_writes.py."""

from __future__ import annotations

import pytest
from google.protobuf import empty_pb2

from issues.v1 import comment_pb2, issue_pb2, issue_service_pb2 as pb

from .test_gateway_transcoder import ISSUE_ID, call, error_of, fake, upstream  # noqa: F401 - fixtures

COMMENT_ID = "7b0c1e9e-6f1a-4a8e-9c55-5d0f3f0e2b11"


def test_idempotency_key_sets_request_id_on_every_create(fake):
    fake.handlers["CreateIssue"] = lambda request, context: issue_pb2.Issue(uuid=ISSUE_ID)
    fake.handlers["CreateComment"] = lambda request, context: comment_pb2.Comment(uuid=COMMENT_ID)
    fake.handlers["CreateAttachment"] = lambda request, context: pb.CreateAttachmentResponse()

    for url, body in (
        ("/api/v1/issues", {"title": "t", "description": []}),
        (f"/api/v1/issues/{ISSUE_ID}/comments", {"content": "c"}),
        ("/api/v1/attachments", {"file_name": "a", "size_bytes": 1}),
    ):
        assert call(fake.target, "POST", url, json=body, headers={"Idempotency-Key": "k-1"}).status_code == 201
    assert [(name, request.request_id) for name, request, _, _ in fake.calls] == [
        ("CreateIssue", "k-1"),
        ("CreateComment", "k-1"),
        ("CreateAttachment", "k-1"),
    ]


def test_if_match_sets_etag_unquoted_on_updates_and_deletes(fake):
    fake.handlers["UpdateIssue"] = lambda request, context: issue_pb2.Issue(uuid=ISSUE_ID, etag="e2")
    fake.handlers["DeleteComment"] = lambda request, context: empty_pb2.Empty()

    call(fake.target, "PATCH", f"/api/v1/issues/{ISSUE_ID}", json={"title": "x"}, headers={"If-Match": '"e1"'})
    call(fake.target, "DELETE", f"/api/v1/issues/{ISSUE_ID}/comments/{COMMENT_ID}", headers={"If-Match": "e1"})
    call(fake.target, "PATCH", f"/api/v1/issues/{ISSUE_ID}", json={"title": "x"}, headers={"If-Match": "*"})
    call(fake.target, "PATCH", f"/api/v1/issues/{ISSUE_ID}", json={"title": "x"}, headers={"If-Match": 'W/"e1"'})

    sent = [request.etag for _, request, _, _ in fake.calls]
    # `*` is no condition; a weak tag never matches strongly, so it goes on as sent and fails.
    assert sent == ["e1", "e1", "", 'W/"e1"']
    # The etag is a precondition, not a field to change.
    assert list(fake.calls[0][1].update_mask.paths) == ["title"]


def test_request_id_comes_from_the_body_or_the_header_and_both_must_agree(fake):
    fake.handlers["CreateIssue"] = lambda request, context: issue_pb2.Issue(uuid=ISSUE_ID)
    body = {"title": "t", "description": [], "request_id": "k-1"}
    assert call(fake.target, "POST", "/api/v1/issues", json=body).status_code == 201
    assert call(fake.target, "POST", "/api/v1/issues", json=body, headers={"Idempotency-Key": "k-1"}).status_code == 201
    assert [request.request_id for _, request, _, _ in fake.calls] == ["k-1", "k-1"]

    refused = call(fake.target, "POST", "/api/v1/issues", json=body, headers={"Idempotency-Key": "k-2"})
    assert refused.status_code == 400
    error = error_of(refused)
    assert error["message"].startswith("request_id: the Idempotency-Key header says otherwise")
    assert [v["field"] for v in error["details"][0]["field_violations"]] == ["request_id"]
    assert len(fake.calls) == 2  # nothing reached the service


def test_header_only_fields_come_only_from_their_headers(fake):
    for method, url, kwargs, field in (
        ("PATCH", f"/api/v1/issues/{ISSUE_ID}", {"json": {"title": "t", "etag": "e"}}, "etag"),
        ("DELETE", f"/api/v1/issues/{ISSUE_ID}?etag=e", {}, "etag"),
    ):
        response = call(fake.target, method, url, **kwargs)
        assert response.status_code == 400, response.text
        assert error_of(response)["details"][0]["field_violations"][0]["field"] == field
    assert fake.calls == []


def test_a_list_in_if_match_is_refused(fake):
    response = call(
        fake.target, "PATCH", f"/api/v1/issues/{ISSUE_ID}", json={"title": "t"}, headers={"If-Match": '"a", "b"'}
    )
    assert response.status_code == 400
    assert error_of(response)["details"][0]["field_violations"][0]["field"] == "If-Match"
    assert fake.calls == []


def test_a_replys_etag_is_the_etag_header_and_if_none_match_gives_304(fake):
    fake.handlers["GetIssue"] = lambda request, context: issue_pb2.Issue(uuid=ISSUE_ID, etag="abc")
    fake.handlers["UpdateIssue"] = lambda request, context: issue_pb2.Issue(uuid=ISSUE_ID, etag="abd")

    got = call(fake.target, "GET", f"/api/v1/issues/{ISSUE_ID}")
    assert got.status_code == 200 and got.headers["ETag"] == '"abc"' and got.json()["etag"] == "abc"
    for matching in ('"abc"', 'W/"abc"', '"zzz", "abc"', "*"):
        same = call(fake.target, "GET", f"/api/v1/issues/{ISSUE_ID}", headers={"If-None-Match": matching})
        assert same.status_code == 304 and same.content == b"" and same.headers["ETag"] == '"abc"', matching
    other = call(fake.target, "GET", f"/api/v1/issues/{ISSUE_ID}", headers={"If-None-Match": '"zzz"'})
    assert other.status_code == 200 and other.json()["uuid"] == ISSUE_ID
    # Only a GET is answered 304; a PATCH's reply carries its new etag.
    patched = call(
        fake.target, "PATCH", f"/api/v1/issues/{ISSUE_ID}", json={"title": "x"}, headers={"If-None-Match": '"abd"'}
    )
    assert patched.status_code == 200 and patched.headers["ETag"] == '"abd"'


def test_replies_without_an_etag_send_no_etag_header(fake):
    fake.handlers["ListIssues"] = lambda request, context: pb.ListIssuesResponse(count=0)
    listed = call(fake.target, "GET", "/api/v1/issues", headers={"If-None-Match": "*"})
    assert listed.status_code == 200 and "etag" not in listed.headers


def test_bulk_update_reaches_the_service_with_its_nested_mask(fake):
    fake.handlers["BulkUpdateIssues"] = lambda request, context: pb.BulkUpdateIssuesResponse(updated=0)

    response = call(
        fake.target,
        "POST",
        "/api/v1/issues:bulkUpdate",
        json={"ids": ["ACM-1", ISSUE_ID], "updates": {"status": "resolved", "parent_id": None}},
    )

    assert response.status_code == 200 and response.json() == {"updated": 0, "results": []}
    [(name, request, _, _)] = fake.calls
    assert name == "BulkUpdateIssues" and list(request.ids) == ["ACM-1", ISSUE_ID]
    # The keys present are the fields to change; a null one is named and unset: it clears.
    assert list(request.updates.update_mask.paths) == ["status", "parent_id"]
    assert request.updates.status == issue_pb2.Issue.STATUS_RESOLVED and not request.updates.HasField("parent_id")


@pytest.mark.parametrize("updates", [{"update_mask": "status", "status": "open"}, {"nope": 1}])
def test_a_nested_update_carries_no_mask_and_no_unknown_key(fake, updates):
    response = call(fake.target, "POST", "/api/v1/issues:bulkUpdate", json={"ids": ["ACM-1"], "updates": updates})
    assert response.status_code == 400
    assert error_of(response)["details"][0]["field_violations"][0]["field"] == f"updates.{next(iter(updates))}"
    assert fake.calls == []
