"""Use cases of comments: list, add, edit, delete (soft)."""

from __future__ import annotations

import uuid
from dataclasses import dataclass

from ..blobs import BlobStore
from ..domain.errors import FailedPrecondition, NotFound, PermissionDenied
from ..domain.roles import Principal, may_change_comment
from ..storage.models import Attachment, Comment
from .issues import find_issue
from .unit_of_work import Change, UnitOfWork, fields_of, run
from .uploads import confirm_uploads, ready_attachments

COMMENT_FIELDS = ("content", "created_by", "created_at", "updated_at", "is_edited", "is_deleted")


@dataclass(frozen=True)
class CommentView:
    """A comment as shown: its row and its attachments, in order."""

    row: Comment
    attachments: list[Attachment]


def _views(uow: UnitOfWork, rows: list[Comment]) -> list[CommentView]:
    found = uow.attachments.for_comments([r.uuid for r in rows if not r.is_deleted])
    return [CommentView(r, found.get(r.uuid, [])) for r in rows]


def _changeable(uow: UnitOfWork, issue_id: uuid.UUID, comment_id: uuid.UUID) -> Comment:
    """The comment, if the caller may edit or delete it."""
    find_issue(uow, issue_id)
    row = uow.comments.get(issue_id, comment_id)
    if row is None:
        raise NotFound(f"comment {comment_id} not found on issue {issue_id}")
    if not may_change_comment(uow.principal, row.created_by):
        raise PermissionDenied("only the comment's author or an admin may change it")
    return row


def list_comments(principal: Principal, issue_id: uuid.UUID, limit: int, offset: int) -> tuple[list[CommentView], int]:
    def work(uow: UnitOfWork) -> tuple[list[CommentView], int]:
        find_issue(uow, issue_id)
        rows, total = uow.comments.page(issue_id, limit, offset)
        return _views(uow, rows), total

    return run(principal, work, snapshot=True)


def add_comment(
    principal: Principal, blobs: BlobStore, issue_id: uuid.UUID, content: str, attachment_ids: list[uuid.UUID]
) -> CommentView:
    confirm_uploads(principal, blobs, attachment_ids)

    def work(uow: UnitOfWork) -> CommentView:
        find_issue(uow, issue_id)
        attachments = ready_attachments(uow, "attachment_ids", attachment_ids)
        row = uow.comments.insert(issue_id, principal.email, content, uow.now)
        if attachments:
            uow.attachments.set_for_comment(row.uuid, attachments)
        uow.record(Change("comment", "created", row.uuid, issue_id, None, fields_of(row, COMMENT_FIELDS)))
        return CommentView(row, attachments)

    return run(principal, work, write=True)


def edit_comment(
    principal: Principal, blobs: BlobStore, issue_id: uuid.UUID, comment_id: uuid.UUID,
    content: str | None, attachment_ids: list[uuid.UUID] | None,
) -> CommentView:
    """Change the content, the attachments, or both (None leaves one as it is)."""
    if attachment_ids:
        confirm_uploads(principal, blobs, attachment_ids)

    def work(uow: UnitOfWork) -> CommentView:
        row = _changeable(uow, issue_id, comment_id)
        if row.is_deleted:
            raise FailedPrecondition(f"comment {comment_id} is deleted and cannot be edited")
        before = fields_of(row, COMMENT_FIELDS)
        if attachment_ids is not None:
            uow.attachments.set_for_comment(row.uuid, ready_attachments(uow, "attachment_ids", attachment_ids))
        if content is not None:
            row.content = content
        row.is_edited = True
        row.updated_at = uow.now
        uow.comments.save(row, ["content", "is_edited", "updated_at"])
        uow.record(Change("comment", "updated", row.uuid, issue_id, before, fields_of(row, COMMENT_FIELDS)))
        return _views(uow, [row])[0]

    return run(principal, work, write=True)


def delete_comment(principal: Principal, issue_id: uuid.UUID, comment_id: uuid.UUID) -> None:
    def work(uow: UnitOfWork) -> None:
        row = _changeable(uow, issue_id, comment_id)
        if row.is_deleted:  # deleting twice is not an error, and changes nothing
            return
        before = fields_of(row, COMMENT_FIELDS)
        row.is_deleted = True
        row.updated_at = uow.now
        uow.comments.save(row, ["is_deleted", "updated_at"])
        uow.record(Change("comment", "deleted", row.uuid, issue_id, before, fields_of(row, COMMENT_FIELDS)))

    run(principal, work, write=True)
