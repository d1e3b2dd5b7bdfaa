"""Events, derived from a unit of work's changes (SPEC 8.12): what each
change emits, and its `data` as the HTTP contract's JSON shows it.

The unit of work appends them to the outbox (storage/events.py) as the
transaction's last statements, and after commit tells whoever listens
(`on_commit`) that the workspace has new events; the rows stay the truth.
"""

from __future__ import annotations

import datetime
import json
from typing import Any, Callable, Iterable, NamedTuple, Sequence

from ..domain.errors import InvalidArgument, OutOfRange, Violations
from ..storage import events as outbox
from ..storage.database import transaction
from ..storage.events import NewEvent, StoredEvent
from ..storage.models import HistoryEntry
from .changes import Change
from .views import renderer

# Every type an event can have, in the SPEC's order.
TYPES = (
    "issue.created", "issue.updated", "issue.deleted",
    "comment.created", "comment.updated", "comment.deleted",
    "reaction.added", "reaction.removed", "file.added",
    "workflow.updated", "issues.bulk_updated",
)
BULK_UPDATED = "issues.bulk_updated"

_COMMENT = {"created": "comment.created", "updated": "comment.updated", "deleted": "comment.deleted"}
_REACTION = {"created": "reaction.added", "deleted": "reaction.removed"}


def _dumps(data: Any) -> str:
    return json.dumps(data, ensure_ascii=False, separators=(",", ":"), allow_nan=False)


def derive(changes: Sequence[Change], history: Sequence[Sequence[HistoryEntry]], actor: str,
           at: datetime.datetime) -> list[NewEvent]:
    """The events of `changes`; `history[i]` holds the entries written for `changes[i]`."""
    out: list[NewEvent] = []
    show = renderer()
    for change, entries in zip(changes, history):
        made = _event(change, entries, show)
        if made is not None:
            out.append(NewEvent(*made, actor, at))
    return out


def _event(change: Change, entries: Sequence[HistoryEntry], show: Any) -> tuple[str, Any, str] | None:
    entity, action = change.entity, change.action
    if entity == "issue":
        before, after = change.views
        if action == "created" and after is not None:
            return ("issue.created", change.id, _dumps(show.issue_json(after)))
        if action == "updated":
            if not entries or after is None:
                return None  # nothing the issue shows changed (a no-op update)
            data = show.issue_json(after)
            data["changes"] = [show.history_json(e) for e in entries]
            return ("issue.updated", change.id, _dumps(data))
        if action == "deleted" and before is not None:
            return ("issue.deleted", change.id, _dumps(show.issue_json(before)))
        raise ValueError(f"an issue change without its views: {change.action}")  # a bug in the command
    if entity == "comment" and change.shown is not None:
        return (_COMMENT[action], change.issue_id, _dumps(show.comment_json(change.shown)))
    if entity == "reaction":
        data = show.comment_json(change.shown)
        data["reaction"] = dict(change.after or change.before or {})
        return (_REACTION[action], change.issue_id, _dumps(data))
    if entity == "file" and action == "created":
        return ("file.added", change.issue_id, _dumps(show.file_json(change.shown)))
    if entity == "workflow":
        return ("workflow.updated", None, _dumps(show.workflow_json(change.shown)))
    if entity == "bulk":
        return (BULK_UPDATED, None, _dumps(change.shown))
    return None


def bulk_updated(data: dict[str, Any]) -> Change:
    """The change a bulk update records (once, in a unit of work of its own),
    whose `issues.bulk_updated` event shows `data` (JSON-ready: the ids and
    updates asked for, the results)."""
    return Change("bulk", "updated", None, None, None, None, shown=data)


# -- after commit -------------------------------------------------------------

_listeners: list[Callable[[int], None]] = []


def on_commit(listener: Callable[[int], None]) -> None:
    """Call `listener(workspace_id)` after each commit that wrote events to the
    workspace (from the committing thread; it must not block)."""
    _listeners.append(listener)


def committed(workspace_ids: Iterable[int]) -> None:
    for workspace_id in set(workspace_ids):
        for listener in _listeners:
            listener(workspace_id)


def forget_listeners() -> None:
    _listeners.clear()




# -- reading ------------------------------------------------------------------


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


def check_types(types: Sequence[str], field: str = "types") -> list[str]:
    """The types asked for, each once; a type that is not one of TYPES names its place."""
    v = Violations()
    if len(types) > len(TYPES):
        v.add(field, f"at most {len(TYPES)} types")
    for i, name in enumerate(types):
        if name not in TYPES:
            v.add(f"{field}[{i}]", f"is not an event type ({', '.join(TYPES)})")
    v.check()
    return list(dict.fromkeys(types))


def emit_bulk_updated(principal: Any, data: dict[str, Any]) -> None:
    """Write one `issues.bulk_updated` event showing `data`, in a transaction
    of its own (each issue's own changes emit their events as they commit)."""
    from .unit_of_work import run  # the unit of work imports this module

    run(principal, lambda uow: uow.record(bulk_updated(data)), write=True)
