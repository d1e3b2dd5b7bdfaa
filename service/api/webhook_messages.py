"""Webhooks and their deliveries as the contract's messages, and the body a
delivery POSTs: the event exactly as `GET /api/v1/events` shows it."""

from __future__ import annotations

import json

from common.enums import enum_numbers
from common.jsonout import to_json
from issues.v1 import webhook_pb2

from ..app.webhooks import WebhookView
from ..storage.models import WebhookDelivery
from ..storage.webhook_leases import Claimed
from .messages import event, timestamp

DELIVERY_STATUS = enum_numbers(webhook_pb2.WebhookDelivery.Status.DESCRIPTOR)


def webhook(view: WebhookView) -> webhook_pb2.Webhook:
    row = view.row
    message = webhook_pb2.Webhook(
        id=str(row.id),
        url=row.url,
        events=row.events,
        description=row.description,
        active=row.active,
        created_at=timestamp(row.created_at),
        updated_at=timestamp(row.updated_at),
    )
    if row.disabled_reason is not None:
        message.disabled_reason = row.disabled_reason
    if view.secret is not None:
        message.secret = view.secret
    return message


def delivery(row: WebhookDelivery) -> webhook_pb2.WebhookDelivery:
    message = webhook_pb2.WebhookDelivery(
        id=str(row.id),
        webhook_id=str(row.webhook),
        event_type=row.event_type,
        status=DELIVERY_STATUS[row.status],
        attempts=row.attempts,
        created_at=timestamp(row.created_at),
    )
    for name in ("event_sequence", "last_status_code", "last_error", "last_duration_ms"):
        value = getattr(row, name)
        if value is not None:
            setattr(message, name, value)
    for name in ("next_attempt_at", "delivered_at"):
        value = getattr(row, name)
        if value is not None:
            getattr(message, name).CopyFrom(timestamp(value))
    return message


def body(claimed: Claimed) -> bytes | None:
    """The JSON a delivery POSTs (the SSE `data:` line's bytes too); None if
    its event is no longer kept."""
    if claimed.payload is not None:
        return claimed.payload.encode()
    if claimed.event is None:
        return None
    shown = to_json(event(claimed.event))
    return json.dumps(shown, ensure_ascii=False, separators=(",", ":"), allow_nan=False).encode()
