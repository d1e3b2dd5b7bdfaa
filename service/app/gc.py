"""Removing what nobody can use any more: `python -m service gc`.

- pending attachments whose upload URL has expired (no upload can arrive);
- ready attachments that no issue or comment has referenced for a while
  (never referenced, or left behind by a deleted issue);
- the stored answers of creates whose request_id has expired (a day).
- events older than the retention (ISSUES_EVENT_RETENTION), and the webhook
  deliveries made as long ago (they are kept as long as events).

Safe to run while serving: rows are deleted under a lock after re-checking
their references, and bytes only after their row is gone.
"""

from __future__ import annotations

import datetime
import logging
import os
import time
from dataclasses import dataclass

from ..blobs import BlobStore
from ..blobs.filesystem import FilesystemStore
from ..domain.limits import REQUEST_ID_SECONDS
from ..domain.times import utcnow
from ..storage import attachments as attachments_store, outbox, request_ids, webhooks as webhooks_store
from ..storage.database import transaction
from ..storage.models import Attachment

log = logging.getLogger("service.gc")


@dataclass
class Report:
    expired_pending: int = 0
    unreferenced: int = 0
    stray_uploads: int = 0
    expired_request_ids: int = 0
    events_pruned: int = 0
    deliveries_pruned: int = 0


def collect(
    store: BlobStore,
    unreferenced_after_seconds: int,
    *,
    now: datetime.datetime | None = None,
    event_retention_seconds: int | None = None,
) -> Report:
    now = now or utcnow()
    report = Report()
    if event_retention_seconds is not None:
        cutoff = now - datetime.timedelta(seconds=event_retention_seconds)
        report.events_pruned = transaction(lambda: outbox.prune(cutoff), write=True)
        report.deliveries_pruned = transaction(lambda: webhooks_store.prune(cutoff), write=True)
    cutoff = now - datetime.timedelta(seconds=unreferenced_after_seconds)
    for kind, find in (
        ("expired_pending", lambda: attachments_store.expired_pending(now)),
        ("unreferenced", lambda: attachments_store.unreferenced_ready(cutoff)),
    ):
        while True:
            batch = transaction(find, snapshot=True)
            removed = sum(_remove(store, attachment, kind) for attachment in batch)
            setattr(report, kind, getattr(report, kind) + removed)
            if not removed:  # what is left changed under us; the next run takes it
                break
    if isinstance(store, FilesystemStore):
        report.stray_uploads = _sweep_incoming(store, unreferenced_after_seconds)
    # Expired request_ids are already ignored; this only reclaims their rows.
    expired = now - datetime.timedelta(seconds=REQUEST_ID_SECONDS)
    while removed := transaction(lambda: request_ids.delete_expired(expired), write=True):
        report.expired_request_ids += removed
    return report


def _remove(store: BlobStore, attachment: Attachment, kind: str) -> bool:
    if not transaction(lambda: attachments_store.delete_if_unchanged(attachment), write=True):
        return False
    store.delete(attachment.object_key)
    log.info(
        "removed attachment", extra={"attachment": str(attachment.uuid), "reason": kind, "bytes": attachment.size_bytes}
    )
    return True


def _sweep_incoming(store: FilesystemStore, older_than_seconds: int) -> int:
    """Temporary files of uploads cut off by a crash."""
    removed = 0
    limit = time.time() - older_than_seconds
    for entry in os.scandir(store.root / ".incoming"):
        if entry.is_file() and entry.stat().st_mtime < limit:
            os.unlink(entry.path)
            removed += 1
    return removed
