"""What recorded changes imply, gathered from one or more units of work and
written together just before their transaction commits.

A command writes its own rows; the ?ref= and ?tag= lookup rows, the
counters, sub-issue counts, history entries, issue numbers and events that
follow from its changes are written here, and the stored answer of a
create that claimed a request_id (after the numbers, which it shows). The
events go last of all: their sequences come from the workspace's event
counter row, whose lock, held to commit, orders them by commit (see
storage/outbox.py), and being the last lock any transaction takes it cannot
close a deadlock; an event also shows a new issue's number. Creates batched
into one transaction (write_batches.py) add each write's changes once it
has run without being refused, and write them all at once: one statement per
kind of derived row, not one per write. Two updates of one issue may share a
transaction: its lookup rows are written once, as the last left them.

Everything is written through the repositories it is given (Peewee's, or the
in-memory ones of tests/unit), and what the commit must announce comes back
as data (`Written`).
"""

from __future__ import annotations

import datetime
import uuid
from collections import Counter
from typing import Any, Callable, Iterable, NamedTuple

from ..storage.counters import Deltas
from ..storage.history import NewEntry
from . import event_derivation
from .changes import Change
from .history_entries import entries_by_change
from .request_ids import AnswerToStore
from .unit_of_work import Repositories, UnitOfWork
from .views import Renderer


class Written(NamedTuple):
    """What the derived writes of one transaction leave to announce after commit."""

    # The last event sequence written (None: no events).
    last_event: int | None
    # Whether webhook deliveries became due with those events.
    deliveries_due: bool


class DerivedWrites:
    """The derived rows of one transaction in one workspace."""

    def __init__(
        self, workspace_id: int, repositories: Repositories, renderer: Renderer, clock: Callable[[], datetime.datetime]
    ) -> None:
        self.workspace_id = workspace_id
        self.repositories = repositories
        self.renderer = renderer
        self.clock = clock
        self.deltas = Deltas(workspace_id)
        self.sub_moves: Counter[uuid.UUID] = Counter()
        self.unnumbered: list[Any] = []
        self.answers: list[AnswerToStore] = []
        # The ?ref= and ?tag= lookup rows: issues whose rows are replaced, new
        # rows by issue (a later change of an issue in the batch supersedes).
        self.relooked: set[uuid.UUID] = set()
        self.refs: dict[uuid.UUID, dict[str, str]] = {}
        self.tags: dict[uuid.UUID, list[str]] = {}
        # Each unit's changes, actor and history entries per change, for its events.
        self.units: list[tuple[list[Change], str, list[list[NewEntry]]]] = []

    def add_unit(self, uow: UnitOfWork) -> None:
        """A unit of work's changes, new issues and answer to store, if it has any."""
        if uow.wrote:
            self.add(uow.changes, uow.principal.email, uow.unnumbered, uow.answer_to_store)

    def add(
        self, changes: Iterable[Change], actor: str, unnumbered: Iterable[Any] = (), answer: AnswerToStore | None = None
    ) -> None:
        """One unit of work's changes, made by `actor`, its new issues awaiting
        numbers and the answer to store for its request_id."""
        changes = list(changes)
        for change in changes:
            if change.entity == "issue":
                self._count(change)
                self._lookups(change)
        self.units.append((changes, actor, entries_by_change(changes, self.renderer)))
        self.unnumbered.extend(unnumbered)
        if answer is not None:
            self.answers.append(answer)

    def _lookups(self, change: Change) -> None:
        before, after = change.before or {}, change.after
        if after is None:
            return  # a deleted issue's rows go with it (ON DELETE CASCADE)
        refs, tags = after.get("refs") or {}, after.get("tags") or []
        if change.before is None or refs != (before.get("refs") or {}) or tags != (before.get("tags") or []):
            if change.before is not None:
                self.relooked.add(change.id)
            self.refs[change.id] = refs
            self.tags[change.id] = tags

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

    def write(self) -> Written:
        """Write everything gathered; the numbers, then the events, last, since
        they lock a row until commit."""
        repos = self.repositories
        repos.derived.apply_counts(self.deltas)  # only what moved: an equal -1 and +1 cancel out
        if self.refs:
            repos.issues.write_lookups(sorted(self.relooked), list(self.refs.items()), list(self.tags.items()))
        for parent, delta in sorted(self.sub_moves.items()):  # a fixed order: no deadlock between two moves
            if delta:
                repos.issues.add_to_sub_count(parent, delta)
        # Stamped now, after the commands' row locks were granted: for one
        # issue, history follows commit order even when updates raced.
        at = self.clock()
        # One group per unit of work that has entries: all of them, in change order, and its actor.
        history = [
            ([e for each in per_change for e in each], actor) for _, actor, per_change in self.units if any(per_change)
        ]
        stored = iter(repos.history.insert(history, at) if history else [])
        if self.unnumbered:
            repos.workspace.number_issues(self.unnumbered)
        for answer in self.answers:
            repos.request_ids.answer(answer.key, answer.resource_id, answer.encode())
        made = []
        for changes, actor, per_change in self.units:
            entries_stored = [[next(stored) for _ in entries] for entries in per_change]
            made += event_derivation.derive(changes, entries_stored, actor, at, self.renderer)
        if not made:
            return Written(None, False)
        last, active_webhooks = repos.derived.append_events(made)
        due = False
        if active_webhooks:  # read under the counter's lock: no webhook can become active unseen
            due = repos.derived.queue_deliveries(made, last - len(made) + 1, at)
        return Written(last, due)
