"""Queries on issues. Every function is scoped to one workspace and expects
to run inside `database.transaction`."""

from __future__ import annotations

import datetime
import uuid
from dataclasses import dataclass
from typing import Any

import peewee

from . import compiled
from .database import is_postgres
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
    return row


def delete(workspace_id: int, issue_id: uuid.UUID) -> bool:
    """Delete an issue; its comments and file records go with it (ON DELETE CASCADE)."""
    deleted = (
        Issue.delete()
        .where((Issue.uuid == issue_id) & (Issue.workspace == workspace_id))
        .execute()
    )
    return deleted > 0


def page(
    workspace_id: int, statuses: list[str], priorities: list[str], limit: int, offset: int
) -> tuple[list[Issue], int]:
    """One page, newest first with uuid breaking ties, and the total matching."""
    shape = (len(statuses), len(priorities))

    def matching(*columns: Any) -> peewee.Query:
        query = Issue.select(*columns).where(Issue.workspace == 0)
        if statuses:
            query = query.where(Issue.status.in_(["x"] * len(statuses)))
        if priorities:
            query = query.where(Issue.priority.in_(["x"] * len(priorities)))
        return query

    filters = (workspace_id, *statuses, *priorities)
    count_sql = compiled.sql(("issue-count", shape), lambda: matching(peewee.fn.COUNT(peewee.SQL("*"))))
    total = compiled.scalar(count_sql, filters)
    if offset >= total:
        return [], total
    page_sql = compiled.sql(
        ("issue-page", shape),
        lambda: matching().order_by(Issue.created_at.desc(), Issue.uuid.desc()).limit(1).offset(1),
    )
    return compiled.rows(Issue, page_sql, (*filters, limit, offset)), total


@dataclass(frozen=True)
class Counts:
    """Aggregates behind the metrics charts."""

    by_status_priority: dict[tuple[str, str], int]
    opened_per_day: dict[str, int]
    resolved_per_day: dict[str, int]


def counts(workspace_id: int, since: datetime.datetime) -> Counts:
    """Three GROUP BY queries; no rows are loaded into Python."""
    in_workspace = Issue.workspace == workspace_id
    by_status_priority = {
        (status, priority): n
        for status, priority, n in Issue.select(Issue.status, Issue.priority, peewee.fn.COUNT(peewee.SQL("*")))
        .where(in_workspace)
        .group_by(Issue.status, Issue.priority)
        .tuples()
    }

    def per_day(column: peewee.Field) -> dict[str, int]:
        day = peewee.fn.DATE(column)
        return {
            str(d)[:10]: n
            for d, n in Issue.select(day, peewee.fn.COUNT(peewee.SQL("*")))
            .where(in_workspace & (column >= since))
            .group_by(day)
            .tuples()
        }

    return Counts(by_status_priority, per_day(Issue.created_at), per_day(Issue.resolved_at))
