"""Comments over gRPC: add, list, edit, soft delete, and who may do what."""

from __future__ import annotations

import grpc
import pytest


@pytest.fixture
def issue(workspace):
    return workspace.member.CreateIssue(title="commented")


def test_a_new_comment_has_the_contract_fields(workspace, issue):
    comment = workspace.member.CreateComment(issue_id=issue.uuid, content="Reproduced on bench.")

    assert comment.content == "Reproduced on bench."
    assert comment.created_by.startswith("member-")
    assert not comment.is_edited and not comment.is_deleted
    assert list(comment.attachments) == [] and list(comment.reactions) == []
    assert comment.created_at == comment.updated_at


def test_list_is_oldest_first_with_paging_and_total(workspace, issue):
    made = [workspace.member.CreateComment(issue_id=issue.uuid, content=f"c{i}").uuid for i in range(5)]

    default = workspace.viewer.ListComments(issue_id=issue.uuid)
    page = workspace.viewer.ListComments(issue_id=issue.uuid, limit=2, offset=2)

    assert [c.uuid for c in default.items] == made and default.count == 5
    assert [c.uuid for c in page.items] == made[2:4] and page.count == 5


def test_editing_marks_the_comment_edited(workspace, issue):
    comment = workspace.member.CreateComment(issue_id=issue.uuid, content="first")

    edited = workspace.member.UpdateComment(issue_id=issue.uuid, comment_id=comment.uuid, content="second")

    assert edited.content == "second" and edited.is_edited
    assert edited.updated_at.ToDatetime() > comment.updated_at.ToDatetime()
    assert edited.created_at == comment.created_at


def test_deleting_is_soft_and_hides_the_content(workspace, issue):
    comment = workspace.member.CreateComment(issue_id=issue.uuid, content="secret")

    workspace.member.DeleteComment(issue_id=issue.uuid, comment_id=comment.uuid)
    workspace.member.DeleteComment(issue_id=issue.uuid, comment_id=comment.uuid)  # again: still fine
    listed = workspace.viewer.ListComments(issue_id=issue.uuid)

    assert listed.count == 1
    (shown,) = listed.items
    assert shown.uuid == comment.uuid and shown.is_deleted
    assert shown.content == "" and list(shown.attachments) == []


def test_a_deleted_comment_cannot_be_edited(workspace, issue):
    comment = workspace.member.CreateComment(issue_id=issue.uuid, content="x")
    workspace.member.DeleteComment(issue_id=issue.uuid, comment_id=comment.uuid)

    with pytest.raises(grpc.RpcError) as error:
        workspace.member.UpdateComment(issue_id=issue.uuid, comment_id=comment.uuid, content="y")
    assert error.value.code() == grpc.StatusCode.FAILED_PRECONDITION


def test_members_change_only_their_own_comments_and_admins_any(workspace, issue):
    other = workspace.api("member")
    comment = workspace.member.CreateComment(issue_id=issue.uuid, content="mine")

    ids = dict(issue_id=issue.uuid, comment_id=comment.uuid)
    for call, extra in ((other.UpdateComment, dict(content="theirs")), (other.DeleteComment, {})):
        with pytest.raises(grpc.RpcError) as error:
            call(**ids, **extra)
        assert error.value.code() == grpc.StatusCode.PERMISSION_DENIED
    assert workspace.viewer.ListComments(issue_id=issue.uuid).items[0].content == "mine"

    assert (
        workspace.admin.UpdateComment(issue_id=issue.uuid, comment_id=comment.uuid, content="moderated").content
        == "moderated"
    )
    workspace.admin.DeleteComment(issue_id=issue.uuid, comment_id=comment.uuid)
    assert workspace.viewer.ListComments(issue_id=issue.uuid).items[0].is_deleted


def test_a_comment_is_found_only_under_its_own_issue(workspace, issue):
    elsewhere = workspace.member.CreateIssue(title="other")
    comment = workspace.member.CreateComment(issue_id=issue.uuid, content="x")

    with pytest.raises(grpc.RpcError) as error:
        workspace.member.UpdateComment(issue_id=elsewhere.uuid, comment_id=comment.uuid, content="y")
    assert error.value.code() == grpc.StatusCode.NOT_FOUND


def test_commenting_on_a_missing_issue_is_not_found(workspace):
    with pytest.raises(grpc.RpcError) as error:
        workspace.member.CreateComment(issue_id="00000000-0000-4000-8000-000000000000", content="x")
    assert error.value.code() == grpc.StatusCode.NOT_FOUND
