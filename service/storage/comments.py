"""The comments of one workspace's issues.

Every query joins the comment's issue and filters on the workspace, so a
comment id from another workspace finds nothing whatever the caller did
before.
"""

from __future__ import annotations

import datetime
import uuid
from typing import Any

import peewee

from . import compiled
from .database import is_postgres
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
        row = {"uuid": uuid.uuid4(), "issue": issue_id, "content": content, "created_by": created_by,
               "created_at": now, "updated_at": now}
        compiled.insert(Comment, row)  # SQL built once; Comment.create built it per call
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
        # SQL built once per shape (from an offset, or after a position), not per call.
        key = (Comment.issue.db_value(issue_id), self.workspace_id)
        total = compiled.scalar(compiled.sql("comments-count", lambda: self._in_workspace(_ANY).select(peewee.fn.COUNT(Comment.uuid))), key)
        if after is None:
            text = compiled.sql("comments-page", lambda: _ordered(self._in_workspace(_ANY)))
            params: tuple[Any, ...] = (*key, limit, offset)
        else:
            created_at, comment_id = after
            text = compiled.sql("comments-page-after", lambda: _ordered(self._in_workspace(_ANY).where(
                peewee.Tuple(Comment.created_at, Comment.uuid) > peewee.Tuple(_AT, _ANY))))
            params = (*key, Comment.created_at.db_value(created_at), Comment.uuid.db_value(comment_id), limit, offset)
        return compiled.rows(Comment, text, params), total


# Sample parameters for building SQL once (their values never reach a query).
_ANY = uuid.UUID(int=0)
_AT = datetime.datetime(2000, 1, 1)


def _ordered(query: peewee.Query) -> peewee.Query:
    """Oldest first; a page of 1 from offset 1 (samples: the caller passes both)."""
    return query.order_by(Comment.created_at, Comment.uuid).limit(1).offset(1)
