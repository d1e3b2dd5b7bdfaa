"""The webhook use cases (SPEC 8.13) against the fake unit of work
(tests/unit/fake_unit_of_work.py): registering, changing, rotating,
pinging, the delivery log and redelivery, and which deliveries a write's
events make, with no database."""

from __future__ import annotations

import datetime
import json
import uuid
from typing import Any

import pytest

from issues.v1 import webhook_pb2 as pb
from service import webhook_config
from service.api import webhook_messages
from service.api.pipeline import Call
from service.api.webhooks import WebhooksServicer
from service.app import issues, page_tokens, webhooks
from service.domain.errors import InvalidArgument, NotFound
from service.domain.identifiers import IssueRef
from service.domain.roles import Role

from .fake_unit_of_work import FakeWorld
from .test_issue_use_cases import VALUES

# An IP literal: vetted without a resolver, and a public address.
URL = "https://93.184.216.34/hook"
DAY = datetime.timedelta(days=1)


@pytest.fixture(autouse=True)
def default_settings(monkeypatch: pytest.MonkeyPatch) -> None:
    """The documented defaults, whatever ISSUES_WEBHOOK_* the test run has."""
    monkeypatch.setattr(webhook_config, "_current", webhook_config.WebhookSettings())


@pytest.fixture
def world() -> FakeWorld:
    return FakeWorld()


def admin(world: FakeWorld, slug: str = "acme") -> Any:
    return world.member(slug, Role.ADMIN)


def hook(world: FakeWorld, caller: Any, events: list[str] | None = None, active: bool = True) -> webhooks.WebhookView:
    return webhooks.create_webhook(world.runner, caller, URL, events or [], "d", active)


def new_issue(world: FakeWorld, caller: Any, **values: Any) -> uuid.UUID:
    return issues.create_issue(world.runner, caller, None, {**VALUES, **values}).row.uuid  # type: ignore[arg-type]


def log(world: FakeWorld, caller: Any, webhook_id: uuid.UUID, *statuses: str) -> list[Any]:
    """The delivery log as ListWebhookDeliveries reads it: newest first."""
    return webhooks.list_deliveries(world.runner, caller, webhook_id, statuses, 100, None)


def test_a_new_webhook_answers_with_its_secret_once_and_counts_as_active(world):
    caller = admin(world)
    made = hook(world, caller)
    assert made.secret is not None and made.secret.startswith("whsec_")
    assert webhook_messages.webhook(made).secret == made.secret
    assert world.tables.webhooks[made.row.id].secret == made.secret
    assert world.tables.active_webhooks[caller.workspace_id] == 1
    assert not world.committed[-1].deliveries_due and world.events(caller) == []  # not a workspace event


def test_listed_and_read_webhooks_never_show_a_secret(world):
    caller = admin(world)
    made = hook(world, caller)
    webhooks.rotate_secret(world.runner, caller, made.row.id)
    shown = [
        *webhooks.list_webhooks(world.runner, caller, 10, None),
        webhooks.get_webhook(world.runner, caller, made.row.id),
    ]
    assert [v.secret for v in shown] == [None, None]
    assert not any(webhook_messages.webhook(v).HasField("secret") for v in shown)


def test_a_private_destination_is_refused_and_nothing_is_stored(world):
    caller = admin(world)
    with pytest.raises(InvalidArgument, match="url"):
        webhooks.create_webhook(world.runner, caller, "http://127.0.0.1:8080/hook", [], "", True)
    assert world.tables.webhooks == {} and world.committed == []


def test_webhooks_are_listed_oldest_first_from_a_position(world):
    caller = admin(world)
    made = [hook(world, caller).row.id for _ in range(3)]
    first = webhooks.list_webhooks(world.runner, caller, 2, None)
    assert [v.row.id for v in first] == made[:2]
    last = first[-1].row
    rest = webhooks.list_webhooks(world.runner, caller, 2, (last.created_at, last.id))
    assert [v.row.id for v in rest] == made[2:]


def test_another_workspaces_webhook_is_not_found_by_any_use_case(world):
    made = hook(world, admin(world, "alice"))
    bob = admin(world, "bob")
    webhook_id = made.row.id
    for attempt in (
        lambda: webhooks.get_webhook(world.runner, bob, webhook_id),
        lambda: webhooks.update_webhook(world.runner, bob, webhook_id, {"active": False}),
        lambda: webhooks.rotate_secret(world.runner, bob, webhook_id),
        lambda: webhooks.ping(world.runner, bob, webhook_id),
        lambda: log(world, bob, webhook_id),
        lambda: webhooks.delete_webhook(world.runner, bob, webhook_id),
    ):
        with pytest.raises(NotFound):
            attempt()
    assert webhooks.list_webhooks(world.runner, bob, 10, None) == []
    assert world.tables.webhooks[webhook_id].active and world.tables.webhooks[webhook_id].secret == made.secret


def test_rotating_keeps_the_old_secret_signing_for_a_day(world):
    caller = admin(world)
    made = hook(world, caller)
    rotated = webhooks.rotate_secret(world.runner, caller, made.row.id)
    stored = world.tables.webhooks[made.row.id]
    assert rotated.secret not in (None, made.secret) and stored.secret == rotated.secret
    assert stored.previous_secret == made.secret
    assert stored.previous_secret_until == world.now + DAY  # the rotation's clock reading, plus the overlap
    again = webhooks.rotate_secret(world.runner, caller, made.row.id)
    assert world.tables.webhooks[made.row.id].previous_secret == rotated.secret != again.secret


def test_a_workspace_event_becomes_one_delivery_per_active_webhook_taking_its_type(world):
    caller = admin(world)
    every = hook(world, caller).row.id
    created_only = hook(world, caller, ["issue.created"]).row.id
    comments_only = hook(world, caller, ["comment.created"]).row.id
    inactive = hook(world, caller, active=False).row.id
    issue_id = new_issue(world, caller)
    assert world.committed[-1].deliveries_due
    (delivery,) = log(world, caller, created_only)
    assert (delivery.event_type, delivery.event_sequence, delivery.status) == ("issue.created", 1, "pending")
    assert delivery.attempts == 0 and delivery.next_attempt_at == delivery.created_at
    assert len(log(world, caller, every)) == 1
    assert log(world, caller, comments_only) == log(world, caller, inactive) == []
    issues.update_issue(world.runner, caller, None, IssueRef(uuid=issue_id), {"title": "new"})  # type: ignore[arg-type]
    assert [d.event_type for d in log(world, caller, every)] == ["issue.updated", "issue.created"]
    assert len(log(world, caller, created_only)) == 1


def test_a_write_in_a_workspace_without_active_webhooks_makes_no_delivery(world):
    caller = admin(world)
    paused = hook(world, caller, active=False).row.id
    hook(world, admin(world, "other"))  # another workspace's webhook hears nothing of this one
    new_issue(world, caller)
    assert not world.committed[-1].deliveries_due and world.tables.deliveries == {}
    assert log(world, caller, paused) == []


def test_deactivating_stops_deliveries_and_reactivating_clears_the_disabled_state(world):
    caller = admin(world)
    made = hook(world, caller)
    webhooks.update_webhook(world.runner, caller, made.row.id, {"active": False})
    assert world.tables.active_webhooks[caller.workspace_id] == 0
    new_issue(world, caller)
    assert log(world, caller, made.row.id) == []
    stored = world.tables.webhooks[made.row.id]  # as the dispatcher leaves one it disabled
    stored.disabled_reason, stored.failures_in_row, stored.failing_since = "every attempt failed", 100, world.now
    again = webhooks.update_webhook(world.runner, caller, made.row.id, {"active": True})
    assert again.row.active and again.secret is None
    stored = world.tables.webhooks[made.row.id]
    assert (stored.disabled_reason, stored.failures_in_row, stored.failing_since) == (None, 0, None)
    assert world.tables.active_webhooks[caller.workspace_id] == 1 and world.committed[-1].deliveries_due


def test_an_update_to_what_the_webhook_is_changes_nothing(world):
    caller = admin(world)
    made = hook(world, caller, ["issue.created"])
    same = webhooks.update_webhook(world.runner, caller, made.row.id, {"events": ["issue.created"], "url": URL})
    assert same.row.updated_at == made.row.updated_at
    assert world.tables.active_webhooks[caller.workspace_id] == 1


def test_deleting_a_webhook_removes_its_deliveries_and_its_active_count(world):
    caller = admin(world)
    made, kept = hook(world, caller).row.id, hook(world, caller).row.id
    new_issue(world, caller)
    webhooks.delete_webhook(world.runner, caller, made)
    assert made not in world.tables.webhooks and world.tables.active_webhooks[caller.workspace_id] == 1
    assert {d.webhook for d in world.tables.deliveries.values()} == {kept}
    with pytest.raises(NotFound):
        log(world, caller, made)


def test_a_ping_is_a_delivery_shaped_like_an_event_but_no_workspace_event(world):
    caller = admin(world)
    made = hook(world, caller, ["comment.created"])  # a ping goes whatever types the webhook takes
    pinged = webhooks.ping(world.runner, caller, made.row.id)
    assert world.committed[-1].deliveries_due and world.events(caller) == []
    (logged,) = log(world, caller, made.row.id)
    assert (logged.id, logged.event_type, logged.event_sequence, logged.status) == (pinged.id, "ping", None, "pending")
    body = json.loads(logged.payload)
    assert (body["sequence"], body["type"], body["issue_id"], body["actor"]) == (0, "ping", None, caller.email)
    assert body["data"] == {"webhook_id": str(made.row.id), "url": URL}


def test_the_delivery_log_is_newest_first_filtered_by_status_and_paged_before_a_position(world):
    caller = admin(world)
    made = hook(world, caller).row.id
    pings = [webhooks.ping(world.runner, caller, made).id for _ in range(3)]
    world.tables.deliveries[pings[1]].status = "failed"  # as the dispatcher records a last attempt
    assert [d.id for d in log(world, caller, made)] == pings[::-1]
    assert [d.id for d in log(world, caller, made, "failed")] == [pings[1]]
    assert [d.id for d in log(world, caller, made, "pending", "succeeded")] == [pings[2], pings[0]]
    newest = log(world, caller, made)[0]
    older = webhooks.list_deliveries(world.runner, caller, made, (), 1, (newest.created_at, newest.id))
    assert [d.id for d in older] == [pings[1]]


def test_a_redelivery_makes_the_same_delivery_due_now_for_a_new_attempt(world):
    caller = admin(world)
    made = hook(world, caller).row.id
    new_issue(world, caller)
    (delivery,) = log(world, caller, made)
    stored = world.tables.deliveries[delivery.id]  # as the dispatcher leaves one it gave up on, and a lease
    stored.status, stored.attempts, stored.next_attempt_at = "failed", 8, None
    stored.lease_id, stored.leased_until = uuid.uuid4(), world.now + DAY
    again = webhooks.redeliver(world.runner, caller, made, delivery.id)
    assert (again.id, again.status, again.attempts, again.next_attempt_at) == (delivery.id, "pending", 8, world.now)
    stored = world.tables.deliveries[delivery.id]
    assert (stored.lease_id, stored.leased_until) == (None, None) and world.committed[-1].deliveries_due
    assert [d.id for d in log(world, caller, made)] == [delivery.id]  # the same delivery: its webhook-id again


def test_redelivering_what_is_not_that_webhooks_delivery_is_not_found(world):
    caller = admin(world)
    made, other = hook(world, caller).row.id, hook(world, caller).row.id
    pinged = webhooks.ping(world.runner, caller, made).id
    for webhook_id, delivery_id in ((other, pinged), (made, uuid.uuid4())):
        with pytest.raises(NotFound):
            webhooks.redeliver(world.runner, caller, webhook_id, delivery_id)
    assert world.tables.deliveries[pinged].next_attempt_at == world.tables.deliveries[pinged].created_at


# -- page tokens through the servicer (api/paging.py; its key, a server secret, is fixed here)


def test_listing_walks_by_token_keeping_the_status_filter_and_never_shows_a_secret(world, monkeypatch):
    monkeypatch.setattr(page_tokens, "_key", lambda: b"k" * 32)
    servicer, caller = WebhooksServicer(world.runner), admin(world)
    made = [hook(world, caller).row.id for _ in range(3)]
    as_caller = Call(caller, "List", None)  # type: ignore[arg-type]
    first = servicer.ListWebhooks(pb.ListWebhooksRequest(limit=2), as_caller)
    rest = servicer.ListWebhooks(pb.ListWebhooksRequest(page_token=first.next_page_token), as_caller)
    assert [w.id for w in [*first.items, *rest.items]] == [str(i) for i in made] and rest.next_page_token == ""
    assert not any(w.HasField("secret") for w in [*first.items, *rest.items])
    pings = [webhooks.ping(world.runner, caller, made[0]).id for _ in range(3)]
    world.tables.deliveries[pings[0]].status = "failed"  # as the dispatcher records a last attempt
    pending = pb.WebhookDelivery.STATUS_PENDING
    page = servicer.ListWebhookDeliveries(
        pb.ListWebhookDeliveriesRequest(webhook_id=str(made[0]), status=[pending], limit=1), as_caller
    )
    following = pb.ListWebhookDeliveriesRequest(webhook_id=str(made[0]), page_token=page.next_page_token)
    assert [d.id for d in servicer.ListWebhookDeliveries(following, as_caller).items] == [str(pings[1])]
    other = pb.ListWebhookDeliveriesRequest(webhook_id=str(made[1]), page_token=page.next_page_token)
    with pytest.raises(InvalidArgument, match="page_token"):  # a token of another webhook's log
        servicer.ListWebhookDeliveries(other, as_caller)
