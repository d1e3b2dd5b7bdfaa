"""Workspaces: their identifier prefixes, issue numbers and workflow."""

from __future__ import annotations

from typing import Any

import peewee

from .database import database
from .models import Workspace, WorkspacePrefix


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


def prefix_taken(prefix: str, other_than: int | None = None) -> bool:
    """Whether a workspace other than `other_than` has this prefix now."""
    query = Workspace.select().where(Workspace.prefix == prefix)
    if other_than is not None:
        query = query.where(Workspace.id != other_than)
    return query.exists()


def set_prefix(workspace: Workspace, prefix: str) -> None:
    """Change the prefix; the old ones keep resolving."""
    Workspace.update(prefix=prefix).where(Workspace.id == workspace.id).execute()
    WorkspacePrefix.insert(workspace=workspace.id, prefix=prefix).on_conflict_ignore().execute()


class WorkspaceRepository:
    """The caller's own workspace row."""

    def __init__(self, workspace_id: int) -> None:
        self.workspace_id = workspace_id

    def next_issue_number(self) -> tuple[int, str]:
        """Take the next number, with the prefix to show it under.

        The row stays locked until the transaction ends, so concurrent creates
        get distinct numbers and one that rolls back gives its number back.
        """
        mark = "%s" if isinstance(database.obj, peewee.PostgresqlDatabase) else "?"
        cursor = database.obj.execute_sql(
            f"UPDATE workspaces SET issue_seq = issue_seq + 1 WHERE id = {mark} RETURNING issue_seq, prefix",
            (self.workspace_id,),
        )
        number, prefix = cursor.fetchone()
        return int(number), prefix

    def prefix(self) -> str:
        return Workspace.select(Workspace.prefix).where(Workspace.id == self.workspace_id).scalar()

    def workflow(self) -> dict[str, Any] | None:
        return Workspace.select(Workspace.workflow).where(Workspace.id == self.workspace_id).scalar()

    def set_workflow(self, transitions: dict[str, list[str]]) -> None:
        Workspace.update(workflow=transitions).where(Workspace.id == self.workspace_id).execute()

    def owns_prefix(self, prefix: str) -> bool:
        return WorkspacePrefix.select().where(
            (WorkspacePrefix.workspace == self.workspace_id) & (WorkspacePrefix.prefix == prefix)
        ).exists()
