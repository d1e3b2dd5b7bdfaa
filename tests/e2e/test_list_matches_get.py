"""A listed issue is the issue GetIssue returns, field for field and byte for byte.

ListIssues builds its pages on a path of its own (page keys, then the rows
the message cache misses, built in bulk); GetIssue reads one row. These tests
populate every kind of field an issue shows and compare the two, over gRPC
and HTTP, on SQLite and PostgreSQL, so the list path cannot drift from the
single read.
"""

from __future__ import annotations

import httpx
from google.protobuf import field_mask_pb2, struct_pb2

from issues.v1 import issue_pb2

from .test_attachments import uploaded
from .test_gateway_e2e import gateway_url, http, ok  # noqa: F401 - fixtures

Issue = issue_pb2.Issue


def _block(**fields: object) -> struct_pb2.Struct:
    s = struct_pb2.Struct()
    s.update(fields)
    return s


def _every_kind_of_issue(api) -> list[Issue]:
    """Issues that between them set every field an issue shows, and leave each optional one unset."""
    files = [uploaded(api, b"first file", "a.md"), uploaded(api, b"second file", "b.zip")]
    parent = api.CreateIssue(
        title="Everything set",
        description=[
            _block(type="paragraph", text='Plain text, ünïcode and "quotes".'),
            _block(type="table", rows=[[1, 2.5, -3], ["x", True, None]], nested={"deep": {"n": 7, "f": False}}),
            _block(type="empty", items=[], attrs={}),
        ],
        status=Issue.STATUS_RESOLVED,
        priority=Issue.PRIORITY_HIGH,
        tags=["power", "startup", "ü"],
        owner="owner@example.com",
        resolution_summary="Fixed by replacing the seal.",
        session_ids=["0f6d6f74-7d92-4d20-bf6c-2e37d2c1d9c8", "1f6d6f74-7d92-4d20-bf6c-2e37d2c1d9c9"],
        attachment_ids=[f.uuid for f in files],
        job_run_id="run-42",
        refs={"order": "7", "ticket": "ABC-1"},
    )
    child = api.CreateIssue(title="A child", parent_id=parent.uuid, status=Issue.STATUS_IN_PROGRESS)
    bare = api.CreateIssue(title="Nothing optional")
    changed = api.CreateIssue(title="Changed later", tags=["old"], priority=Issue.PRIORITY_LOW)
    api.UpdateIssue(
        issue_id=changed.uuid,
        owner="new@example.com",
        tags=[],
        status=Issue.STATUS_REJECTED,
        update_mask=field_mask_pb2.FieldMask(paths=["owner", "tags", "status"]),
    )
    return [parent, child, bare, changed]


def _assert_listed_as_got(api, listed: list[Issue]) -> None:
    for item in listed:
        got = api.GetIssue(issue_id=item.uuid)
        assert item == got
        assert item.SerializeToString(deterministic=True) == got.SerializeToString(deterministic=True)


def test_every_listed_issue_is_what_get_issue_returns(workspace):
    made = _every_kind_of_issue(workspace.member)
    viewer = workspace.viewer
    first = viewer.ListIssues(limit=100).items  # built on this call: nothing listed them before
    assert len(first) == len(made)
    parent = next(i for i in first if i.title == "Everything set")
    # Every kind of field is there to compare.
    assert parent.sub_issues_count == 1 and len(parent.attachments) == 2 and len(parent.sessions) == 2
    assert parent.HasField("resolved_at") and parent.HasField("job_run_id") and dict(parent.refs)
    assert next(i for i in first if i.title == "A child").parent_id == parent.uuid
    _assert_listed_as_got(viewer, first)
    again = viewer.ListIssues(limit=100).items  # from the message cache this time
    assert list(again) == list(first)
    # Other filters, orders and pages list the same issues the same way.
    for fields in (
        {"order_by": "priority desc", "limit": 2},
        {"order_by": "updated_at", "offset": 1, "limit": 2},
        {"status": [Issue.STATUS_RESOLVED], "priority": [Issue.PRIORITY_HIGH]},
        {"q": "seal"},
        {"tag": ["power"]},
        {"ref": ["order:7"]},
    ):
        page = viewer.ListIssues(**fields)
        assert page.items, fields
        _assert_listed_as_got(viewer, list(page.items))
    token = viewer.ListIssues(limit=3).next_page_token
    _assert_listed_as_got(viewer, list(viewer.ListIssues(page_token=token).items))


def test_a_changed_issue_is_listed_as_get_issue_returns_it_now(workspace):
    made = _every_kind_of_issue(workspace.member)
    workspace.viewer.ListIssues()  # the messages are built and kept
    workspace.member.UpdateIssue(
        issue_id=made[0].uuid,
        description=[_block(type="paragraph", text="rewritten", n=1.25)],
        refs={},
        update_mask=field_mask_pb2.FieldMask(paths=["description", "refs"]),
    )
    workspace.member.CreateIssue(title="Second child", parent_id=made[0].uuid)  # the count moves
    listed = list(workspace.viewer.ListIssues(limit=100).items)
    parent = next(i for i in listed if i.uuid == made[0].uuid)
    assert parent.sub_issues_count == 2 and parent.description[0]["text"] == "rewritten" and not parent.refs
    _assert_listed_as_got(workspace.viewer, listed)


def test_every_listed_issue_is_what_get_returns_over_http(http):
    client: httpx.Client = http.member
    made = ok(
        client.post(
            "/api/v1/issues",
            json={
                "title": "Everything over HTTP",
                "description": [{"type": "table", "rows": [[1, 2.5], [None, True]], "deep": {"k": "v"}}],
                "status": "resolved",
                "priority": "high",
                "tags": ["a", "b"],
                "owner": "owner@example.com",
                "resolution_summary": "done",
                "session_ids": ["0f6d6f74-7d92-4d20-bf6c-2e37d2c1d9c8"],
                "job_run_id": "run-7",
                "refs": {"order": "9"},
            },
        ),
        201,
    )
    ok(
        client.post(
            "/api/v1/issues",
            json={"title": "Child over HTTP", "description": [], "tags": [], "parent_id": made["uuid"]},
        ),
        201,
    )
    ok(client.post("/api/v1/issues", json={"title": "Bare over HTTP", "description": [], "tags": []}), 201)
    for _ in range(2):  # built, then from the message cache
        listed = ok(http.viewer.get("/api/v1/issues", params={"limit": 100}))["items"]
        assert len(listed) == 3
        for item in listed:
            assert item == ok(http.viewer.get(f"/api/v1/issues/{item['uuid']}"))
