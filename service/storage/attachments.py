"""Attachments and what references them.

`AttachmentRepository` serves one workspace (the use cases); the functions
below it serve the blob store's signed URLs, which name an object key, and
the garbage collector, which works across workspaces by design.
"""

from __future__ import annotations

import datetime
import uuid
from typing import Iterable

import peewee

from ..domain.times import utcnow
from .database import is_postgres
from .models import Attachment, CommentAttachment, Issue, IssueFile

PENDING = "pending"
READY = "ready"
# The file_type of the file record that linking an attachment to an issue creates.
ATTACHMENT_FILE_TYPE = "attachment"


class AttachmentRepository:
    def __init__(self, workspace_id: int) -> None:
        self.workspace_id = workspace_id

    def insert(
        self,
        created_by: str,
        *,
        file_name: str,
        content_type: str,
        size_bytes: int,
        sha256: str | None,
        expires_at: datetime.datetime,
    ) -> Attachment:
        attachment_id = uuid.uuid4()
        return Attachment.create(
            uuid=attachment_id,
            workspace=self.workspace_id,
            file_name=file_name,
            content_type=content_type,
            size_bytes=size_bytes,
            sha256=sha256,
            status=PENDING,
            object_key=f"{self.workspace_id}/{attachment_id}",
            created_by=created_by,
            created_at=utcnow(),
            upload_expires_at=expires_at,
        )

    def get(self, attachment_id: uuid.UUID) -> Attachment | None:
        return Attachment.get_or_none((Attachment.uuid == attachment_id) & (Attachment.workspace == self.workspace_id))

    def renew_upload(self, row: Attachment, expires_at: datetime.datetime) -> bool:
        """Give a pending upload until `expires_at` (and `row` that expiry); False
        if it is no longer pending (uploaded, or removed as expired)."""
        renewed = (
            Attachment.update(upload_expires_at=expires_at)
            .where(
                (Attachment.uuid == row.uuid)
                & (Attachment.workspace == self.workspace_id)
                & (Attachment.status == PENDING)
            )
            .execute()
        )
        if renewed:
            row.upload_expires_at = expires_at
        return renewed == 1

    def by_ids(self, ids: Iterable[uuid.UUID], *, lock: bool = False) -> dict[uuid.UUID, Attachment]:
        """The named attachments of this workspace; with `lock`, share-locked on
        PostgreSQL so that the garbage collector cannot remove one while it is
        being referenced."""
        ids = list(dict.fromkeys(ids))
        if not ids:
            return {}
        query = Attachment.select().where((Attachment.workspace == self.workspace_id) & (Attachment.uuid.in_(ids)))
        if lock and is_postgres():
            query = query.for_update("FOR SHARE")
        return {row.uuid: row for row in query}

    def set_for_issue(self, issue: Issue, attachments: list[Attachment]) -> None:
        """Make exactly `attachments` the issue's: its attachment_ids and its
        file records of type "attachment" (kept when already linked).

        The caller saves `issue.attachment_ids` with the issue's other fields.
        """
        issue_id = issue.uuid
        issue.attachment_ids = [str(a.uuid) for a in attachments]
        wanted = {a.uuid: a for a in attachments}
        existing = {
            f.attachment_id: f
            for f in IssueFile.select().where(
                (IssueFile.issue == issue_id) & (IssueFile.file_type == ATTACHMENT_FILE_TYPE)
            )
        }
        gone = [f.uuid for a, f in existing.items() if a not in wanted]
        if gone:
            IssueFile.delete().where(IssueFile.uuid.in_(gone)).execute()
        now = utcnow()
        for offset, attachment in enumerate(a for a in attachments if a.uuid not in existing):
            IssueFile.create(
                uuid=uuid.uuid4(),
                issue=issue_id,
                file_name=attachment.file_name,
                file_type=ATTACHMENT_FILE_TYPE,
                attachment_id=attachment.uuid,
                created_at=now + datetime.timedelta(microseconds=offset),
            )

    def for_comments(self, comment_ids: list[uuid.UUID]) -> dict[uuid.UUID, list[Attachment]]:
        found: dict[uuid.UUID, list[Attachment]] = {c: [] for c in comment_ids}
        if not comment_ids:
            return found
        rows = (
            Attachment.select(Attachment, CommentAttachment.comment)
            .join(CommentAttachment, on=(CommentAttachment.attachment == Attachment.uuid))
            .where(CommentAttachment.comment.in_(comment_ids) & (Attachment.workspace == self.workspace_id))
            .order_by(CommentAttachment.position)
        )
        for row in rows:
            found[row.commentattachment.comment_uuid].append(row)
        return found

    def mark_ready(self, attachment: Attachment, sha256: str) -> bool:
        """pending -> ready, for an attachment of this workspace; False if another upload got there first."""
        if attachment.workspace_id != self.workspace_id:
            raise ValueError("an attachment of another workspace")  # a bug, never input
        return mark_ready(attachment, sha256)

    def set_for_comment(self, comment_id: uuid.UUID, attachments: list[Attachment]) -> None:
        CommentAttachment.delete().where(CommentAttachment.comment == comment_id).execute()
        for position, attachment in enumerate(attachments):
            CommentAttachment.create(comment=comment_id, attachment=attachment.uuid, position=position)


# -- signed URLs ----------------------------------------------------------------


def by_object_key(object_key: str) -> Attachment | None:
    return Attachment.get_or_none(Attachment.object_key == object_key)


def mark_ready(attachment: Attachment, sha256: str) -> bool:
    """pending -> ready; False if another upload got there first."""
    now = utcnow()
    changed = (
        Attachment.update(status=READY, sha256=sha256, uploaded_at=now)
        .where((Attachment.uuid == attachment.uuid) & (Attachment.status == PENDING))
        .execute()
    )
    return changed == 1


# -- lifecycle ----------------------------------------------------------------


def expired_pending(now: datetime.datetime, limit: int = 500) -> list[Attachment]:
    """Pending attachments whose upload URL has expired (nobody can upload them now)."""
    return list(
        Attachment.select().where((Attachment.status == PENDING) & (Attachment.upload_expires_at < now)).limit(limit)
    )


def unreferenced_ready(older_than: datetime.datetime, limit: int = 500) -> list[Attachment]:
    """Ready attachments uploaded before `older_than` that no issue or comment references."""
    issue_refs = IssueFile.select(peewee.SQL("1")).where(IssueFile.attachment_id == Attachment.uuid)
    comment_refs = CommentAttachment.select(peewee.SQL("1")).where(CommentAttachment.attachment == Attachment.uuid)
    return list(
        Attachment.select()
        .where(
            (Attachment.status == READY)
            & (Attachment.uploaded_at < older_than)
            & ~peewee.fn.EXISTS(issue_refs)
            & ~peewee.fn.EXISTS(comment_refs)
        )
        .limit(limit)
    )


def delete_if_unchanged(attachment: Attachment) -> bool:
    """Delete the row unless it was referenced or uploaded since it was read.

    The row is locked first (FOR UPDATE on PostgreSQL; SQLite writers are
    serialised) and the references counted after, so a reference being made
    concurrently either lands first and keeps the row, or finds it gone.
    """
    query = Attachment.select().where(Attachment.uuid == attachment.uuid)
    current = (query.for_update() if is_postgres() else query).first()
    if current is None or current.status != attachment.status:
        return False
    if IssueFile.select().where(IssueFile.attachment_id == attachment.uuid).exists():
        return False
    if CommentAttachment.select().where(CommentAttachment.attachment == attachment.uuid).exists():
        return False
    return Attachment.delete().where(Attachment.uuid == attachment.uuid).execute() == 1
