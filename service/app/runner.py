"""Running use cases: a unit of work per command, its transaction, and what
its commit leaves to do, returned as data.

The runtime builds one Runner at startup from a Storage (Peewee's), the
renderer of what history and events show, a clock, and `after_commit`: what
to do with each `Committed` (wake the event hub's watchers of the
workspaces that have new events, NOTIFY the other replicas, wake the
webhook dispatcher when deliveries became due). Use cases are given the
Runner; tests/unit gives them one on in-memory repositories.

Every commit takes one path (`commit`): a command run on its own (`run`)
and the creates and updates of a batch (write_batches.py) alike.
"""

from __future__ import annotations

import datetime
import logging
from dataclasses import dataclass
from typing import Any, Callable, Generic, Iterable, TypeVar

from ..domain.roles import Principal
from ..domain.times import utcnow
from ..storage.inflight import deadline as call_deadline
from .derived import DerivedWrites, Written
from .request_ids import ClaimTaken, RequestId
from .unit_of_work import ReplayWith, Repositories, Storage, UnitOfWork
from .views import RenderedOnce, Renderer
from .write_batches import WriteBatches

# call_deadline: for the call pipeline, which bounds a call's database work by its deadline.
__all__ = ["Committed", "Runner", "call_deadline"]

T = TypeVar("T")
log = logging.getLogger("service.app")


@dataclass(frozen=True)
class Committed(Generic[T]):
    """A commit's result, and what its caller must announce now that it is durable."""

    result: T
    # The workspaces it wrote events to: their watchers are to be woken.
    event_workspaces: frozenset[int] = frozenset()
    # The last event sequence written (the highest, when several workspaces).
    last_event: int | None = None
    # Webhook deliveries became due: the dispatcher is to be woken.
    deliveries_due: bool = False


def _ignore(_: Committed[Any]) -> None:
    return None


class Runner:
    """Units of work on `storage`, committed one way, their effects handed to `after_commit`."""

    def __init__(
        self,
        storage: Storage,
        renderer: Renderer,
        *,
        clock: Callable[[], datetime.datetime] = utcnow,
        after_commit: Callable[[Committed[Any]], None] = _ignore,
    ) -> None:
        self.storage = storage
        self.renderer: Renderer = RenderedOnce(renderer)
        self.clock = clock
        self.after_commit = after_commit
        # Creates and updates of one workspace that arrive together commit together.
        self.writes = WriteBatches(self)

    def unit(
        self,
        principal: Principal,
        *,
        request_id: RequestId | None = None,
        etag: str | None = None,
        repositories: Repositories | None = None,
    ) -> UnitOfWork:
        """A fresh unit of work for `principal`'s workspace (on `repositories`,
        when the units of a batch share them)."""
        if repositories is None:
            repositories = self.storage.repositories(principal.workspace_id)
        return UnitOfWork(
            principal, repositories, now=self.clock(), renderer=self.renderer, request_id=request_id, etag=etag
        )

    def derived(self, workspace_id: int) -> DerivedWrites:
        """What the units of one transaction in `workspace_id` imply, to write before commit."""
        return DerivedWrites(workspace_id, self.storage.repositories(workspace_id), self.renderer, self.clock)

    def run(
        self,
        principal: Principal,
        work: Callable[[UnitOfWork], T],
        *,
        write: bool = False,
        snapshot: bool = False,
        request_id: RequestId | None = None,
        etag: str | None = None,
        replay_with: ReplayWith | None = None,
    ) -> T:
        """Run `work` in one transaction and return its result.

        `write=True` for commands that change data; `snapshot=True` for reads of
        more than one statement that must agree; neither for a one-statement read.
        `request_id`: the create's (a repeat raises `Replay`, or returns what
        `replay_with` answers instead); `etag`: the caller's If-Match.
        """

        def attempt() -> tuple[T, Iterable[tuple[int, Written]], bool]:
            uow = self.unit(principal, request_id=request_id, etag=etag)
            result = uow.execute(work, replay_with)
            if uow.changes and not write:
                raise AssertionError("a read-only unit of work recorded changes")
            uow.check_finished()
            written = []
            if uow.wrote:
                derived = self.derived(principal.workspace_id)
                derived.add_unit(uow)
                written.append((principal.workspace_id, derived.write()))
            return result, written, uow.deliveries_due

        try:
            return self.commit(attempt, write=write, snapshot=snapshot).result
        except ClaimTaken:
            # A concurrent request with this request_id committed first, and this
            # one's work rolled back with its transaction: answer as that one did.
            return self.replay(principal, request_id, replay_with)

    def replay(self, principal: Principal, request_id: RequestId | None, replay_with: ReplayWith | None = None) -> Any:
        """Answer a create whose claim another transaction took, as that one was."""
        return self.storage.transaction(
            lambda: self.unit(principal, request_id=request_id).replay(replay_with), write=True, snapshot=False
        )

    def commit(
        self,
        attempt: Callable[[], tuple[T, Iterable[tuple[int, Written]], bool]],
        *,
        write: bool,
        snapshot: bool = False,
    ) -> Committed[T]:
        """The one commit path: run `attempt` (the work and its derived writes,
        per workspace, and whether deliveries became due without events) as a
        transaction, then hand what it committed to `after_commit`."""
        result, written, due = self.storage.transaction(attempt, write=write, snapshot=snapshot)
        events = [(workspace_id, w.last_event) for workspace_id, w in written if w.last_event is not None]
        committed = Committed(
            result,
            frozenset(workspace_id for workspace_id, _ in events),
            max((last for _, last in events), default=None),
            due or any(w.deliveries_due for _, w in written),
        )
        try:
            self.after_commit(committed)
        except Exception:  # noqa: BLE001 - durable now: the caller hears success; watchers and the dispatcher poll too
            log.exception("a wake-up after commit failed")
        return committed
