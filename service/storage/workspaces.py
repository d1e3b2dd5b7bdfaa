"""Workspaces: their identifier prefixes, issue numbers and workflow."""

from __future__ import annotations

from typing import Any

import peewee

from .database import database
from .models import Issue, Workspace, WorkspacePrefix


def ensure(slug: str, prefix: str) -> Workspace:
    """The workspace `slug`, created with `prefix` if it is new."""
    found = Workspace.get_or_none(Workspace.slug == slug)
    if found is not None:
        return found
    workspace = Workspace.create(slug=slug, prefix=prefix)
    WorkspacePrefix.create(workspace=workspace, prefix=prefix)
    return workspace


def by_slug(slug: str) -> Workspace | None:
    return Workspace.get_or_none(Workspace.slug == slug)


def all_slugs() -> list[str]:
    return [slug for (slug,) in Workspace.select(Workspace.slug).tuples()]


def all_workspaces() -> list[Workspace]:
    return list(Workspace.select().order_by(Workspace.slug))


def set_prefix(workspace: Workspace, prefix: str) -> None:
    """Change the prefix; the old ones keep resolving."""
    Workspace.update(prefix=prefix).where(Workspace.id == workspace.id).execute()
    WorkspacePrefix.insert(workspace=workspace.id, prefix=prefix).on_conflict_ignore().execute()


class WorkspaceRepository:
    """The caller's own workspace row."""

    def __init__(self, workspace_id: int) -> None:
        self.workspace_id = workspace_id

    def number_issues(self, rows: list[Any]) -> None:
        """Give new issues the workspace's next numbers, in order, and its prefix.

        The workspace row stays locked until the transaction ends, so
        concurrent creates get distinct numbers and a transaction that rolls
        back gives its numbers back. Called last before commit, so that lock
        is held for as short a time as can be: one statement on PostgreSQL,
        whatever the number of issues.
        """
        db = database.obj
        stored = [Issue.uuid.db_value(row.uuid) for row in rows]  # SQLite keeps uuids as bare hex
        if isinstance(db, peewee.PostgresqlDatabase):
            # m0014's function: one statement text whatever the batch size, its plans kept per connection
            cursor = db.execute_sql("SELECT * FROM issue_numbers(%s, %s::uuid[])", (self.workspace_id, stored))
            first, prefix = cursor.fetchone()
        else:  # SQLite writers are serialised already: more statements cost no waiting
            last, prefix = db.execute_sql(
                "UPDATE workspaces SET issue_seq = issue_seq + ? WHERE id = ? RETURNING issue_seq, prefix",
                (len(rows), self.workspace_id),
            ).fetchone()
            first = last - len(rows) + 1
            db.cursor().executemany(
                "UPDATE issues SET number = ? WHERE uuid = ?", [(first + i, u) for i, u in enumerate(stored)]
            )
        for i, row in enumerate(rows):
            row.number, row.prefix = int(first) + i, prefix

    def workflow(self) -> dict[str, Any] | None:
        return Workspace.select(Workspace.workflow).where(Workspace.id == self.workspace_id).scalar()

    def set_workflow(self, transitions: dict[str, list[str]]) -> None:
        Workspace.update(workflow=transitions).where(Workspace.id == self.workspace_id).execute()
