"""Creates in one workspace, committed together.

Issue numbers are gapless per workspace (SPEC 8.1), so each create holds its
workspace's row lock until it commits: one create after another, each
waiting for its own WAL flush. Instead, the creates that arrive while
another is committing join one batch, run in one transaction, and share one
commit; what they imply (counters, history, numbers) is written once for the
batch. A batch first runs its creates one after another with nothing
between them. If one of them is refused, that run is rolled back whole and
the batch runs again with each create in its own savepoint, so the refused
one rolls back alone and takes no number. Creates are rarely refused there
(requests are validated before they queue), and the savepoints cost two
statements a create and a PostgreSQL subtransaction each: 15-20% of a
create's throughput when measured (bench/RESULTS.md, 2026-12-07). Every create is answered after that commit, so none is
acknowledged before it is durable, and one reported as failed never commits.

The first caller of a workspace with no batch running leads: it runs the
batch that has gathered, then hands the lead to the first caller still
waiting, so no caller serves the others for long.

A create with a request_id stays safe to retry in a batch. It claims its key
in its savepoint, so a refused create gives the key back with the rest of
its work; a repeat of a create earlier in the same batch is answered as that
one is; and one whose claim loses to another transaction rolls its
savepoint back and answers with that transaction's stored response.
"""

from __future__ import annotations

import contextlib
import threading
import time
from typing import Any, Callable, TypeVar

from ..domain.errors import ServiceError
from ..domain.roles import Principal
from ..storage.database import savepoint, transaction
from ..storage.inflight import remaining
from ..storage.request_ids import Taken
from . import event_listeners
from .derived import DerivedWrites
from .idempotency import Idempotency, Replayed
from .unit_of_work import ClaimedInThisBatch, UnitOfWork, call_deadline

T = TypeVar("T")

# A batch never grows past this many creates (one transaction's size).
BATCH_MAX = 64


class _Create:
    __slots__ = ("deadline", "error", "finished", "lead", "once", "principal", "result", "wake", "work")

    def __init__(self, principal: Principal, work: Callable[[UnitOfWork], Any], once: Idempotency | None) -> None:
        self.principal = principal
        self.work = work
        self.once = once
        left = remaining()
        # When its caller gives up (monotonic), or None: never.
        self.deadline = None if left is None else time.monotonic() + left
        self.wake = threading.Event()
        self.lead = False
        self.finished = False
        self.result: Any = None
        self.error: BaseException | None = None


class CreateBatches:
    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._waiting: dict[int, list[_Create]] = {}
        self._leading: set[int] = set()

    def run(self, principal: Principal, work: Callable[[UnitOfWork], T], *, once: Idempotency | None = None) -> T:
        """Run `work` in a unit of work committed with the other creates of its
        workspace; `once` as for `unit_of_work.run`."""
        item = _Create(principal, work, once)
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
            _commit(batch)
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


class _Refused(Exception):
    """A create of a batch run without savepoints was refused: run it with them."""


def _commit(batch: list[_Create]) -> None:
    """One transaction for the batch: without savepoints, then, if a create
    is refused, again with a savepoint for each create."""

    wrote_events: set[int] = set()
    queued_deliveries: list[bool] = [False]

    def work(guarded: bool) -> list[tuple[Any, BaseException | None]]:
        wrote_events.clear()
        outcomes: list[tuple[Any, BaseException | None]] = []
        # One workspace per batch: the derived rows of every create that was
        # not refused go in together, numbers last (see derived.py).
        derived = DerivedWrites(batch[0].principal.workspace_id)
        claimed: dict[str, tuple[Any, BaseException | None]] = {}  # request_id -> the outcome of its create
        for item in batch:
            uow = UnitOfWork(item.principal, once=item.once)
            try:
                with savepoint() if guarded else contextlib.nullcontext():
                    result = uow.execute(item.work)
                uow.derive_into(derived)
                outcomes.append((result, None))
                if item.once is not None:
                    claimed[item.once.request_id] = outcomes[-1]
            except (ClaimedInThisBatch, ServiceError, Replayed, Taken) as refused:
                if not guarded:  # what it wrote before refusing would commit with the others
                    raise _Refused from refused
                outcomes.append(_outcome_of(item, refused, claimed))
        if derived.write() is not None:
            wrote_events.add(derived.workspace_id)
        queued_deliveries[:] = [derived.queued_deliveries]
        return outcomes

    # The batch may run as long as its most patient caller waits.
    ends = [item.deadline for item in batch]
    patience = None if None in ends else max(ends) - time.monotonic()  # type: ignore[type-var]
    try:
        with call_deadline(patience):
            try:
                outcomes = transaction(lambda: work(False), write=True)
            except _Refused:  # rolled back whole: again, each create on its own
                outcomes = transaction(lambda: work(True), write=True)
    except BaseException as failed:  # noqa: BLE001 - nothing committed: every create fails alike
        for item in batch:
            item.error = failed
        return
    event_listeners.committed(wrote_events, deliveries=any(queued_deliveries))  # wake the watchers
    for item, (result, error) in zip(batch, outcomes):
        item.result, item.error = result, error


def _outcome_of(
    item: _Create, refused: BaseException, claimed: dict[str, tuple[Any, BaseException | None]],
) -> tuple[Any, BaseException | None]:
    """How a create refused in its savepoint is answered."""
    if isinstance(refused, ClaimedInThisBatch):  # a repeat of a create of this batch: answered alike
        return claimed[refused.request_id]
    if isinstance(refused, Taken):  # another transaction claimed its request_id and committed
        return None, _answer_of(item)
    return None, refused  # refused alone, or a repeat answered with the stored response


def _answer_of(item: _Create) -> BaseException:
    """How a create whose claim another transaction took is answered: as that one was."""
    try:
        UnitOfWork(item.principal, once=item.once).answer_repeat()
    except (ServiceError, Replayed) as answered:
        return answered
    raise AssertionError("a create's repeat is answered by raising")


batches = CreateBatches()
