"""Issues over gRPC: create, get, list, update, delete."""

from __future__ import annotations

import grpc
import pytest
from google.protobuf import field_mask_pb2, struct_pb2

from issues.v1 import issue_pb2

from .. import harness

Issue = issue_pb2.Issue


def block(**fields) -> struct_pb2.Struct:
    s = struct_pb2.Struct()
    s.update(fields)
    return s


def test_create_applies_the_contract_defaults(workspace):
    issue = workspace.member.CreateIssue(title="Power rail undervoltage at startup")

    assert issue.title == "Power rail undervoltage at startup"
    assert issue.status == Issue.STATUS_OPEN
    assert issue.priority == Issue.PRIORITY_LOW
    assert issue.owner == "Unassigned"
    assert list(issue.tags) == [] and list(issue.description) == []
    assert not issue.HasField("resolution_summary") and not issue.HasField("job_run_id")
    assert issue.created_by.startswith("member-")
    assert issue.created_at.ToDatetime() == issue.updated_at.ToDatetime()


def test_create_keeps_every_given_field(workspace):
    issue = workspace.admin.CreateIssue(
        title="t",
        description=[block(type="text", text="hello", level=2), block(type="image", nested={"a": [1, "x"]})],
        status=Issue.STATUS_IN_PROGRESS,
        priority=Issue.PRIORITY_HIGH,
        tags=["power", "startup"],
        owner="engineer@example.com",
        resolution_summary="not yet",
        session_ids=["0f6d6f74-7d92-4d20-bf6c-2e37d2c1d9c8"],
        job_run_id="run-42",
    )
    fetched = workspace.viewer.GetIssue(issue_id=issue.uuid)

    assert fetched == issue
    assert fetched.description[0]["text"] == "hello"
    assert fetched.description[1]["nested"]["a"][1] == "x"
    assert list(fetched.tags) == ["power", "startup"]
    assert fetched.owner == "engineer@example.com"
    assert fetched.resolution_summary == "not yet"
    assert [s.uuid for s in fetched.sessions] == ["0f6d6f74-7d92-4d20-bf6c-2e37d2c1d9c8"]
    assert fetched.job_run_id == "run-42"


def test_get_unknown_issue_is_not_found(workspace):
    with pytest.raises(grpc.RpcError) as error:
        workspace.viewer.GetIssue(issue_id="00000000-0000-4000-8000-000000000000")
    assert error.value.code() == grpc.StatusCode.NOT_FOUND


def test_update_changes_only_the_masked_fields(workspace):
    issue = workspace.member.CreateIssue(title="t", tags=["a", "b"], owner="x@example.com", resolution_summary="r")

    updated = workspace.member.UpdateIssue(
        issue_id=issue.uuid,
        update_mask=field_mask_pb2.FieldMask(paths=["status", "tags"]),
        status=Issue.STATUS_RESOLVED,
        tags=["c"],
        owner="ignored@example.com",  # not in the mask
    )

    assert updated.status == Issue.STATUS_RESOLVED
    assert list(updated.tags) == ["c"]
    assert updated.owner == "x@example.com"
    assert updated.resolution_summary == "r"
    assert updated.updated_at.ToDatetime() > issue.updated_at.ToDatetime()
    assert workspace.viewer.GetIssue(issue_id=issue.uuid) == updated


def test_update_with_a_masked_unset_field_clears_it(workspace):
    issue = workspace.member.CreateIssue(title="t", resolution_summary="r", job_run_id="j", owner="o@example.com")

    updated = workspace.member.UpdateIssue(
        issue_id=issue.uuid,
        update_mask=field_mask_pb2.FieldMask(paths=["resolution_summary", "job_run_id", "owner", "tags"]),
    )

    assert not updated.HasField("resolution_summary")
    assert not updated.HasField("job_run_id")
    assert updated.owner == "Unassigned"


def test_update_without_a_mask_changes_the_fields_that_are_set(workspace):
    issue = workspace.member.CreateIssue(title="t", priority=Issue.PRIORITY_HIGH)

    updated = workspace.member.UpdateIssue(issue_id=issue.uuid, title="renamed")

    assert updated.title == "renamed"
    assert updated.priority == Issue.PRIORITY_HIGH


def test_delete_removes_the_issue_and_its_comments(workspace):
    issue = workspace.member.CreateIssue(title="t")
    workspace.member.CreateComment(issue_id=issue.uuid, content="c")

    workspace.admin.DeleteIssue(issue_id=issue.uuid)

    for call in (workspace.viewer.GetIssue, workspace.viewer.ListComments, workspace.admin.DeleteIssue):
        with pytest.raises(grpc.RpcError) as error:
            call(issue_id=issue.uuid)
        assert error.value.code() == grpc.StatusCode.NOT_FOUND


def test_list_counts_all_matches_and_pages_newest_first(workspace):
    created = [workspace.member.CreateIssue(title=f"issue {i}") for i in range(7)]

    first = workspace.viewer.ListIssues(limit=3)
    seen = []
    for offset in range(0, 9, 3):
        page = workspace.viewer.ListIssues(limit=3, offset=offset)
        assert page.count == 7
        seen += [i.uuid for i in page.items]

    assert [i.uuid for i in first.items] == seen[:3]
    assert seen == [i.uuid for i in reversed(created)]


def test_list_ties_on_created_at_are_broken_by_uuid_stably(workspace):
    for i in range(5):
        workspace.member.CreateIssue(title=f"{i}")
    items = workspace.viewer.ListIssues().items
    keys = [(i.created_at.ToDatetime(), i.uuid) for i in items]
    assert keys == sorted(keys, reverse=True)


def test_list_filters_match_any_of_the_repeated_values(workspace):
    api = workspace.member
    api.CreateIssue(title="a", status=Issue.STATUS_OPEN, priority=Issue.PRIORITY_HIGH)
    api.CreateIssue(title="b", status=Issue.STATUS_IN_PROGRESS, priority=Issue.PRIORITY_LOW)
    api.CreateIssue(title="c", status=Issue.STATUS_RESOLVED, priority=Issue.PRIORITY_HIGH)

    active = workspace.viewer.ListIssues(status=[Issue.STATUS_OPEN, Issue.STATUS_IN_PROGRESS])
    high_resolved = workspace.viewer.ListIssues(status=[Issue.STATUS_RESOLVED], priority=[Issue.PRIORITY_HIGH])

    assert sorted(i.title for i in active.items) == ["a", "b"] and active.count == 2
    assert [i.title for i in high_resolved.items] == ["c"] and high_resolved.count == 1


def test_list_past_the_end_is_empty_with_the_full_count(workspace):
    workspace.member.CreateIssue(title="only")
    page = workspace.viewer.ListIssues(offset=5)
    assert list(page.items) == [] and page.count == 1


def test_listed_issues_always_show_the_latest_change(workspace):
    issue = workspace.member.CreateIssue(title="before", tags=["a"])
    assert workspace.viewer.ListIssues().items[0].title == "before"  # now built and remembered

    workspace.member.UpdateIssue(issue_id=issue.uuid, title="after", tags=["b"])
    listed = workspace.viewer.ListIssues().items[0]

    assert (listed.title, list(listed.tags)) == ("after", ["b"])
    assert listed == workspace.viewer.GetIssue(issue_id=issue.uuid)


def test_a_change_made_through_another_server_is_listed_too(workspace, database_url, tmp_path):
    issue = workspace.member.CreateIssue(title="seen by both")
    workspace.viewer.ListIssues()
    other = harness.ServerProcess(database_url, tmp_path)
    try:
        token, _ = harness.mint_token(database_url, "member", workspace.slug)
        with grpc.insecure_channel(other.target) as channel:
            harness.Api(channel, token).UpdateIssue(issue_id=issue.uuid, title="changed elsewhere")
    finally:
        other.stop()
    assert workspace.viewer.ListIssues().items[0].title == "changed elsewhere"
