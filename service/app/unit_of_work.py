"""One command's transaction, its repositories, and the changes it made.

    def work(uow: UnitOfWork) -> Issue:
        row = uow.issues.get(issue_id, for_update=True)
        ...
        uow.record(Change("issue", "updated", row.uuid, row.uuid, before, fields_of(row, FIELDS)))
        return row

    run(principal, work, write=True)

A command changes its own rows and records what it changed. Everything
derived from those changes (counters, sub-issue counts, history, numbers,
and the first response of a create that carried a request_id, and the
events; see derived.py) is written in the same transaction just before it
commits, never by the command itself. A transaction that is retried (a dead
connection, a deadlock) runs the command again on a fresh unit of work, so
nothing is recorded twice.

Preconditions are held here too, not in each command:

- a create given a request_id (`once`) first claims the key under the
  workspace's unique (workspace, request_id): a repeat is answered from the
  stored first response before the command runs (`Replayed`), another
  request with the key is refused, and a claim that loses a race with
  another transaction (`Taken`) rolls back with the command's work;
- a command given an `etag` must call `check_etag` with its resource's
  current one once it holds the row's lock, and one that never does fails
  rather than skipping the check.
"""

from __future__ import annotations

import datetime
from typing import Any, Callable, TypeVar

from ..domain.errors import EtagMismatch, RequestIdReused, Unavailable
from ..domain.limits import REQUEST_ID_SECONDS
from ..domain.roles import Principal
from ..domain.times import utcnow
from ..storage.attachments import AttachmentRepository
from ..storage.comments import CommentRepository
from ..storage.database import transaction
from ..storage.files import FileRepository
from ..storage.history import HistoryRepository
from ..storage.inflight import deadline as call_deadline  # noqa: F401 - for the call pipeline
from ..storage.issues import IssueRepository
from ..storage.reactions import ReactionRepository
from ..storage.request_ids import RequestIdRepository, Stored, Taken
from ..storage.workspaces import WorkspaceRepository
from . import event_listeners
from .changes import Change
from .derived import DerivedWrites, FirstResponse
from .idempotency import Idempotency, Replayed

T = TypeVar("T")

# How a command answers a repeat itself instead of with the stored response
# (a pending attachment's upload URL is signed again); None: the stored one.
Repeat = Callable[["UnitOfWork", Stored], Any]
_REMEMBERED = datetime.timedelta(seconds=REQUEST_ID_SECONDS)


class ClaimedInThisBatch(Exception):
    """The request_id was claimed by an earlier create of the same transaction
    (a batch): this one is a repeat of it, answered as it is."""

    def __init__(self, request_id: str) -> None:
        super().__init__(request_id)
        self.request_id = request_id


class UnitOfWork:
    """Repositories bound to the caller's workspace, and the record of changes."""

    def __init__(self, principal: Principal, *, once: Idempotency | None = None, etag: str | None = None) -> None:
        self.principal = principal
        # The create's request_id, if it carried one.
        self.once = once
        # The etag the caller's change is conditional on (If-Match), if any.
        self.etag = etag
        self._etag_checked = False
        workspace_id = principal.workspace_id
        self.workspace = WorkspaceRepository(workspace_id)
        self.issues = IssueRepository(workspace_id)
        self.comments = CommentRepository(workspace_id)
        self.reactions = ReactionRepository(workspace_id)
        self.attachments = AttachmentRepository(workspace_id)
        self.files = FileRepository(workspace_id)
        self.history = HistoryRepository(workspace_id)
        self.request_ids = RequestIdRepository(workspace_id)
        # One clock reading per command: every row it writes agrees on "now".
        self.now: datetime.datetime = utcnow()
        self.changes: list[Change] = []
        # New issues waiting for their number, given last (see finish).
        self._unnumbered: list[Any] = []
        # The response to store for the claimed request_id, once the command has run.
        self._first_response: FirstResponse | None = None
        # The last event sequence its commit will publish, if it wrote events.
        self.last_event: int | None = None
        self.queued_deliveries = False

    def execute(self, work: Callable[[UnitOfWork], T], repeat: Repeat | None = None) -> T:
        """Run `work`, after claiming the create's request_id if it has one: a
        repeat is answered instead (`Replayed`, or what `repeat` answers), and
        `Taken` means another transaction holds the key (roll back and call
        `answer_repeat`)."""
        once = self.once
        if once is not None:
            stored = self._stored(once)
            if stored is not None:
                return self._repeat(stored, repeat)
            self.request_ids.claim(once.request_id, once.fingerprint, self.now)
        result = work(self)
        if once is not None:
            created = next((c.id for c in self.changes if c.action == "created"), None)
            # Encoded when written, after the numbers: the response shows them.
            self._first_response = FirstResponse(once.request_id, created, lambda: once.encode(result))
        return result

    def answer_repeat(self, repeat: Repeat | None = None) -> Any:
        """Answer as the first request with this request_id did, once its
        claim was found `Taken` by a concurrent transaction that committed."""
        assert self.once is not None
        stored = self._stored(self.once)
        if stored is None:  # it was stored, so only an expiry in between could hide it
            raise Unavailable("a request with this request_id was being answered; retry")
        return self._repeat(stored, repeat)

    def _stored(self, once: Idempotency) -> Stored | None:
        stored = self.request_ids.get(once.request_id)
        if stored is None:
            return None
        if stored.created_at <= self.now - _REMEMBERED:  # expired; gc has not removed it yet
            self.request_ids.forget(once.request_id)
            return None
        if stored.fingerprint != once.fingerprint:
            raise RequestIdReused()
        if stored.response is None:  # claimed, not answered: only this transaction sees that
            raise ClaimedInThisBatch(once.request_id)
        return stored

    def _repeat(self, stored: Stored, repeat: Repeat | None) -> Any:
        fresh = repeat(self, stored) if repeat is not None else None
        if fresh is None:
            assert stored.response is not None
            raise Replayed(stored.response)
        return fresh

    def check_etag(self, current: str, resource: str) -> None:
        """Refuse the command if the caller's etag is not `current`, the etag
        of `resource` as this transaction holds it (locked)."""
        self._etag_checked = True
        if self.etag is not None and self.etag != current:
            raise EtagMismatch(resource)

    def record(self, change: Change) -> None:
        self.changes.append(change)

    def number_at_commit(self, row: Any) -> None:
        """Give this new issue its number as the transaction's last statement."""
        self._unnumbered.append(row)

    def finish(self) -> None:
        """Just before commit: write what follows from the recorded changes."""
        if self.etag is not None and not self._etag_checked:
            raise AssertionError("a command was given an etag and never checked it")
        if not (self.changes or self._unnumbered or self._first_response):
            return  # a read, or a command that changed nothing
        derived = DerivedWrites(self.principal.workspace_id)
        self.derive_into(derived)
        self.last_event = derived.write()
        self.queued_deliveries = derived.queued_deliveries

    def derive_into(self, derived: DerivedWrites) -> None:
        """Add this unit's changes to `derived`, written with those of others."""
        if self.changes or self._unnumbered or self._first_response:
            derived.add(self.changes, self.principal.email, self._unnumbered, self._first_response)


def run(
    principal: Principal, work: Callable[[UnitOfWork], T], *, write: bool = False, snapshot: bool = False,
    once: Idempotency | None = None, etag: str | None = None, repeat: Repeat | None = None,
) -> T:
    """Run `work` in one transaction and return its result.

    `write=True` for commands that change data; `snapshot=True` for reads of
    more than one statement that must agree; neither for a one-statement read.
    `once`: the create's request_id (a repeat raises `Replayed`, or returns
    what `repeat` answers instead); `etag`: the caller's If-Match.
    """

    wrote_events = queued_deliveries = False

    def attempt() -> T:
        nonlocal wrote_events, queued_deliveries
        uow = UnitOfWork(principal, once=once, etag=etag)
        result = uow.execute(work, repeat)
        if uow.changes and not write:
            raise AssertionError("a read-only unit of work recorded changes")
        uow.finish()
        wrote_events = uow.last_event is not None
        queued_deliveries = uow.queued_deliveries
        return result

    try:
        result = transaction(attempt, write=write, snapshot=snapshot)
    except Taken:
        # A concurrent request with this request_id committed first, and this
        # one's work rolled back with its transaction: answer as that one did.
        return transaction(lambda: UnitOfWork(principal, once=once).answer_repeat(repeat), write=True)
    if wrote_events:
        event_listeners.committed([principal.workspace_id], deliveries=queued_deliveries)  # wake the watchers
    return result
