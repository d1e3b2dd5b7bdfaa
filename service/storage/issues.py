"""Queries on issues. Every function is scoped to one workspace and expects
to run inside `database.transaction`."""

from __future__ import annotations

import datetime
import uuid
from dataclasses import dataclass
from typing import Any

import peewee

from . import compiled, stats
from .database import database, is_postgres
from .models import Issue, utcnow


def create(workspace_id: int, created_by: str, values: dict[str, Any]) -> Issue:
    now = utcnow()
    row = {
        "uuid": uuid.uuid4(),
        "workspace": workspace_id,
        "created_by": created_by,
        "created_at": now,
        "updated_at": now,
        "resolved_at": now if values.get("status") == "resolved" else None,
        **{k: v for k, v in values.items() if k != "attachment_ids"},
        "attachment_ids": [],  # set with their file records by attachments.set_issue_attachments
    }
    compiled.insert(Issue, row)
    deltas = stats.Deltas(workspace_id)
    deltas.issue(row["status"], row["priority"], now, row["resolved_at"], +1)
    deltas.apply()
    return Issue(**row)


def _by_id(for_update: bool) -> peewee.Query:
    query = Issue.select().where((Issue.uuid == uuid.UUID(int=0)) & (Issue.workspace == 0))
    return query.for_update() if for_update else query


def get(workspace_id: int, issue_id: uuid.UUID, *, for_update: bool = False) -> Issue | None:
    # FOR UPDATE serialises concurrent updates of one issue on PostgreSQL;
    # SQLite writers are already serialised by BEGIN IMMEDIATE.
    locking = for_update and is_postgres()
    text = compiled.sql(("issue", locking), lambda: _by_id(locking))
    found = compiled.rows(Issue, text, (Issue.uuid.db_value(issue_id), workspace_id))
    return found[0] if found else None


def update(row: Issue, values: dict[str, Any]) -> Issue:
    """Apply `values` (already validated) to `row` and save only what changed."""
    deltas = stats.Deltas(row.workspace_id)
    deltas.issue(row.status, row.priority, row.created_at, row.resolved_at, -1)
    changed = []
    for name, value in values.items():
        if name == "attachment_ids":
            continue
        setattr(row, name, value)
        changed.append(getattr(Issue, name))
    if "status" in values:
        # resolved_at records when an issue last became resolved.
        if values["status"] == "resolved" and row.resolved_at is None:
            row.resolved_at = utcnow()
        elif values["status"] != "resolved":
            row.resolved_at = None
        changed.append(Issue.resolved_at)
    row.updated_at = utcnow()
    changed.append(Issue.updated_at)
    row.save(only=changed)
    deltas.issue(row.status, row.priority, row.created_at, row.resolved_at, +1)
    deltas.apply()  # only what moved: equal -1 and +1 cancel out
    return row


def delete(workspace_id: int, issue_id: uuid.UUID) -> bool:
    """Delete an issue; its comments and file records go with it (ON DELETE CASCADE)."""
    row = get(workspace_id, issue_id, for_update=True)
    if row is None:
        return False
    Issue.delete().where(Issue.uuid == issue_id).execute()
    deltas = stats.Deltas(workspace_id)
    deltas.issue(row.status, row.priority, row.created_at, row.resolved_at, -1)
    deltas.apply()
    return True


def page(
    workspace_id: int, statuses: list[str], priorities: list[str], limit: int, offset: int
) -> tuple[list[tuple[uuid.UUID, datetime.datetime]], int]:
    """One page as (uuid, updated_at) keys, newest first with uuid breaking
    ties, and the total matching. Load the rows with `by_ids`."""
    total = stats.matching(workspace_id, statuses, priorities)
    if offset >= total:
        return [], total

    def build() -> peewee.Query:
        query = Issue.select(Issue.uuid, Issue.updated_at).where(Issue.workspace == 0)
        if statuses:
            query = query.where(Issue.status.in_(["x"] * len(statuses)))
        if priorities:
            query = query.where(Issue.priority.in_(["x"] * len(priorities)))
        return query.order_by(Issue.created_at.desc(), Issue.uuid.desc()).limit(1).offset(1)

    text = compiled.sql(("issue-page", len(statuses), len(priorities)), build)
    cursor = database.obj.execute_sql(text, (workspace_id, *statuses, *priorities, limit, offset))
    return [(Issue.uuid.python_value(u), Issue.updated_at.python_value(t)) for u, t in cursor.fetchall()], total


def by_ids(workspace_id: int, ids: list[uuid.UUID]) -> dict[uuid.UUID, Issue]:
    if not ids:
        return {}
    return {row.uuid: row for row in Issue.select().where((Issue.workspace == workspace_id) & Issue.uuid.in_(ids))}


@dataclass(frozen=True)
class Counts:
    """Aggregates behind the metrics charts."""

    by_status_priority: dict[tuple[str, str], int]
    opened_per_day: dict[str, int]
    resolved_per_day: dict[str, int]


def counts(workspace_id: int, since: datetime.date) -> Counts:
    """Read from the counters: a few dozen rows, however many issues there are."""
    opened, resolved = stats.per_day(workspace_id, since)
    return Counts(stats.by_status_priority(workspace_id), opened, resolved)
