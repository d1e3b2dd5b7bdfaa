"""What recorded changes imply, gathered from one or more units of work and
written together just before their transaction commits.

A command writes its own rows; the ?ref= and ?tag= lookup rows, the
counters, sub-issue counts, history entries, issue numbers and events that
follow from its changes are written here, and the first response of a
create that claimed a request_id (after the numbers, which it shows). The
events go last of all: their sequences come from the workspace's event
counter row, whose lock, held to commit, orders them by commit (see
storage/events.py), and being the last lock any transaction takes it cannot
close a deadlock; an event also shows a new issue's number. Creates batched
into one transaction (create_batches.py) add each create's changes once it
has run without being refused, and write them all at once: one statement per
kind of derived row, not one per create.
"""

from __future__ import annotations

import uuid
from collections import Counter
from typing import Any, Callable, Iterable, NamedTuple

from ..domain.times import utcnow
from ..storage import counters, events as outbox
from ..storage.history import HistoryRepository, NewEntry
from ..storage.issues import IssueRepository
from ..storage.request_ids import RequestIdRepository
from ..storage.workspaces import WorkspaceRepository
from . import event_derivation, webhook_deliveries
from .changes import Change
from .history_entries import entries_by_change


class FirstResponse(NamedTuple):
    """What to store for a claimed request_id: what was created, and its response."""

    request_id: str
    resource_id: uuid.UUID | None
    encode: Callable[[], bytes]


class DerivedWrites:
    """The derived rows of one transaction in one workspace."""

    def __init__(self, workspace_id: int) -> None:
        self.workspace_id = workspace_id
        self.deltas = counters.Deltas(workspace_id)
        self.sub_moves: Counter[uuid.UUID] = Counter()
        self.unnumbered: list[Any] = []
        self.first_responses: list[FirstResponse] = []
        # The ?ref= and ?tag= lookup rows: issues whose rows are replaced, new rows.
        self.relooked: list[uuid.UUID] = []
        self.refs: list[tuple[uuid.UUID, dict[str, str]]] = []
        self.tags: list[tuple[uuid.UUID, list[str]]] = []
        # Each unit's changes, actor and history entries per change, for its events.
        self.units: list[tuple[list[Change], str, list[list[NewEntry]]]] = []
        # Whether the events made webhook deliveries due (wake the dispatcher after commit).
        self.queued_deliveries = False

    def add(self, changes: Iterable[Change], actor: str, unnumbered: Iterable[Any] = (),
            first_response: FirstResponse | None = None) -> None:
        """One unit of work's changes, made by `actor`, its new issues awaiting
        numbers and the response to store for its request_id."""
        changes = list(changes)
        for change in changes:
            if change.entity == "issue":
                self._count(change)
                self._lookups(change)
        self.units.append((changes, actor, entries_by_change(changes)))
        self.unnumbered.extend(unnumbered)
        if first_response is not None:
            self.first_responses.append(first_response)

    def _lookups(self, change: Change) -> None:
        before, after = change.before or {}, change.after
        if after is None:
            return  # a deleted issue's rows go with it (ON DELETE CASCADE)
        refs, tags = after.get("refs") or {}, after.get("tags") or []
        if change.before is None or refs != (before.get("refs") or {}) or tags != (before.get("tags") or []):
            if change.before is not None:
                self.relooked.append(change.id)
            self.refs.append((change.id, refs))
            self.tags.append((change.id, tags))

    def _count(self, change: Change) -> None:
        for state, sign in ((change.before, -1), (change.after, +1)):
            if state is not None:
                self.deltas.issue(state["status"], state["priority"], state["created_at"], state["resolved_at"], sign)
        old = (change.before or {}).get("parent_uuid")
        new = (change.after or {}).get("parent_uuid")
        if old != new:
            if old is not None:
                self.sub_moves[old] -= 1
            if new is not None:
                self.sub_moves[new] += 1

    def write(self) -> int | None:
        """Write everything gathered; the numbers, then the events, last, since
        they lock a row until commit. Returns the last event sequence written, if any."""
        self.deltas.apply()  # only what moved: an equal -1 and +1 cancel out
        issues = IssueRepository(self.workspace_id)
        if self.refs:
            issues.write_lookups(self.relooked, self.refs, self.tags)
        for parent, delta in sorted(self.sub_moves.items()):  # a fixed order: no deadlock between two moves
            if delta:
                issues.add_to_sub_count(parent, delta)
        # Stamped now, after the commands' row locks were granted: for one
        # issue, history follows commit order even when updates raced.
        at = utcnow()
        # One group per unit of work that has entries: all of them, in change order, and its actor.
        history = [([e for each in per_change for e in each], actor)
                   for _, actor, per_change in self.units if any(per_change)]
        stored = iter(HistoryRepository(self.workspace_id).insert(history, at) if history else [])
        if self.unnumbered:
            WorkspaceRepository(self.workspace_id).number_issues(self.unnumbered)
        if self.first_responses:
            request_ids = RequestIdRepository(self.workspace_id)
            for first in self.first_responses:
                request_ids.answer(first.request_id, first.resource_id, first.encode())
        made = []
        for changes, actor, per_change in self.units:
            shown = [[next(stored) for _ in entries] for entries in per_change]
            made += event_derivation.derive(changes, shown, actor, at)
        if not made:
            return None
        last, active_webhooks = outbox.append(self.workspace_id, made)
        if active_webhooks:  # read under the counter's lock: no webhook can become active unseen
            self.queued_deliveries = webhook_deliveries.derive(self.workspace_id, made, last - len(made) + 1, at)
        return last
