"""Use cases of comments: list, add, edit, delete (soft), react."""

from __future__ import annotations

import uuid
from typing import Any

from ..blobs import BlobStore
from ..domain.errors import FailedPrecondition, NotFound, PermissionDenied
from ..domain.etags import comment_etag
from ..domain.identifiers import IssueRef
from ..domain.roles import Principal, may_change_comment
from ..storage.models import Comment
from .changes import Change, fields_of
from .comment_record import COMMENT_FIELDS, record_comment
from .issues import find_issue
from .request_ids import RequestId
from .runner import Runner
from .unit_of_work import UnitOfWork
from .uploads import confirm_uploads, ready_attachments
from .views import CommentView

__all__ = [
    "CommentView",
    "add_comment",
    "add_reaction",
    "delete_comment",
    "edit_comment",
    "list_comments",
    "remove_reaction",
]


def views_of(uow: UnitOfWork, rows: list[Comment]) -> list[CommentView]:
    """Comments with their attachments and reactions; a deleted one shows neither."""
    live = [r.uuid for r in rows if not r.is_deleted]
    attachments = uow.attachments.for_comments(live)
    reactions = uow.reactions.for_comments(live)
    return [CommentView(r, attachments.get(r.uuid, []), reactions.get(r.uuid, [])) for r in rows]


def _comment(
    uow: UnitOfWork, ref: IssueRef, comment_id: uuid.UUID, *, for_update: bool = False
) -> tuple[uuid.UUID, Comment]:
    issue_id = find_issue(uow, ref).uuid
    row = uow.comments.get(issue_id, comment_id, for_update=for_update)
    if row is None:
        raise NotFound(f"comment {comment_id} not found on issue {ref}")
    return issue_id, row


def _changeable(uow: UnitOfWork, ref: IssueRef, comment_id: uuid.UUID) -> tuple[uuid.UUID, Comment]:
    """The comment, locked, if the caller may edit or delete it and its etag
    is the one the caller gave (if any)."""
    issue_id, row = _comment(uow, ref, comment_id, for_update=True)
    if not may_change_comment(uow.principal, row.created_by):
        raise PermissionDenied("only the comment's author or an admin may change it")
    uow.check_etag(comment_etag(row.uuid, row.version), f"comment {comment_id}")
    return issue_id, row


def list_comments(
    runner: Runner, principal: Principal, ref: IssueRef, limit: int, offset: int, after: tuple[Any, ...] | None = None
) -> tuple[list[CommentView], int]:
    def work(uow: UnitOfWork) -> tuple[list[CommentView], int]:
        issue_id = find_issue(uow, ref).uuid
        rows, total = uow.comments.page(issue_id, limit, offset, after)
        return views_of(uow, rows), total

    return runner.run(principal, work, snapshot=True)


def add_comment(
    runner: Runner,
    principal: Principal,
    blobs: BlobStore,
    ref: IssueRef,
    content: str,
    attachment_ids: list[uuid.UUID],
    *,
    request_id: RequestId | None = None,
) -> CommentView:
    """Add a comment; `request_id`: its request_id (a repeat raises `Replay`)."""
    confirm_uploads(runner, principal, blobs, attachment_ids)

    def work(uow: UnitOfWork) -> CommentView:
        issue_id = find_issue(uow, ref).uuid
        attachments = ready_attachments(uow, "attachment_ids", attachment_ids)
        return CommentView(record_comment(uow, issue_id, content, attachments), attachments)

    return runner.run(principal, work, write=True, request_id=request_id)


def edit_comment(
    runner: Runner,
    principal: Principal,
    blobs: BlobStore,
    ref: IssueRef,
    comment_id: uuid.UUID,
    content: str | None,
    attachment_ids: list[uuid.UUID] | None,
    *,
    etag: str | None = None,
) -> CommentView:
    """Change the content, the attachments, or both (None leaves one as it
    is), if the comment's etag is still `etag` (when given)."""
    if attachment_ids:
        confirm_uploads(runner, principal, blobs, attachment_ids)

    def work(uow: UnitOfWork) -> CommentView:
        issue_id, row = _changeable(uow, ref, comment_id)
        if row.is_deleted:
            raise FailedPrecondition(f"comment {comment_id} is deleted and cannot be edited", reason="COMMENT_DELETED")
        before = fields_of(row, COMMENT_FIELDS)
        if attachment_ids is not None:
            uow.attachments.set_for_comment(row.uuid, ready_attachments(uow, "attachment_ids", attachment_ids))
        if content is not None:
            row.content = content
        row.is_edited = True
        row.updated_at = uow.now
        uow.comments.save(row, ["content", "is_edited", "updated_at"])
        view = views_of(uow, [row])[0]
        uow.record(Change("comment", "updated", row.uuid, issue_id, before, fields_of(row, COMMENT_FIELDS), view=view))
        return view

    return runner.run(principal, work, write=True, etag=etag)


def delete_comment(
    runner: Runner,
    principal: Principal,
    ref: IssueRef,
    comment_id: uuid.UUID,
    *,
    etag: str | None = None,
) -> None:
    """Delete a comment (soft), if its etag is still `etag` (when given);
    deleting one already deleted changes nothing."""

    def work(uow: UnitOfWork) -> None:
        issue_id, row = _changeable(uow, ref, comment_id)
        if row.is_deleted:  # deleting twice is not an error, and changes nothing
            return
        before = fields_of(row, COMMENT_FIELDS)
        was = views_of(uow, [Comment(__no_default__=True, **row.__data__)])[0]  # its event shows it as it was
        row.is_deleted = True
        row.updated_at = uow.now
        uow.comments.save(row, ["is_deleted", "updated_at"])
        uow.record(Change("comment", "deleted", row.uuid, issue_id, before, fields_of(row, COMMENT_FIELDS), view=was))

    runner.run(principal, work, write=True, etag=etag)


def add_reaction(runner: Runner, principal: Principal, ref: IssueRef, comment_id: uuid.UUID, emoji: str) -> CommentView:
    """The caller's reaction; reacting twice with one emoji changes nothing."""

    def work(uow: UnitOfWork) -> CommentView:
        issue_id, row = _comment(uow, ref, comment_id, for_update=True)
        if row.is_deleted:
            raise FailedPrecondition(
                f"comment {comment_id} is deleted and takes no reactions", reason="COMMENT_DELETED"
            )
        added = uow.reactions.add(row.uuid, emoji, principal.email, uow.now)
        if added:
            uow.comments.save(row, [])  # the comment shows its reactions: a new version, a new etag
        view = views_of(uow, [row])[0]
        if added:
            uow.record(
                Change(
                    "reaction",
                    "created",
                    row.uuid,
                    issue_id,
                    None,
                    {"emoji": emoji, "user": principal.email},
                    view=view,
                )
            )
        return view

    return runner.run(principal, work, write=True)


def remove_reaction(runner: Runner, principal: Principal, ref: IssueRef, comment_id: uuid.UUID, emoji: str) -> None:
    """Remove the caller's own reaction, if there is one."""

    def work(uow: UnitOfWork) -> None:
        issue_id, row = _comment(uow, ref, comment_id, for_update=True)
        if uow.reactions.remove(row.uuid, emoji, principal.email):
            uow.comments.save(row, [])
            uow.record(
                Change(
                    "reaction",
                    "deleted",
                    row.uuid,
                    issue_id,
                    {"emoji": emoji, "user": principal.email},
                    None,
                    view=views_of(uow, [row])[0],
                )
            )

    runner.run(principal, work, write=True)
