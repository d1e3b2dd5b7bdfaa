"""The issue use cases against a fake unit of work (tests/unit/fake_unit_of_work.py):
what each command stores, derives (history, counters, events) and announces
after commit, with no database."""

from __future__ import annotations

import uuid
from typing import Any

import pytest

from service.api import messages
from service.api.messages import JsonRenderer
from service.app import issues, workflows
from service.app.changes import Change
from service.app.views import IssueView
from service.domain.errors import EtagMismatch, InvalidArgument, NotFound
from service.domain.etags import issue_etag
from service.domain.identifiers import IssueRef

from .fake_unit_of_work import FakeWorld

VALUES = {
    "title": "t",
    "description": [],
    "status": "open",
    "priority": "low",
    "tags": [],
    "owner": "o",
    "resolution_summary": None,
    "job_run_id": None,
    "session_ids": [],
    "attachment_ids": [],
}


def create(world: FakeWorld, principal: Any, **values: Any) -> IssueView:
    return issues.create_issue(world.runner, principal, None, {**VALUES, **values})  # type: ignore[arg-type]


def update(world: FakeWorld, principal: Any, issue: IssueView, **values: Any) -> IssueView:
    return issues.update_issue(world.runner, principal, None, IssueRef(uuid=issue.row.uuid), values)  # type: ignore[arg-type]


@pytest.fixture
def world() -> FakeWorld:
    return FakeWorld()


def test_creates_are_numbered_in_order_with_the_workspace_prefix(world):
    caller = world.member("acme")
    made = [create(world, caller, title=f"t{i}") for i in range(3)]
    assert [(v.row.prefix, v.row.number) for v in made] == [("ACM", 1), ("ACM", 2), ("ACM", 3)]
    assert [world.tables.issues[v.row.uuid].number for v in made] == [1, 2, 3]


def test_a_create_records_its_history_event_and_counts_and_announces_its_workspace(world):
    caller = world.member()
    made = create(world, caller)
    assert world.history(made.row.uuid) == [("created", None, None, None)]
    assert world.events(caller) == [("issue.created", made.row.uuid)]
    assert world.tables.counts[(caller.workspace_id, "open", "low")] == 1
    (committed,) = world.committed
    assert committed.event_workspaces == {caller.workspace_id} and committed.last_event == 1
    assert committed.result == [(made, None)] and not committed.deliveries_due  # a batch's outcomes


def test_a_created_issue_event_shows_its_number(world):
    caller = world.member()
    create(world, caller)
    (event,) = world.tables.events[caller.workspace_id]
    assert '"number":1,"identifier":"ACM-1"' in event.data  # numbered before the event is rendered


def test_a_create_with_a_comment_records_both_in_order(world):
    caller = world.member()
    made = issues.create_issue(world.runner, caller, None, VALUES, comment="first!")  # type: ignore[arg-type]
    assert [c.content for c in world.tables.comments.values()] == ["first!"]
    assert [t for t, _ in world.events(caller)] == ["issue.created", "comment.created"]
    assert [h[0] for h in world.history(made.row.uuid)] == ["created", "comment_added"]


def test_a_create_under_a_parent_counts_it_and_moves_the_parents_version(world):
    caller = world.member()
    parent = create(world, caller, title="parent")
    child = issues.create_issue(
        world.runner,
        caller,
        None,
        VALUES,  # type: ignore[arg-type]
        parent=IssueRef(prefix="ACM", number=1),
    )
    stored = world.tables.issues[parent.row.uuid]
    assert child.row.parent_uuid == parent.row.uuid
    assert (stored.sub_issues_count, stored.version) == (1, 2)


def test_a_refused_create_stores_nothing_and_takes_no_number(world):
    caller = world.member()
    with pytest.raises(InvalidArgument):
        issues.create_issue(
            world.runner,
            caller,
            None,
            VALUES,  # type: ignore[arg-type]
            parent=IssueRef(prefix="ACM", number=99),
        )
    assert world.tables.issues == {} and world.tables.request_ids == {}
    assert world.committed[-1].event_workspaces == frozenset()
    assert create(world, caller).row.number == 1


def test_creates_run_through_the_batches_one_commit_each_when_alone(world):
    caller = world.member()
    create(world, caller)
    create(world, caller)
    assert world.storage.transactions == 2 and len(world.committed) == 2


def test_an_update_records_each_changed_key_as_the_json_shows_it(world):
    caller = world.member()
    made = create(world, caller, title="before", tags=["a"])
    after = update(world, caller, made, title="after", tags=["a", "b"])
    assert after.row.version == 2
    assert world.history(made.row.uuid)[1:] == [
        ("title_changed", "title", "before", "after"),
        ("tags_changed", "tags", ["a"], ["a", "b"]),
    ]
    assert [t for t, _ in world.events(caller)] == ["issue.created", "issue.updated"]
    data = world.tables.events[caller.workspace_id][1].data
    assert '"changes":[' in data and '"field":"title"' in data


def test_an_update_to_what_the_issue_is_writes_nothing(world):
    caller = world.member()
    made = create(world, caller, title="same")
    again = update(world, caller, made, title="same")
    assert again.row.version == 1 and len(world.history(made.row.uuid)) == 1
    assert world.committed[-1].event_workspaces == frozenset() and len(world.events(caller)) == 1


def test_resolving_an_issue_moves_the_counters_and_stamps_resolved_at(world):
    caller = world.member()
    made = create(world, caller)
    resolved = update(world, caller, made, status="resolved")
    assert resolved.row.resolved_at is not None and resolved.row.resolved_at <= world.now
    counts = {k: n for k, n in world.tables.counts.items() if n}
    assert counts == {(caller.workspace_id, "resolved", "low"): 1}


def test_a_move_the_workspace_workflow_forbids_is_refused_and_changes_nothing(world):
    caller = world.member()
    transitions = workflows.get_workflow(world.runner, caller)
    workflows.update_workflow(world.runner, caller, {**transitions, "open": ["in_progress"]})
    assert world.events(caller) == [("workflow.updated", None)]
    made = create(world, caller)
    with pytest.raises(InvalidArgument):
        update(world, caller, made, status="resolved")
    assert world.tables.issues[made.row.uuid].status == "open"


def test_an_update_with_the_current_etag_applies_and_a_stale_one_is_refused(world):
    caller = world.member()
    made = create(world, caller)
    etag = issue_etag(made.row.uuid, made.row.version, made.row.prefix)
    ref = IssueRef(uuid=made.row.uuid)
    issues.update_issue(world.runner, caller, None, ref, {"title": "one"}, etag=etag)  # type: ignore[arg-type]
    with pytest.raises(EtagMismatch):
        issues.update_issue(world.runner, caller, None, ref, {"title": "two"}, etag=etag)  # type: ignore[arg-type]
    assert world.tables.issues[made.row.uuid].title == "one"


def test_another_workspaces_issue_is_not_found(world):
    alice, bob = world.member("alice"), world.member("bob")
    made = create(world, alice)
    with pytest.raises(NotFound):
        update(world, bob, made, title="stolen")
    with pytest.raises(NotFound):
        issues.get_issue(world.runner, bob, IssueRef(uuid=made.row.uuid))
    assert issues.get_issue(world.runner, alice, IssueRef(prefix="ALI", number=1)).row.title == "t"


def test_a_parent_that_would_close_a_cycle_is_refused(world):
    caller = world.member()
    top = create(world, caller, title="top")
    below = issues.create_issue(
        world.runner,
        caller,
        None,
        VALUES,  # type: ignore[arg-type]
        parent=IssueRef(uuid=top.row.uuid),
    )
    with pytest.raises(InvalidArgument, match="cycle"):
        update(world, caller, top, parent_id=IssueRef(uuid=below.row.uuid))
    with pytest.raises(InvalidArgument, match="own parent"):
        update(world, caller, top, parent_id=IssueRef(uuid=top.row.uuid))


def test_moving_a_child_moves_both_parents_counts(world):
    caller = world.member()
    first, second = create(world, caller, title="a"), create(world, caller, title="b")
    child = issues.create_issue(
        world.runner,
        caller,
        None,
        VALUES,  # type: ignore[arg-type]
        parent=IssueRef(uuid=first.row.uuid),
    )
    update(world, caller, child, parent_id=IssueRef(uuid=second.row.uuid))
    counts = [world.tables.issues[v.row.uuid].sub_issues_count for v in (first, second)]
    assert counts == [0, 1]
    assert world.history(child.row.uuid)[-1][:2] == ("parent_changed", "parent_id")


def test_deleting_an_issue_detaches_its_children_and_uncounts_it(world):
    caller = world.member()
    parent = create(world, caller, title="parent")
    child = issues.create_issue(
        world.runner,
        caller,
        None,
        VALUES,  # type: ignore[arg-type]
        parent=IssueRef(uuid=parent.row.uuid),
    )
    issues.delete_issue(world.runner, caller, IssueRef(uuid=parent.row.uuid))
    assert parent.row.uuid not in world.tables.issues
    assert world.tables.issues[child.row.uuid].parent_uuid is None
    assert world.events(caller)[-2:] == [("issue.updated", child.row.uuid), ("issue.deleted", parent.row.uuid)]
    assert {k: n for k, n in world.tables.counts.items() if n} == {(caller.workspace_id, "open", "low"): 1}


def test_a_delete_with_a_stale_etag_deletes_nothing(world):
    caller = world.member()
    made = create(world, caller)
    with pytest.raises(EtagMismatch):
        issues.delete_issue(world.runner, caller, IssueRef(uuid=made.row.uuid), etag="stale")
    assert made.row.uuid in world.tables.issues


def test_a_bulk_update_reports_each_issue_and_ends_with_one_bulk_event(world):
    caller = world.member()
    a, b = create(world, caller, owner="x"), create(world, caller, owner="y")
    refs = [IssueRef(uuid=a.row.uuid), IssueRef(uuid=b.row.uuid), IssueRef(uuid=uuid.uuid4())]
    results = issues.bulk_update(world.runner, caller, refs, {"owner": "y"})
    assert [r.outcome for r in results] == ["updated", "unchanged", "failed"]
    assert results[2].error_shown()["code"] == 404  # type: ignore[index]
    assert [t for t, _ in world.events(caller)][-2:] == ["issue.updated", "issues.bulk_updated"]


def test_a_bulk_update_that_changes_nothing_emits_no_bulk_event(world):
    caller = world.member()
    a = create(world, caller, owner="y")
    issues.bulk_update(world.runner, caller, [IssueRef(uuid=a.row.uuid)], {"owner": "y"})
    assert [t for t, _ in world.events(caller)] == ["issue.created"]


def test_sub_issues_are_listed_oldest_first_with_their_total(world):
    caller = world.member()
    parent = create(world, caller, title="parent")
    for title in ("c1", "c2", "c3"):
        issues.create_issue(
            world.runner,
            caller,
            None,
            {**VALUES, "title": title},  # type: ignore[arg-type]
            parent=IssueRef(uuid=parent.row.uuid),
        )
    views, total = issues.list_sub_issues(world.runner, caller, IssueRef(uuid=parent.row.uuid), 2, 1)
    assert ([v.row.title for v in views], total) == (["c2", "c3"], 3)


class CountingRenderer(JsonRenderer):
    def __init__(self) -> None:
        self.issues_rendered = 0

    def issue_json(self, view: IssueView) -> dict[str, Any]:
        self.issues_rendered += 1
        return super().issue_json(view)


def test_an_update_renders_the_issue_once_before_and_once_after():
    renderer = CountingRenderer()
    world = FakeWorld(renderer)
    caller = world.member()
    made = create(world, caller)
    assert renderer.issues_rendered == 1  # its event: a create records no values in history
    update(world, caller, made, title="new")
    assert renderer.issues_rendered == 1 + 2  # history and event share the before and after JSON


def test_an_updates_answer_reuses_the_message_its_event_was_rendered_from(world, monkeypatch):
    built: list[IssueView] = []
    build = messages._issue
    monkeypatch.setattr(messages, "_issue", lambda view: built.append(view) or build(view))
    caller = world.member()
    made = create(world, caller)
    after = update(world, caller, made, title="new")
    answer = messages.issue(after)
    assert answer.title == "new" and answer.etag == issue_etag(after.row.uuid, 2, "ACM")
    assert len(built) == 1 + 2  # the create's one; the update's before and after, the answer included


def test_a_command_that_fails_after_recording_stores_and_announces_nothing(world):
    caller = world.member()

    def work(uow: Any) -> None:
        uow.record(Change("workflow", "updated", None, None, None, None, view={"open": []}))
        raise RuntimeError("fails before commit")

    with pytest.raises(RuntimeError):
        world.runner.run(caller, work, write=True)
    assert world.tables.events == {} and world.committed == []


def test_a_command_given_an_etag_it_never_checks_fails():
    world = FakeWorld()
    with pytest.raises(AssertionError, match="never checked"):
        world.runner.run(world.member(), lambda uow: None, write=True, etag="e")


def test_a_read_that_records_a_change_fails(world):
    caller = world.member()
    bulk = Change("bulk", "updated", None, None, None, None, view={})
    with pytest.raises(AssertionError, match="read-only"):
        world.runner.run(caller, lambda uow: uow.record(bulk))
    assert world.tables.events == {}


def test_a_custom_workflow_allows_its_own_moves_and_replacing_it_with_itself_emits_nothing(world):
    caller = world.member()
    transitions = {**workflows.get_workflow(world.runner, caller), "open": ["rejected"], "rejected": ["open"]}
    workflows.update_workflow(world.runner, caller, transitions)
    workflows.update_workflow(world.runner, caller, transitions)
    assert world.events(caller) == [("workflow.updated", None)]
    made = create(world, caller)
    assert update(world, caller, made, status="rejected").row.status == "rejected"
    assert update(world, caller, made, status="open").row.resolved_at is None
    assert [h[:2] for h in world.history(made.row.uuid)[1:]] == [("status_changed", "status")] * 2


def test_a_commit_whose_wake_up_fails_is_still_answered_as_done(world, caplog):
    def broken(committed: Any) -> None:
        raise RuntimeError("the hub is gone")

    world.runner.after_commit = broken
    caller = world.member()
    made = create(world, caller)
    assert world.tables.issues[made.row.uuid].number == 1
    assert "a wake-up after commit failed" in caplog.text
