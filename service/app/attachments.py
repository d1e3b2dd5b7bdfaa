"""Use cases of attachments and issue files.

Bytes never pass through here: clients move them with the blob store's
signed URLs. What happens here is the bookkeeping around them: a pending
attachment is made ready once its bytes have arrived intact, and only ready
attachments of the caller's workspace can be referenced.
"""

from __future__ import annotations

import datetime
import uuid
from dataclasses import dataclass

from ..blobs import BlobStore
from ..domain.errors import NotFound
from ..domain.identifiers import IssueRef
from ..domain.roles import Principal
from ..domain.times import utcnow
from ..storage import attachments as attachments_store
from ..storage.database import transaction
from ..storage.models import Attachment, IssueFile
from .changes import Change, fields_of
from .issues import find_issue
from .request_ids import RequestId, StoredAnswer
from .runner import Runner
from .unit_of_work import UnitOfWork
from .uploads import confirm_uploads, ready_attachments

# The attachment states, as the blob endpoints compare them.
PENDING, READY = attachments_store.PENDING, attachments_store.READY

FILE_FIELDS = ("file_name", "file_type", "attachment_id", "created_at")
ATTACHMENT_FIELDS = ("file_name", "content_type", "size_bytes", "sha256", "status", "created_at")


@dataclass(frozen=True)
class UploadTarget:
    attachment: Attachment
    url: str
    headers: dict[str, str]
    expires_at: datetime.datetime


@dataclass(frozen=True)
class Download:
    attachment: Attachment
    # Set only when the attachment is ready.
    url: str | None
    expires_at: datetime.datetime | None


def create_attachment(
    runner: Runner,
    principal: Principal,
    blobs: BlobStore,
    *,
    file_name: str,
    content_type: str,
    size_bytes: int,
    sha256: str | None,
    url_seconds: int,
    request_id: RequestId | None = None,
) -> UploadTarget:
    """Register a pending attachment and sign its upload URL; `request_id`:
    its request_id. A repeat gets the stored answer, but while the upload is
    still pending it gets a freshly signed URL (and the upload a new lease)."""
    lease = datetime.timedelta(seconds=url_seconds)

    def signed(row: Attachment) -> UploadTarget:
        url, headers = blobs.upload_target(
            row.object_key,
            workspace_id=principal.workspace_id,
            size_bytes=row.size_bytes,
            content_type=row.content_type,
            sha256=row.sha256,
            expires_at=row.upload_expires_at,
        )
        return UploadTarget(row, url, headers, row.upload_expires_at)

    def work(uow: UnitOfWork) -> UploadTarget:
        row = uow.attachments.insert(
            principal.email,
            file_name=file_name,
            content_type=content_type,
            size_bytes=size_bytes,
            sha256=sha256,
            expires_at=uow.now + lease,
        )
        uow.record(Change("attachment", "created", row.uuid, None, None, fields_of(row, ATTACHMENT_FIELDS)))
        return signed(row)

    def replay_with(uow: UnitOfWork, first: StoredAnswer) -> UploadTarget | None:
        row = uow.attachments.get(first.resource_id) if first.resource_id is not None else None
        if row is None or not uow.attachments.renew_upload(row, uow.now + lease):
            return None  # uploaded (or gone) since: the stored answer stands
        return signed(row)

    return runner.run(principal, work, write=True, request_id=request_id, replay_with=replay_with)


def get_attachment(
    runner: Runner,
    principal: Principal,
    blobs: BlobStore,
    attachment_id: uuid.UUID,
    url_seconds: int,
) -> Download:
    def work(uow: UnitOfWork) -> Attachment:
        row = uow.attachments.get(attachment_id)
        if row is None:
            raise NotFound(f"attachment {attachment_id} not found")
        return row

    row = runner.run(principal, work)
    if row.status == attachments_store.PENDING and confirm_uploads(runner, principal, blobs, [attachment_id]):
        row = runner.run(principal, work)
    if row.status != attachments_store.READY:
        return Download(row, None, None)
    expires_at = utcnow() + datetime.timedelta(seconds=url_seconds)
    url = blobs.download_url(
        row.object_key,
        workspace_id=principal.workspace_id,
        file_name=row.file_name,
        content_type=row.content_type,
        expires_at=expires_at,
    )
    return Download(row, url, expires_at)


def add_issue_file(
    runner: Runner,
    principal: Principal,
    blobs: BlobStore,
    ref: IssueRef,
    attachment_id: uuid.UUID,
    file_type: str,
    file_name: str | None,
) -> IssueFile:
    confirm_uploads(runner, principal, blobs, [attachment_id])

    def work(uow: UnitOfWork) -> IssueFile:
        issue_id = find_issue(uow, ref).uuid
        (attachment,) = ready_attachments(uow, "attachment_id", [attachment_id], single=True)
        row = uow.files.insert(issue_id, attachment, file_type, file_name or attachment.file_name, uow.now)
        uow.record(Change("file", "created", row.uuid, issue_id, None, fields_of(row, FILE_FIELDS), view=row))
        return row

    return runner.run(principal, work, write=True)


def list_issue_files(runner: Runner, principal: Principal, ref: IssueRef, file_type: str) -> list[IssueFile]:
    def work(uow: UnitOfWork) -> list[IssueFile]:
        return uow.files.for_issue(find_issue(uow, ref).uuid, file_type)

    return runner.run(principal, work, snapshot=True)


# -- the blob store's signed URLs (the signature is the credential) -----------


def by_object_key(object_key: str) -> Attachment | None:
    return transaction(lambda: attachments_store.by_object_key(object_key))


def mark_uploaded(attachment: Attachment, sha256: str) -> bool:
    """pending -> ready once the bytes are stored; False if another upload got there first."""
    return transaction(lambda: attachments_store.mark_ready(attachment, sha256), write=True)
