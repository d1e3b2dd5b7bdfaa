"""The in-memory WebhookRepository (storage/webhooks.py): one workspace's
webhooks, the active count on its event counter row, and the delivery log."""

from __future__ import annotations

import datetime
import uuid
from typing import Any, Sequence

from service.storage.models import Webhook, WebhookDelivery
from service.storage.webhooks import PENDING

from .fake_tables import Tables, clone


class FakeWebhooks:
    def __init__(self, tables: Tables, workspace_id: int) -> None:
        self._t, self.workspace_id = tables, workspace_id

    def _mine(self) -> list[Webhook]:
        return [w for w in self._t.webhooks.values() if w.workspace_id == self.workspace_id]

    def create(self, **fields: Any) -> Webhook:
        row = Webhook(workspace=self.workspace_id, **fields)  # the model's defaults, as Webhook.create
        self._t.webhooks[row.id] = clone(row)
        return row

    def get(self, webhook_id: uuid.UUID, *, for_update: bool = False) -> Webhook | None:
        row = self._t.webhooks.get(webhook_id)
        return clone(row) if row is not None and row.workspace_id == self.workspace_id else None

    def page(self, limit: int, after: tuple[datetime.datetime, uuid.UUID] | None) -> list[Webhook]:
        rows = sorted(self._mine(), key=lambda w: (w.created_at, w.id))
        if after is not None:
            rows = [w for w in rows if (w.created_at, w.id) > after]
        return [clone(w) for w in rows[:limit]]

    def save(self, row: Webhook, **fields: Any) -> None:
        stored = self._t.webhooks.get(row.id)
        for name, value in fields.items():
            setattr(row, name, value)
            if stored is not None and stored.workspace_id == self.workspace_id:
                setattr(stored, name, value)

    def delete(self, webhook_id: uuid.UUID) -> None:
        if webhook_id in {w.id for w in self._mine()}:
            del self._t.webhooks[webhook_id]
        self._t.deliveries = {
            k: d
            for k, d in self._t.deliveries.items()
            if not (d.webhook == webhook_id and d.workspace_id == self.workspace_id)
        }

    def move_active_count(self, delta: int) -> None:
        self._t.active_webhooks[self.workspace_id] += delta

    def active(self) -> list[tuple[uuid.UUID, list[str]]]:
        return [(w.id, list(w.events)) for w in self._mine() if w.active]

    # -- the delivery log

    def add_deliveries(self, rows: Sequence[dict[str, Any]]) -> None:
        for fields in rows:
            row = WebhookDelivery(workspace=self.workspace_id, **fields)
            self._t.deliveries[row.id] = clone(row)

    def deliveries(
        self,
        webhook_id: uuid.UUID,
        statuses: Sequence[str],
        limit: int,
        before: tuple[datetime.datetime, uuid.UUID] | None,
    ) -> list[WebhookDelivery]:
        rows = [
            d
            for d in self._t.deliveries.values()
            if d.workspace_id == self.workspace_id
            and d.webhook == webhook_id
            and (not statuses or d.status in statuses)
        ]
        rows.sort(key=lambda d: (d.created_at, d.id), reverse=True)  # newest first
        if before is not None:
            rows = [d for d in rows if (d.created_at, d.id) < before]
        return [clone(d) for d in rows[:limit]]

    def delivery(self, webhook_id: uuid.UUID, delivery_id: uuid.UUID) -> WebhookDelivery | None:
        row = self._t.deliveries.get(delivery_id)
        if row is None or row.webhook != webhook_id or row.workspace_id != self.workspace_id:
            return None
        return clone(row)

    def due_now(self, delivery_id: uuid.UUID, now: datetime.datetime) -> None:
        row = self._t.deliveries.get(delivery_id)
        if row is not None and row.workspace_id == self.workspace_id:
            row.status, row.next_attempt_at, row.leased_until, row.lease_id = PENDING, now, None, None
