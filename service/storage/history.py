"""Issue history entries, written by the unit of work from its changes."""

from __future__ import annotations

import datetime
import uuid
from typing import Any, NamedTuple

from . import prebuilt_sql
from .issue_children import IssueChildren
from .models import HistoryEntry


class NewEntry(NamedTuple):
    issue_id: uuid.UUID
    action: str
    field: str | None
    old_value: Any
    new_value: Any


class HistoryRepository:
    def __init__(self, workspace_id: int) -> None:
        self.workspace_id = workspace_id

    def insert(self, groups: list[tuple[list[NewEntry], str]], at: datetime.datetime) -> list[HistoryEntry]:
        """Each group is one unit of work's entries and its actor; one timestamp
        for all, each group's entries kept in the order given. One statement.
        Returns the entries as stored, in the order given (events show them)."""
        # Positions run on across groups: two units of one batch that change
        # one issue share the timestamp, and their entries keep their order.
        rows = [
            {
                "uuid": uuid.uuid4(),
                "issue": e.issue_id,
                "position": i,
                "action": e.action,
                "field": e.field,
                "old_value": e.old_value,
                "new_value": e.new_value,
                "actor": actor,
                "created_at": at,
            }
            for i, (e, actor) in enumerate((e, actor) for entries, actor in groups for e in entries)
        ]
        prebuilt_sql.insert_many(HistoryEntry, rows)
        return [HistoryEntry(**row) for row in rows]

    def page(
        self, issue_id: uuid.UUID, limit: int, offset: int, after: tuple[Any, ...] | None = None
    ) -> tuple[list[HistoryEntry], int]:
        """One page of an issue's history, oldest first (after the (created_at,
        position, uuid) position `after`, else from `offset`), and how many entries it has."""
        return _PAGES.page(self.workspace_id, issue_id, limit, offset, after)


_PAGES = IssueChildren("history", HistoryEntry, (HistoryEntry.created_at, HistoryEntry.position, HistoryEntry.uuid))
