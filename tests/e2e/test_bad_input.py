"""Every bad input is INVALID_ARGUMENT naming the field, and changes nothing."""

from __future__ import annotations

import grpc
import pytest
from google.protobuf import field_mask_pb2

from issues.v1 import issue_pb2, issue_service_pb2 as pb

from ..harness import bad_request_fields

Issue = issue_pb2.Issue
GOOD_UUID = "0f6d6f74-7d92-4d20-bf6c-2e37d2c1d9c8"


def refused(call, **fields) -> list[str]:
    with pytest.raises(grpc.RpcError) as error:
        call(**fields)
    assert error.value.code() == grpc.StatusCode.INVALID_ARGUMENT, error.value.details()
    named = bad_request_fields(error.value)
    assert named, "the error carries google.rpc.BadRequest field violations"
    assert named[0] in error.value.details()  # the message names the field too
    return named


@pytest.mark.parametrize(
    "fields, field",
    [
        (dict(title=""), "title"),
        (dict(title="   "), "title"),
        (dict(title="x" * 501), "title"),
        (dict(title="t", status=99), "status"),
        (dict(title="t", priority=42), "priority"),
        (dict(title="t", attachment_ids=["not-a-uuid"]), "attachment_ids[0]"),
        (dict(title="t", session_ids=["nope"]), "session_ids[0]"),
        (dict(title="t", tags=["ok", " "]), "tags[1]"),
        (dict(title="t", owner=""), "owner"),
        (dict(title="nul\x00here"), "title"),
        (dict(title="t", tags=["a\x00"]), "tags[0]"),
        (dict(title="t", resolution_summary="\x00"), "resolution_summary"),
    ],
)
@pytest.mark.backend_independent
def test_create_refuses(workspace, fields, field):
    before = workspace.viewer.ListIssues().count

    assert refused(workspace.member.CreateIssue, **fields) == [field]
    assert workspace.viewer.ListIssues().count == before


def test_an_unknown_attachment_id_is_refused(workspace):
    before = workspace.viewer.ListIssues().count
    assert refused(workspace.member.CreateIssue, title="t", attachment_ids=[GOOD_UUID]) == ["attachment_ids[0]"]
    assert workspace.viewer.ListIssues().count == before


@pytest.mark.backend_independent
def test_create_names_every_bad_field_at_once(workspace):
    assert refused(workspace.member.CreateIssue, title="", status=9, session_ids=["x"]) == [
        "title",
        "status",
        "session_ids[0]",
    ]


@pytest.mark.parametrize(
    "fields, field",
    [
        (dict(limit=0), "limit"),
        (dict(limit=1001), "limit"),
        (dict(offset=-1), "offset"),
        (dict(status=[Issue.STATUS_OPEN, 17]), "status[1]"),
        (dict(priority=[9]), "priority[0]"),
    ],
)
@pytest.mark.backend_independent
def test_list_refuses(workspace, fields, field):
    assert refused(workspace.viewer.ListIssues, **fields) == [field]


@pytest.mark.parametrize("method", ["GetIssue", "DeleteIssue", "ListComments", "ListIssueFiles"])
@pytest.mark.backend_independent
def test_malformed_issue_ids_are_refused(workspace, method):
    assert refused(getattr(workspace.admin, method), issue_id="1234") == ["issue_id"]
    # Only the canonical spelling: no braces, urn: prefix or missing dashes.
    for spelling in (f"{{{GOOD_UUID}}}", f"urn:uuid:{GOOD_UUID}", GOOD_UUID.replace("-", "")):
        assert refused(getattr(workspace.admin, method), issue_id=spelling) == ["issue_id"]


@pytest.mark.parametrize(
    "fields, field",
    [
        (dict(update_mask=field_mask_pb2.FieldMask(paths=["title"]), title=""), "title"),
        (dict(update_mask=field_mask_pb2.FieldMask(paths=["status"])), "status"),
        (dict(update_mask=field_mask_pb2.FieldMask(paths=["created_by"])), "update_mask"),
        (dict(update_mask=field_mask_pb2.FieldMask(paths=["uuid"])), "update_mask"),
        (dict(), "update_mask"),  # nothing to change
        (dict(priority=7), "priority"),
    ],
)
def test_update_refuses_and_changes_nothing(workspace, fields, field):
    issue = workspace.member.CreateIssue(title="keep", priority=Issue.PRIORITY_MEDIUM)

    assert refused(workspace.member.UpdateIssue, issue_id=issue.uuid, **fields) == [field]
    assert workspace.viewer.GetIssue(issue_id=issue.uuid) == issue


@pytest.mark.parametrize(
    "fields, field",
    [
        (dict(content=""), "content"),
        (dict(content="  \n"), "content"),
        (dict(content="x" * 10_001), "content"),
        (dict(content="a\x00b"), "content"),
        (dict(content="ok", attachment_ids=[GOOD_UUID] * 11), "attachment_ids"),
        (dict(content="ok", attachment_ids=["zzz"]), "attachment_ids[0]"),
        (dict(content="ok", attachment_ids=[GOOD_UUID]), "attachment_ids[0]"),
    ],
)
@pytest.mark.backend_independent
def test_create_comment_refuses(workspace, fields, field):
    issue = workspace.member.CreateIssue(title="t")

    assert refused(workspace.member.CreateComment, issue_id=issue.uuid, **fields) == [field]
    assert workspace.viewer.ListComments(issue_id=issue.uuid).count == 0


def test_comment_content_of_exactly_the_limit_is_accepted(workspace):
    issue = workspace.member.CreateIssue(title="t")
    comment = workspace.member.CreateComment(issue_id=issue.uuid, content="x" * 10_000)
    assert len(comment.content) == 10_000


def test_title_of_exactly_500_characters_is_accepted(workspace):
    assert len(workspace.member.CreateIssue(title="x" * 500).title) == 500


@pytest.mark.backend_independent
def test_oversized_messages_are_refused_before_parsing(workspace):
    with pytest.raises(grpc.RpcError) as error:
        workspace.member.CreateIssue(pb.CreateIssueRequest(title="t", tags=["x" * 100] * 12_000))
    assert error.value.code() == grpc.StatusCode.RESOURCE_EXHAUSTED
