"""The issues of one workspace.

An `IssueRepository` is bound to a workspace when the unit of work hands it
out, so no query it runs can see another workspace's rows. It runs inside
the unit of work's transaction and writes only the issues table; counters
and everything else derived from a change are written by the unit of work.
"""

from __future__ import annotations

import datetime
import uuid
from typing import Any, NamedTuple

import peewee

from . import compiled, counters
from .database import database, is_postgres
from .models import Issue

# The stored columns a write may set (besides the bookkeeping ones).
VALUE_FIELDS = (
    "title", "description", "status", "priority", "tags", "owner", "resolution_summary",
    "job_run_id", "session_ids", "attachment_ids", "resolved_at",
)


class PageKey(NamedTuple):
    """What identifies a built issue message: its uuid and its version."""

    uuid: uuid.UUID
    version: int


def _by_id(for_update: bool) -> peewee.Query:
    query = Issue.select().where((Issue.uuid == uuid.UUID(int=0)) & (Issue.workspace == 0))
    return query.for_update() if for_update else query


class IssueRepository:
    def __init__(self, workspace_id: int) -> None:
        self.workspace_id = workspace_id

    def insert(self, values: dict[str, Any]) -> Issue:
        """Store a new issue with every column given in `values`; returns it."""
        row = {**values, "workspace": self.workspace_id, "version": 1}
        compiled.insert(Issue, row)
        return Issue(**row)

    def get(self, issue_id: uuid.UUID, *, for_update: bool = False) -> Issue | None:
        # FOR UPDATE serialises concurrent updates of one issue on PostgreSQL;
        # SQLite writers are already serialised by BEGIN IMMEDIATE.
        locking = for_update and is_postgres()
        text = compiled.sql(("issue", locking), lambda: _by_id(locking))
        found = compiled.rows(Issue, text, (Issue.uuid.db_value(issue_id), self.workspace_id))
        return found[0] if found else None

    def save(self, row: Issue, names: list[str], updated_at: datetime.datetime) -> None:
        """Write the fields `names` of `row`, move its version, and set updated_at."""
        row.updated_at = updated_at
        row.version += 1
        row.save(only=[getattr(Issue, n) for n in (*names, "updated_at", "version")])

    def delete(self, issue_id: uuid.UUID) -> None:
        """Delete an issue; its comments and file records go with it (ON DELETE CASCADE)."""
        Issue.delete().where((Issue.uuid == issue_id) & (Issue.workspace == self.workspace_id)).execute()

    def page(
        self, statuses: list[str], priorities: list[str], limit: int, offset: int
    ) -> tuple[list[PageKey], int]:
        """One page of keys, newest first with uuid breaking ties, and the total
        matching. Load the rows with `by_ids`."""
        total = counters.matching(self.workspace_id, statuses, priorities)
        if offset >= total:
            return [], total

        def build() -> peewee.Query:
            query = Issue.select(Issue.uuid, Issue.version).where(Issue.workspace == 0)
            if statuses:
                query = query.where(Issue.status.in_(["x"] * len(statuses)))
            if priorities:
                query = query.where(Issue.priority.in_(["x"] * len(priorities)))
            return query.order_by(Issue.created_at.desc(), Issue.uuid.desc()).limit(1).offset(1)

        text = compiled.sql(("issue-page", len(statuses), len(priorities)), build)
        cursor = database.obj.execute_sql(text, (self.workspace_id, *statuses, *priorities, limit, offset))
        to_uuid = Issue.uuid.python_value
        return [PageKey(to_uuid(u), v) for u, v in cursor.fetchall()], total

    def by_ids(self, ids: list[uuid.UUID]) -> list[Issue]:
        if not ids:
            return []
        return list(Issue.select().where((Issue.workspace == self.workspace_id) & Issue.uuid.in_(ids)))

    def exists(self, issue_id: uuid.UUID) -> bool:
        return self.get(issue_id) is not None
