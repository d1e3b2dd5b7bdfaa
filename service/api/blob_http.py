"""The filesystem store's signed URLs, served over HTTP beside the gateway.

PUT /blobs/{workspace_id}/{attachment_id}?expires=..&signature=..  stores the bytes
GET /blobs/{workspace_id}/{attachment_id}?expires=..&signature=..  returns them

The signature is the only credential. An upload is streamed to disk in
chunks (memory stays flat whatever the size), hashed on the way, checked
against the declared size and sha256, and only then marks the attachment
ready; a mismatch leaves it pending so the client can try again.
"""

from __future__ import annotations

import hashlib
import logging
from typing import Any

from starlette.concurrency import run_in_threadpool
from starlette.requests import Request
from starlette.responses import FileResponse, JSONResponse, Response
from starlette.routing import Route

from common.errors import STATUS_FOR_HTTP, FieldViolation, bad_request_json, envelope

from ..app import attachments
from ..blobs import content_disposition
from ..blobs.filesystem import FilesystemStore
from ..domain.errors import Unavailable

log = logging.getLogger("service.blobs")

def error(code: int, message: str, field: str | None = None) -> Response:
    """The API's error envelope, so every answer on the HTTP port has one shape."""
    details = [bad_request_json([FieldViolation(field, message)])] if field else []
    return JSONResponse(envelope(code, STATUS_FOR_HTTP[code], message, details), code)


class BlobEndpoints:
    def __init__(self, store: FilesystemStore, max_upload_bytes: int) -> None:
        self.store = store
        self.max_upload_bytes = max_upload_bytes

    def routes(self) -> list[Route]:
        return [Route("/blobs/{workspace_id:int}/{attachment_id}", self.handle, methods=["GET", "PUT"])]

    async def handle(self, request: Request) -> Response:
        workspace_id = request.path_params["workspace_id"]
        object_key = f"{workspace_id}/{request.path_params['attachment_id']}"
        try:
            expires = int(request.query_params.get("expires", ""))
        except ValueError:
            return error(403, "the URL has no valid expiry; ask for a new one")
        problem = self.store.signer.verify(
            request.method, object_key, workspace_id, expires, request.query_params.get("signature", "")
        )
        if problem:
            return error(403, f"the URL is not valid: {problem}")
        try:
            attachment = await run_in_threadpool(attachments.by_object_key, object_key)
        except Unavailable:
            return error(503, "the database is unavailable; retry later")
        if attachment is None:
            return error(404, "no such attachment")
        if request.method == "GET":
            return self._download(attachment)
        return await self._upload(request, attachment)

    def _download(self, attachment: Any) -> Response:
        if attachment.status != attachments.READY:
            return error(404, "the attachment has not been uploaded yet")
        return FileResponse(
            self.store.path(attachment.object_key),
            media_type=attachment.content_type,
            headers={"Content-Disposition": content_disposition(attachment.file_name)},
        )

    async def _upload(self, request: Request, attachment: Any) -> Response:
        if attachment.status != attachments.PENDING:
            return error(409, "the attachment was already uploaded")
        declared = attachment.size_bytes
        length = request.headers.get("content-length")
        if length is not None and length.isdigit():
            if int(length) > self.max_upload_bytes:
                return error(413, f"the upload is larger than the maximum of {self.max_upload_bytes} bytes")
            if int(length) != declared:
                return error(400, f"Content-Length {length} does not match the declared {declared} bytes", "size_bytes")

        upload = self.store.new_upload()
        digest = hashlib.sha256()
        received = 0
        try:
            async for chunk in request.stream():
                received += len(chunk)
                if received > self.max_upload_bytes:
                    return error(413, f"the upload is larger than the maximum of {self.max_upload_bytes} bytes")
                if received > declared:
                    return error(400, f"received more than the declared {declared} bytes", "size_bytes")
                digest.update(chunk)
                upload.write(chunk)
            if received != declared:
                return error(400, f"received {received} bytes, not the declared {declared}", "size_bytes")
            sha256 = digest.hexdigest()
            if attachment.sha256 and attachment.sha256 != sha256:
                return error(400, f"the bytes' sha256 is {sha256}, not the declared {attachment.sha256}", "sha256")
            if not await run_in_threadpool(upload.commit, attachment.object_key):
                return error(409, "the attachment was already uploaded")
        finally:
            upload.discard()
        marked = await run_in_threadpool(attachments.mark_uploaded, attachment, sha256)
        if not marked:
            return error(409, "the attachment was already uploaded")
        log.info("attachment uploaded", extra={"attachment": str(attachment.uuid), "bytes": received})
        return JSONResponse({"uuid": str(attachment.uuid), "status": "ready", "size_bytes": received, "sha256": sha256})
