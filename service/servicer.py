"""issues.v1.IssueService: validate the request, run one transaction, convert.

Authentication, role checks, error mapping and logging happen around these
handlers in `interceptors.py`; a handler sees an authenticated principal via
`auth.current()` and raises `errors.ServiceError` subclasses for the caller.
"""

from __future__ import annotations

import datetime
import uuid
from typing import Any

import grpc
from google.protobuf import empty_pb2

from issues.v1 import comment_pb2, issue_file_pb2, issue_pb2, issue_service_pb2 as pb, issue_service_pb2_grpc

from . import auth, charts, convert, validation
from .auth import Role
from .blobs import BlobStore
from .config import BlobSettings
from .issue_cache import IssueMessages, Key
from .errors import FieldViolation, InvalidArgument, NotFound, PermissionDenied, FailedPrecondition
from .storage import attachments as attachments_store
from .storage import comments as comments_store
from .storage import files as files_store
from .storage import issues as issues_store
from .storage.database import transaction
from .storage.models import Attachment, Issue, utcnow
from .validation import PRIORITY_NAMES, STATUS_NAMES, Violations

METRICS_DAYS_DEFAULT = 30
METRICS_DAYS_MAX = 366


class IssueService(issue_service_pb2_grpc.IssueServiceServicer):
    def __init__(self, blobs: BlobStore, blob_settings: BlobSettings) -> None:
        self._blobs = blobs
        self._blob_settings = blob_settings
        self._messages = IssueMessages()

    def _issue_messages(self, workspace_id: int, keys: list[Key]) -> list[issue_pb2.Issue]:
        """The issues for (uuid, updated_at) keys, built only for those not seen before.

        Runs in the caller's snapshot, so the keys and the rows agree.
        """
        found = {key: self._messages.get(key) for key in keys}
        missing = [key[0] for key, message in found.items() if message is None]
        if missing:
            rows = list(issues_store.by_ids(workspace_id, missing).values())
            for row, message in zip(rows, _issues(rows)):
                key = (row.uuid, row.updated_at)
                self._messages.put(key, message)
                found[key] = message
        return [found[key] for key in keys]

    # -- issues -------------------------------------------------------------

    def CreateIssue(self, request: pb.CreateIssueRequest, context: grpc.ServicerContext) -> issue_pb2.Issue:
        principal = auth.current()
        values = validation.issue_values(request, validation.ISSUE_FIELDS, creating=True)
        self._confirm_uploads(principal.workspace_id, values["attachment_ids"])

        def work() -> issue_pb2.Issue:
            attachments = self._ready_attachments(principal.workspace_id, "attachment_ids", values["attachment_ids"])
            row = issues_store.create(principal.workspace_id, principal.email, values)
            if attachments:  # a new issue has none to replace
                attachments_store.set_issue_attachments(row, attachments)
            return convert.issue(row, [convert.attachment(a) for a in attachments])

        return transaction(work, write=True)

    def GetIssue(self, request: pb.GetIssueRequest, context: grpc.ServicerContext) -> issue_pb2.Issue:
        principal = auth.current()
        issue_id = validation.require_uuid("issue_id", request.issue_id)
        return transaction(lambda: _issues([_issue(principal.workspace_id, issue_id)])[0])

    def ListIssues(self, request: pb.ListIssuesRequest, context: grpc.ServicerContext) -> pb.ListIssuesResponse:
        principal = auth.current()
        v = Violations()
        limit, offset = validation.page(v, request, default_limit=100)
        statuses = _enum_filter(v, "status", request.status, STATUS_NAMES)
        priorities = _enum_filter(v, "priority", request.priority, PRIORITY_NAMES)
        v.check()

        def work() -> pb.ListIssuesResponse:
            keys, total = issues_store.page(principal.workspace_id, statuses, priorities, limit, offset)
            return pb.ListIssuesResponse(items=self._issue_messages(principal.workspace_id, keys), count=total)

        return transaction(work, snapshot=True)

    def UpdateIssue(self, request: pb.UpdateIssueRequest, context: grpc.ServicerContext) -> issue_pb2.Issue:
        principal = auth.current()
        issue_id = validation.require_uuid("issue_id", request.issue_id)
        paths = validation.update_paths(request, validation.ISSUE_FIELDS)
        values = validation.issue_values(request, paths, creating=False)
        self._confirm_uploads(principal.workspace_id, values.get("attachment_ids", []))

        def work() -> issue_pb2.Issue:
            row = _issue(principal.workspace_id, issue_id, for_update=True)
            if "attachment_ids" in values:
                attachments = self._ready_attachments(principal.workspace_id, "attachment_ids", values["attachment_ids"])
                attachments_store.set_issue_attachments(row, attachments)
            return _issues([issues_store.update(row, values)])[0]

        return transaction(work, write=True)

    def DeleteIssue(self, request: pb.DeleteIssueRequest, context: grpc.ServicerContext) -> empty_pb2.Empty:
        principal = auth.current()
        issue_id = validation.require_uuid("issue_id", request.issue_id)

        def work() -> empty_pb2.Empty:
            if not issues_store.delete(principal.workspace_id, issue_id):
                raise _issue_not_found(issue_id)
            return empty_pb2.Empty()

        return transaction(work, write=True)

    def GetIssueMetrics(
        self, request: pb.GetIssueMetricsRequest, context: grpc.ServicerContext
    ) -> pb.GetIssueMetricsResponse:
        principal = auth.current()
        days = request.days if request.HasField("days") else METRICS_DAYS_DEFAULT
        if not 1 <= days <= METRICS_DAYS_MAX:
            raise InvalidArgument([FieldViolation("days", f"must be between 1 and {METRICS_DAYS_MAX}, got {days}")])
        today = utcnow().date()
        first_day = today - datetime.timedelta(days=days - 1)
        counts = transaction(lambda: issues_store.counts(principal.workspace_id, first_day), snapshot=True)
        return pb.GetIssueMetricsResponse(metrics=charts.build(counts, first_day, days))

    # -- comments -----------------------------------------------------------

    def ListComments(self, request: pb.ListCommentsRequest, context: grpc.ServicerContext) -> pb.ListCommentsResponse:
        principal = auth.current()
        v = Violations()
        issue_id = validation.parse_uuid(v, "issue_id", request.issue_id)
        limit, offset = validation.page(v, request, default_limit=50)
        v.check()

        def work() -> pb.ListCommentsResponse:
            _issue(principal.workspace_id, issue_id)
            rows, total = comments_store.page(issue_id, limit, offset)
            return pb.ListCommentsResponse(items=_comments(rows), count=total)

        return transaction(work, snapshot=True)

    def CreateComment(self, request: pb.CreateCommentRequest, context: grpc.ServicerContext) -> comment_pb2.Comment:
        principal = auth.current()
        v = Violations()
        issue_id = validation.parse_uuid(v, "issue_id", request.issue_id)
        content = validation.text(v, "content", request.content, max_len=validation.COMMENT_MAX)
        attachment_ids = validation.uuid_list(
            v, "attachment_ids", request.attachment_ids, max_items=validation.COMMENT_ATTACHMENTS_MAX
        )
        v.check()
        self._confirm_uploads(principal.workspace_id, attachment_ids)

        def work() -> comment_pb2.Comment:
            _issue(principal.workspace_id, issue_id)
            attachments = self._ready_attachments(principal.workspace_id, "attachment_ids", attachment_ids)
            row = comments_store.create(issue_id, principal.email, content)
            if attachments:
                attachments_store.set_comment_attachments(row.uuid, attachments)
            return convert.comment(row, [convert.attachment(a) for a in attachments])

        return transaction(work, write=True)

    def UpdateComment(self, request: pb.UpdateCommentRequest, context: grpc.ServicerContext) -> comment_pb2.Comment:
        principal = auth.current()
        issue_id, comment_id = _comment_ids(request)
        paths = validation.update_paths(request, ("content", "attachment_ids"))
        v = Violations()
        content = validation.text(v, "content", request.content, max_len=validation.COMMENT_MAX) if "content" in paths else None
        attachment_ids = validation.uuid_list(
            v, "attachment_ids", request.attachment_ids, max_items=validation.COMMENT_ATTACHMENTS_MAX
        )
        v.check()
        self._confirm_uploads(principal.workspace_id, attachment_ids if "attachment_ids" in paths else [])

        def work() -> comment_pb2.Comment:
            row = _own_comment(principal, issue_id, comment_id)
            if row.is_deleted:
                raise FailedPrecondition(f"comment {comment_id} is deleted and cannot be edited")
            if "attachment_ids" in paths:
                attachments = self._ready_attachments(principal.workspace_id, "attachment_ids", attachment_ids)
                attachments_store.set_comment_attachments(row.uuid, attachments)
            comments_store.edit(row, row.content if content is None else content)
            return _comments([row])[0]

        return transaction(work, write=True)

    def DeleteComment(self, request: pb.DeleteCommentRequest, context: grpc.ServicerContext) -> empty_pb2.Empty:
        principal = auth.current()
        issue_id, comment_id = _comment_ids(request)

        def work() -> empty_pb2.Empty:
            row = _own_comment(principal, issue_id, comment_id)
            if not row.is_deleted:  # deleting twice is not an error
                comments_store.soft_delete(row)
            return empty_pb2.Empty()

        return transaction(work, write=True)

    # -- files and attachments ----------------------------------------------

    def AddIssueFile(self, request: pb.AddIssueFileRequest, context: grpc.ServicerContext) -> issue_file_pb2.IssueFile:
        principal = auth.current()
        v = Violations()
        issue_id = validation.parse_uuid(v, "issue_id", request.issue_id)
        attachment_id = validation.parse_uuid(v, "attachment_id", request.attachment_id)
        if not validation.FILE_TYPE.match(request.file_type):
            v.add("file_type", "must be 1 to 64 lower-case letters, digits and underscores")
        file_name = request.file_name if request.HasField("file_name") else None
        if file_name is not None:
            validation.file_name(v, "file_name", file_name)
        v.check()
        self._confirm_uploads(principal.workspace_id, [attachment_id])

        def work() -> issue_file_pb2.IssueFile:
            _issue(principal.workspace_id, issue_id)
            (attachment,) = self._ready_attachments(principal.workspace_id, "attachment_id", [attachment_id], single=True)
            row = files_store.add(issue_id, attachment, request.file_type, file_name or attachment.file_name)
            return convert.issue_file(row)

        return transaction(work, write=True)

    def CreateAttachment(
        self, request: pb.CreateAttachmentRequest, context: grpc.ServicerContext
    ) -> pb.CreateAttachmentResponse:
        principal = auth.current()
        limit = self._blob_settings.max_upload_bytes
        v = Violations()
        validation.file_name(v, "file_name", request.file_name)
        content_type = request.content_type or "application/octet-stream"
        if not validation.CONTENT_TYPE.match(content_type):
            v.add("content_type", "must be a MIME type such as text/plain")
        if not 0 <= request.size_bytes <= limit:
            v.add("size_bytes", f"must be between 0 and {limit}, got {request.size_bytes}")
        sha256 = request.sha256.lower() if request.HasField("sha256") else None
        if sha256 is not None and not validation.SHA256.match(sha256):
            v.add("sha256", "must be 64 hexadecimal digits")
        v.check()
        expires_at = utcnow() + datetime.timedelta(seconds=self._blob_settings.upload_url_seconds)

        def work() -> Attachment:
            return attachments_store.create(
                principal.workspace_id, principal.email, file_name=request.file_name, content_type=content_type,
                size_bytes=request.size_bytes, sha256=sha256, expires_at=expires_at,
            )

        row = transaction(work, write=True)
        url, headers = self._blobs.upload_target(
            row.object_key, workspace_id=principal.workspace_id, size_bytes=row.size_bytes,
            content_type=row.content_type, sha256=row.sha256, expires_at=expires_at,
        )
        return pb.CreateAttachmentResponse(
            attachment=convert.attachment(row), upload_url=url, expires_at=convert.timestamp(expires_at),
            upload_headers=headers,
        )

    def GetAttachment(self, request: pb.GetAttachmentRequest, context: grpc.ServicerContext) -> pb.GetAttachmentResponse:
        principal = auth.current()
        attachment_id = validation.require_uuid("attachment_id", request.attachment_id)

        def work() -> Attachment:
            row = attachments_store.get(principal.workspace_id, attachment_id)
            if row is None:
                raise NotFound(f"attachment {attachment_id} not found")
            return row

        row = transaction(work)
        if row.status == attachments_store.PENDING and self._confirm_uploads(principal.workspace_id, [attachment_id]):
            row = transaction(work)
        response = pb.GetAttachmentResponse(attachment=convert.attachment(row))
        if row.status == attachments_store.READY:
            expires_at = utcnow() + datetime.timedelta(seconds=self._blob_settings.download_url_seconds)
            response.download_url = self._blobs.download_url(
                row.object_key, workspace_id=principal.workspace_id, file_name=row.file_name,
                content_type=row.content_type, expires_at=expires_at,
            )
            response.expires_at.CopyFrom(convert.timestamp(expires_at))
        return response

    def _confirm_uploads(self, workspace_id: int, ids: list[uuid.UUID]) -> bool:
        """Pending attachments whose bytes have arrived intact become ready; True if any did.

        The file store marks its uploads ready as they arrive; S3 uploads (and
        file uploads cut off between storing and marking) are confirmed here,
        reading the store with no transaction open. Bytes that do not match
        the declaration are removed, so the client can upload again.
        """
        if not ids:
            return False
        rows = transaction(lambda: list(attachments_store.in_workspace(workspace_id, ids, lock=False).values()))
        confirmed = False
        for row in rows:
            if row.status != attachments_store.PENDING:
                continue
            size = self._blobs.uploaded_size(row.object_key)
            if size is None:
                continue
            sha256 = self._blobs.sha256(row.object_key) if size == row.size_bytes else None
            if sha256 is None or (row.sha256 and sha256 != row.sha256):
                self._blobs.delete(row.object_key)
                continue
            confirmed |= transaction(lambda: attachments_store.mark_ready(row, sha256), write=True)
        return confirmed

    def _ready_attachments(
        self, workspace_id: int, field: str, ids: list[uuid.UUID], *, single: bool = False
    ) -> list[Attachment]:
        """The named attachments, in order; each must be a ready upload of this workspace.

        Runs inside the caller's transaction, after `_confirm_uploads`.
        """
        found = attachments_store.in_workspace(workspace_id, ids)
        v = Violations()
        for i, attachment_id in enumerate(ids):
            name = field if single else f"{field}[{i}]"
            row = found.get(attachment_id)
            if row is None:
                v.add(name, f"attachment {attachment_id} does not exist in this workspace")
                continue
            if row.status != attachments_store.READY:
                v.add(name, f"attachment {attachment_id} has not been uploaded yet")
        v.check()
        return [found[i] for i in ids]

    # -- files --------------------------------------------------------------

    def ListIssueFiles(
        self, request: pb.ListIssueFilesRequest, context: grpc.ServicerContext
    ) -> pb.ListIssueFilesResponse:
        principal = auth.current()
        issue_id = validation.require_uuid("issue_id", request.issue_id)
        if request.file_type and not validation.FILE_TYPE.match(request.file_type):
            raise InvalidArgument([FieldViolation("file_type", "must be 1 to 64 lower-case letters, digits and underscores")])

        def work() -> pb.ListIssueFilesResponse:
            _issue(principal.workspace_id, issue_id)
            rows = files_store.for_issue(issue_id, request.file_type)
            return pb.ListIssueFilesResponse(files=[convert.issue_file(r) for r in rows])

        return transaction(work, snapshot=True)


# -- helpers ------------------------------------------------------------------


def _issue_not_found(issue_id: uuid.UUID) -> NotFound:
    # The same answer whether the issue never existed or is in another workspace.
    return NotFound(f"issue {issue_id} not found")


def _issue(workspace_id: int, issue_id: uuid.UUID, *, for_update: bool = False) -> Issue:
    row = issues_store.get(workspace_id, issue_id, for_update=for_update)
    if row is None:
        raise _issue_not_found(issue_id)
    return row


def _comment_ids(request: Any) -> tuple[uuid.UUID, uuid.UUID]:
    v = Violations()
    issue_id = validation.parse_uuid(v, "issue_id", request.issue_id)
    comment_id = validation.parse_uuid(v, "comment_id", request.comment_id)
    v.check()
    assert issue_id is not None and comment_id is not None
    return issue_id, comment_id


def _own_comment(principal: auth.Principal, issue_id: uuid.UUID, comment_id: uuid.UUID) -> Any:
    _issue(principal.workspace_id, issue_id)
    row = comments_store.get(principal.workspace_id, issue_id, comment_id)
    if row is None:
        raise NotFound(f"comment {comment_id} not found on issue {issue_id}")
    if row.created_by != principal.email and principal.role < Role.ADMIN:
        raise PermissionDenied("only the comment's author or an admin may change it")
    return row


def _enum_filter(v: Violations, field: str, values: Any, names: dict[int, str]) -> list[str]:
    out = []
    for i, value in enumerate(values):
        name = validation.enum_value(v, f"{field}[{i}]", value, names)
        if name:
            out.append(name)
    return sorted(set(out))


def _issues(rows: list[Issue]) -> list[issue_pb2.Issue]:
    """Issue messages with their attachments (one query, only if any are attached)."""
    found = attachments_store.by_ids(i for row in rows for i in row.attachment_ids)
    return [
        convert.issue(row, [convert.attachment(found[i]) for i in row.attachment_ids if i in found])
        for row in rows
    ]


def _comments(rows: list[Any]) -> list[comment_pb2.Comment]:
    found = attachments_store.for_comments([r.uuid for r in rows if not r.is_deleted])
    return [convert.comment(r, [convert.attachment(a) for a in found.get(r.uuid, [])]) for r in rows]
