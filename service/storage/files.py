"""The file records of one workspace's issues."""

from __future__ import annotations

import datetime
import uuid

from .models import Attachment, Issue, IssueFile


class FileRepository:
    def __init__(self, workspace_id: int) -> None:
        self.workspace_id = workspace_id

    def for_issue(self, issue_id: uuid.UUID, file_type: str = "") -> list[IssueFile]:
        query = (
            IssueFile.select(IssueFile)
            .join(Issue)
            .where((IssueFile.issue == issue_id) & (Issue.workspace == self.workspace_id))
        )
        if file_type:
            query = query.where(IssueFile.file_type == file_type)
        return list(query.order_by(IssueFile.created_at, IssueFile.uuid))

    def insert(
        self, issue_id: uuid.UUID, attachment: Attachment, file_type: str, file_name: str, now: datetime.datetime
    ) -> IssueFile:
        """Record a file on an issue; the caller has found both in this workspace."""
        if attachment.workspace_id != self.workspace_id:
            raise ValueError("an attachment of another workspace")  # a bug, never input
        return IssueFile.create(
            uuid=uuid.uuid4(),
            issue=issue_id,
            file_name=file_name,
            file_type=file_type,
            attachment_id=attachment.uuid,
            created_at=now,
        )
