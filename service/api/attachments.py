"""issues.v1.IssueService: attachments and issue files."""

from __future__ import annotations

from issues.v1 import issue_file_pb2, issue_service_pb2 as pb

from ..app import attachments
from ..app.runner import Runner
from ..blobs import BlobStore
from ..config import BlobSettings
from ..domain.errors import InvalidArgument, Violations
from ..domain.identifiers import parse_issue_ref, parse_uuid, require_issue_ref, require_uuid
from . import messages, request_values
from .pipeline import Call

_FILE_TYPE_RULE = "must be 1 to 64 lower-case letters, digits and underscores"


class AttachmentsServicer:
    def __init__(self, runner: Runner, blobs: BlobStore, settings: BlobSettings) -> None:
        self._runner = runner
        self._blobs = blobs
        self._settings = settings

    def CreateAttachment(self, request: pb.CreateAttachmentRequest, call: Call) -> pb.CreateAttachmentResponse:
        limit = self._settings.max_upload_bytes
        v = Violations()
        request_values.file_name(v, "file_name", request.file_name)
        content_type = request.content_type or "application/octet-stream"
        if not request_values.CONTENT_TYPE.match(content_type):
            v.add("content_type", "must be a MIME type such as text/plain")
        if not 0 <= request.size_bytes <= limit:
            v.add("size_bytes", f"must be between 0 and {limit}, got {request.size_bytes}")
        sha256 = request.sha256.lower() if request.HasField("sha256") else None
        if sha256 is not None and not request_values.SHA256.match(sha256):
            v.add("sha256", "must be 64 hexadecimal digits")
        request_id = request_values.request_id(v, request, messages.upload_target)
        v.check()
        target = attachments.create_attachment(
            self._runner,
            call.principal,
            self._blobs,
            file_name=request.file_name,
            content_type=content_type,
            size_bytes=request.size_bytes,
            sha256=sha256,
            url_seconds=self._settings.upload_url_seconds,
            request_id=request_id,
        )
        return messages.upload_target(target)

    def GetAttachment(self, request: pb.GetAttachmentRequest, call: Call) -> pb.GetAttachmentResponse:
        attachment_id = require_uuid("attachment_id", request.attachment_id)
        download = attachments.get_attachment(
            self._runner, call.principal, self._blobs, attachment_id, self._settings.download_url_seconds
        )
        response = pb.GetAttachmentResponse(attachment=messages.attachment(download.attachment))
        if download.url is not None and download.expires_at is not None:
            response.download_url = download.url
            response.expires_at.CopyFrom(messages.timestamp(download.expires_at))
        return response

    def AddIssueFile(self, request: pb.AddIssueFileRequest, call: Call) -> issue_file_pb2.IssueFile:
        v = Violations()
        issue_id = parse_issue_ref(v, "issue_id", request.issue_id)
        attachment_id = parse_uuid(v, "attachment_id", request.attachment_id)
        if not request_values.FILE_TYPE.match(request.file_type):
            v.add("file_type", _FILE_TYPE_RULE)
        file_name = request.file_name if request.HasField("file_name") else None
        if file_name is not None:
            request_values.file_name(v, "file_name", file_name)
        v.check()
        assert issue_id is not None and attachment_id is not None
        row = attachments.add_issue_file(
            self._runner, call.principal, self._blobs, issue_id, attachment_id, request.file_type, file_name
        )
        return messages.issue_file(row)

    def ListIssueFiles(self, request: pb.ListIssueFilesRequest, call: Call) -> pb.ListIssueFilesResponse:
        issue_id = require_issue_ref("issue_id", request.issue_id)
        if request.file_type and not request_values.FILE_TYPE.match(request.file_type):
            raise InvalidArgument.field("file_type", _FILE_TYPE_RULE)
        rows = attachments.list_issue_files(self._runner, call.principal, issue_id, request.file_type)
        return pb.ListIssueFilesResponse(files=[messages.issue_file(r) for r in rows])
