"""Turning stored rows into the protobuf messages of the contract."""

from __future__ import annotations

import datetime
from typing import Any

from google.protobuf import timestamp_pb2

from issues.v1 import attachment_pb2, comment_pb2, issue_file_pb2, issue_pb2

from .storage.models import Attachment, Comment, Issue, IssueFile
from .validation import PRIORITY_NAMES, STATUS_NAMES

_STATUS = {name: number for number, name in STATUS_NAMES.items()}
_PRIORITY = {name: number for number, name in PRIORITY_NAMES.items()}


_EPOCH = datetime.datetime(1970, 1, 1)


def timestamp(value: datetime.datetime) -> timestamp_pb2.Timestamp:
    """A naive UTC datetime (as storage keeps them) as a Timestamp.

    Plain arithmetic: Timestamp.FromDatetime goes through calendar.timegm and
    was a tenth of a 100-issue page's CPU.
    """
    delta = value - _EPOCH
    return timestamp_pb2.Timestamp(seconds=delta.days * 86400 + delta.seconds, nanos=delta.microseconds * 1000)


def issue(row: Issue, attachments: list[Any] = ()) -> issue_pb2.Issue:
    message = issue_pb2.Issue(
        uuid=str(row.uuid),
        title=row.title,
        status=_STATUS[row.status],
        priority=_PRIORITY[row.priority],
        tags=row.tags,
        owner=row.owner,
        created_by=row.created_by,
        created_at=timestamp(row.created_at),
        updated_at=timestamp(row.updated_at),
        sessions=[issue_pb2.SessionRef(uuid=s) for s in row.session_ids],
        attachments=attachments,
    )
    for block in row.description:
        message.description.add().update(block)
    if row.resolution_summary is not None:
        message.resolution_summary = row.resolution_summary
    if row.job_run_id is not None:
        message.job_run_id = row.job_run_id
    return message


def comment(row: Comment, attachments: list[Any] = ()) -> comment_pb2.Comment:
    # A deleted comment keeps its row; its content and files are withheld.
    return comment_pb2.Comment(
        uuid=str(row.uuid),
        content="" if row.is_deleted else row.content,
        attachments=[] if row.is_deleted else attachments,
        created_by=row.created_by,
        created_at=timestamp(row.created_at),
        updated_at=timestamp(row.updated_at),
        is_edited=row.is_edited,
        is_deleted=row.is_deleted,
    )


def issue_file(row: IssueFile) -> issue_file_pb2.IssueFile:
    return issue_file_pb2.IssueFile(
        uuid=str(row.uuid),
        file_name=row.file_name,
        file_type=row.file_type,
        attachment_id=str(row.attachment_id),
        created_at=timestamp(row.created_at),
    )


_ATTACHMENT_STATUS = {"pending": attachment_pb2.Attachment.STATUS_PENDING, "ready": attachment_pb2.Attachment.STATUS_READY}


def attachment(row: Attachment) -> attachment_pb2.Attachment:
    message = attachment_pb2.Attachment(
        uuid=str(row.uuid),
        file_name=row.file_name,
        content_type=row.content_type,
        size_bytes=row.size_bytes,
        status=_ATTACHMENT_STATUS[row.status],
        created_by=row.created_by,
        created_at=timestamp(row.created_at),
    )
    if row.sha256:
        message.sha256 = row.sha256
    return message
