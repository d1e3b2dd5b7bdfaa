"""Claiming due deliveries and recording their attempts, for the dispatchers
of every replica at once (SPEC 8.13).

A dispatcher claims a delivery by leasing it: `leased_until` in the future
and its own `lease_id`. On PostgreSQL the rows are locked with
`FOR UPDATE SKIP LOCKED`, so two replicas claiming at once take different
rows without waiting for each other; SQLite has one writer at a time, so
the same conditional UPDATE is enough there. An attempt's outcome is
written only while the row still carries the attempt's own `lease_id`: a
replica killed mid-attempt leaves the row to whoever claims it after the
lease ends, and once another has claimed it a late answer from the first
changes nothing (one that comes after the lease passed but before anyone
claimed the row is still written: it is the truth, and no one else tried).
"""

from __future__ import annotations

import datetime
import uuid
from typing import Any, Callable, NamedTuple, Sequence

import peewee

from . import prebuilt_sql
from .database import is_postgres
from .models import Event, Webhook, WebhookDelivery
from .outbox import StoredEvent
from .webhooks import PENDING


class Claimed(NamedTuple):
    """A leased delivery with what its attempt needs."""

    id: uuid.UUID
    workspace_id: int
    webhook_id: uuid.UUID
    event_type: str
    attempts: int
    created_at: datetime.datetime
    url: str
    secret: str
    previous_secret: str | None
    previous_secret_until: datetime.datetime | None
    # The webhook's failed attempts in a row when claimed (a success resets them).
    failures_in_row: int
    # The stored event, or None for a ping (then `payload` is the body) or an event pruned since.
    event: StoredEvent | None
    payload: str | None


def _due(now: datetime.datetime) -> peewee.Expression:
    return (
        (WebhookDelivery.status == PENDING)
        & (WebhookDelivery.next_attempt_at <= now)
        & (WebhookDelivery.leased_until.is_null() | (WebhookDelivery.leased_until <= now))
    )


def candidates(
    now: datetime.datetime, room: Callable[[uuid.UUID], int], total: int, skip: Sequence[uuid.UUID] = ()
) -> list[uuid.UUID]:
    """Up to `total` due deliveries of active webhooks, oldest due first, at
    most `room(webhook_id)` of each webhook (a read: nothing is locked).
    `skip`: webhooks the caller has no room for."""
    query = (
        WebhookDelivery.select(WebhookDelivery.id, WebhookDelivery.webhook)
        .join(Webhook, on=(Webhook.id == WebhookDelivery.webhook))
        .where(_due(now) & (Webhook.active == True))
    )
    if skip:
        query = query.where(WebhookDelivery.webhook.not_in(list(skip)))
    taken: dict[uuid.UUID, int] = {}
    wanted: list[uuid.UUID] = []
    for delivery_id, webhook_id in query.order_by(WebhookDelivery.next_attempt_at).limit(total * 4).tuples():
        if len(wanted) >= total:
            break
        if taken.get(webhook_id, 0) < room(webhook_id):
            taken[webhook_id] = taken.get(webhook_id, 0) + 1
            wanted.append(delivery_id)
    return wanted


def lease(
    wanted: Sequence[uuid.UUID], now: datetime.datetime, until: datetime.datetime, lease_id: uuid.UUID
) -> list[uuid.UUID]:
    """Lease those of `wanted` still due; returns their ids (the others were
    taken meanwhile, or are locked by another replica's claim: skipped)."""
    lockable = WebhookDelivery.select(WebhookDelivery.id).where(WebhookDelivery.id.in_(list(wanted)) & _due(now))
    if is_postgres():
        lockable = lockable.for_update("FOR UPDATE SKIP LOCKED")  # another replica's claims: skipped, not waited for
    leased = (
        WebhookDelivery.update(leased_until=until, lease_id=lease_id)
        .where(WebhookDelivery.id.in_(lockable))
        .returning(WebhookDelivery.id)
    )
    return [row.id for row in leased.execute()]


# PostgreSQL's claim in one statement (one round trip): the function
# `webhook_claim` (migration m0013 says what it does, and why a function: its
# plan is kept per connection instead of made at every call).
_CLAIM_SQL = "SELECT * FROM webhook_claim(%s, %s::uuid[], %s, %s, %s::uuid[], %s::int[], %s, %s, %s::uuid)"


def claim_postgres(
    now: datetime.datetime,
    until: datetime.datetime,
    lease_id: uuid.UUID,
    per_webhook: int,
    in_flight: dict[uuid.UUID, int],
    total: int,
) -> list[Claimed]:
    """`candidates`, `lease` and `load` in one statement (PostgreSQL only;
    a write transaction's only statement): each webhook gets at most
    `per_webhook` less its `in_flight`, and those at their bound are skipped."""
    full = [str(w) for w, n in in_flight.items() if n >= per_webhook]
    busy = [(str(w), n) for w, n in in_flight.items() if n < per_webhook]
    params = (
        now,
        full,
        total * 4,
        per_webhook,
        [w for w, _ in busy],
        [n for _, n in busy],
        total,
        until,
        str(lease_id),
    )
    cursor = WebhookDelivery._meta.database.execute_sql(_CLAIM_SQL, params)
    return [_claimed(row) for row in cursor.fetchall()]


def _claimed(row: Sequence[Any]) -> Claimed:
    as_uuid = WebhookDelivery.id.python_value
    event = None
    if row[11] is not None:
        issue = Event.issue_uuid.python_value(row[13])
        event = StoredEvent(int(row[11]), row[12], issue, row[14], row[15], row[16])
    return Claimed(as_uuid(row[0]), row[1], as_uuid(row[2]), *row[3:11], event, row[17])


def load(ids: Sequence[uuid.UUID]) -> list[Claimed]:
    """The claimed deliveries with their webhook's URL and secrets and their event."""
    query = (
        WebhookDelivery.select(
            WebhookDelivery.id,
            WebhookDelivery.workspace,
            WebhookDelivery.webhook,
            WebhookDelivery.event_type,
            WebhookDelivery.attempts,
            WebhookDelivery.created_at,
            Webhook.url,
            Webhook.secret,
            Webhook.previous_secret,
            Webhook.previous_secret_until,
            Webhook.failures_in_row,
            Event.sequence,
            Event.type,
            Event.issue_uuid,
            Event.actor,
            Event.occurred_at,
            Event.data,
            WebhookDelivery.payload,
        )
        .join(Webhook, on=(Webhook.id == WebhookDelivery.webhook))
        .switch(WebhookDelivery)
        .join(
            Event,
            peewee.JOIN.LEFT_OUTER,
            on=((Event.workspace == WebhookDelivery.workspace) & (Event.sequence == WebhookDelivery.event_sequence)),
        )
        .where(WebhookDelivery.id.in_(list(ids)))
        .tuples()
    )
    out = []
    for row in query:
        event = StoredEvent(*row[11:17]) if row[11] is not None else None
        out.append(Claimed(*row[:11], event, row[17]))
    return out


# What an attempt's outcome writes, in the order of `finish_all`'s values,
# with their PostgreSQL types (the arrays `webhook_finish` takes).
OUTCOME_COLUMNS = (
    ("status", "text"),
    ("attempts", "integer"),
    ("next_attempt_at", "timestamp"),
    ("delivered_at", "timestamp"),
    ("last_status_code", "integer"),
    ("last_error", "text"),
    ("last_duration_ms", "integer"),
)


def finish(delivery_id: uuid.UUID, lease_id: uuid.UUID, **fields: Any) -> bool:
    """Write an attempt's outcome and end the lease, if the lease is still
    `lease_id`'s; False if another dispatcher has the delivery by now."""
    return bool(
        WebhookDelivery.update(leased_until=None, lease_id=None, **fields)
        .where((WebhookDelivery.id == delivery_id) & (WebhookDelivery.lease_id == lease_id))
        .execute()
    )


def finish_all(
    rows: Sequence[tuple[uuid.UUID, uuid.UUID, tuple[Any, ...]]], *, succeeded: bool = False
) -> set[tuple[uuid.UUID, uuid.UUID]]:
    """`finish` for many: (delivery id, lease id, values in OUTCOME_COLUMNS'
    order); a None `delivered_at` keeps the one there. Returns the (delivery
    id, lease id) pairs written. On PostgreSQL one statement for them all
    (an UPDATE ... FROM the arrays, in the function `webhook_finish`): a
    statement per delivery was most of what recording cost the database;
    SQLite has no round trips to save.

    `succeeded` (PostgreSQL only): every row is a success, so the same
    statement also resets the failures in a row of each webhook with one
    written whose count is not 0 (SPEC 8.13), instead of the batch reading
    and locking its webhooks first: that read was a round trip, and its
    lock a write, in every batch, for what is nearly always nothing to do.
    Its lock order (deliveries, then the rare webhook to reset) is the
    reverse of a deletion's; a deadlock between them is run again
    (database.transaction)."""
    if not rows:
        return set()
    if not is_postgres():
        assert not succeeded
        names = [name for name, _ in OUTCOME_COLUMNS]
        written = set()
        for delivery_id, lease_id, values in rows:
            fields = {k: v for k, v in zip(names, values) if k != "delivered_at" or v is not None}
            if finish(delivery_id, lease_id, **fields):
                written.add((delivery_id, lease_id))
        return written
    columns = list(zip(*(values for _, _, values in rows)))  # one list per column of OUTCOME_COLUMNS
    cursor = WebhookDelivery._meta.database.execute_sql(
        _FINISH_SQL,
        ([str(d) for d, _, _ in rows], [str(lease) for _, lease, _ in rows], *map(list, columns), succeeded),
    )
    return {(uuid.UUID(str(d)), uuid.UUID(str(lease))) for d, lease in cursor.fetchall()}


# PostgreSQL's record of a batch: the function `webhook_finish` (m0013), one
# array per column, so one statement text and one kept plan for every batch.
_FINISH_SQL = (
    "SELECT * FROM webhook_finish(%s::uuid[], %s::uuid[], "
    + ", ".join(f"%s::{kind}[]" for _, kind in OUTCOME_COLUMNS)
    + ", %s)"
)


def webhooks_for_update(webhook_ids: Sequence[uuid.UUID]) -> dict[uuid.UUID, Webhook]:
    """The webhooks, locked (on PostgreSQL) in id order: the lock order of every batch."""
    if is_postgres():  # every record batch reads these: SQL built once, as a list of any length
        text = prebuilt_sql.sql(
            "webhooks-for-record",
            lambda: Webhook.select().where(Webhook.id == peewee.SQL("ANY(%s::uuid[])")).order_by(Webhook.id),
        )
        found = prebuilt_sql.rows(Webhook, text + " FOR NO KEY UPDATE", ([str(w) for w in webhook_ids],))
        return {hook.id: hook for hook in found}
    query = Webhook.select().where(Webhook.id.in_(list(webhook_ids))).order_by(Webhook.id)
    return {hook.id: hook for hook in query}


def pending_by_webhook() -> dict[uuid.UUID, int]:
    """How many deliveries wait, per webhook (the queue depth metric)."""
    rows = (
        WebhookDelivery.select(WebhookDelivery.webhook, peewee.fn.COUNT(WebhookDelivery.id))
        .where(WebhookDelivery.status == PENDING)
        .group_by(WebhookDelivery.webhook)
        .tuples()
    )
    return {webhook_id: int(n) for webhook_id, n in rows}
