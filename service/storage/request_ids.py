"""The claims and stored answers of creates that carried a request_id, per workspace.

A create claims its request_id before it runs (a row with no response yet,
seen only by its own transaction) and answers it just before commit. The
primary key (workspace, request_id) is what makes a retry safe when it races
its first attempt: on PostgreSQL the second claim waits for the first
transaction and then fails, which `claim` reports as `ClaimTaken`, and the caller
answers with the stored row instead. SQLite writers are serialised, so there
the second transaction already finds the row.
"""

from __future__ import annotations

import datetime
import uuid
from dataclasses import dataclass

import peewee

from .models import RequestIdRow


class ClaimTaken(Exception):
    """Another transaction stored this request_id first; this one must roll back its work."""


@dataclass(frozen=True)
class StoredAnswer:
    fingerprint: str
    resource_id: uuid.UUID | None
    # None while the create that claimed it runs (in this same transaction).
    response: bytes | None
    created_at: datetime.datetime


class RequestIdRepository:
    def __init__(self, workspace_id: int) -> None:
        self.workspace_id = workspace_id

    def _key(self, request_id: str) -> peewee.Expression:
        return (RequestIdRow.workspace_id == self.workspace_id) & (RequestIdRow.request_id == request_id)

    def get(self, request_id: str) -> StoredAnswer | None:
        row = RequestIdRow.select().where(self._key(request_id)).first()
        if row is None:
            return None
        response = bytes(row.response) if row.response is not None else None
        return StoredAnswer(row.fingerprint, row.resource_id, response, row.created_at)

    def forget(self, request_id: str) -> None:
        """Remove an expired record, so the key can be stored again."""
        RequestIdRow.delete().where(self._key(request_id)).execute()

    def claim(self, request_id: str, fingerprint: str, now: datetime.datetime) -> None:
        """Claim the key for a create about to run; `ClaimTaken` if another
        transaction claimed it first (on PostgreSQL, once that one commits)."""
        try:
            RequestIdRow.insert(
                workspace_id=self.workspace_id,
                request_id=request_id,
                fingerprint=fingerprint,
                created_at=now,
            ).execute()
        except peewee.IntegrityError as exc:
            raise ClaimTaken(request_id) from exc

    def answer(self, request_id: str, resource_id: uuid.UUID | None, response: bytes) -> None:
        """Store the answer for a key this transaction claimed."""
        RequestIdRow.update(resource_id=resource_id, response=response).where(self._key(request_id)).execute()


def delete_expired(before: datetime.datetime, limit: int = 1000) -> int:
    """Remove up to `limit` records stored before `before`, oldest first
    (every workspace: the garbage collector); returns how many went."""
    oldest = (
        RequestIdRow.select(RequestIdRow.workspace_id, RequestIdRow.request_id)
        .where(RequestIdRow.created_at < before)
        .order_by(RequestIdRow.created_at)
        .limit(limit)
    )
    key = peewee.Tuple(RequestIdRow.workspace_id, RequestIdRow.request_id)
    return RequestIdRow.delete().where(key.in_(oldest) & (RequestIdRow.created_at < before)).execute()
