"""Creates and updates in one workspace, committed together.

Issue numbers are gapless per workspace (SPEC 8.1), so each create holds its
workspace's row lock until it commits: one create after another, each
waiting for its own WAL flush; and every update paid a commit of its own
(its WAL flush) and its own counter, history and event statements.
Instead, the writes that arrive while another batch is committing join one
batch, run in one transaction, and share one commit; what they imply
(counters, history, numbers, events) is written once for the batch. A batch
first runs its writes one after another with nothing between them. If one
of them is refused (an etag that no longer matches, a move the workflow
forbids, a parent not found), that run is rolled back whole and the batch
runs again with each write in its own savepoint, so the refused one rolls
back alone and takes no number. Writes are rarely refused there (requests
are validated before they queue), and the savepoints cost two statements a
write and a PostgreSQL subtransaction each: 15-20% of a create's throughput
when measured (bench/RESULTS.md, 2026-12-07). Every write is answered after
that commit, so none is acknowledged before it is durable, and one reported
as failed never commits.

Creates run first, in arrival order. Updates follow ordered by the issue
they name, so the row locks of two batches (of two processes) are taken in
one order, and two updates of one issue run in arrival order: the second's
etag is checked against the issue as the first left it. The issues named by
uuid are locked and read ahead, in one statement for the batch (storage's
`lock_ahead`), and the batch's units share one set of repositories.

The first caller of a workspace with no batch running leads: it runs the
batch that has gathered, then hands the lead to the first caller still
waiting, so no caller serves the others for long.

A create with a request_id stays safe to retry in a batch. It claims its key
in its savepoint, so a refused create gives the key back with the rest of
its work; a repeat of a create earlier in the same batch is answered as that
one is; and one whose claim loses to another transaction rolls its
savepoint back and is answered with that transaction's stored answer.

A batch commits through the Runner's one commit path (runner.py), so its
after-commit effects are announced as any command's are.
"""

from __future__ import annotations

import contextlib
import functools
import threading
import time
from typing import TYPE_CHECKING, Any, Callable, TypeVar

from ..domain.errors import DeadlineExceeded, ServiceError
from ..domain.identifiers import IssueRef
from ..domain.roles import Principal
from ..storage.inflight import deadline as call_deadline, remaining
from .request_ids import ClaimedInBatch, ClaimTaken, Replay, RequestId
from .unit_of_work import UnitOfWork

if TYPE_CHECKING:
    from .derived import Written
    from .runner import Runner

T = TypeVar("T")

# A batch never grows past this many writes (one transaction's size).
BATCH_MAX = 64


class _Write:
    __slots__ = (
        "deadline",
        "error",
        "etag",
        "finished",
        "issue",
        "lead",
        "lock_key",
        "principal",
        "request_id",
        "result",
        "wake",
        "work",
    )

    def __init__(
        self,
        principal: Principal,
        work: Callable[[UnitOfWork], Any],
        request_id: RequestId | None,
        *,
        etag: str | None = None,
        issue: IssueRef | None = None,
    ) -> None:
        self.principal = principal
        self.work = work
        self.request_id = request_id
        # The caller's If-Match, checked by `work` once it holds its row.
        self.etag = etag
        # The issue an update locks (None: a create, which runs before them).
        self.issue = issue
        self.lock_key = None if issue is None else str(issue)
        left = remaining()
        # When its caller gives up (monotonic), or None: never.
        self.deadline = None if left is None else time.monotonic() + left
        self.wake = threading.Event()
        self.lead = False
        self.finished = False
        self.result: Any = None
        self.error: BaseException | None = None


class WriteBatches:
    def __init__(self, runner: Runner) -> None:
        self._runner = runner
        self._lock = threading.Lock()
        self._waiting: dict[int, list[_Write]] = {}
        self._leading: set[int] = set()

    def run(
        self,
        principal: Principal,
        work: Callable[[UnitOfWork], T],
        *,
        request_id: RequestId | None = None,
        etag: str | None = None,
        issue: IssueRef | None = None,
    ) -> T:
        """Run `work` in a unit of work committed with the other writes of its
        workspace; `request_id` and `etag` as for `Runner.run`; `issue`: the
        one an update changes (see above)."""
        item = _Write(principal, work, request_id, etag=etag, issue=issue)
        key = principal.workspace_id
        with self._lock:
            self._waiting.setdefault(key, []).append(item)
            if key not in self._leading:
                self._leading.add(key)
                item.lead = True
        while not item.finished:
            if item.lead:
                item.lead = False
                self._lead(key)
            else:
                item.wake.wait()
                item.wake.clear()
        if item.error is not None:
            raise item.error
        return item.result

    def _lead(self, key: int) -> None:
        with self._lock:
            queue = self._waiting.get(key, [])
            batch, self._waiting[key] = queue[:BATCH_MAX], queue[BATCH_MAX:]
        try:
            _commit(self._runner, _in_lock_order(batch))
        finally:
            with self._lock:
                rest = self._waiting.get(key)
                if rest:
                    rest[0].lead = True  # hand the lead on
                    rest[0].wake.set()
                else:
                    self._waiting.pop(key, None)
                    self._leading.discard(key)
            for item in batch:
                item.finished = True
                item.wake.set()


def _in_lock_order(batch: list[_Write]) -> list[_Write]:
    """Creates first, as they came; then updates by the issue they lock, each
    issue's in arrival order (the sort is stable)."""
    return sorted(batch, key=lambda item: (item.lock_key is not None, item.lock_key or ""))


class _Refused(Exception):
    """A write of a batch run without savepoints was refused: run it with them."""


def _commit(runner: Runner, batch: list[_Write]) -> None:
    """One transaction for the batch: without savepoints, then, if a write
    is refused, again with a savepoint for each write.

    The transaction must commit before its least patient caller's deadline:
    that caller's own client reports DEADLINE_EXCEEDED then, and a call
    reported as failed must never commit. When that deadline ends the
    transaction (nothing committed), the writes whose time is up fail and
    the rest run again in a new one."""
    pending = batch
    while pending:
        ends = [item.deadline for item in pending if item.deadline is not None]
        bound = min(ends) if ends else None
        try:
            with call_deadline(None if bound is None else bound - time.monotonic()):
                try:
                    outcomes = runner.commit(functools.partial(_run, runner, pending, False), write=True).result
                except _Refused:  # rolled back whole: again, each write on its own
                    outcomes = runner.commit(functools.partial(_run, runner, pending, True), write=True).result
        except DeadlineExceeded as failed:
            # The bound is the least patient caller's (the database may give up
            # a little before it); any other caller whose time is up fails too.
            late = []
            if bound is not None:  # a caller has a deadline
                cutoff = max(bound, time.monotonic())
                late = [item for item in pending if item.deadline is not None and item.deadline <= cutoff]
            if not late:  # not a caller's deadline: every write fails alike
                late = pending
            for item in late:
                item.error = failed
            pending = [item for item in pending if item.error is None]
            continue
        except BaseException as failed:  # noqa: BLE001 - nothing committed: every write fails alike
            for item in pending:
                item.error = failed
            return
        for item, (result, error) in zip(pending, outcomes):
            item.result, item.error = result, error
        return


def _run(
    runner: Runner, batch: list[_Write], guarded: bool
) -> tuple[list[tuple[Any, BaseException | None]], list[tuple[int, Written]], bool]:
    """The batch's writes in one transaction (each in a savepoint if `guarded`)."""
    outcomes: list[tuple[Any, BaseException | None]] = []
    # One workspace per batch: the derived rows of every write that was
    # not refused go in together, numbers last (see derived.py).
    workspace_id = batch[0].principal.workspace_id
    derived = runner.derived(workspace_id)
    repositories = runner.storage.repositories(workspace_id)
    repositories.issues.lock_ahead(i.issue.uuid for i in batch if i.issue is not None and i.issue.uuid is not None)
    claimed: dict[str, tuple[Any, BaseException | None]] = {}  # request_id -> the outcome of its create
    due = False
    for item in batch:
        uow = runner.unit(item.principal, request_id=item.request_id, etag=item.etag, repositories=repositories)
        try:
            with runner.storage.savepoint() if guarded else contextlib.nullcontext():
                result = uow.execute(item.work)
                uow.check_finished()
            derived.add_unit(uow)
            due = due or uow.deliveries_due
            outcomes.append((result, None))
            if item.request_id is not None:
                claimed[item.request_id.key] = outcomes[-1]
        except (ClaimedInBatch, ServiceError, Replay, ClaimTaken) as refused:
            if not guarded:  # what it wrote before refusing would commit with the others
                raise _Refused from refused
            outcomes.append(_outcome_of(runner, item, refused, claimed))
    return outcomes, [(workspace_id, derived.write())], due


def _outcome_of(
    runner: Runner,
    item: _Write,
    refused: BaseException,
    claimed: dict[str, tuple[Any, BaseException | None]],
) -> tuple[Any, BaseException | None]:
    """How a write refused in its savepoint is answered."""
    if isinstance(refused, ClaimedInBatch):  # a repeat of a create of this batch: answered alike
        return claimed[refused.key]
    if isinstance(refused, ClaimTaken):  # another transaction claimed its request_id and committed
        return None, _replayed(runner, item)
    return None, refused  # refused alone, or a repeat answered with the stored answer


def _replayed(runner: Runner, item: _Write) -> BaseException:
    """How a create whose claim another transaction took is answered: as that one was."""
    try:
        runner.unit(item.principal, request_id=item.request_id).replay()
    except (ServiceError, Replay) as answered:
        return answered
    raise AssertionError("a create's repeat is answered by raising")
