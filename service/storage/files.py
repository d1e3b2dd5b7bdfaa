"""Queries on the file records linked to issues."""

from __future__ import annotations

import uuid

from .models import Attachment, IssueFile, utcnow


def for_issue(issue_id: uuid.UUID, file_type: str = "") -> list[IssueFile]:
    query = IssueFile.select().where(IssueFile.issue == issue_id)
    if file_type:
        query = query.where(IssueFile.file_type == file_type)
    return list(query.order_by(IssueFile.created_at, IssueFile.uuid))


def add(issue_id: uuid.UUID, attachment: Attachment, file_type: str, file_name: str) -> IssueFile:
    return IssueFile.create(
        uuid=uuid.uuid4(), issue=issue_id, file_name=file_name, file_type=file_type,
        attachment_id=attachment.uuid, created_at=utcnow(),
    )
