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

    def number_issue(self, issue_id: Any) -> tuple[int, str]:
        """Give a new issue the workspace's next number; returns it with the prefix.

        The workspace row stays locked until the transaction ends, so
        concurrent creates get distinct numbers and one that rolls back gives
        its number back. Called last before commit, so that lock is held for
        as short a time as can be: one statement on PostgreSQL.
        """
        db = database.obj
        stored_id = Issue.uuid.db_value(issue_id)  # SQLite keeps uuids as bare hex
        if isinstance(db, peewee.PostgresqlDatabase):
            cursor = db.execute_sql(
                "WITH n AS (UPDATE workspaces SET issue_seq = issue_seq + 1 WHERE id = %s RETURNING issue_seq, prefix)"
                " UPDATE issues SET number = n.issue_seq FROM n WHERE issues.uuid = %s RETURNING n.issue_seq, n.prefix",
                (self.workspace_id, stored_id),
            )
            number, prefix = cursor.fetchone()
        else:  # SQLite writers are serialised already: two statements cost no waiting
            number, prefix = db.execute_sql(
                "UPDATE workspaces SET issue_seq = issue_seq + 1 WHERE id = ? RETURNING issue_seq, prefix",
                (self.workspace_id,),
            ).fetchone()
            db.execute_sql("UPDATE issues SET number = ? WHERE uuid = ?", (number, stored_id))
        return int(number), prefix

    def workflow(self) -> dict[str, Any] | None:
        return Workspace.select(Workspace.workflow).where(Workspace.id == self.workspace_id).scalar()

    def set_workflow(self, transitions: dict[str, list[str]]) -> None:
        Workspace.update(workflow=transitions).where(Workspace.id == self.workspace_id).execute()
