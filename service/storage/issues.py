"""The issues of one workspace.

An `IssueRepository` is bound to a workspace when the unit of work hands it
out, so no query it runs can see another workspace's rows. It runs inside
the unit of work's transaction and writes only the issue tables; counters,
history and whatever else derives from a change are written by the unit of
work. Rows it reads carry the workspace's current `prefix`, joined in, so
showing an identifier costs no query of its own.
"""

from __future__ import annotations

import datetime
import uuid
from typing import Any, NamedTuple

import peewee

from ..domain.identifiers import IssueRef
from . import compiled, counters
from .database import database, is_postgres
from .models import Issue, IssueRef as IssueRefRow, Workspace, WorkspacePrefix

# The stored columns a write may set (besides the bookkeeping ones).
VALUE_FIELDS = (
    "title", "description", "status", "priority", "tags", "owner", "resolution_summary",
    "job_run_id", "session_ids", "attachment_ids", "resolved_at", "parent_uuid", "refs",
)
# Longer chains than this are refused rather than walked.
ANCESTORS_MAX = 1_000


class PageKey(NamedTuple):
    """What identifies a built issue message: its uuid, version and the prefix shown."""

    uuid: uuid.UUID
    version: int
    prefix: str


def _shown(query: peewee.Query) -> peewee.Query:
    """Every column of the issues, then their workspace's prefix."""
    return query.select_extend(Workspace.prefix).join(Workspace, on=(Issue.workspace == Workspace.id))


def _by_id(for_update: bool) -> peewee.Query:
    query = _shown(Issue.select()).where((Issue.uuid == uuid.UUID(int=0)) & (Issue.workspace == 0))
    return query.for_update(of=Issue) if for_update else query


def _by_number(for_update: bool) -> peewee.Query:
    owns = WorkspacePrefix.select(peewee.SQL("1")).where(
        (WorkspacePrefix.workspace == Issue.workspace) & (WorkspacePrefix.prefix == "X"))
    query = _shown(Issue.select()).where((Issue.workspace == 0) & (Issue.number == 0) & peewee.fn.EXISTS(owns))
    return query.for_update(of=Issue) if for_update else query


class IssueRepository:
    def __init__(self, workspace_id: int) -> None:
        self.workspace_id = workspace_id

    # -- one issue ---------------------------------------------------------------

    def insert(self, values: dict[str, Any], prefix: str) -> Issue:
        """Store a new issue with every column given in `values`; returns it."""
        row = {**values, "workspace": self.workspace_id, "version": 1}
        compiled.insert(Issue, row)
        self._write_refs(row["uuid"], row.get("refs") or {}, replace=False)
        issue = Issue(**row)
        issue.prefix = prefix
        return issue

    def get(self, issue_id: uuid.UUID, *, for_update: bool = False) -> Issue | None:
        # FOR UPDATE serialises concurrent updates of one issue on PostgreSQL;
        # SQLite writers are already serialised by BEGIN IMMEDIATE.
        locking = for_update and is_postgres()
        text = compiled.sql(("issue", locking), lambda: _by_id(locking))
        found = compiled.rows(Issue, text, (Issue.uuid.db_value(issue_id), self.workspace_id), ("prefix",))
        return found[0] if found else None

    def find(self, ref: IssueRef, *, for_update: bool = False) -> Issue | None:
        """The issue a uuid or an identifier names: one indexed lookup either way."""
        if ref.uuid is not None:
            return self.get(ref.uuid, for_update=for_update)
        locking = for_update and is_postgres()
        text = compiled.sql(("issue-by-number", locking), lambda: _by_number(locking))
        found = compiled.rows(Issue, text, (self.workspace_id, ref.number, ref.prefix), ("prefix",))
        return found[0] if found else None

    def save(self, row: Issue, names: list[str], updated_at: datetime.datetime) -> None:
        """Write the fields `names` of `row`, move its version, and set updated_at."""
        row.updated_at = updated_at
        row.version += 1
        row.save(only=[getattr(Issue, n) for n in (*names, "updated_at", "version")])
        if "refs" in names:
            self._write_refs(row.uuid, row.refs, replace=True)

    def delete(self, issue_id: uuid.UUID) -> None:
        """Delete an issue; its comments, file records, history and refs go with it (ON DELETE CASCADE)."""
        Issue.delete().where((Issue.uuid == issue_id) & (Issue.workspace == self.workspace_id)).execute()

    def _write_refs(self, issue_id: uuid.UUID, refs: dict[str, str], *, replace: bool) -> None:
        if replace:
            IssueRefRow.delete().where(IssueRefRow.issue == issue_id).execute()
        if refs:
            IssueRefRow.insert_many([
                {"issue": issue_id, "workspace_id": self.workspace_id, "ref_key": k, "ref_value": v}
                for k, v in refs.items()
            ]).execute()

    # -- parents and children ----------------------------------------------------------

    def ancestors(self, issue_id: uuid.UUID, *, lock: bool) -> list[uuid.UUID]:
        """The issue's ancestors, nearest first; with `lock` each is locked as it is
        read (PostgreSQL), so two moves that would close a cycle cannot both pass."""
        chain: list[uuid.UUID] = []
        current: uuid.UUID | None = issue_id
        while current is not None and len(chain) < ANCESTORS_MAX:
            query = Issue.select(Issue.parent_uuid).where((Issue.uuid == current) & (Issue.workspace == self.workspace_id))
            if lock and is_postgres():
                query = query.for_update()
            current = query.scalar()
            if current is not None:
                chain.append(current)
        return chain

    def children(self, parent_id: uuid.UUID, *, for_update: bool = False) -> list[Issue]:
        query = _shown(Issue.select()).where((Issue.parent_uuid == parent_id) & (Issue.workspace == self.workspace_id))
        if for_update and is_postgres():
            query = query.for_update(of=Issue)
        return list(query.order_by(Issue.created_at, Issue.uuid).objects())

    def sub_page(self, parent_id: uuid.UUID, limit: int, offset: int) -> tuple[list[Issue], int]:
        """One page of an issue's children, oldest first, and how many it has."""
        query = _shown(Issue.select()).where((Issue.parent_uuid == parent_id) & (Issue.workspace == self.workspace_id))
        total = query.count()
        return list(query.order_by(Issue.created_at, Issue.uuid).limit(limit).offset(offset).objects()), total

    def add_to_sub_count(self, parent_id: uuid.UUID, delta: int) -> None:
        """A parent's child count moves; so does its version, as it shows the count."""
        Issue.update(sub_issues_count=Issue.sub_issues_count + delta, version=Issue.version + 1).where(
            (Issue.uuid == parent_id) & (Issue.workspace == self.workspace_id)).execute()

    # -- lists -------------------------------------------------------------------

    def page(
        self, statuses: list[str], priorities: list[str], refs: list[tuple[str, str]], limit: int, offset: int
    ) -> tuple[list[PageKey], int]:
        """One page of keys, newest first with uuid breaking ties, and the total
        matching. Load the rows with `by_ids`."""
        if refs:
            total = self._filtered(statuses, priorities, refs).count()
        else:
            total = counters.matching(self.workspace_id, statuses, priorities)
        if offset >= total:
            return [], total

        def build() -> peewee.Query:
            query = self._filtered(["x"] * len(statuses), ["x"] * len(priorities), [("k", "v")] * len(refs))
            query = query.select(Issue.uuid, Issue.version, Workspace.prefix).join(Workspace, on=(Issue.workspace == Workspace.id))
            return query.order_by(Issue.created_at.desc(), Issue.uuid.desc()).limit(1).offset(1)

        text = compiled.sql(("issue-page", len(statuses), len(priorities), len(refs)), build)
        params = (*[p for pair in refs for p in (self.workspace_id, *pair)], self.workspace_id, *statuses, *priorities, limit, offset)
        cursor = database.obj.execute_sql(text, params)
        to_uuid = Issue.uuid.python_value
        return [PageKey(to_uuid(u), v, prefix) for u, v, prefix in cursor.fetchall()], total

    def _filtered(self, statuses: list[str], priorities: list[str], refs: list[tuple[str, str]]) -> peewee.Query:
        query = Issue.select()
        # Each pair is one probe of the (workspace, key, value) index.
        for key, value in refs:
            query = query.where(Issue.uuid.in_(IssueRefRow.select(IssueRefRow.issue).where(
                (IssueRefRow.workspace_id == self.workspace_id) & (IssueRefRow.ref_key == key) & (IssueRefRow.ref_value == value))))
        query = query.where(Issue.workspace == self.workspace_id)
        if statuses:
            query = query.where(Issue.status.in_(statuses))
        if priorities:
            query = query.where(Issue.priority.in_(priorities))
        return query

    def by_ids(self, ids: list[uuid.UUID]) -> list[Issue]:
        if not ids:
            return []
        return list(_shown(Issue.select()).where((Issue.workspace == self.workspace_id) & Issue.uuid.in_(ids)).objects())
