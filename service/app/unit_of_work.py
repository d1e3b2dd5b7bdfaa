"""One command's unit of work: the repositories it is given, the changes it
records, and the preconditions it holds.

    def work(uow: UnitOfWork) -> Issue:
        row = uow.issues.get(issue_id, for_update=True)
        ...
        uow.record(Change("issue", "updated", row.uuid, row.uuid, before, fields_of(row, FIELDS)))
        return row

    runner.run(principal, work, write=True)   # runner.py: the transaction and its commit

A command changes its own rows and records what it changed. Everything
derived from those changes (counters, sub-issue counts, history, numbers,
the stored answer of a create that claimed a request_id, and the events;
see derived.py) is written in the same transaction just before it commits,
never by the command itself. A transaction that is retried (a dead
connection, a deadlock) runs the command again on a fresh unit of work, so
nothing is recorded twice.

A unit of work builds nothing itself: its repositories, its clock reading
and the renderer of what history and events show are given to it (by the
Runner, from a Storage: Peewee's in production, in-memory ones in
tests/unit). Preconditions are held here too, not in each command:

- a create given a request_id first claims it under the workspace's unique
  (workspace, request_id): a repeat is answered from the stored answer
  before the command runs (`Replay`), another request with the key is
  refused, and a claim that loses a race with another transaction
  (`ClaimTaken`) rolls back with the command's work;
- a command given an `etag` must call `check_etag` with its resource's
  current one once it holds the row's lock, and one that never does fails
  rather than skipping the check.
"""

from __future__ import annotations

import datetime
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, Callable, ContextManager, Protocol, TypeVar

from ..domain.errors import EtagMismatch, RequestIdReused, Unavailable
from ..domain.limits import REQUEST_ID_SECONDS
from ..domain.roles import Principal
from .changes import Change
from .request_ids import AnswerToStore, ClaimedInBatch, Replay, RequestId, StoredAnswer
from .views import Renderer

if TYPE_CHECKING:
    from ..storage.attachments import AttachmentRepository
    from ..storage.comments import CommentRepository
    from ..storage.counters import Deltas
    from ..storage.files import FileRepository
    from ..storage.history import HistoryRepository
    from ..storage.issues import IssueRepository
    from ..storage.outbox import NewEvent
    from ..storage.reactions import ReactionRepository
    from ..storage.request_ids import RequestIdRepository
    from ..storage.webhooks import WebhookRepository
    from ..storage.workspaces import WorkspaceRepository

T = TypeVar("T")

# How a command answers a repeat itself instead of with the stored answer
# (a pending attachment's upload URL is signed again); None: the stored one.
ReplayWith = Callable[["UnitOfWork", StoredAnswer], Any]
_REMEMBERED = datetime.timedelta(seconds=REQUEST_ID_SECONDS)


class DerivedStore(Protocol):
    """Where the rows derived at commit go that no repository of a command writes."""

    def apply_counts(self, deltas: Deltas) -> None:
        """Add the issue counters' changes."""

    def append_events(self, events: list[NewEvent]) -> tuple[int, int]:
        """Store the events; the last sequence, and how many webhooks are active."""

    def queue_deliveries(self, events: list[NewEvent], first_sequence: int, at: datetime.datetime) -> bool:
        """Queue the events' webhook deliveries; whether any became due."""


@dataclass(frozen=True)
class Repositories:
    """Everything a unit of work reads and writes, bound to one workspace."""

    workspace: WorkspaceRepository
    issues: IssueRepository
    comments: CommentRepository
    reactions: ReactionRepository
    attachments: AttachmentRepository
    files: FileRepository
    history: HistoryRepository
    request_ids: RequestIdRepository
    webhooks: WebhookRepository
    derived: DerivedStore


class Storage(Protocol):
    """What units of work run on: repositories and transactions."""

    def repositories(self, workspace_id: int) -> Repositories: ...

    def transaction(self, body: Callable[[], T], *, write: bool, snapshot: bool) -> T:
        """Run `body` as one transaction (retried whole on a dead connection)."""

    def savepoint(self) -> ContextManager[Any]:
        """Within a transaction: what fails inside rolls back alone."""


class UnitOfWork:
    """Repositories bound to the caller's workspace, and the record of changes."""

    def __init__(
        self,
        principal: Principal,
        repositories: Repositories,
        *,
        now: datetime.datetime,
        renderer: Renderer,
        request_id: RequestId | None = None,
        etag: str | None = None,
    ) -> None:
        self.principal = principal
        self.repositories = repositories
        # One clock reading per command: every row it writes agrees on "now".
        self.now = now
        # How history entries and events show what changed (the contract's JSON).
        self.renderer = renderer
        # The create's request_id, if it carried one.
        self.request_id = request_id
        # The etag the caller's change is conditional on (If-Match), if any.
        self.etag = etag
        self._etag_checked = False
        self.workspace = repositories.workspace
        self.issues = repositories.issues
        self.comments = repositories.comments
        self.reactions = repositories.reactions
        self.attachments = repositories.attachments
        self.files = repositories.files
        self.history = repositories.history
        self.request_ids = repositories.request_ids
        self.webhooks = repositories.webhooks
        self.changes: list[Change] = []
        # New issues waiting for their number, given last (see derived.py).
        self.unnumbered: list[Any] = []
        # The answer to store for the claimed request_id, once the command has run.
        self.answer_to_store: AnswerToStore | None = None
        # Set by a command that made webhook deliveries due without events
        # (a ping, a redelivery, a webhook made active): wake the dispatcher.
        self.deliveries_due = False

    def execute(self, work: Callable[[UnitOfWork], T], replay_with: ReplayWith | None = None) -> T:
        """Run `work`, after claiming the create's request_id if it has one: a
        repeat is answered instead (`Replay`, or what `replay_with` answers),
        and `ClaimTaken` means another transaction holds the key (roll back
        and call `replay`)."""
        request_id = self.request_id
        if request_id is not None:
            stored = self._stored(request_id)
            if stored is not None:
                return self._replay(stored, replay_with)
            self.request_ids.claim(request_id.key, request_id.fingerprint, self.now)
        result = work(self)
        if request_id is not None:
            created = next((c.id for c in self.changes if c.action == "created"), None)
            # Encoded when written, after the numbers: the answer shows them.
            self.answer_to_store = AnswerToStore(request_id.key, created, lambda: request_id.encode(result))
        return result

    def replay(self, replay_with: ReplayWith | None = None) -> Any:
        """Answer as the first request with this request_id did, once its
        claim was found taken by a concurrent transaction that committed."""
        assert self.request_id is not None
        stored = self._stored(self.request_id)
        if stored is None:  # it was stored, so only an expiry in between could hide it
            raise Unavailable("a request with this request_id was being answered; retry")
        return self._replay(stored, replay_with)

    def _stored(self, request_id: RequestId) -> StoredAnswer | None:
        stored = self.request_ids.get(request_id.key)
        if stored is None:
            return None
        if stored.created_at <= self.now - _REMEMBERED:  # expired; gc has not removed it yet
            self.request_ids.forget(request_id.key)
            return None
        if stored.fingerprint != request_id.fingerprint:
            raise RequestIdReused()
        if stored.response is None:  # claimed, not answered: only this transaction sees that
            raise ClaimedInBatch(request_id.key)
        return stored

    def _replay(self, stored: StoredAnswer, replay_with: ReplayWith | None) -> Any:
        fresh = replay_with(self, stored) if replay_with is not None else None
        if fresh is None:
            assert stored.response is not None
            raise Replay(stored.response)
        return fresh

    def check_etag(self, current: str, resource: str) -> None:
        """Refuse the command if the caller's etag is not `current`, the etag
        of `resource` as this transaction holds it (locked)."""
        self._etag_checked = True
        if self.etag is not None and self.etag != current:
            raise EtagMismatch(resource)

    def check_finished(self) -> None:
        """Before anything is derived: the preconditions a command must have held."""
        if self.etag is not None and not self._etag_checked:
            raise AssertionError("a command was given an etag and never checked it")

    def record(self, change: Change) -> None:
        self.changes.append(change)

    def number_at_commit(self, row: Any) -> None:
        """Give this new issue its number as the transaction's last statement."""
        self.unnumbered.append(row)

    @property
    def wrote(self) -> bool:
        """Whether anything follows from this unit at commit."""
        return bool(self.changes or self.unnumbered or self.answer_to_store)
