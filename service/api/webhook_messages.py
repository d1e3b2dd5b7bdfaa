"""Webhooks and their deliveries as the contract's messages, and the body a
delivery POSTs: the event exactly as `GET /api/v1/events` shows it."""

from __future__ import annotations

import json

from common.enums import enum_numbers
from common.jsonout import MAX_SAFE_INT, timestamp_json, to_json
from issues.v1 import webhook_pb2

from ..app.webhooks import WebhookView
from ..storage.models import WebhookDelivery
from ..storage.outbox import StoredEvent
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
    shown = _event_json(claimed.event)
    if shown is None:
        shown = to_json(event(claimed.event))
    return json.dumps(shown, ensure_ascii=False, separators=(",", ":"), allow_nan=False).encode()


class _Unsafe(Exception):
    """A number that the message's Struct (doubles) would print differently."""


def _safe_int(text: str) -> int:
    n = int(text)
    if not -MAX_SAFE_INT <= n <= MAX_SAFE_INT:
        raise _Unsafe
    return n


def _no_float(text: str) -> float:
    raise _Unsafe


def _sorted(value: object) -> object:
    if isinstance(value, dict):
        return {k: _sorted(value[k]) for k in sorted(value)}
    if isinstance(value, list):
        return [_sorted(v) for v in value]
    return value


def _event_json(stored: StoredEvent) -> dict | None:
    """What `to_json(event(stored))` gives, written straight from the stored
    JSON (a fifth of a delivery's CPU went to building the message and
    writing it back out); None where that could differ (a non-integral or
    unsafe number, which a Struct keeps as a double): then the message's way."""
    try:
        data = json.loads(stored.data, parse_int=_safe_int, parse_float=_no_float, parse_constant=_no_float)
    except _Unsafe:
        return None
    if not isinstance(data, dict):
        return None
    at = timestamp(stored.occurred_at)
    return {
        "sequence": stored.sequence,
        "type": stored.type,
        "issue_id": None if stored.issue_id is None else str(stored.issue_id),
        "actor": stored.actor,
        "occurred_at": timestamp_json(at),
        "data": _sorted(data),
    }
