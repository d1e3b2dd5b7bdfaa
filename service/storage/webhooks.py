"""A workspace's webhooks and their delivery log (SPEC 8.13).

The repository is bound to the caller's workspace: another workspace's
webhook is simply not found. `move_active_count` moves the workspace's
count of active webhooks on its event counter row, the row every event
append locks; it is the last statement of a webhook change, so webhook
changes and events are ordered by commit (see m0010).
"""

from __future__ import annotations

import datetime
import uuid
from typing import Any, Sequence

import peewee

from . import prebuilt_sql
from .database import database, is_postgres
from .models import Webhook, WebhookDelivery

PENDING, SUCCEEDED, FAILED = "pending", "succeeded", "failed"


class WebhookRepository:
    def __init__(self, workspace_id: int) -> None:
        self.workspace_id = workspace_id

    def create(self, **fields: Any) -> Webhook:
        return Webhook.create(workspace=self.workspace_id, **fields)

    def get(self, webhook_id: uuid.UUID, *, for_update: bool = False) -> Webhook | None:
        query = Webhook.select().where((Webhook.id == webhook_id) & (Webhook.workspace == self.workspace_id))
        if for_update and is_postgres(database.obj):
            query = query.for_update("FOR NO KEY UPDATE")
        return query.first()

    def page(self, limit: int, after: tuple[datetime.datetime, uuid.UUID] | None) -> list[Webhook]:
        """Oldest first, after the position (created_at, id) of the previous page's last."""
        query = Webhook.select().where(Webhook.workspace == self.workspace_id)
        if after is not None:
            query = query.where(
                peewee.Tuple(Webhook.created_at, Webhook.id) > peewee.Tuple(after[0], Webhook.id.db_value(after[1]))
            )
        return list(query.order_by(Webhook.created_at, Webhook.id).limit(limit))

    def save(self, row: Webhook, **fields: Any) -> None:
        for name, value in fields.items():
            setattr(row, name, value)
        Webhook.update(**fields).where((Webhook.id == row.id) & (Webhook.workspace == self.workspace_id)).execute()

    def delete(self, webhook_id: uuid.UUID) -> None:
        """The webhook and its deliveries (the row first: the lock order of every webhook change)."""
        Webhook.delete().where((Webhook.id == webhook_id) & (Webhook.workspace == self.workspace_id)).execute()
        WebhookDelivery.delete().where(
            (WebhookDelivery.webhook == webhook_id) & (WebhookDelivery.workspace == self.workspace_id)
        ).execute()

    def move_active_count(self, delta: int) -> None:
        """Add `delta` to the workspace's count of active webhooks: the
        transaction's last statement (it locks the event counter row)."""
        if delta:
            move_active_count(self.workspace_id, delta)

    def active(self) -> list[tuple[uuid.UUID, list[str]]]:
        """(id, event types) of each active webhook (empty types: every type).

        Read by every event-writing commit of a workspace with an active
        webhook: SQL built once, as the other per-write statements are."""
        text = prebuilt_sql.sql(
            "webhooks-active",
            lambda: Webhook.select(Webhook.id, Webhook.events).where(
                (Webhook.workspace == 0) & (Webhook.active == True)
            ),
        )
        cursor = database.obj.execute_sql(text, (self.workspace_id, Webhook.active.db_value(True)))
        to_id, to_events = Webhook.id.python_value, Webhook.events.python_value
        return [(to_id(webhook_id), to_events(events)) for webhook_id, events in cursor.fetchall()]

    # -- the delivery log

    def queue_events(self, types: Sequence[str], first_sequence: int, at: datetime.datetime) -> int:
        """PostgreSQL: queue a delivery of each event (its type; sequences from
        `first_sequence`) to each active webhook taking it, in one call of the
        function `webhook_queue` (m0013); how many were queued."""
        cursor = database.obj.execute_sql(
            "SELECT webhook_queue(%s, %s, %s::text[], %s)", (self.workspace_id, first_sequence, list(types), at)
        )
        return int(cursor.fetchone()[0])

    def add_deliveries(self, rows: Sequence[dict[str, Any]]) -> None:
        """Queue deliveries, with the events that made them: SQL built once."""
        prebuilt_sql.insert_many(WebhookDelivery, [{"workspace": self.workspace_id, **row} for row in rows])

    def deliveries(
        self,
        webhook_id: uuid.UUID,
        statuses: Sequence[str],
        limit: int,
        before: tuple[datetime.datetime, uuid.UUID] | None,
    ) -> list[WebhookDelivery]:
        """Newest first, before the position (created_at, id) of the previous page's last."""
        query = WebhookDelivery.select().where(
            (WebhookDelivery.workspace == self.workspace_id) & (WebhookDelivery.webhook == webhook_id)
        )
        if statuses:
            query = query.where(WebhookDelivery.status.in_(list(statuses)))
        if before is not None:
            query = query.where(
                peewee.Tuple(WebhookDelivery.created_at, WebhookDelivery.id)
                < peewee.Tuple(before[0], WebhookDelivery.id.db_value(before[1]))
            )
        return list(query.order_by(WebhookDelivery.created_at.desc(), WebhookDelivery.id.desc()).limit(limit))

    def delivery(self, webhook_id: uuid.UUID, delivery_id: uuid.UUID) -> WebhookDelivery | None:
        return (
            WebhookDelivery.select()
            .where(
                (WebhookDelivery.id == delivery_id)
                & (WebhookDelivery.webhook == webhook_id)
                & (WebhookDelivery.workspace == self.workspace_id)
            )
            .first()
        )

    def due_now(self, delivery_id: uuid.UUID, now: datetime.datetime) -> None:
        """Make a delivery pending and due now (redeliver). A lease held on it
        ends: an attempt in flight then records nothing, and a new one goes out."""
        (
            WebhookDelivery.update(status=PENDING, next_attempt_at=now, leased_until=None, lease_id=None)
            .where((WebhookDelivery.id == delivery_id) & (WebhookDelivery.workspace == self.workspace_id))
            .execute()
        )


def move_active_count(workspace_id: int, delta: int) -> None:
    m = database.obj.param
    database.obj.execute_sql(
        "INSERT INTO event_counters (workspace_id, last_sequence, pruned_sequence, active_webhooks)"
        f" VALUES ({m}, 0, 0, {m}) ON CONFLICT (workspace_id) DO UPDATE"
        " SET active_webhooks = event_counters.active_webhooks + excluded.active_webhooks",
        (workspace_id, delta),
    )


def prune(before: datetime.datetime) -> int:
    """Delete the deliveries made before `before` (kept as long as events); returns how many."""
    return WebhookDelivery.delete().where(WebhookDelivery.created_at < before).execute()
