"""One command's transaction, its repositories, and the changes it made.

    def work(uow: UnitOfWork) -> Issue:
        row = uow.issues.get(issue_id, for_update=True)
        ...
        uow.record(Change("issue", "updated", row.uuid, row.uuid, before, fields_of(row, FIELDS)))
        return row

    run(principal, work, write=True)

A command changes its own rows and records what it changed. Everything
derived from those changes is written here, in the same transaction, just
before it commits: the issue counters, sub-issue counts, history entries
and, last, the outbox's events (events.py), whose sequences lock the
workspace row until commit. A transaction that is retried (a dead connection, a deadlock) runs
the command again on a fresh unit of work, so nothing is recorded twice.
"""

from __future__ import annotations

import datetime
import uuid
from typing import Any, Callable, TypeVar

from ..domain.roles import Principal
from ..storage import counters
from ..storage import events as outbox
from ..storage.attachments import AttachmentRepository
from ..storage.comments import CommentRepository
from ..storage.database import transaction
from ..storage.inflight import deadline as call_deadline  # noqa: F401 - for the call pipeline
from ..storage.files import FileRepository
from ..storage.history import HistoryRepository
from ..storage.issues import IssueRepository
from ..storage.models import utcnow
from ..storage.reactions import ReactionRepository
from ..storage.workspaces import WorkspaceRepository
from . import events
from .changes import Change
from .history_entries import entries_by_change

T = TypeVar("T")

class UnitOfWork:
    """Repositories bound to the caller's workspace, and the record of changes."""

    def __init__(self, principal: Principal) -> None:
        self.principal = principal
        workspace_id = principal.workspace_id
        self.workspace = WorkspaceRepository(workspace_id)
        self.issues = IssueRepository(workspace_id)
        self.comments = CommentRepository(workspace_id)
        self.reactions = ReactionRepository(workspace_id)
        self.attachments = AttachmentRepository(workspace_id)
        self.files = FileRepository(workspace_id)
        self.history = HistoryRepository(workspace_id)
        # One clock reading per command: every row it writes agrees on "now".
        self.now: datetime.datetime = utcnow()
        self.changes: list[Change] = []
        # New issues waiting for their number, given last (see finish).
        self._unnumbered: list[Any] = []
        # The history entries written for each change, for its event.
        self._history: list[list[Any]] = []
        # Its events, derived in finish and appended last (by finish, or by
        # the batch of creates it is part of), and the last sequence they got.
        self.events: list[Any] = []
        self.last_event: int | None = None
        self._at = self.now

    def record(self, change: Change) -> None:
        self.changes.append(change)

    def number_at_commit(self, row: Any) -> None:
        """Give this new issue its number as the transaction's last statement."""
        self._unnumbered.append(row)

    def finish(self, *, append_events: bool = True) -> None:
        """Just before commit: the derived writes, the numbers (which lock the
        workspace row), then the events (an event shows a new issue's number),
        appended last of all: their counter's lock is the last any transaction
        takes. A batch of creates appends its creates' events itself, after
        the last of them (`append_events=False`)."""
        if self.changes:
            self.write_derived()
        for row in self._unnumbered:
            row.number, row.prefix = self.workspace.number_issue(row.uuid)
        if self.changes:
            self.events = events.derive(self.changes, self._history, self.principal.email, self._at)
        if append_events and self.events:
            self.last_event = outbox.append(self.principal.workspace_id, self.events)

    def write_derived(self) -> None:
        """Write what follows from the recorded changes; runs just before commit."""
        self._count_issues()
        self._count_sub_issues()
        # Stamped now, after the command's row locks were granted: for one
        # issue, history follows commit order even when updates raced.
        self._at = utcnow()
        per_change = entries_by_change(self.changes)
        stored = iter(self.history.insert([e for entries in per_change for e in entries], self.principal.email, self._at))
        self._history = [[next(stored) for _ in entries] for entries in per_change]

    def _count_sub_issues(self) -> None:
        moved: dict[uuid.UUID, int] = {}
        for change in self.changes:
            if change.entity != "issue":
                continue
            old = (change.before or {}).get("parent_uuid")
            new = (change.after or {}).get("parent_uuid")
            if old != new:
                if old is not None:
                    moved[old] = moved.get(old, 0) - 1
                if new is not None:
                    moved[new] = moved.get(new, 0) + 1
        for parent, delta in sorted(moved.items()):  # a fixed order: no deadlock between two moves
            if delta:
                self.issues.add_to_sub_count(parent, delta)

    def _count_issues(self) -> None:
        deltas = counters.Deltas(self.principal.workspace_id)
        for change in self.changes:
            if change.entity != "issue":
                continue
            for state, sign in ((change.before, -1), (change.after, +1)):
                if state is not None:
                    deltas.issue(state["status"], state["priority"], state["created_at"], state["resolved_at"], sign)
        deltas.apply()  # only what moved: an equal -1 and +1 cancel out


def run(principal: Principal, work: Callable[[UnitOfWork], T], *, write: bool = False, snapshot: bool = False) -> T:
    """Run `work` in one transaction and return its result.

    `write=True` for commands that change data; `snapshot=True` for reads of
    more than one statement that must agree; neither for a one-statement read.
    """

    wrote_events = False

    def attempt() -> T:
        nonlocal wrote_events
        uow = UnitOfWork(principal)
        result = work(uow)
        if uow.changes and not write:
            raise AssertionError("a read-only unit of work recorded changes")
        uow.finish()
        wrote_events = uow.last_event is not None
        return result

    result = transaction(attempt, write=write, snapshot=snapshot)
    if wrote_events:
        events.committed([principal.workspace_id])  # wake the watchers
    return result
