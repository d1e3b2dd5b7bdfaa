"""The outbox: each workspace's events, in sequence order (SPEC 8.12).

A write transaction appends its events last (only the deliveries of those
events to the workspace's webhooks follow, inserts that take no other row
lock): the workspace's counter row (`event_counters`) is moved on by as many events,
which locks it until commit, and the events take the sequences given. So a
transaction that got a higher sequence cannot commit before one that got a
lower one, and a reader that has seen sequence N has seen every sequence
below it: nothing that commits later can slip in behind a cursor. A
transaction that rolls back gives its sequences back, so they have no gaps.
That lock is the last any transaction takes, so it cannot close a deadlock.

The rows are the truth; notifications only say when to look (fanout lives
in the API layer).
"""

from __future__ import annotations

import datetime
import uuid
from typing import NamedTuple, Sequence

import peewee

from . import prebuilt_sql, rewinds
from .database import database
from .models import Event, EventCounter


class NewEvent(NamedTuple):
    type: str
    issue_id: uuid.UUID | None
    data: str  # JSON text
    actor: str
    occurred_at: datetime.datetime


class StoredEvent(NamedTuple):
    sequence: int
    type: str
    issue_id: uuid.UUID | None
    actor: str
    occurred_at: datetime.datetime
    data: str  # JSON text


def append(workspace_id: int, events: Sequence[NewEvent]) -> tuple[int, int]:
    """Give `events` the workspace's next sequences and store them; returns
    the last one, and how many webhooks are active in the workspace (read
    under the same lock: webhook changes move it there too, m0010).

    The write transaction's last lock: the counter row stays locked until
    commit (only the events' webhook deliveries are inserted after it).
    """
    db = database.obj
    postgres = isinstance(db, peewee.PostgresqlDatabase)
    # PostgreSQL also says whether the server is still on the timeline the counters belong to, in
    # m0014's function `event_append` (the same upsert, its plan kept per connection, not made per call).
    if postgres:
        text = "SELECT * FROM event_append(%s, %s)"
    else:
        text = (
            "INSERT INTO event_counters (workspace_id, last_sequence, pruned_sequence) VALUES (?, ?, 0)"
            " ON CONFLICT (workspace_id) DO UPDATE SET last_sequence = event_counters.last_sequence + excluded.last_sequence"
            " RETURNING last_sequence, active_webhooks, 1"
        )
    (last, active_webhooks, same_history) = db.execute_sql(text, (workspace_id, len(events))).fetchone()
    if not same_history:
        raise rewinds.HistoryChanged()  # rolls back; run again once the counters have moved on
    last = int(last)
    first = last - len(events) + 1
    rows = [
        {
            "workspace": workspace_id,
            "sequence": first + i,
            "type": e.type,
            "issue_uuid": e.issue_id,
            "actor": e.actor,
            "occurred_at": e.occurred_at,
            "data": e.data,
        }
        for i, e in enumerate(events)
    ]
    prebuilt_sql.insert_many(Event, rows)  # SQL built once per number of events, not per call
    return last, int(active_webhooks)


class Position(NamedTuple):
    """Where a workspace's events stand, seen from a cursor."""

    last: int  # the last committed sequence
    pruned: int  # every sequence up to this one has been pruned
    # The cursor names a point of this history: 0, a kept or pruned event, or
    # where the counter restarted after a rewind (storage/rewinds.py).
    known: bool


def position(workspace_id: int, cursor: int = 0) -> Position:
    """Where the workspace's events stand, and whether `cursor` is a point of this history."""
    found = (
        EventCounter.select(
            EventCounter.last_sequence,
            EventCounter.pruned_sequence,
            EventCounter.rewound_sequence,
            peewee.fn.EXISTS(
                Event.select(Event.sequence).where((Event.workspace == workspace_id) & (Event.sequence == cursor))
            ),
        )
        .where(EventCounter.workspace == workspace_id)
        .tuples()
        .first()
    )
    if not found:
        return Position(0, 0, cursor == 0)
    last, pruned, rewound, kept = int(found[0]), int(found[1]), int(found[2]), bool(found[3])
    return Position(last, pruned, cursor <= pruned or kept or cursor == rewound)


def last_sequences(workspace_ids: Sequence[int]) -> dict[int, int]:
    """The last committed sequence of each workspace named."""
    rows = (
        EventCounter.select(EventCounter.workspace, EventCounter.last_sequence)
        .where(EventCounter.workspace.in_(list(workspace_ids)))
        .tuples()
    )
    return {int(w): int(s) for w, s in rows}


def after(workspace_id: int, sequence: int, limit: int, types: Sequence[str] = ()) -> list[StoredEvent]:
    """Up to `limit` committed events after `sequence`, in sequence order."""
    query = Event.select(
        Event.sequence,
        Event.type,
        Event.issue_uuid,
        Event.actor,
        Event.occurred_at,
        Event.data,
    ).where((Event.workspace == workspace_id) & (Event.sequence > sequence))
    if types:
        query = query.where(Event.type.in_(list(types)))
    return [StoredEvent(*row) for row in query.order_by(Event.sequence).limit(limit).tuples()]


def prune(before: datetime.datetime) -> int:
    """Delete the events that occurred before `before`; returns how many.

    Per workspace, everything up to the highest sequence that is old enough
    goes (sequences follow commit order, clocks need not), and the workspace
    remembers it, so that a cursor below it is refused rather than silently
    skipping what was pruned. Inside a write transaction.
    """
    removed = 0
    old = (
        Event.select(Event.workspace, peewee.fn.MAX(Event.sequence))
        .where(Event.occurred_at < before)
        .group_by(Event.workspace)
        .tuples()
    )
    for workspace_id, through in list(old):
        # Locks the counter row, as appends do: taken first here, and nothing else after it but the delete.
        (
            EventCounter.update(pruned_sequence=through)
            .where((EventCounter.workspace == workspace_id) & (EventCounter.pruned_sequence < through))
            .execute()
        )
        removed += Event.delete().where((Event.workspace == workspace_id) & (Event.sequence <= through)).execute()
    return removed
