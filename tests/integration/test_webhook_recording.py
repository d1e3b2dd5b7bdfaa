"""service/app/webhook_deliveries.py: the dispatcher records many attempts'
outcomes in one transaction. Each is still written truthfully (its own
status, code, error and schedule; nothing where its lease was lost), and a
batch that is never committed (a crash between attempt and record) leaves
its deliveries leased until the lease ends and then to the next claim, with
no attempt counted. On both backends, through the real database."""

from __future__ import annotations

import time
import uuid
from typing import Any

import pytest

from service.app import webhook_deliveries, webhooks
from service.app.runner import Runner
from service.app.webhook_deliveries import Attempt, Claimed, Outcome
from service.domain.identifiers import default_prefix
from service.domain.roles import Principal, Role
from service.storage import database, webhook_leases, workspaces
from service.storage.models import Webhook, WebhookDelivery, utcnow
from service.webhook_config import WebhookSettings

from .test_unit_of_work import committed, db, runner  # noqa: F401 - fixtures

SETTINGS = WebhookSettings()
# A public address (example.com's): no private-address exception needed.
URL = "http://93.184.215.14/hook"


def _admin(slug: str) -> Principal:
    workspace_id = database.transaction(lambda: workspaces.ensure(slug, default_prefix(slug)).id, write=True)
    return Principal(workspace_id, slug, f"a@{slug}.co", Role.ADMIN)


def _queued(runner: Runner, n: int) -> tuple[uuid.UUID, list[uuid.UUID]]:
    """A webhook with `n` pings waiting; (its id, the deliveries' ids)."""
    admin = _admin(f"rec-{uuid.uuid4().hex[:8]}")
    hook = webhooks.create_webhook(runner, admin, URL, [], "", True).row.id
    return hook, [webhooks.ping(runner, admin, hook).id for _ in range(n)]


def _claim(lease_id: uuid.UUID, lease_seconds: float = 60) -> list[Claimed]:
    return webhook_deliveries.claim(lease_id, lease_seconds, 100, {}, 100)


def _row(delivery_id: uuid.UUID) -> Any:
    return database.transaction(lambda: WebhookDelivery.get_by_id(delivery_id))


def test_a_batch_records_each_attempt_as_it_went(db, runner):
    hook, ids = _queued(runner, 3)
    lease_id = uuid.uuid4()
    claimed = {c.id: c for c in _claim(lease_id)}
    assert set(claimed) == set(ids)
    ok, refused, lost = (claimed[i] for i in ids)
    statuses = webhook_deliveries.record(
        [
            Outcome(ok, lease_id, Attempt(True, 204, None, 12)),
            Outcome(refused, lease_id, Attempt(False, 500, "HTTP 500: boom", 34)),
            Outcome(lost, uuid.uuid4(), Attempt(True, 200, None, 5)),  # another lease by now: writes nothing
        ],
        SETTINGS,
    )
    assert statuses == ["succeeded", "pending", None]

    row = _row(ok.id)
    assert (row.status, row.attempts, row.last_status_code, row.last_error, row.last_duration_ms) == (
        "succeeded",
        1,
        204,
        None,
        12,
    )
    assert row.delivered_at is not None and row.next_attempt_at is None and row.lease_id is None
    row = _row(refused.id)
    assert (row.status, row.attempts, row.last_status_code, row.last_error, row.last_duration_ms) == (
        "pending",
        1,
        500,
        "HTTP 500: boom",
        34,
    )
    assert row.next_attempt_at > utcnow() and row.delivered_at is None and row.lease_id is None
    row = _row(lost.id)
    assert (row.status, row.attempts, row.last_status_code, row.lease_id) == ("pending", 0, None, lease_id)
    # The webhook counts the one failure (after the success in the same batch).
    assert database.transaction(lambda: Webhook.get_by_id(hook)).failures_in_row == 1


def test_an_unrecorded_batch_leaves_its_deliveries_to_a_claim_after_the_lease(
    db, runner, monkeypatch: pytest.MonkeyPatch
):
    _, ids = _queued(runner, 2)
    lease_id = uuid.uuid4()
    first = _claim(lease_id, lease_seconds=1.0)
    assert {c.id for c in first} == set(ids)

    finished: list[uuid.UUID] = []
    real_finish_all = webhook_leases.finish_all

    def crash_after_writing(rows: Any, **options: Any) -> Any:
        written = real_finish_all(rows, **options)
        finished.extend(delivery_id for delivery_id, _ in written)
        raise RuntimeError("the process died before the batch committed")

    monkeypatch.setattr(webhook_leases, "finish_all", crash_after_writing)
    with pytest.raises(RuntimeError):
        webhook_deliveries.record([Outcome(c, lease_id, Attempt(True, 200, None, 1)) for c in first], SETTINGS)
    monkeypatch.undo()
    assert sorted(finished, key=str) == sorted(ids, key=str)  # both written, then rolled back
    for delivery_id in ids:
        row = _row(delivery_id)
        assert (row.status, row.attempts, row.lease_id) == ("pending", 0, lease_id)

    assert _claim(uuid.uuid4()) == []  # still leased: no one else attempts them meanwhile
    time.sleep(1.1)
    again = _claim(uuid.uuid4())
    assert {c.id for c in again} == set(ids) and all(c.attempts == 0 for c in again)


def test_a_success_claimed_before_a_failure_was_recorded_still_resets_the_failures(db, runner):
    """Attempts of one webhook run side by side: one claimed while the webhook
    was not failing may succeed after another's failure was recorded."""
    hook, ids = _queued(runner, 2)
    lease_id = uuid.uuid4()
    failing, succeeding = (c for c in sorted(_claim(lease_id), key=lambda c: ids.index(c.id)))
    assert failing.failures_in_row == succeeding.failures_in_row == 0
    webhook_deliveries.record([Outcome(failing, lease_id, Attempt(False, 500, "HTTP 500", 3))], SETTINGS)
    assert database.transaction(lambda: Webhook.get_by_id(hook)).failures_in_row == 1
    webhook_deliveries.record([Outcome(succeeding, lease_id, Attempt(True, 200, None, 3))], SETTINGS)
    row = database.transaction(lambda: Webhook.get_by_id(hook))
    assert (row.failures_in_row, row.failing_since) == (0, None)


def test_a_success_whose_lease_was_lost_writes_nothing_not_even_the_webhooks_reset(db, runner):
    """A batch of successes only (one statement on PostgreSQL): the one whose
    lease another claim has since taken is not written, and its webhook's
    failures stay as they were; the other claim's success resets them."""
    hook, ids = _queued(runner, 2)
    lease_id = uuid.uuid4()
    first, second = sorted(_claim(lease_id), key=lambda c: ids.index(c.id))
    webhook_deliveries.record([Outcome(first, lease_id, Attempt(False, 500, "HTTP 500", 3))], SETTINGS)
    expire = WebhookDelivery.update(leased_until=utcnow()).where(WebhookDelivery.id == second.id)
    database.transaction(expire.execute, write=True)
    retaken = uuid.uuid4()
    (again,) = _claim(retaken)
    assert again.id == second.id
    assert webhook_deliveries.record([Outcome(second, lease_id, Attempt(True, 200, None, 3))], SETTINGS) == [None]
    assert database.transaction(lambda: Webhook.get_by_id(hook)).failures_in_row == 1
    assert _row(second.id).lease_id == retaken
    assert webhook_deliveries.record([Outcome(again, retaken, Attempt(True, 200, None, 3))], SETTINGS) == ["succeeded"]
    row = database.transaction(lambda: Webhook.get_by_id(hook))
    assert (row.failures_in_row, row.failing_since) == (0, None)


def test_a_delivery_whose_event_is_gone_fails_at_once_without_counting_against_the_webhook(db, runner):
    hook, (delivery_id,) = _queued(runner, 1)
    lease_id = uuid.uuid4()
    (claimed,) = _claim(lease_id)
    statuses = webhook_deliveries.record(
        [Outcome(claimed, lease_id, Attempt(False, None, "its event is no longer kept", 0, final=True))], SETTINGS
    )
    assert statuses == ["failed"]
    row = _row(delivery_id)
    assert (row.status, row.attempts, row.next_attempt_at) == ("failed", 1, None)
    assert database.transaction(lambda: Webhook.get_by_id(hook)).failures_in_row == 0


def test_the_dispatcher_is_woken_only_by_commits_that_made_deliveries_due(db, tmp_path, runner, committed):
    """A write in a workspace without webhooks has its watchers woken, not the
    dispatcher; a ping makes deliveries due without events."""
    from service.app import issues
    from service.blobs.filesystem import FilesystemStore
    from service.blobs.signing import Signer

    blobs = FilesystemStore(tmp_path / "blobs", "http://unused", Signer("k"))
    values = {
        "title": "t",
        "description": [],
        "status": "open",
        "priority": "low",
        "tags": [],
        "owner": "o",
        "resolution_summary": None,
        "job_run_id": None,
        "session_ids": [],
        "attachment_ids": [],
    }
    plain = _admin(f"plain-{uuid.uuid4().hex[:8]}")
    issues.create_issue(runner, plain, blobs, values)
    assert [(c.event_workspaces, c.deliveries_due) for c in committed] == [(frozenset({plain.workspace_id}), False)]

    hooked = _admin(f"hooked-{uuid.uuid4().hex[:8]}")
    hook = webhooks.create_webhook(runner, hooked, URL, ["issue.created"], "", True)
    committed.clear()
    issues.create_issue(runner, hooked, blobs, values)
    assert [(c.event_workspaces, c.deliveries_due) for c in committed] == [(frozenset({hooked.workspace_id}), True)]

    committed.clear()
    webhooks.ping(runner, hooked, hook.row.id)
    assert [(c.event_workspaces, c.deliveries_due) for c in committed] == [(frozenset(), True)]


def test_a_batch_is_one_update_of_its_deliveries_and_a_failure_keeps_the_earlier_delivered_at(runner, caplog):
    """On PostgreSQL the outcomes go in one UPDATE (webhook_finish); a
    failed attempt of a delivery redelivered after it succeeded leaves its
    delivered_at as it was."""
    import logging

    from service.storage.webhooks import WebhookRepository

    _, ids = _queued(runner, 3)
    lease_id = uuid.uuid4()
    claimed = _claim(lease_id)
    with caplog.at_level(logging.DEBUG, logger="peewee"):
        statuses = webhook_deliveries.record(
            [Outcome(c, lease_id, Attempt(True, 200, None, 1)) for c in claimed], SETTINGS
        )
    assert statuses == ["succeeded"] * 3
    statements = [str(r.msg).lstrip("('\"") for r in caplog.records]
    updates = [q for q in statements if "webhook_finish(" in q or q.startswith('UPDATE "webhook_deliveries"')]
    assert len(updates) == (1 if database.is_postgres() else 3), [q[:120] for q in updates]
    if database.is_postgres():  # successes only: no read of their webhooks either, one statement in all
        assert [q for q in statements if q.startswith(("SELECT", "UPDATE", "WITH", "INSERT", "DELETE"))] == updates
    delivered_at = _row(ids[0]).delivered_at
    assert delivered_at is not None

    workspace_id = claimed[0].workspace_id
    database.transaction(lambda: WebhookRepository(workspace_id).due_now(ids[0], utcnow()), write=True)
    again_lease = uuid.uuid4()
    (again,) = _claim(again_lease)
    assert webhook_deliveries.record([Outcome(again, again_lease, Attempt(False, 503, "HTTP 503", 2))], SETTINGS) == [
        "pending"
    ]
    row = _row(ids[0])
    assert (row.status, row.attempts, row.last_status_code, row.delivered_at) == ("pending", 2, 503, delivered_at)


def test_a_claim_takes_at_most_each_webhooks_room_and_no_more_than_asked(db, runner):
    """Per webhook, the bound less what is in flight to it; a webhook at its bound gets none."""
    a, a_ids = _queued(runner, 5)
    b, b_ids = _queued(runner, 5)
    claimed = webhook_deliveries.claim(uuid.uuid4(), 60, 3, {a: 2}, 100)
    assert sorted(c.webhook_id == a for c in claimed) == [False, False, False, True]
    assert {c.id for c in claimed} <= set(a_ids) | set(b_ids)
    assert webhook_deliveries.claim(uuid.uuid4(), 60, 3, {a: 3, b: 3}, 100) == []
    again = webhook_deliveries.claim(uuid.uuid4(), 60, 3, {a: 3}, 1)  # B's 2 left, 1 asked for
    assert len(again) == 1 and again[0].webhook_id == b
    last = webhook_deliveries.claim(uuid.uuid4(), 60, 3, {a: 3, b: 1}, 100)
    assert [c.webhook_id for c in last] == [b]  # the only one of B left
