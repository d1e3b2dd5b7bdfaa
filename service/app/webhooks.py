"""A workspace's webhooks (SPEC 8.13): register, change, rotate, ping,
read the delivery log, redeliver. Admin only (the methods' required role).

Each command is one transaction. Whatever changes whether a webhook is
active moves the workspace's active count last (storage/webhooks.py), so
events and webhook changes are ordered by commit: a webhook gets the events
that commit after it does. A URL is vetted before its transaction (it may
resolve a name); secrets are generated here and leave only in the answer of
a create or a rotation.
"""

from __future__ import annotations

import datetime
import json
import socket
import uuid
from typing import Any, NamedTuple, Sequence

from ..domain import webhook_rules, webhook_signing
from ..domain.errors import InvalidArgument, NotFound, Violations
from ..domain.roles import Principal
from ..storage.models import Webhook, WebhookDelivery
from ..storage.webhooks import PENDING
from ..webhook_config import settings
from .runner import Runner
from .unit_of_work import UnitOfWork

PING = "ping"


class WebhookView(NamedTuple):
    row: Webhook
    # The secret, only in the answer of a create or a rotation.
    secret: str | None = None


def check_destination(url: str, field: str = "url") -> None:
    """Refuse a URL whose host is, or resolves to, an address deliveries may
    not go to (unless ISSUES_WEBHOOK_ALLOW_PRIVATE=1); the dispatcher checks
    again at each attempt, after resolving."""
    v = Violations()
    host = webhook_rules.check_url(v, field, url)
    v.check()
    if settings().allow_private:
        return
    assert host is not None
    try:
        addresses = resolve(host)
    except (OSError, UnicodeError):  # not a name the resolver can even look up, or no such name
        raise InvalidArgument.field(field, f"host {host!r} does not resolve") from None
    refusal = webhook_rules.destination_refusal(host, addresses)
    if refusal:
        raise InvalidArgument.field(field, refusal)


def resolve(host: str) -> list[str]:
    """The addresses a host name (or IP literal) stands for."""
    return list(dict.fromkeys(info[4][0] for info in socket.getaddrinfo(host, None, type=socket.SOCK_STREAM)))


def _found(uow: UnitOfWork, webhook_id: uuid.UUID, *, for_update: bool = False) -> Webhook:
    row = uow.webhooks.get(webhook_id, for_update=for_update)
    if row is None:
        raise NotFound(f"webhook {webhook_id} not found")
    return row


def create_webhook(
    runner: Runner,
    principal: Principal,
    url: str,
    events: list[str],
    description: str,
    active: bool,
) -> WebhookView:
    check_destination(url)
    secret = webhook_signing.new_secret()

    def work(uow: UnitOfWork) -> WebhookView:
        hooks = uow.webhooks
        row = hooks.create(
            id=uuid.uuid4(),
            url=url,
            events=events,
            description=description,
            active=active,
            secret=secret,
            created_at=uow.now,
            updated_at=uow.now,
        )
        hooks.move_active_count(1 if active else 0)
        return WebhookView(row, secret)

    return runner.run(principal, work, write=True)


def list_webhooks(
    runner: Runner,
    principal: Principal,
    limit: int,
    after: tuple[datetime.datetime, uuid.UUID] | None,
) -> list[WebhookView]:
    rows = runner.run(principal, lambda uow: uow.webhooks.page(limit, after))
    return [WebhookView(r) for r in rows]


def get_webhook(runner: Runner, principal: Principal, webhook_id: uuid.UUID) -> WebhookView:
    return WebhookView(runner.run(principal, lambda uow: _found(uow, webhook_id)))


def update_webhook(runner: Runner, principal: Principal, webhook_id: uuid.UUID, values: dict[str, Any]) -> WebhookView:
    """Set `values` (url, events, description, active); active again clears
    `disabled_reason` and resumes from the deliveries still kept."""
    if "url" in values:
        check_destination(values["url"])

    def work(uow: UnitOfWork) -> WebhookView:
        row = _found(uow, webhook_id, for_update=True)
        was_active = row.active
        changed = {k: v for k, v in values.items() if getattr(row, k) != v}
        if changed.get("active"):
            changed.update(disabled_reason=None, failures_in_row=0, failing_since=None)
        if changed:
            hooks = uow.webhooks
            hooks.save(row, **changed, updated_at=uow.now)
            hooks.move_active_count(int(row.active) - int(was_active))
        uow.deliveries_due = bool(values.get("active"))  # its waiting deliveries are due
        return WebhookView(row)

    return runner.run(principal, work, write=True)


def delete_webhook(runner: Runner, principal: Principal, webhook_id: uuid.UUID) -> None:
    def work(uow: UnitOfWork) -> None:
        row = _found(uow, webhook_id, for_update=True)
        hooks = uow.webhooks
        hooks.delete(webhook_id)
        hooks.move_active_count(-1 if row.active else 0)

    runner.run(principal, work, write=True)


def rotate_secret(runner: Runner, principal: Principal, webhook_id: uuid.UUID) -> WebhookView:
    """A new secret; the old one keeps signing too for the overlap (24 hours)."""
    secret = webhook_signing.new_secret()

    def work(uow: UnitOfWork) -> WebhookView:
        row = _found(uow, webhook_id, for_update=True)
        until = uow.now + datetime.timedelta(seconds=settings().rotation_overlap)
        uow.webhooks.save(
            row, secret=secret, previous_secret=row.secret, previous_secret_until=until, updated_at=uow.now
        )
        return WebhookView(row, secret)

    return runner.run(principal, work, write=True)


def _timestamp(at: datetime.datetime) -> str:
    return at.strftime("%Y-%m-%dT%H:%M:%S.%fZ")  # the contract's spelling (common/jsonout.py)


def ping(runner: Runner, principal: Principal, webhook_id: uuid.UUID) -> WebhookDelivery:
    """Queue one `ping` delivery, shaped like an event (sequence 0, no issue);
    it is not a workspace event, so only the delivery log keeps it."""

    def work(uow: UnitOfWork) -> WebhookDelivery:
        row = _found(uow, webhook_id)
        delivery_id = uuid.uuid4()
        body = {
            "sequence": 0,
            "type": PING,
            "issue_id": None,
            "actor": principal.email,
            "occurred_at": _timestamp(uow.now),
            "data": {"webhook_id": str(row.id), "url": row.url},
        }
        fields = dict(
            id=delivery_id,
            webhook=row.id,
            event_sequence=None,
            event_type=PING,
            payload=json.dumps(body, ensure_ascii=False, separators=(",", ":")),
            status=PENDING,
            attempts=0,
            next_attempt_at=uow.now,
            created_at=uow.now,
        )
        uow.webhooks.add_deliveries([fields])
        uow.deliveries_due = True
        return WebhookDelivery(workspace=principal.workspace_id, **fields)

    return runner.run(principal, work, write=True)


def list_deliveries(
    runner: Runner,
    principal: Principal,
    webhook_id: uuid.UUID,
    statuses: Sequence[str],
    limit: int,
    before: tuple[datetime.datetime, uuid.UUID] | None,
) -> list[WebhookDelivery]:
    def work(uow: UnitOfWork) -> list[WebhookDelivery]:
        _found(uow, webhook_id)
        return uow.webhooks.deliveries(webhook_id, statuses, limit, before)

    return runner.run(principal, work, snapshot=True)


def redeliver(runner: Runner, principal: Principal, webhook_id: uuid.UUID, delivery_id: uuid.UUID) -> WebhookDelivery:
    """Make the delivery due now: its next attempt (same id, so same `webhook-id`)."""

    def work(uow: UnitOfWork) -> WebhookDelivery:
        _found(uow, webhook_id)
        hooks = uow.webhooks
        if hooks.delivery(webhook_id, delivery_id) is None:
            raise NotFound(f"delivery {delivery_id} not found on webhook {webhook_id}")
        hooks.due_now(delivery_id, uow.now)
        found = hooks.delivery(webhook_id, delivery_id)
        assert found is not None
        uow.deliveries_due = True
        return found

    return runner.run(principal, work, write=True)
