"""issues.v1.IssueService: the file store's bytes, behind its signed URLs.

UploadBlob and DownloadBlob carry no token (`signed_url`): the URL's
signature, in the request, is the only credential, checked here before
anything else. The gateway maps `PUT/GET /blobs/{workspace_id}/{attachment_id}`
onto them by the generic HttpBody rules (common/httpbody.py), so the bytes
reach this process over gRPC wherever the gateway runs.

An upload is streamed to disk chunk by chunk (memory stays flat whatever the
size), hashed on the way, checked against the declared size and sha256, and
only then marks the attachment ready; a mismatch leaves it pending so the
client can try again.
"""

from __future__ import annotations

import hashlib
import itertools
import logging
from typing import TYPE_CHECKING, Iterator

from google.api import httpbody_pb2

from common.httpbody import ACCEPTED, CHUNK_BYTES, header_metadata
from issues.v1 import issue_service_pb2 as pb

from ..app import attachments
from ..blobs import BlobStore
from ..blobs.download_headers import content_disposition
from ..blobs.filesystem import FilesystemStore
from ..domain.errors import FailedPrecondition, InvalidArgument, NotFound, PermissionDenied, ServiceError
from .pipeline import Call

if TYPE_CHECKING:
    from ..storage.models import Attachment

log = logging.getLogger("service.blobs")


class AlreadyUploaded(ServiceError):
    code = "ALREADY_EXISTS"

    def __init__(self) -> None:
        super().__init__("the attachment was already uploaded")


class BlobsServicer:
    def __init__(self, blobs: BlobStore) -> None:
        self._blobs = blobs

    def UploadBlob(self, requests: Iterator[pb.UploadBlobRequest], call: Call) -> pb.UploadBlobResponse:
        store = self._file_store()
        first = next(requests, None)
        if first is None:
            raise InvalidArgument.field("request", "the stream has no message naming the object")
        attachment = _signed(store, "PUT", first)
        if attachment.status != attachments.PENDING:
            raise AlreadyUploaded()
        call.context.send_initial_metadata((ACCEPTED,))  # the gateway sends the rest only now
        declared = attachment.size_bytes
        upload = store.new_upload()
        digest = hashlib.sha256()
        received = 0
        try:
            for message in itertools.chain((first,), requests):
                chunk = message.chunk.data
                received += len(chunk)
                if received <= declared:  # past it, read on to the end, keeping nothing
                    digest.update(chunk)
                    upload.write(chunk)
            if received > declared:
                raise InvalidArgument.field(
                    "size_bytes", f"received {received} bytes, more than the declared {declared}"
                )
            if received != declared:
                raise InvalidArgument.field("size_bytes", f"received {received} bytes, not the declared {declared}")
            sha256 = digest.hexdigest()
            if attachment.sha256 and attachment.sha256 != sha256:
                raise InvalidArgument.field(
                    "sha256", f"the bytes' sha256 is {sha256}, not the declared {attachment.sha256}"
                )
            if not upload.commit(attachment.object_key):
                raise AlreadyUploaded()
        finally:
            upload.discard()
        if not attachments.mark_uploaded(attachment, sha256):
            raise AlreadyUploaded()
        log.info("attachment uploaded", extra={"attachment": str(attachment.uuid), "bytes": received})
        return pb.UploadBlobResponse(uuid=str(attachment.uuid), status="ready", size_bytes=received, sha256=sha256)

    def DownloadBlob(self, request: pb.DownloadBlobRequest, call: Call) -> Iterator[httpbody_pb2.HttpBody]:
        store = self._file_store()
        attachment = _signed(store, "GET", request)
        if attachment.status != attachments.READY:
            raise NotFound("the attachment has not been uploaded yet")
        path = store.path(attachment.object_key)
        try:
            file = open(path, "rb")  # noqa: SIM115 - closed by the `with` below; opened apart so that only open() means NotFound
        except FileNotFoundError:
            raise NotFound("the attachment's bytes are gone") from None
        with file:
            size = path.stat().st_size
            call.context.send_initial_metadata(
                header_metadata(
                    {
                        "Content-Disposition": content_disposition(attachment.file_name),
                        "Content-Length": str(size),
                    }
                )
            )
            chunk = file.read(CHUNK_BYTES)
            yield httpbody_pb2.HttpBody(content_type=attachment.content_type, data=chunk)
            while chunk := file.read(CHUNK_BYTES):
                yield httpbody_pb2.HttpBody(data=chunk)

    def _file_store(self) -> FilesystemStore:
        if not isinstance(self._blobs, FilesystemStore):
            raise FailedPrecondition(
                "this server keeps attachments in S3: use the URLs CreateAttachment returns", reason="NOT_FILE_STORE"
            )
        return self._blobs


def _signed(store: FilesystemStore, verb: str, request: pb.UploadBlobRequest | pb.DownloadBlobRequest) -> Attachment:
    """The attachment a signed URL names, once its signature holds for `verb`."""
    object_key = f"{request.workspace_id}/{request.attachment_id}"
    if request.expires <= 0:
        raise PermissionDenied("the URL has no valid expiry; ask for a new one")
    problem = store.signer.verify(verb, object_key, request.workspace_id, request.expires, request.signature)
    if problem:
        raise PermissionDenied(f"the URL is not valid: {problem}")
    attachment = attachments.by_object_key(object_key)
    if attachment is None:
        raise NotFound("no such attachment")
    return attachment
