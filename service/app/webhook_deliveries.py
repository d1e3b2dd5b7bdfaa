"""Deliveries: made with the events they deliver, then claimed, attempted
and recorded by the dispatchers (SPEC 8.13).

`derive` runs in the event's own transaction, after the events got their
sequences (derived.py): one pending delivery per (event, matching active
webhook), committed with the event or not at all, so no crash can lose one.
On PostgreSQL the storage adapter (peewee_storage.py) queues them with
m0013's function `webhook_queue` instead, the same rule in one round trip
under the counter's lock; `derive` serves SQLite and the tests' fake.
The transaction has just read the workspace's active-webhook count under
the event counter's lock, so a workspace without webhooks pays nothing more.

The dispatcher (api/webhook_dispatch.py) calls `claim` and `record`, each a
transaction of its own (`record` writes many attempts' outcomes at once);
the attempts themselves run between them, outside any.
"""

from __future__ import annotations

import datetime
import uuid
from dataclasses import dataclass
from typing import NamedTuple, Sequence

from ..domain import webhook_rules
from ..domain.times import iso_seconds, utcnow
from ..storage import webhook_leases
from ..storage.database import is_postgres, transaction
from ..storage.outbox import NewEvent
from ..storage.webhook_leases import Claimed
from ..storage.webhooks import FAILED, PENDING, SUCCEEDED, WebhookRepository, move_active_count
from ..webhook_config import WebhookSettings

__all__ = ["Attempt", "Claimed", "Outcome", "claim", "derive", "record"]

# What the log keeps of an error or an answer: enough to see why.
ERROR_MAX = 500


def derive(hooks: WebhookRepository, events: Sequence[NewEvent], first_sequence: int, at: datetime.datetime) -> bool:
    """Queue a delivery of each of `events` (sequences from `first_sequence`)
    to each active webhook of the workspace `hooks` is bound to that takes its
    type; whether any was."""
    active = hooks.active()
    rows = [
        {
            "id": uuid.uuid4(),
            "webhook": webhook_id,
            "event_sequence": first_sequence + i,
            "event_type": e.type,
            "status": PENDING,
            "attempts": 0,
            "next_attempt_at": at,
            "created_at": at,
        }
        for i, e in enumerate(events)
        for webhook_id, types in active
        if not types or e.type in types
    ]
    hooks.add_deliveries(rows)
    return bool(rows)


def claim(
    lease_id: uuid.UUID,
    lease_seconds: float,
    per_webhook: int,
    in_flight: dict[uuid.UUID, int],
    total: int,
) -> list[Claimed]:
    """Lease due deliveries (see storage/webhook_leases.py) and load them:
    at most `per_webhook` less its `in_flight` of each webhook, `total` in all."""
    now = utcnow()
    until = now + datetime.timedelta(seconds=lease_seconds)
    if is_postgres():  # one statement, one round trip: the claim is most of what the dispatcher asks
        return transaction(
            lambda: webhook_leases.claim_postgres(now, until, lease_id, per_webhook, in_flight, total), write=True
        )
    skip = [w for w, n in in_flight.items() if n >= per_webhook]

    def room(webhook_id: uuid.UUID) -> int:
        return per_webhook - in_flight.get(webhook_id, 0)

    wanted = transaction(lambda: webhook_leases.candidates(now, room, total, skip))
    if not wanted:  # the usual answer: no write transaction (on SQLite, no write lock) for it
        return []

    def lease_and_load() -> list[Claimed]:  # one transaction: the load reads the leases it just wrote
        ids = webhook_leases.lease(wanted, now, until, lease_id)
        return webhook_leases.load(ids) if ids else []

    return transaction(lease_and_load, write=True)


@dataclass(frozen=True)
class Attempt:
    """How one attempt went."""

    ok: bool
    status_code: int | None
    error: str | None
    duration_ms: int
    # A Retry-After header's wait, on a 429 or 503.
    retry_after: float | None = None
    # Not the receiver's doing and no use retrying (the event was pruned):
    # failed at once, without counting against the webhook.
    final: bool = False


class Outcome(NamedTuple):
    """An attempt made under a lease, to be recorded."""

    claimed: Claimed
    lease_id: uuid.UUID
    attempt: Attempt


def record(outcomes: Sequence[Outcome], settings: WebhookSettings) -> list[str | None]:
    """Write each attempt's outcome, schedule its next attempt or give up, and
    track the webhooks' failures (disabling one past the SPEC's bounds), all in
    one transaction: one commit (one WAL flush) for a batch instead of one per
    attempt. Returns each delivery's status, in order, or None where the lease
    was lost meanwhile (nothing of that attempt is written).

    Either every outcome is written or none is: after a failure the leases
    run out and the deliveries are attempted again (at least once)."""

    if is_postgres() and all(o.attempt.ok for o in outcomes):
        return transaction(lambda: _record_successes(outcomes, settings), write=True)

    def work() -> list[str | None]:
        now = utcnow()
        # Webhook rows first (in id order), then the deliveries': the lock
        # order of a webhook's deletion too, and the same in every batch.
        # Every webhook of the batch, read afresh: one claimed while it was
        # not failing may be failing now (attempts run side by side), and
        # its success must reset the count.
        hooks = webhook_leases.webhooks_for_update(sorted({o.claimed.webhook_id for o in outcomes}, key=str))
        active_before = {w: hook.active for w, hook in hooks.items()}
        planned = [_outcome_values(o, now, settings) for o in outcomes]
        written = webhook_leases.finish_all(
            [(o.claimed.id, o.lease_id, values) for o, values in zip(outcomes, planned)]
        )
        changes: dict[uuid.UUID, dict] = {}  # per webhook: its counters after the batch, saved once
        statuses: list[str | None] = []
        for outcome, values in zip(outcomes, planned):
            if (outcome.claimed.id, outcome.lease_id) not in written:
                statuses.append(None)
                continue
            statuses.append(values[0])
            hook = hooks.get(outcome.claimed.webhook_id)
            final = outcome.attempt.final  # not the receiver's doing: not counted against the webhook
            changed = _track(hook, outcome.attempt, now, settings) if hook is not None and not final else {}
            if changed:
                for name, value in changed.items():
                    setattr(hook, name, value)
                changes.setdefault(hook.id, {}).update(changed)
        for webhook_id, changed in changes.items():
            hook = hooks[webhook_id]
            WebhookRepository(hook.workspace_id).save(hook, **changed)
        for webhook_id, was_active in active_before.items():
            hook = hooks[webhook_id]
            if was_active and not hook.active:  # disabled just now; the event counter's lock comes last
                move_active_count(hook.workspace_id, -1)
        return statuses

    return transaction(work, write=True)


def _record_successes(outcomes: Sequence[Outcome], settings: WebhookSettings) -> list[str | None]:
    """`record` of a batch of successes on PostgreSQL (most batches): one
    statement, that resets the webhooks' failures in a row too (see
    webhook_leases.finish_all)."""
    now = utcnow()
    planned = [_outcome_values(o, now, settings) for o in outcomes]
    written = webhook_leases.finish_all(
        [(o.claimed.id, o.lease_id, values) for o, values in zip(outcomes, planned)], succeeded=True
    )
    return [values[0] if (o.claimed.id, o.lease_id) in written else None for o, values in zip(outcomes, planned)]


def _outcome_values(outcome: Outcome, now: datetime.datetime, settings: WebhookSettings) -> tuple:
    """What the attempt's outcome writes (webhook_leases.OUTCOME_COLUMNS): its
    status, the attempts, when the next is due, delivered_at, the answer."""
    claimed, attempt = outcome.claimed, outcome.attempt
    attempts = claimed.attempts + 1
    answer = (attempt.status_code, attempt.error[:ERROR_MAX] if attempt.error else None, attempt.duration_ms)
    if attempt.ok:
        return (SUCCEEDED, attempts, None, now, *answer)
    if attempt.final:
        return (FAILED, attempts, None, None, *answer)
    if webhook_rules.gives_up(attempts, claimed.created_at, now, settings.retry_window, settings.min_attempts):
        return (FAILED, attempts, None, None, *answer)
    wait = webhook_rules.backoff_seconds(attempts, settings.backoff_base, settings.backoff_max)
    if attempt.retry_after is not None:  # honoured, within the longest backoff
        wait = max(wait, min(attempt.retry_after, settings.backoff_max))
    return (PENDING, attempts, now + datetime.timedelta(seconds=wait), None, *answer)


def _track(hook, attempt: Attempt, now: datetime.datetime, settings: WebhookSettings) -> dict:
    """The webhook's changes after a recorded attempt: a success resets its
    failures in a row; a failure counts, and may disable it (SPEC 8.13)."""
    if attempt.ok:
        return {"failures_in_row": 0, "failing_since": None} if hook.failures_in_row else {}
    failures, since = hook.failures_in_row + 1, hook.failing_since or now
    changes: dict = {"failures_in_row": failures, "failing_since": since}
    disabling = hook.active and webhook_rules.disables(
        failures, since, now, settings.disable_after, settings.disable_failures
    )
    if disabling:
        last = attempt.error or f"HTTP {attempt.status_code}"
        changes.update(
            active=False,
            updated_at=now,
            disabled_reason=(
                f"every delivery attempt failed since {iso_seconds(since)} ({failures} in a row); the last: {last}"[
                    :ERROR_MAX
                ]
            ),
        )
    return changes


def queue_depths() -> dict[uuid.UUID, int]:
    return transaction(webhook_leases.pending_by_webhook)
