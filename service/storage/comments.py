"""Queries on comments, scoped to an issue of one workspace."""

from __future__ import annotations

import uuid

from .models import Comment, Issue, utcnow


def create(issue_id: uuid.UUID, created_by: str, content: str) -> Comment:
    now = utcnow()
    return Comment.create(
        uuid=uuid.uuid4(), issue=issue_id, content=content, created_by=created_by,
        created_at=now, updated_at=now,
    )


def get(workspace_id: int, issue_id: uuid.UUID, comment_id: uuid.UUID) -> Comment | None:
    return (
        Comment.select(Comment)
        .join(Issue)
        .where(
            (Comment.uuid == comment_id)
            & (Comment.issue == issue_id)
            & (Issue.workspace == workspace_id)
        )
        .first()
    )


def edit(row: Comment, content: str) -> Comment:
    row.content = content
    row.is_edited = True
    row.updated_at = utcnow()
    row.save(only=[Comment.content, Comment.is_edited, Comment.updated_at])
    return row


def soft_delete(row: Comment) -> Comment:
    row.is_deleted = True
    row.updated_at = utcnow()
    row.save(only=[Comment.is_deleted, Comment.updated_at])
    return row


def page(issue_id: uuid.UUID, limit: int, offset: int) -> tuple[list[Comment], int]:
    """One page, oldest first (reading order), and the total including deleted ones."""
    query = Comment.select().where(Comment.issue == issue_id)
    total = query.count()
    rows = list(query.order_by(Comment.created_at, Comment.uuid).limit(limit).offset(offset))
    return rows, total
