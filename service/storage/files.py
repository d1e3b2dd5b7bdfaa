"""Queries on the file records linked to issues."""

from __future__ import annotations

import uuid

from .models import IssueFile


def for_issue(issue_id: uuid.UUID, file_type: str = "") -> list[IssueFile]:
    query = IssueFile.select().where(IssueFile.issue == issue_id)
    if file_type:
        query = query.where(IssueFile.file_type == file_type)
    return list(query.order_by(IssueFile.created_at, IssueFile.uuid))
