"""Reading a workspace's committed events (ListEvents, WatchEvents), and
whether a cursor can still be served from them."""

from __future__ import annotations

from typing import NamedTuple, Sequence

from ..domain.errors import InvalidArgument, OutOfRange
from ..storage import outbox
from ..storage.database import transaction
from ..storage.outbox import StoredEvent


class Page(NamedTuple):
    """Events after a cursor, with the workspace's position, from one snapshot."""

    events: list[StoredEvent]
    last: int  # the last committed sequence when read
    pruned: int  # every sequence up to this one has been pruned
    # The cursor read after is a point of this history (not one only a lost
    # history had: storage/rewinds.py).
    known: bool = True


def read(workspace_id: int, after: int, limit: int, types: Sequence[str] = ()) -> Page:
    """Up to `limit` committed events after `after` (of `types`, when given)."""

    def work() -> Page:
        found = outbox.after(workspace_id, after, limit, types)
        where = outbox.position(workspace_id, after)
        return Page(found, where.last, where.pruned, where.known)

    return transaction(work, snapshot=True)


def last_sequences(workspace_ids: Sequence[int]) -> dict[int, int]:
    """The last committed sequence of each workspace (one query, for the watchers' poll)."""
    return transaction(lambda: outbox.last_sequences(workspace_ids)) if workspace_ids else {}


def check_cursor(after: int, page: Page, field: str = "after_sequence") -> None:
    """Refuse a cursor from which the events cannot all be had.

    0 asks for everything kept. Below the last pruned sequence, events the
    caller has not seen are gone: OUT_OF_RANGE, so it knows to resync. Past
    the last event there is nothing it can have seen: a bad cursor.
    """
    if after and after < page.pruned:
        raise OutOfRange(
            f"{field} {after} is older than the oldest event kept (events up to {page.pruned} were pruned): "
            "resync, then resume from the newest sequence, or from 0 for everything kept"
        )
    if after > page.last:
        raise InvalidArgument.field(field, f"is past the workspace's last event ({page.last})")
    check_history(after, page, field)


def check_history(after: int, page: Page, field: str = "after_sequence") -> None:
    """OUT_OF_RANGE when the cursor names an event this database's history
    lacks: it went back (a failover to a standby that had not received it)."""
    if after > page.last or not page.known:
        raise OutOfRange(
            f"{field} {after} names an event this database no longer has (its history went back, "
            "as after a failover to a standby that lagged): resync, then resume from the newest sequence, "
            "or from 0 for everything kept"
        )
