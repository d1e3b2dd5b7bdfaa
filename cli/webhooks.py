"""`issuectl webhook ...`: the workspace's webhooks and their delivery log (admin tokens).

Mirrors the API (SPEC 8.13): create, list, view, edit, delete, ping,
deliveries, redeliver, and rotate-secret. `--json` prints each call's HTTP
JSON. `create` and `rotate-secret` are the only answers with the secret.
"""

from __future__ import annotations

from typing import Sequence

import click

from common.enums import enum_numbers
from issues.v1 import webhook_pb2

from .context import client as _client, connection_options, show as _show
from .output import Output, when
from .pages import PAGE, all_items

_DELIVERY_STATUS = enum_numbers(webhook_pb2.WebhookDelivery.Status.DESCRIPTOR)
_STATUS_STYLE = {"pending": "yellow", "succeeded": "green", "failed": "red"}


def register(group: click.Group) -> None:
    group.add_command(webhook)


@click.group()
@connection_options
def webhook() -> None:
    """Webhooks: the workspace's events POSTed, signed, to a URL of yours (admin tokens)."""


def _fields(out: Output, hook: webhook_pb2.Webhook) -> None:
    active = "yes" if hook.active else "no" + (f" ({hook.disabled_reason})" if hook.HasField("disabled_reason") else "")
    fields = [
        ("id", out.styled(hook.id, "cyan")),
        ("url", hook.url),
        ("events", ", ".join(hook.events) or "all"),
        ("description", hook.description or "-"),
        ("active", active),
        ("created", when(hook.created_at, out.tty)),
    ]
    if hook.HasField("secret"):
        fields.append(("secret", out.styled(hook.secret, "bold") + out.styled("  (shown only now: keep it)", "dim")))
    for name, value in fields:
        out.line(f"{out.styled(name.ljust(11), 'dim')}  {value}")


def _delivery_rows(out: Output, deliveries: Sequence[webhook_pb2.WebhookDelivery]) -> None:
    names = {v: k for k, v in _DELIVERY_STATUS.items()}
    rows, styles = [], []
    for d in deliveries:
        status = names.get(d.status, "-")
        rows.append(
            [
                d.id,
                d.event_type,
                str(d.event_sequence) if d.HasField("event_sequence") else "-",
                status,
                str(d.attempts),
                str(d.last_status_code) if d.HasField("last_status_code") else "-",
                d.last_error if d.HasField("last_error") else "-",
                when(d.next_attempt_at, out.tty) if d.HasField("next_attempt_at") else "-",
            ]
        )
        styles.append(["cyan", None, None, _STATUS_STYLE.get(status), None, None, "dim", "dim"])
    out.table(
        ["ID", "EVENT", "SEQ", "STATUS", "ATTEMPTS", "CODE", "ERROR", "NEXT"], rows, styles, shrink=6, droppable=(7, 2)
    )


@webhook.command()
@click.option("--url", required=True, help="Where to POST: an http or https URL.")
@click.option(
    "--event", "events", multiple=True, metavar="TYPE", help="Only this event type (repeatable); default: all."
)
@click.option("--description", help="What it is for.")
@click.option("--inactive", is_flag=True, help="Create it inactive (nothing is sent until it is made active).")
@connection_options
def create(url: str, events: tuple[str, ...], description: str | None, inactive: bool) -> None:
    """Register a webhook; prints it with its secret, shown this once."""
    request = webhook_pb2.CreateWebhookRequest(
        url=url, events=list(events), description=description or "", active=not inactive
    )
    with _client() as client:
        made = client.call("CreateWebhook", request)
    _show(made, lambda out: _fields(out, made))


@webhook.command("list")
@connection_options
def list_webhooks() -> None:
    """The workspace's webhooks (never their secrets)."""
    with _client() as client:
        items = all_items(
            lambda token: client.call("ListWebhooks", webhook_pb2.ListWebhooksRequest(limit=PAGE, page_token=token))
        )

    def draw(out: Output) -> None:
        rows = [
            [h.id, h.url, ", ".join(h.events) or "all", "yes" if h.active else "no", when(h.created_at, out.tty)]
            for h in items
        ]
        out.table(["ID", "URL", "EVENTS", "ACTIVE", "CREATED"], rows, shrink=1, droppable=(4, 2))

    from common.jsonout import to_json

    _show({"items": [to_json(h) for h in items], "next_page_token": ""}, draw)


@webhook.command()
@click.argument("webhook_id", metavar="ID")
@connection_options
def view(webhook_id: str) -> None:
    """A webhook and its ten latest deliveries."""
    with _client() as client:
        hook = client.call("GetWebhook", webhook_pb2.GetWebhookRequest(webhook_id=webhook_id))
        recent = client.call(
            "ListWebhookDeliveries", webhook_pb2.ListWebhookDeliveriesRequest(webhook_id=webhook_id, limit=10)
        )
    from common.jsonout import to_json

    def draw(out: Output) -> None:
        _fields(out, hook)
        out.line()
        _delivery_rows(out, recent.items)

    _show({"webhook": to_json(hook), "deliveries": to_json(recent)}, draw)


@webhook.command()
@click.argument("webhook_id", metavar="ID")
@click.option("--url", help="A new URL.")
@click.option("--event", "events", multiple=True, metavar="TYPE", help="The event types (repeatable; replaces them).")
@click.option("--all-events", is_flag=True, help="Deliver every event type.")
@click.option("--description", help="A new description.")
@click.option("--active/--inactive", default=None, help="Resume (clearing why it was disabled) or pause it.")
@connection_options
def edit(
    webhook_id: str,
    url: str | None,
    events: tuple[str, ...],
    all_events: bool,
    description: str | None,
    active: bool | None,
) -> None:
    """Change a webhook: only what is given."""
    if events and all_events:
        raise click.UsageError("--event and --all-events: give one of them")
    request = webhook_pb2.UpdateWebhookRequest(webhook_id=webhook_id, events=list(events))
    given = {"url": url, "description": description, "active": active}
    for name, value in given.items():
        if value is not None:
            setattr(request, name, value)
    paths = [name for name, value in given.items() if value is not None]
    if events or all_events:
        paths.append("events")
    if not paths:
        raise click.UsageError("nothing to change: give --url, --event, --all-events, --description or --active")
    request.update_mask.paths.extend(paths)
    with _client() as client:
        hook = client.call("UpdateWebhook", request)
    _show(hook, lambda out: _fields(out, hook))


@webhook.command()
@click.argument("webhook_id", metavar="ID")
@connection_options
def delete(webhook_id: str) -> None:
    """Delete a webhook and its delivery log."""
    with _client() as client:
        gone = client.call("DeleteWebhook", webhook_pb2.DeleteWebhookRequest(webhook_id=webhook_id))
    _show(gone, lambda out: out.line(out.styled(f"deleted {webhook_id}", None)))


@webhook.command("rotate-secret")
@click.argument("webhook_id", metavar="ID")
@connection_options
def rotate_secret(webhook_id: str) -> None:
    """A new secret (shown this once); the old one also signs for 24 hours."""
    with _client() as client:
        hook = client.call("RotateWebhookSecret", webhook_pb2.RotateWebhookSecretRequest(webhook_id=webhook_id))
    _show(hook, lambda out: _fields(out, hook))


@webhook.command()
@click.argument("webhook_id", metavar="ID")
@connection_options
def ping(webhook_id: str) -> None:
    """Send a `ping` event; prints its delivery's id."""
    with _client() as client:
        sent = client.call("PingWebhook", webhook_pb2.PingWebhookRequest(webhook_id=webhook_id))
    _show(sent, lambda out: out.line(sent.id))


@webhook.command()
@click.argument("webhook_id", metavar="ID")
@click.option(
    "--status",
    "statuses",
    multiple=True,
    type=click.Choice(list(_DELIVERY_STATUS)),
    help="Only these states (repeatable).",
)
@click.option("--limit", type=click.IntRange(1, 1000), default=20, show_default=True, help="At most N deliveries.")
@connection_options
def deliveries(webhook_id: str, statuses: tuple[str, ...], limit: int) -> None:
    """The delivery log, newest first: each attempt's outcome and the next one."""
    request = webhook_pb2.ListWebhookDeliveriesRequest(
        webhook_id=webhook_id, status=[_DELIVERY_STATUS[s] for s in statuses], limit=limit
    )
    with _client() as client:
        page = client.call("ListWebhookDeliveries", request)
    _show(page, lambda out: _delivery_rows(out, page.items))


@webhook.command()
@click.argument("webhook_id", metavar="ID")
@click.argument("delivery_id", metavar="DELIVERY_ID")
@connection_options
def redeliver(webhook_id: str, delivery_id: str) -> None:
    """Send a delivery again now (the same webhook-id)."""
    with _client() as client:
        again = client.call(
            "RedeliverWebhookDelivery",
            webhook_pb2.RedeliverWebhookDeliveryRequest(webhook_id=webhook_id, delivery_id=delivery_id),
        )
    _show(again, lambda out: out.line(out.styled(f"redelivering {again.id}", None)))
