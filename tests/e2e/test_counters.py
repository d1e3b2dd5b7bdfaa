"""The issue counters stay equal to counting the issues, whatever the writes."""

from __future__ import annotations

import datetime
import random
import threading
from collections import Counter

import peewee
from google.protobuf import field_mask_pb2

from issues.v1 import issue_pb2
from service.storage import counters
from service.storage.models import Issue as IssueRow, IssueCount, Workspace

from .. import harness

Issue = issue_pb2.Issue
STATUSES = [Issue.STATUS_OPEN, Issue.STATUS_IN_PROGRESS, Issue.STATUS_RESOLVED, Issue.STATUS_REJECTED]
PRIORITIES = [Issue.PRIORITY_LOW, Issue.PRIORITY_MEDIUM, Issue.PRIORITY_HIGH]


def recount(workspace_id: int):
    """The counters as counting the issues themselves gives them."""
    counts = {
        (s, p): int(n)
        for s, p, n in IssueRow.select(IssueRow.status, IssueRow.priority, peewee.fn.COUNT(peewee.SQL("*")))
        .where(IssueRow.workspace == workspace_id)
        .group_by(IssueRow.status, IssueRow.priority)
        .tuples()
    }
    opened: Counter[str] = Counter()
    resolved: Counter[str] = Counter()
    rows = IssueRow.select(IssueRow.created_at, IssueRow.resolved_at, IssueRow.status).where(
        IssueRow.workspace == workspace_id
    )
    for created, done, status in rows.tuples():
        opened[created.date().isoformat()] += 1
        if done is not None and status == "resolved":  # rejected ones carry resolved_at too, uncounted
            resolved[done.date().isoformat()] += 1
    return counts, {d: (opened[d], resolved[d]) for d in set(opened) | set(resolved)}


def counters_and_recount(database_url: str, slug: str):
    def read():
        workspace_id = Workspace.get(Workspace.slug == slug).id
        opened, resolved = counters.per_day(workspace_id, datetime.date.min)
        days = {d: (opened.get(d, 0), resolved.get(d, 0)) for d in set(opened) | set(resolved)}
        days = {d: v for d, v in days.items() if v != (0, 0)}
        return (counters.by_status_priority(workspace_id), days), recount(workspace_id)

    return harness.in_database(database_url, read)


def test_counters_match_a_recount_after_mixed_writes(workspace, database_url):
    rng = random.Random(7)
    api = workspace.admin
    issues = []
    for i in range(40):
        issues.append(api.CreateIssue(title=f"i{i}", status=rng.choice(STATUSES), priority=rng.choice(PRIORITIES)).uuid)
    for uuid in rng.sample(issues, 25):
        api.UpdateIssue(
            issue_id=uuid,
            update_mask=field_mask_pb2.FieldMask(paths=["status", "priority"]),
            status=rng.choice(STATUSES),
            priority=rng.choice(PRIORITIES),
        )
    for uuid in rng.sample(issues, 10):
        api.DeleteIssue(issue_id=uuid)

    counters, recount = counters_and_recount(database_url, workspace.slug)

    assert counters == recount
    assert sum(counters[0].values()) == 30 == workspace.viewer.ListIssues().count


def test_concurrent_opposite_status_flips_neither_deadlock_nor_drift(workspace, database_url):
    api = workspace.member
    a = api.CreateIssue(title="a", status=Issue.STATUS_OPEN).uuid
    b = api.CreateIssue(title="b", status=Issue.STATUS_RESOLVED).uuid
    errors: list[Exception] = []

    def flip(uuid: str, first: int, second: int) -> None:
        try:
            for n in range(15):
                api.UpdateIssue(
                    issue_id=uuid,
                    update_mask=field_mask_pb2.FieldMask(paths=["status"]),
                    status=first if n % 2 == 0 else second,
                )
        except Exception as exc:  # noqa: BLE001 - asserted below
            errors.append(exc)

    threads = [
        threading.Thread(target=flip, args=(a, Issue.STATUS_RESOLVED, Issue.STATUS_OPEN)),
        threading.Thread(target=flip, args=(b, Issue.STATUS_OPEN, Issue.STATUS_RESOLVED)),
    ]
    for t in threads:
        t.start()
    for t in threads:
        t.join()

    assert errors == []
    counters, recount = counters_and_recount(database_url, workspace.slug)
    assert counters == recount


def test_rebuild_recounts_rows_loaded_behind_the_services_back(workspace, database_url):
    workspace.member.CreateIssue(title="counted", priority=Issue.PRIORITY_HIGH)
    workspace.member.CreateIssue(title="done", status=Issue.STATUS_RESOLVED)
    kept = workspace.viewer.GetIssueMetrics()
    harness.in_database(database_url, lambda: IssueCount.delete().execute(), write=True)
    assert workspace.viewer.ListIssues().count == 0  # the counters were wiped

    harness.in_database(database_url, counters.rebuild, write=True)

    assert workspace.viewer.ListIssues().count == 2
    assert [p.value for p in workspace.viewer.GetIssueMetrics().metrics[0].chart_data.data] == [1, 0, 0]
    # The per-day counts (opened and resolved) come back exactly as they were.
    assert workspace.viewer.GetIssueMetrics() == kept
