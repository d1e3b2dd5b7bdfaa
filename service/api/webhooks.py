"""issues.v1.IssueService: webhooks and their delivery log (SPEC 8.13), admin only."""

from __future__ import annotations

import datetime
import uuid
from typing import Any

from google.protobuf import empty_pb2

from common.descriptors import field_rules
from common.enums import enum_names
from issues.v1 import webhook_pb2 as pb

from ..app import page_tokens, webhooks
from ..app.runner import Runner
from ..domain import event_types, webhook_rules
from ..domain.errors import InvalidArgument, Violations
from ..domain.identifiers import parse_uuid, require_uuid
from . import paging, request_values
from .pipeline import Call
from .webhook_messages import delivery, webhook

PAGE_DEFAULT = 100
DELIVERY_STATUS_NAMES = enum_names(pb.WebhookDelivery.Status.DESCRIPTOR)
# What UpdateWebhook may change; `events` and `description` may be cleared (null).
UPDATABLE = ("url", "events", "description", "active")


# The URL's shape as the contract declares it (so the OpenAPI document states it).
URL = request_values.declared(pb.CreateWebhookRequest, "url")


def _url(v: Violations, value: str) -> str:
    if value and len(value) <= webhook_rules.URL_MAX and not URL.match(value):
        v.add("url", "must be an http or https URL with a host (and port), in printable ASCII, without credentials")
    else:
        webhook_rules.check_url(v, "url", value)
    return value


def _events(v: Violations, values: Any) -> list[str]:
    """The event types asked for, each once; `events[i]` named when unknown."""
    try:
        return event_types.check_types(list(values), field="events")
    except InvalidArgument as exc:
        for violation in exc.violations:
            v.add(violation.field, violation.description)
        return []


def _description(v: Violations, value: str) -> str:
    if value:
        request_values.text(v, "description", value, max_len=webhook_rules.DESCRIPTION_MAX, allow_blank=True)
    return value


class WebhooksServicer:
    def __init__(self, runner: Runner) -> None:
        self._runner = runner

    def CreateWebhook(self, request: pb.CreateWebhookRequest, call: Call) -> pb.Webhook:
        v = Violations()
        _url(v, request.url)
        types = _events(v, request.events)
        description = _description(v, request.description)
        v.check()
        active = request.active if request.HasField("active") else True
        return webhook(webhooks.create_webhook(self._runner, call.principal, request.url, types, description, active))

    def ListWebhooks(self, request: pb.ListWebhooksRequest, call: Call) -> pb.ListWebhooksResponse:
        walk = paging.Walk.resume(request, page_tokens.scope("webhooks", call.principal.workspace_id))
        at = walk.page(Violations(), (datetime.datetime, uuid.UUID), default_limit=PAGE_DEFAULT)
        views = webhooks.list_webhooks(self._runner, call.principal, at.limit + 1, at.after)
        shown = views[: at.limit]
        items, token = walk.respond(
            [webhook(w) for w in shown], [(w.row.created_at, w.row.id) for w in shown], len(views) > at.limit
        )
        return pb.ListWebhooksResponse(items=items, next_page_token=token)

    def GetWebhook(self, request: pb.GetWebhookRequest, call: Call) -> pb.Webhook:
        return webhook(
            webhooks.get_webhook(self._runner, call.principal, require_uuid("webhook_id", request.webhook_id))
        )

    def UpdateWebhook(self, request: pb.UpdateWebhookRequest, call: Call) -> pb.Webhook:
        v = Violations()
        webhook_id = parse_uuid(v, "webhook_id", request.webhook_id)
        paths = request_values.mask_paths(v, request, UPDATABLE) or []
        values: dict[str, Any] = {}
        for name in paths:
            field = request.DESCRIPTOR.fields_by_name[name]
            if field.has_presence and not request.HasField(name) and not field_rules(field).clearable:
                v.add(name, "cannot be cleared")
        if "url" in paths and request.HasField("url"):
            values["url"] = _url(v, request.url)
        if "events" in paths:
            values["events"] = _events(v, request.events)
        if "description" in paths:
            values["description"] = _description(v, request.description)
        if "active" in paths and request.HasField("active"):
            values["active"] = request.active
        v.check()
        if not paths:
            raise InvalidArgument.field("update_mask", "names no field to update")
        assert webhook_id is not None
        return webhook(webhooks.update_webhook(self._runner, call.principal, webhook_id, values))

    def DeleteWebhook(self, request: pb.DeleteWebhookRequest, call: Call) -> empty_pb2.Empty:
        webhooks.delete_webhook(self._runner, call.principal, require_uuid("webhook_id", request.webhook_id))
        return empty_pb2.Empty()

    def RotateWebhookSecret(self, request: pb.RotateWebhookSecretRequest, call: Call) -> pb.Webhook:
        return webhook(
            webhooks.rotate_secret(self._runner, call.principal, require_uuid("webhook_id", request.webhook_id))
        )

    def PingWebhook(self, request: pb.PingWebhookRequest, call: Call) -> pb.WebhookDelivery:
        return delivery(webhooks.ping(self._runner, call.principal, require_uuid("webhook_id", request.webhook_id)))

    def ListWebhookDeliveries(
        self, request: pb.ListWebhookDeliveriesRequest, call: Call
    ) -> pb.ListWebhookDeliveriesResponse:
        v = Violations()
        webhook_id = parse_uuid(v, "webhook_id", request.webhook_id)
        walk = paging.Walk.resume(
            request, page_tokens.scope("webhook_deliveries", call.principal.workspace_id, str(webhook_id)), v
        )
        statuses = request_values.enum_filter(v, "status", walk.request.status, DELIVERY_STATUS_NAMES)
        at = walk.page(v, (datetime.datetime, uuid.UUID), default_limit=PAGE_DEFAULT)
        assert webhook_id is not None
        rows = webhooks.list_deliveries(self._runner, call.principal, webhook_id, statuses, at.limit + 1, at.after)
        shown = rows[: at.limit]
        items, token = walk.respond(
            [delivery(r) for r in shown], [(r.created_at, r.id) for r in shown], len(rows) > at.limit
        )
        return pb.ListWebhookDeliveriesResponse(items=items, next_page_token=token)

    def RedeliverWebhookDelivery(self, request: pb.RedeliverWebhookDeliveryRequest, call: Call) -> pb.WebhookDelivery:
        v = Violations()
        webhook_id = parse_uuid(v, "webhook_id", request.webhook_id)
        delivery_id = parse_uuid(v, "delivery_id", request.delivery_id)
        v.check()
        assert webhook_id is not None and delivery_id is not None
        return delivery(webhooks.redeliver(self._runner, call.principal, webhook_id, delivery_id))
