"""Adding a comment inside a command's unit of work (CreateComment, and
CreateIssue's initial comment)."""

from __future__ import annotations

import uuid

from ..storage.models import Attachment, Comment
from .changes import Change, fields_of
from .unit_of_work import UnitOfWork
from .views import CommentView

COMMENT_FIELDS = ("content", "created_by", "created_at", "updated_at", "is_edited", "is_deleted")


def record_comment(uow: UnitOfWork, issue_id: uuid.UUID, content: str, attachments: list[Attachment]) -> Comment:
    row = uow.comments.insert(issue_id, uow.principal.email, content, uow.now)
    if attachments:
        uow.attachments.set_for_comment(row.uuid, attachments)
    uow.record(
        Change(
            "comment",
            "created",
            row.uuid,
            issue_id,
            None,
            fields_of(row, COMMENT_FIELDS),
            view=CommentView(row, attachments),
        )
    )
    return row
