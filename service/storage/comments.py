"""The comments of one workspace's issues.

Every query joins the comment's issue and filters on the workspace, so a
comment id from another workspace finds nothing whatever the caller did
before.
"""

from __future__ import annotations

import datetime
import uuid
from typing import Any

from . import prebuilt_sql
from .database import is_postgres
from .issue_children import IssueChildren
from .models import Comment, Issue


class CommentRepository:
    def __init__(self, workspace_id: int) -> None:
        self.workspace_id = workspace_id

    def _in_workspace(self, issue_id: uuid.UUID):  # -> peewee query
        return (
            Comment.select(Comment)
            .join(Issue)
            .where((Comment.issue == issue_id) & (Issue.workspace == self.workspace_id))
        )

    def insert(self, issue_id: uuid.UUID, created_by: str, content: str, now: datetime.datetime) -> Comment:
        """Add a comment to an issue, which the caller has found in this workspace."""
        row = {
            "uuid": uuid.uuid4(),
            "issue": issue_id,
            "content": content,
            "created_by": created_by,
            "created_at": now,
            "updated_at": now,
        }
        prebuilt_sql.insert(Comment, row)  # SQL built once; Comment.create built it per call
        return Comment(**row)  # the other columns take their defaults, as the INSERT gave them

    def get(self, issue_id: uuid.UUID, comment_id: uuid.UUID, *, for_update: bool = False) -> Comment | None:
        """With `for_update`, the comment's row is locked until commit (PostgreSQL;
        SQLite writers are serialised anyway), so a change checked against
        its etag cannot interleave with another change."""
        query = self._in_workspace(issue_id).where(Comment.uuid == comment_id)
        if for_update and is_postgres():
            query = query.for_update(of=Comment)
        return query.first()

    def save(self, row: Comment, names: list[str]) -> None:
        """Write the fields `names` of `row` and move its version (for a
        change shown from other rows, such as reactions, `names` is empty).
        The row is one read `for_update`."""
        row.version += 1
        row.save(only=[getattr(Comment, n) for n in (*names, "version")])

    def page(
        self, issue_id: uuid.UUID, limit: int, offset: int, after: tuple[Any, ...] | None = None
    ) -> tuple[list[Comment], int]:
        """One page, oldest first (reading order), after the (created_at, uuid)
        position `after` or else from `offset`, and the total including deleted ones."""
        return _PAGES.page(self.workspace_id, issue_id, limit, offset, after)


_PAGES = IssueChildren("comments", Comment, (Comment.created_at, Comment.uuid))
