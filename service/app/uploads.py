"""Referencing uploads: pending attachments become ready once their bytes are
in the blob store, and only ready ones of the caller's workspace can be used."""

from __future__ import annotations

import uuid

from ..blobs import BlobStore
from ..domain.errors import Violations
from ..domain.roles import Principal
from ..storage import attachments as attachments_store
from ..storage.models import Attachment
from .runner import Runner
from .unit_of_work import UnitOfWork


def confirm_uploads(runner: Runner, principal: Principal, blobs: BlobStore, ids: list[uuid.UUID]) -> bool:
    """Pending attachments whose bytes have arrived intact become ready; True if any did.

    The file store marks its uploads ready as they arrive; S3 uploads (and
    file uploads cut off between storing and marking) are confirmed here,
    reading the store with no transaction open. Bytes that do not match the
    declaration are removed, so the client can upload again.
    """
    if not ids:
        return False
    rows = runner.run(principal, lambda uow: list(uow.attachments.by_ids(ids).values()))
    confirmed = False
    for row in rows:
        if row.status != attachments_store.PENDING:
            continue
        size = blobs.uploaded_size(row.object_key)
        if size is None:
            continue
        sha256 = blobs.sha256(row.object_key) if size == row.size_bytes else None
        if sha256 is None or (row.sha256 and sha256 != row.sha256):
            blobs.delete(row.object_key)
            continue
        confirmed |= runner.run(principal, lambda uow: uow.attachments.mark_ready(row, sha256), write=True)  # noqa: B023 - called here
    return confirmed


def ready_attachments(uow: UnitOfWork, field: str, ids: list[uuid.UUID], *, single: bool = False) -> list[Attachment]:
    """The named attachments, in order; each must be a ready upload of this workspace.

    Runs inside the command's transaction, after `confirm_uploads`; the rows
    are share-locked so the garbage collector cannot take them meanwhile.
    """
    found = uow.attachments.by_ids(ids, lock=True)
    v = Violations()
    for i, attachment_id in enumerate(ids):
        name = field if single else f"{field}[{i}]"
        row = found.get(attachment_id)
        if row is None:
            v.add(name, f"attachment {attachment_id} does not exist in this workspace")
        elif row.status != attachments_store.READY:
            v.add(name, f"attachment {attachment_id} has not been uploaded yet")
    v.check()
    return [found[i] for i in ids]
