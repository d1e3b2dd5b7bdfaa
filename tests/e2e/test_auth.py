"""Tokens, roles and workspace isolation over gRPC."""

from __future__ import annotations

import grpc
import pytest

from service.app import tokens
from service.storage.models import ApiToken

from .. import harness

GOOD_UUID = "0f6d6f74-7d92-4d20-bf6c-2e37d2c1d9c8"


@pytest.mark.parametrize(
    "metadata",
    [(), (("authorization", "Bearer"),), (("authorization", "Basic abc"),), (("authorization", "Bearer iss_wrong"),)],
)
def test_calls_without_a_valid_token_are_unauthenticated(channel, metadata):
    stub = harness.Api(channel, None)
    stub.metadata = metadata
    with pytest.raises(grpc.RpcError) as error:
        stub.ListIssues()
    assert error.value.code() == grpc.StatusCode.UNAUTHENTICATED


@pytest.mark.parametrize(
    "role, method, fields",
    [
        ("viewer", "CreateIssue", dict(title="t")),
        ("viewer", "UpdateIssue", dict(issue_id=GOOD_UUID, title="t")),
        ("viewer", "CreateComment", dict(issue_id=GOOD_UUID, content="c")),
        ("viewer", "DeleteComment", dict(issue_id=GOOD_UUID, comment_id=GOOD_UUID)),
        ("member", "DeleteIssue", dict(issue_id=GOOD_UUID)),
    ],
)
def test_roles_below_the_methods_requirement_are_denied(workspace, role, method, fields):
    with pytest.raises(grpc.RpcError) as error:
        getattr(workspace.api(role), method)(**fields)
    assert error.value.code() == grpc.StatusCode.PERMISSION_DENIED
    assert workspace.viewer.ListIssues().count == 0


def test_another_workspace_sees_nothing(workspace, channel, make_token):
    issue = workspace.member.CreateIssue(title="private")
    comment = workspace.member.CreateComment(issue_id=issue.uuid, content="private")
    token, _ = make_token("admin")
    stranger = harness.Api(channel, token)

    assert stranger.ListIssues().count == 0
    assert [p.value for p in stranger.GetIssueMetrics().metrics[0].chart_data.data] == [0, 0, 0]
    calls = [
        (stranger.GetIssue, dict(issue_id=issue.uuid)),
        (stranger.UpdateIssue, dict(issue_id=issue.uuid, title="mine now")),
        (stranger.DeleteIssue, dict(issue_id=issue.uuid)),
        (stranger.ListComments, dict(issue_id=issue.uuid)),
        (stranger.CreateComment, dict(issue_id=issue.uuid, content="hi")),
        (stranger.UpdateComment, dict(issue_id=issue.uuid, comment_id=comment.uuid, content="x")),
        (stranger.DeleteComment, dict(issue_id=issue.uuid, comment_id=comment.uuid)),
        (stranger.ListIssueFiles, dict(issue_id=issue.uuid)),
    ]
    for call, fields in calls:
        with pytest.raises(grpc.RpcError) as error:
            call(**fields)
        assert error.value.code() == grpc.StatusCode.NOT_FOUND
        assert "private" not in error.value.details()
    assert workspace.viewer.GetIssue(issue_id=issue.uuid) == issue


def test_created_by_comes_from_the_token(workspace):
    api = workspace.api("member", email="someone@example.com")
    assert api.CreateIssue(title="t").created_by == "someone@example.com"


def test_tokens_are_stored_only_as_hashes(database_url, make_token):
    token, _ = make_token("viewer")
    rows = harness.in_database(database_url, lambda: list(ApiToken.select().dicts()))

    stored = [str(value) for row in rows for value in row.values()]
    assert tokens.hash_token(token) in stored
    assert not any(token in value or token.removeprefix("iss_") in value for value in stored)


def test_token_creation_rejects_bad_arguments(database_url):
    for args in [("Bad Slug", "a@b.c", "admin"), ("ok", "not-an-email", "admin"), ("ok", "a@b.c", "owner")]:
        with pytest.raises(ValueError):
            harness.use_database(database_url)
            tokens.create_token(*args)
