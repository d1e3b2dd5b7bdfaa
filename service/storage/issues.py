"""Queries on issues. Every function is scoped to one workspace and expects
to run inside `database.transaction`."""

from __future__ import annotations

import datetime
import uuid
from dataclasses import dataclass
from typing import Any

import peewee

from .database import is_postgres
from .models import Issue, utcnow


def create(workspace_id: int, created_by: str, values: dict[str, Any]) -> Issue:
    now = utcnow()
    fields = {k: v for k, v in values.items() if k != "attachment_ids"}
    return Issue.create(
        uuid=uuid.uuid4(),
        workspace=workspace_id,
        created_by=created_by,
        created_at=now,
        updated_at=now,
        resolved_at=now if fields.get("status") == "resolved" else None,
        **fields,
    )


def get(workspace_id: int, issue_id: uuid.UUID, *, for_update: bool = False) -> Issue | None:
    query = Issue.select().where((Issue.uuid == issue_id) & (Issue.workspace == workspace_id))
    if for_update and is_postgres():
        # Serialises concurrent updates of one issue; SQLite writers are
        # already serialised by BEGIN IMMEDIATE.
        query = query.for_update()
    return query.first()


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
    query = Issue.select().where(Issue.workspace == workspace_id)
    if statuses:
        query = query.where(Issue.status.in_(statuses))
    if priorities:
        query = query.where(Issue.priority.in_(priorities))
    total = query.count()
    if offset >= total:
        return [], total
    rows = list(
        query.order_by(Issue.created_at.desc(), Issue.uuid.desc()).limit(limit).offset(offset)
    )
    return rows, total


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
