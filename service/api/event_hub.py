"""Fan-out of the outbox to the watchers of this process (SPEC 8.12).

One `EventHub` per process, on the gRPC server's event loop. For each
workspace that has watchers, a `_Feed` reads the events after its cursor
(one query for all of the workspace's watchers) whenever it is woken: by a
commit in this process, by PostgreSQL's NOTIFY from another replica, or by a
poll every few seconds. The table is the truth and the wake-up only says
when to look, so a lost notification costs latency, never an event.

A watcher replays from the table until it has caught up with its feed, then
joins it: in one step on the event loop, so nothing the feed delivers falls
between the two (and what both give it is dropped by sequence). Each
watcher's queue is bounded; one that falls further behind is ended with
RESOURCE_EXHAUSTED and resumes from its last sequence. Writers never wait
for watchers: they only wake the hub.
"""

from __future__ import annotations

import asyncio
import collections
import logging
from concurrent import futures
from dataclasses import dataclass
from typing import AsyncIterator, Awaitable, Callable, Sequence

from ..app import event_reads
from ..domain.errors import OutOfRange, ResourceExhausted, Unavailable
from . import messages
from .telemetry import EVENT_STREAMS

log = logging.getLogger("service.events")

# Events one query reads.
PAGE = 500
# Events a watcher may have waiting before it is ended (RESOURCE_EXHAUSTED).
QUEUE_MAX = 1000
# How often open streams check that their tokens still hold: all on one tick,
# so that their checks go to the pool together (token_rechecks.py).
RECHECK_SECONDS = 5.0
# Feeds look at the table this often even when nobody woke them (one query for all).
POLL_SECONDS = 2.0


@dataclass(frozen=True)
class Prepared:
    """An event as every watcher sends it: encoded once, however many watch."""

    sequence: int
    type: str
    payload: bytes  # the serialized issues.v1.Event


def prepare(stored: event_reads.StoredEvent) -> Prepared:
    return Prepared(stored.sequence, stored.type, messages.event(stored).SerializeToString())


class Watcher:
    """One open stream's place in its feed: a bounded queue and one wake-up.

    Waking is a bare future made only when the watcher sleeps with nothing
    to do: an event costs one `set_result`, not an Event's future plus a
    `wait_for` task and timer per wake (they were most of the per-watcher
    cost of a fan-out). The token's periodic recheck is the hub's one
    timer per RECHECK_SECONDS for all watchers instead."""

    __slots__ = ("closed", "due", "failed", "overflowed", "queue", "types", "waiter")

    def __init__(self, types: Sequence[str]) -> None:
        self.types = frozenset(types)
        self.queue: collections.deque[Prepared] = collections.deque()
        self.waiter: asyncio.Future[None] | None = None
        self.overflowed = False
        self.due = False  # the token's recheck is due
        self.closed: str | None = None
        # What ends the stream once the queue is drained (e.g. OUT_OF_RANGE).
        self.failed: Exception | None = None

    def _wake(self) -> None:
        waiter = self.waiter
        if waiter is not None:
            self.waiter = None
            if not waiter.done():  # done: cancelled with its stream
                waiter.set_result(None)

    def idle(self) -> bool:
        """Nothing to do: no event, no recheck due, not ended."""
        return not (self.queue or self.due or self.overflowed or self.failed is not None or self.closed is not None)

    def sleep(self) -> asyncio.Future[None]:
        """The future to await while idle, done at the next wake. Itself, not
        a coroutine around it: one object less per watcher per event (a
        stream cancelled while it sleeps leaves it cancelled, and `_wake`
        skips it)."""
        waiter = self.waiter = asyncio.get_running_loop().create_future()
        return waiter

    def offer(self, event: Prepared) -> None:
        if self.overflowed or (self.types and event.type not in self.types):
            return
        if len(self.queue) >= QUEUE_MAX:
            self.overflowed = True  # what it has it still gets; then it resumes by sequence
        else:
            self.queue.append(event)
        self._wake()

    def recheck_due(self) -> None:
        self.due = True
        self._wake()

    def close(self, reason: str) -> None:
        self.closed = reason
        self._wake()

    def fail(self, error: Exception) -> None:
        self.failed = error
        self._wake()


class _Feed:
    def __init__(self, workspace_id: int, cursor: int) -> None:
        self.workspace_id = workspace_id
        self.cursor = cursor  # every event up to here was delivered to the watchers
        self.watchers: set[Watcher] = set()
        self.running = False
        self.again = False


class EventHub:
    def __init__(
        self,
        reader: Callable[[int, int, int], event_reads.Page] = event_reads.read,
        *,
        poll_seconds: float = POLL_SECONDS,
        threads: int = 4,
        positions: Callable[[list[int]], dict[int, int]] | None = event_reads.last_sequences,
    ) -> None:
        self._read = reader
        self._positions = positions
        self._poll_seconds = poll_seconds
        self._executor = futures.ThreadPoolExecutor(max_workers=threads, thread_name_prefix="events")
        self._feeds: dict[int, _Feed] = {}
        self._starting: dict[int, asyncio.Future[_Feed]] = {}
        self._loop: asyncio.AbstractEventLoop | None = None
        self._poller: asyncio.Task[None] | None = None
        self._rechecking: set[Watcher] = set()  # live watchers whose token is rechecked
        self._ticker: asyncio.TimerHandle | None = None
        self._closed = False

    # -- waking (any thread) -------------------------------------------------

    def attach(self, loop: asyncio.AbstractEventLoop) -> None:
        self._loop = loop
        self._poller = asyncio.run_coroutine_threadsafe(self._poll(), loop)  # type: ignore[assignment]

    def poll_every(self, seconds: float) -> None:
        """Look at the table this often (when no NOTIFY can wake the feeds)."""
        self._poll_seconds = seconds

    def poke(self, workspace_id: int | None) -> None:
        """New events in `workspace_id` (None: perhaps in any); thread-safe, never blocks."""
        loop = self._loop
        if loop is not None and not self._closed:
            try:
                loop.call_soon_threadsafe(self._wake, workspace_id)
            except RuntimeError:  # the loop has closed
                pass

    def close(self) -> None:
        """End every watcher's stream (UNAVAILABLE: resume on another replica)."""
        loop = self._loop
        self._closed = True
        if loop is not None:
            try:
                loop.call_soon_threadsafe(self._close_all)
            except RuntimeError:
                pass
        self._executor.shutdown(wait=False, cancel_futures=True)

    @property
    def watchers(self) -> int:
        return sum(len(f.watchers) for f in self._feeds.values())

    # -- on the loop -------------------------------------------------------

    def _close_all(self) -> None:
        for feed in self._feeds.values():
            for watcher in feed.watchers:
                watcher.close("the server is shutting down")
        if self._poller is not None:
            self._poller.cancel()
        if self._ticker is not None:
            self._ticker.cancel()
            self._ticker = None

    def _recheck_tick(self) -> None:
        """Every watcher with a token to recheck is due (one timer for all, while there are any)."""
        self._ticker = None
        for watcher in list(self._rechecking):
            watcher.recheck_due()
        if self._rechecking and not self._closed:
            self._ticker = asyncio.get_running_loop().call_later(RECHECK_SECONDS, self._recheck_tick)

    def _wake(self, workspace_id: int | None) -> None:
        targets = self._feeds.values() if workspace_id is None else filter(None, [self._feeds.get(workspace_id)])
        for feed in list(targets):
            if feed.running:
                feed.again = True
            else:
                feed.running = True
                # Held by the loop, then by the executor future it awaits; feed.running marks it in flight.
                asyncio.ensure_future(self._fetch(feed))  # noqa: RUF006

    async def _poll(self) -> None:
        """Wake the feeds that are behind the table, should a wake-up have been lost."""
        loop = asyncio.get_running_loop()
        while not self._closed:
            await asyncio.sleep(self._poll_seconds)
            ids = list(self._feeds)
            if not ids:
                continue
            if self._positions is None:
                self._wake(None)
                continue
            try:
                last = await loop.run_in_executor(self._executor, self._positions, ids)
            except Unavailable as exc:  # a database restart is expected: one line, no traceback
                log.warning("polling for events failed; trying again at the next poll", extra={"error": str(exc)})
                continue
            except Exception:  # noqa: BLE001 - whatever it was, try again next time
                log.warning("polling for events failed", exc_info=True)
                continue
            for workspace_id, sequence in last.items():
                feed = self._feeds.get(workspace_id)
                # Behind: new events. Below: the database's history went back (_fetch ends the watches).
                if feed is not None and sequence != feed.cursor:
                    self._wake(workspace_id)

    async def _fetch(self, feed: _Feed) -> None:
        loop = asyncio.get_running_loop()
        try:
            while True:
                feed.again = False
                page = await loop.run_in_executor(self._executor, self._read, feed.workspace_id, feed.cursor, PAGE)
                if feed.cursor > page.last or not page.known:
                    self._rewound(feed)
                    return
                for stored in page.events:
                    prepared = prepare(stored)
                    feed.cursor = stored.sequence
                    for watcher in list(feed.watchers):
                        watcher.offer(prepared)
                if len(page.events) < PAGE and not feed.again:
                    return
        except Unavailable as exc:  # a database restart is expected: the next wake (or poll) reads again
            log.warning(
                "reading events failed; the next wake reads again",
                extra={"workspace": feed.workspace_id, "error": str(exc)},
            )
        except Exception:  # noqa: BLE001 - whatever it was, the next wake tries again
            log.warning("reading events failed", exc_info=True, extra={"workspace": feed.workspace_id})
        finally:
            feed.running = False

    def _rewound(self, feed: _Feed) -> None:
        """The database no longer has events this feed delivered (a failover
        to a lagging standby): every watcher's stream ends OUT_OF_RANGE."""
        log.warning(
            "events were taken back by the database; ending the watchers' streams",
            extra={"workspace": feed.workspace_id, "delivered_through": feed.cursor},
        )
        if self._feeds.get(feed.workspace_id) is feed:
            del self._feeds[feed.workspace_id]
        for watcher in list(feed.watchers):
            watcher.fail(
                OutOfRange(
                    f"events up to sequence {feed.cursor} were delivered, and the database no longer has some of them "
                    "(its history went back, as after a failover to a standby that lagged): resync, then watch again"
                )
            )
        feed.watchers.clear()

    async def _feed(self, workspace_id: int) -> _Feed:
        feed = self._feeds.get(workspace_id)
        if feed is not None:
            return feed
        starting = self._starting.get(workspace_id)
        if starting is None:
            starting = self._starting[workspace_id] = asyncio.get_running_loop().create_future()
            try:
                page = await self.read(workspace_id, 0, 0)
                feed = self._feeds[workspace_id] = _Feed(workspace_id, page.last)
                starting.set_result(feed)
            except BaseException as exc:
                starting.set_exception(exc)
                starting.exception()  # retrieved: no "never retrieved" warning when nobody else waits
                raise
            finally:
                del self._starting[workspace_id]
            return feed
        return await asyncio.shield(starting)

    async def read(self, workspace_id: int, after: int, limit: int, types: Sequence[str] = ()) -> event_reads.Page:
        return await asyncio.get_running_loop().run_in_executor(
            self._executor, self._read, workspace_id, after, limit, types
        )

    def _leave(self, workspace_id: int, watcher: Watcher) -> None:
        feed = self._feeds.get(workspace_id)
        if feed is not None:
            feed.watchers.discard(watcher)
            if not feed.watchers:
                del self._feeds[workspace_id]  # a later watcher starts a fresh feed

    async def watch(
        self,
        workspace_id: int,
        after: int | None,
        types: Sequence[str],
        accepted: Callable[[], Awaitable[None]] | None = None,
        recheck: Callable[[], Awaitable[None]] | None = None,
    ) -> AsyncIterator[bytes]:
        """The workspace's events after `after` (None: from now on), then live, each once, in order,
        as serialized issues.v1.Event messages.

        `accepted` is awaited once the cursor has been found good (the
        stream's headers go out then: the gateway tells a refusal from a
        quiet stream by them). `recheck` is awaited every RECHECK_SECONDS
        while the stream is open (the first within RECHECK_SECONDS of
        going live, on the hub's tick): what it raises ends the stream (a
        token revoked since it began)."""
        if self._closed:
            raise Unavailable("the server is shutting down; watch on another replica")
        feed = await self._feed(workspace_id)
        if after is None:
            cursor = (await self.read(workspace_id, 0, 0)).last  # only what commits from now on
        else:
            cursor = after
        first = True
        watcher: Watcher | None = None
        EVENT_STREAMS.inc()
        try:
            # Replay from the table until caught up with the feed.
            while watcher is None:
                page = await self.read(workspace_id, cursor, PAGE, types)
                if first:
                    event_reads.check_cursor(cursor, page)
                    first = False
                    if accepted is not None:
                        await accepted()
                elif page.pruned > cursor:
                    event_reads.check_cursor(cursor, page)  # pruned while replaying: OUT_OF_RANGE
                else:
                    event_reads.check_history(cursor, page)  # a failover took back what was replayed
                for stored in page.events:
                    cursor = stored.sequence
                    yield messages.event(stored).SerializeToString()
                if len(page.events) == PAGE:
                    continue  # more to replay
                cursor = max(cursor, page.last)  # the snapshot had nothing more, of any type we want
                feed = self._feeds.get(workspace_id) or await self._feed(workspace_id)
                if cursor >= feed.cursor:
                    # Joined in one step on the loop: the feed delivers everything after its cursor.
                    watcher = Watcher(types)
                    feed.watchers.add(watcher)
            # Live.
            if recheck is not None:
                self._rechecking.add(watcher)
                if self._ticker is None:
                    self._ticker = asyncio.get_running_loop().call_later(RECHECK_SECONDS, self._recheck_tick)
            while True:
                if watcher.idle():
                    await watcher.sleep()
                if watcher.due and recheck is not None:
                    watcher.due = False
                    await recheck()
                while watcher.queue:
                    event = watcher.queue.popleft()
                    if event.sequence > cursor:
                        cursor = event.sequence
                        yield event.payload
                if watcher.overflowed:
                    raise ResourceExhausted(
                        f"this watcher fell more than {QUEUE_MAX} events behind; resume after sequence {cursor}"
                    )
                if watcher.failed is not None:
                    raise watcher.failed
                if watcher.closed is not None:
                    raise Unavailable(f"{watcher.closed}; resume after sequence {cursor}")
        finally:
            EVENT_STREAMS.dec()
            if watcher is not None:
                self._rechecking.discard(watcher)
                self._leave(workspace_id, watcher)
            else:
                idle = self._feeds.get(workspace_id)
                if idle is not None and not idle.watchers and not idle.running:
                    del self._feeds[workspace_id]
