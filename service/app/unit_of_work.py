"""One command's transaction, its repositories, and the changes it made.

    def work(uow: UnitOfWork) -> Issue:
        row = uow.issues.get(issue_id, for_update=True)
        ...
        uow.record(Change("issue", "updated", row.uuid, row.uuid, before, fields_of(row, FIELDS)))
        return row

    run(principal, work, write=True)

A command changes its own rows and records what it changed. Everything
derived from those changes (counters, sub-issue counts, history, numbers,
events; see derived.py) is written in the same transaction just before it commits,
never by the command itself. A transaction that is retried (a dead connection, a deadlock) runs
the command again on a fresh unit of work, so nothing is recorded twice.
"""

from __future__ import annotations

import datetime
from typing import Any, Callable, TypeVar

from ..domain.roles import Principal
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
from .derived import DerivedWrites

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
        # The last event sequence its commit will publish, if it wrote events.
        self.last_event: int | None = None

    def record(self, change: Change) -> None:
        self.changes.append(change)

    def number_at_commit(self, row: Any) -> None:
        """Give this new issue its number as the transaction's last statement."""
        self._unnumbered.append(row)

    def finish(self) -> None:
        """Just before commit: write what follows from the recorded changes."""
        if not (self.changes or self._unnumbered):
            return  # a read, or a command that changed nothing
        derived = DerivedWrites(self.principal.workspace_id)
        self.derive_into(derived)
        self.last_event = derived.write()

    def derive_into(self, derived: DerivedWrites) -> None:
        """Add this unit's changes to `derived`, written with those of others."""
        if self.changes or self._unnumbered:
            derived.add(self.changes, self.principal.email, self._unnumbered)


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
