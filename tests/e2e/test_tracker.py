"""The tracker model over gRPC, on SQLite and PostgreSQL (SPEC 8.1 to 8.7):
identifiers, the initial comment, the workflow, history, reactions,
sub-issues and references, with their bad input, tenancy and roles."""

from __future__ import annotations

import concurrent.futures
import re
import subprocess
import sys

import grpc
import pytest
from google.protobuf import field_mask_pb2

from issues.v1 import issue_pb2, workflow_pb2

from .. import harness
from ..harness import bad_request_fields

Issue = issue_pb2.Issue
IDENTIFIER = re.compile(r"^([A-Z][A-Z0-9]{1,9})-([1-9][0-9]*)$")


def refused(call, code=grpc.StatusCode.INVALID_ARGUMENT, **fields) -> grpc.RpcError:
    with pytest.raises(grpc.RpcError) as error:
        call(**fields)
    assert error.value.code() == code, error.value.details()
    return error.value


def mask(*paths: str) -> field_mask_pb2.FieldMask:
    return field_mask_pb2.FieldMask(paths=list(paths))


# -- 8.1 identifiers -------------------------------------------------------------


def test_issues_are_numbered_per_workspace_and_found_by_identifier_in_any_case(workspace):
    first = workspace.member.CreateIssue(title="first")
    second = workspace.member.CreateIssue(title="second")
    prefix = IDENTIFIER.match(first.identifier)[1]
    assert (first.number, first.identifier, second.number, second.identifier) == (1, f"{prefix}-1", 2, f"{prefix}-2")

    assert workspace.viewer.GetIssue(issue_id=second.identifier.lower()).uuid == second.uuid
    workspace.member.CreateComment(issue_id=second.identifier, content="by identifier")
    assert workspace.viewer.ListComments(issue_id=f"{prefix.lower()}-2").count == 1
    workspace.admin.DeleteIssue(issue_id=second.identifier)
    assert workspace.member.CreateIssue(title="third").number == 3  # a deleted number is never reused

    refused(workspace.viewer.GetIssue, grpc.StatusCode.NOT_FOUND, issue_id=f"{prefix}-2")
    refused(workspace.viewer.GetIssue, grpc.StatusCode.NOT_FOUND, issue_id=f"{prefix}-99")
    for bad in ("42", "-1", f"{prefix}-0", f"{prefix}-x", "A-1", f"{prefix}1"):
        assert bad_request_fields(refused(workspace.viewer.GetIssue, issue_id=bad)) == ["issue_id"], bad


def test_fifty_concurrent_creates_get_numbers_one_to_fifty(channel, make_token):
    token, _ = make_token("member")  # a new workspace
    api = harness.Api(channel, token)
    with concurrent.futures.ThreadPoolExecutor(10) as pool:
        numbers = list(pool.map(lambda i: api.CreateIssue(title=f"c{i}").number, range(50)))
    assert sorted(numbers) == list(range(1, 51))


def test_concurrent_creates_some_refused_leave_no_gap(channel, make_token):
    # Concurrent creates share a transaction (write_batches.py); a refused one
    # rolls back alone, its number with it.
    token, _ = make_token("member")
    api = harness.Api(channel, token)
    unknown = "0f6d6f74-7d92-4d20-bf6c-2e37d2c1d9c8"

    def create(i: int) -> object:
        try:
            if i % 3 == 0:
                return api.CreateIssue(title=f"bad {i}", parent_id=unknown)
            return api.CreateIssue(title=f"ok {i}").number
        except grpc.RpcError as error:
            return error.code()

    with concurrent.futures.ThreadPoolExecutor(12) as pool:
        results = list(pool.map(create, range(30)))
    assert results.count(grpc.StatusCode.INVALID_ARGUMENT) == 10
    assert sorted(r for r in results if isinstance(r, int)) == list(range(1, 21))
    assert api.ListIssues().count == 20


def test_a_refused_create_uses_no_number(workspace):
    first = workspace.member.CreateIssue(title="one")
    refused(workspace.member.CreateIssue, title="t", attachment_ids=["0f6d6f74-7d92-4d20-bf6c-2e37d2c1d9c8"])
    refused(workspace.member.CreateIssue, title="t", parent_id="0f6d6f74-7d92-4d20-bf6c-2e37d2c1d9c8")
    assert workspace.member.CreateIssue(title="two").number == first.number + 1


def test_a_new_prefix_shows_and_the_old_identifiers_still_resolve(grpc_server, channel, make_token):
    token, slug = make_token("admin")
    api = harness.Api(channel, token)
    issue = api.CreateIssue(title="renamed")
    command = [
        sys.executable,
        "-m",
        "service",
        "workspace",
        "update",
        "--slug",
        slug,
        "--prefix",
        "QX7",
        "--database-url",
        grpc_server.database_url,
    ]
    assert subprocess.run(command, capture_output=True, text=True, timeout=60).returncode == 0
    assert api.GetIssue(issue_id=issue.identifier).identifier == "QX7-1"
    assert api.GetIssue(issue_id="qx7-1").uuid == issue.uuid
    assert api.ListIssues().items[0].identifier == "QX7-1"
    bad = subprocess.run(
        [*command[:-4], "--slug", slug, "--prefix", "7X", *command[-2:]], capture_output=True, text=True
    )
    assert bad.returncode == 2 and "prefix" in bad.stderr


# -- 8.2 initial comment ---------------------------------------------------------


def test_the_first_comment_is_made_with_the_issue(workspace):
    issue = workspace.member.CreateIssue(title="t", comment="first words")
    comments = workspace.viewer.ListComments(issue_id=issue.uuid)
    assert [c.content for c in comments.items] == ["first words"]
    before = workspace.viewer.ListIssues().count
    for bad in ("", "   ", "x" * 10_001, "a\x00b"):
        assert bad_request_fields(refused(workspace.member.CreateIssue, title="t", comment=bad)) == ["comment"]
    assert workspace.viewer.ListIssues().count == before


# -- 8.3 workflow ----------------------------------------------------------------


def test_resolved_at_follows_the_status(workspace):
    issue = workspace.member.CreateIssue(title="t")
    assert not issue.HasField("resolved_at")
    resolved = workspace.member.UpdateIssue(issue_id=issue.uuid, status=Issue.STATUS_RESOLVED)
    assert resolved.HasField("resolved_at")
    rejected = workspace.member.UpdateIssue(issue_id=issue.uuid, status=Issue.STATUS_REJECTED)
    assert rejected.resolved_at == resolved.resolved_at  # kept between resolved and rejected
    reopened = workspace.member.UpdateIssue(issue_id=issue.uuid, status=Issue.STATUS_OPEN)
    assert not reopened.HasField("resolved_at")
    assert workspace.member.CreateIssue(title="t", status=Issue.STATUS_REJECTED).HasField("resolved_at")


def test_a_restricted_workflow_refuses_moves_it_does_not_allow(workspace):
    default = workspace.viewer.GetWorkflow().transitions
    assert list(default.open) == [Issue.STATUS_IN_PROGRESS, Issue.STATUS_RESOLVED, Issue.STATUS_REJECTED]
    wanted = workflow_pb2.Transitions(
        # Each list in the statuses' own order, as the workflow is kept.
        open=[Issue.STATUS_IN_PROGRESS],
        in_progress=[Issue.STATUS_OPEN, Issue.STATUS_RESOLVED],
        resolved=[],
        rejected=[Issue.STATUS_OPEN],
    )
    refused(workspace.member.UpdateWorkflow, grpc.StatusCode.PERMISSION_DENIED, transitions=wanted)
    assert workspace.admin.UpdateWorkflow(transitions=wanted).transitions == wanted
    assert workspace.viewer.GetWorkflow().transitions == wanted

    issue = workspace.member.CreateIssue(title="t")
    error = refused(workspace.member.UpdateIssue, issue_id=issue.uuid, status=Issue.STATUS_RESOLVED, owner="x")
    assert bad_request_fields(error) == ["status"]
    assert all(word in error.details() for word in ("open", "resolved", "in_progress"))
    assert workspace.viewer.GetIssue(issue_id=issue.uuid).owner == "Unassigned"  # nothing changed
    workspace.member.UpdateIssue(issue_id=issue.uuid, status=Issue.STATUS_IN_PROGRESS)
    done = workspace.member.UpdateIssue(issue_id=issue.uuid, status=Issue.STATUS_RESOLVED)
    assert (
        workspace.member.UpdateIssue(issue_id=issue.uuid, status=Issue.STATUS_RESOLVED).status == done.status
    )  # no move
    assert workspace.member.CreateIssue(title="t", status=Issue.STATUS_REJECTED).status == Issue.STATUS_REJECTED
    refused(workspace.admin.UpdateWorkflow, transitions=workflow_pb2.Transitions(open=[9]))


# -- 8.4 history -----------------------------------------------------------------


def test_history_has_one_entry_per_changed_key_and_none_for_a_no_op(workspace):
    issue = workspace.member.CreateIssue(title="t")
    workspace.member.UpdateIssue(issue_id=issue.uuid, status=Issue.STATUS_IN_PROGRESS, owner="alice")
    workspace.member.UpdateIssue(issue_id=issue.uuid, owner="alice")  # changes nothing
    comment = workspace.member.CreateComment(issue_id=issue.uuid, content="c")
    workspace.member.UpdateComment(issue_id=issue.uuid, comment_id=comment.uuid, content="c2")
    workspace.member.DeleteComment(issue_id=issue.uuid, comment_id=comment.uuid)

    history = workspace.viewer.ListIssueHistory(issue_id=issue.identifier)
    assert history.count == 6
    assert [e.action for e in history.items] == [
        "created",
        "status_changed",
        "owner_changed",
        "comment_added",
        "comment_edited",
        "comment_deleted",
    ]
    created, status, owner, added, edited, deleted = history.items
    assert not created.HasField("field") and created.old_value.WhichOneof("kind") is None
    assert (status.field, status.old_value.string_value, status.new_value.string_value) == (
        "status",
        "open",
        "in_progress",
    )
    assert (owner.old_value.string_value, owner.new_value.string_value) == ("Unassigned", "alice")
    assert status.timestamp == owner.timestamp and status.actor == owner.actor != ""
    assert added.new_value.string_value == comment.uuid and not added.HasField("field")
    assert edited.old_value.string_value == edited.new_value.string_value == comment.uuid
    assert deleted.old_value.string_value == comment.uuid and deleted.new_value.WhichOneof("kind") is None
    page = workspace.viewer.ListIssueHistory(issue_id=issue.uuid, limit=2, offset=1)
    assert [e.action for e in page.items] == ["status_changed", "owner_changed"] and page.count == 6


def test_history_and_comments_walked_by_page_token_give_every_row_once_in_order(workspace):
    """Both are read after the position a token carries (issue_children.py):
    entries written in one transaction share a timestamp and are told apart
    by their position, comments by their uuid."""
    issue = workspace.member.CreateIssue(title="walked")
    workspace.member.UpdateIssue(
        issue_id=issue.uuid, status=Issue.STATUS_IN_PROGRESS, owner="a", priority=Issue.PRIORITY_HIGH
    )
    made = [workspace.member.CreateComment(issue_id=issue.uuid, content=f"c{i}").uuid for i in range(5)]

    def walk(method, **fields):
        seen, token = [], ""
        while True:
            page = method(issue_id=issue.uuid, limit=2, page_token=token, **fields)
            seen += page.items
            token = page.next_page_token
            if not token:
                return seen, page.count

    entries, count = walk(workspace.viewer.ListIssueHistory)
    whole = workspace.viewer.ListIssueHistory(issue_id=issue.uuid)
    assert count == whole.count == 9 and [e.SerializeToString() for e in entries] == [
        e.SerializeToString() for e in whole.items
    ]
    comments, count = walk(workspace.viewer.ListComments)
    assert count == 5 and [c.uuid for c in comments] == made


def test_history_matches_what_committed_when_updates_race(workspace):
    issue = workspace.member.CreateIssue(title="raced")
    with concurrent.futures.ThreadPoolExecutor(8) as pool:
        list(pool.map(lambda i: workspace.member.UpdateIssue(issue_id=issue.uuid, owner=f"o{i}"), range(8)))
    entries = [e for e in workspace.viewer.ListIssueHistory(issue_id=issue.uuid).items if e.action == "owner_changed"]
    assert len(entries) == 8
    chain = ["Unassigned"] + [e.new_value.string_value for e in entries]
    assert [e.old_value.string_value for e in entries] == chain[:-1]  # each starts where the last ended
    assert chain[-1] == workspace.viewer.GetIssue(issue_id=issue.uuid).owner


# -- 8.5 reactions ---------------------------------------------------------------


def test_reactions_are_summarised_idempotent_and_removable(workspace):
    issue = workspace.member.CreateIssue(title="t")
    comment = workspace.member.CreateComment(issue_id=issue.uuid, content="c")
    ids = dict(issue_id=issue.identifier, comment_id=comment.uuid)
    workspace.member.AddReaction(**ids, emoji="👍")
    workspace.admin.AddReaction(**ids, emoji="👍")
    workspace.member.AddReaction(**ids, emoji="👍")  # twice: nothing changes
    shown = workspace.member.AddReaction(**ids, emoji="👩‍👩‍👧")
    summary = [(r.emoji, r.count, len(r.users)) for r in shown.reactions]
    assert summary == [("👍", 2, 2), ("👩‍👩‍👧", 1, 1)]
    assert shown.reactions[0].users[1] != shown.reactions[0].users[0]
    assert workspace.viewer.ListComments(issue_id=issue.uuid).items[0].reactions == shown.reactions

    workspace.member.RemoveReaction(**ids, emoji="👍")
    workspace.member.RemoveReaction(**ids, emoji="👍")  # none left: still fine
    assert [(r.emoji, r.count) for r in workspace.viewer.ListComments(issue_id=issue.uuid).items[0].reactions] == [
        ("👍", 1),
        ("👩‍👩‍👧", 1),
    ]
    for bad in ("x", "👍👍", "", ":+1:"):
        assert bad_request_fields(refused(workspace.member.AddReaction, **ids, emoji=bad)) == ["emoji"]
    assert workspace.member.AddReaction(**ids, emoji="👍🏽").reactions[-1].emoji == "👍🏽"  # skin tones are one emoji
    refused(workspace.viewer.AddReaction, grpc.StatusCode.PERMISSION_DENIED, **ids, emoji="🎉")

    workspace.member.DeleteComment(**ids)
    assert workspace.viewer.ListComments(issue_id=issue.uuid).items[0].reactions == []
    refused(workspace.member.AddReaction, grpc.StatusCode.FAILED_PRECONDITION, **ids, emoji="🎉")


# -- 8.6 sub-issues --------------------------------------------------------------


def test_sub_issues_are_counted_listed_detached_and_cycles_refused(workspace):
    parent = workspace.member.CreateIssue(title="parent")
    a = workspace.member.CreateIssue(title="a", parent_id=parent.identifier)
    b = workspace.member.CreateIssue(title="b", parent_id=parent.uuid)
    assert a.parent_id == parent.uuid and workspace.viewer.GetIssue(issue_id=parent.uuid).sub_issues_count == 2
    listed = workspace.viewer.ListSubIssues(issue_id=parent.identifier)
    assert [i.uuid for i in listed.items] == [a.uuid, b.uuid] and listed.count == 2

    detached = workspace.member.UpdateIssue(issue_id=b.uuid, update_mask=mask("parent_id"))
    assert not detached.HasField("parent_id") and workspace.viewer.GetIssue(issue_id=parent.uuid).sub_issues_count == 1
    for bad in (parent.uuid, a.uuid, f"{parent.identifier.split('-')[0]}-999"):  # itself, a descendant, none
        assert bad_request_fields(refused(workspace.member.UpdateIssue, issue_id=parent.uuid, parent_id=bad)) == [
            "parent_id"
        ]
    assert not workspace.viewer.GetIssue(issue_id=parent.uuid).HasField("parent_id")

    workspace.admin.DeleteIssue(issue_id=parent.uuid)
    orphan = workspace.viewer.GetIssue(issue_id=a.uuid)
    assert not orphan.HasField("parent_id")
    [moved] = [e for e in workspace.viewer.ListIssueHistory(issue_id=a.uuid).items if e.action == "parent_changed"]
    assert moved.old_value.string_value == parent.uuid and moved.new_value.WhichOneof("kind") in (None, "null_value")


def test_two_racing_moves_never_close_a_cycle(workspace):
    for _ in range(5):
        x = workspace.member.CreateIssue(title="x")
        y = workspace.member.CreateIssue(title="y")
        outcomes = []

        def move(child, parent):
            try:
                workspace.member.UpdateIssue(issue_id=child.uuid, parent_id=parent.uuid)
                outcomes.append("ok")
            except grpc.RpcError as error:
                assert error.code() == grpc.StatusCode.INVALID_ARGUMENT, error.details()
                outcomes.append("refused")

        with concurrent.futures.ThreadPoolExecutor(2) as pool:
            list(pool.map(lambda pair: move(*pair), [(x, y), (y, x)]))
        assert sorted(outcomes) == ["ok", "refused"]
        assert not (
            workspace.viewer.GetIssue(issue_id=x.uuid).parent_id == y.uuid
            and workspace.viewer.GetIssue(issue_id=y.uuid).parent_id == x.uuid
        )


# -- 8.7 references --------------------------------------------------------------


def test_refs_are_shown_replaced_and_filter_issues_that_carry_all_pairs(workspace, channel, make_token):
    a = workspace.member.CreateIssue(title="a", refs={"order": "8001", "project": "12345"})
    b = workspace.member.CreateIssue(title="b", refs={"order": "8001"})
    c = workspace.member.CreateIssue(title="c")
    assert dict(a.refs) == {"order": "8001", "project": "12345"} and dict(c.refs) == {}
    other, _ = make_token("member")
    harness.Api(channel, other).CreateIssue(title="elsewhere", refs={"order": "8001"})

    def matching(*pairs: str) -> set[str]:
        listed = workspace.viewer.ListIssues(ref=list(pairs))
        assert listed.count == len(listed.items)
        return {i.uuid for i in listed.items}

    assert matching("order:8001") == {a.uuid, b.uuid}
    assert matching("order:8001", "project:12345") == {a.uuid}
    assert matching("order:9") == set()
    workspace.member.UpdateIssue(issue_id=b.uuid, refs={"order": "9"})
    assert matching("order:8001") == {a.uuid} and matching("order:9") == {b.uuid}
    cleared = workspace.member.UpdateIssue(issue_id=a.uuid, update_mask=mask("refs"))
    assert dict(cleared.refs) == {} and matching("order:8001") == set()

    assert bad_request_fields(refused(workspace.member.CreateIssue, title="t", refs={"Bad": "v"})) == ["refs.Bad"]
    assert bad_request_fields(refused(workspace.member.CreateIssue, title="t", refs={"k": ""})) == ["refs.k"]
    assert bad_request_fields(
        refused(workspace.member.CreateIssue, title="t", refs={f"k{i}": "v" for i in range(21)})
    ) == ["refs"]
    assert bad_request_fields(refused(workspace.viewer.ListIssues, ref=["nocolon"])) == ["ref[0]"]


# -- tenancy ---------------------------------------------------------------------


def test_another_workspaces_issues_are_not_found_by_any_new_method(workspace, channel, make_token):
    mine = workspace.member.CreateIssue(title="mine", comment="c")
    comment = workspace.viewer.ListComments(issue_id=mine.uuid).items[0]
    token, _ = make_token("admin")
    stranger = harness.Api(channel, token)
    for call, fields in [
        (stranger.GetIssue, dict(issue_id=mine.uuid)),
        (stranger.ListIssueHistory, dict(issue_id=mine.uuid)),
        (stranger.ListSubIssues, dict(issue_id=mine.uuid)),
        (stranger.AddReaction, dict(issue_id=mine.uuid, comment_id=comment.uuid, emoji="👍")),
        (stranger.RemoveReaction, dict(issue_id=mine.uuid, comment_id=comment.uuid, emoji="👍")),
    ]:
        refused(call, grpc.StatusCode.NOT_FOUND, **fields)
    assert bad_request_fields(refused(stranger.CreateIssue, title="t", parent_id=mine.uuid)) == ["parent_id"]
    assert workspace.viewer.ListComments(issue_id=mine.uuid).items[0].reactions == []
