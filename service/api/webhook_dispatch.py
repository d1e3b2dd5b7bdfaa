"""The webhook dispatcher, delivering from the outbox (SPEC 8.13): on
PostgreSQL one per `serve`, in a niced process of its own
(runtime/webhook_process.py); on SQLite one in each serving process.

It runs an asyncio loop on a thread of its own (not the gRPC server's, so
deliveries never delay a call or a watcher) and repeats: claim the due
deliveries it has room for (leases in the database: see
storage/webhook_leases.py), attempt each as a task, record the outcome.
Room is bounded in all (ISSUES_WEBHOOK_CONCURRENCY: attempts in flight and
outcomes not yet recorded) and per webhook
(ISSUES_WEBHOOK_CONCURRENCY_PER_WEBHOOK: requests in flight to it): a
webhook at its bound is left out of the claims, so a slow receiver delays
only its own deliveries.

Outcomes are recorded in batches: whatever attempts ended while the last
batch was being written go together in one transaction (one commit, one
WAL flush), which is most of what a delivery cost PostgreSQL. Until its
outcome is committed a delivery stays leased, so no one attempts it again
meanwhile, and a crash before the commit leaves it to the next claim after
the lease (at least once). A
writer only inserts delivery rows, so it never waits for an attempt (on
SQLite a record still takes the one write lock for its short transaction,
and a failure's count locks the webhook's counter row briefly when the
webhook is disabled).

It is woken (`poke`) by commits that made deliveries due (events, pings,
redeliveries): its own process's, or any process's through NOTIFY on
PostgreSQL (runtime/wakeups.py); and it polls (ISSUES_WEBHOOK_POLL) for
retries coming due. Several dispatchers' claims never overlap (replicas; on
SQLite each `--workers` process). Database work runs on two threads of its
own.
"""

from __future__ import annotations

import asyncio
import logging
import threading
import time
import uuid
from concurrent.futures import ThreadPoolExecutor
from typing import Any, Callable

from prometheus_client import Counter, Gauge, Histogram

from common.metrics import LATENCY_BUCKETS

from ..app import webhook_deliveries
from ..app.webhook_deliveries import Attempt, Claimed, Outcome
from ..domain import webhook_signing
from ..domain.errors import Unavailable
from ..domain.times import utcnow
from ..webhook_config import WebhookSettings
from .webhook_http import Sender
from .webhook_messages import body as delivery_body

log = logging.getLogger("service.webhooks")

DELIVERIES = Counter(
    "issues_webhook_deliveries",
    "Webhook delivery attempts, by outcome "
    "(succeeded; retrying: failed, tried again later; failed: given up; lost: the lease had passed).",
    ["outcome"],
)
ATTEMPT_SECONDS = Histogram(
    "issues_webhook_attempt_duration_seconds", "Webhook delivery attempts' latency.", buckets=LATENCY_BUCKETS
)
QUEUE_DEPTH = Gauge(
    "issues_webhook_queue_depth",
    "Webhook deliveries waiting (pending), per webhook.",
    ["webhook"],
    multiprocess_mode="max",
)
# How often the queue depth is sampled.
_DEPTH_SECONDS = 5.0
# How long a stop waits, past its grace, for cancelled attempts to unwind.
_STOP_MARGIN_SECONDS = 2.0
# A burst of commits wakes one claim, not one each: a claim waits this long
# after its wake-up; while commits keep coming and each claim finds
# deliveries, the wait doubles up to _COALESCE_MAX_SECONDS, so that a claim
# (a statement, most of a delivery's cost to PostgreSQL, and its round trip)
# takes several commits' deliveries. It never throttles: a claim that hit a
# bound (see `_hit_bound`) is followed by the next as soon as room frees,
# after the shortest wait.
COALESCE_SECONDS = 0.02
_COALESCE_MAX_SECONDS = 0.1
# The most outcomes recorded in one transaction.
_BATCH_MAX = 200


class Dispatcher:
    def __init__(self, settings: WebhookSettings) -> None:
        self._settings = settings
        self._loop: asyncio.AbstractEventLoop | None = None
        self._wake: asyncio.Event | None = None
        self._stopping = False
        # When attempts in flight at a stop must be over (monotonic), set by finish_stop.
        self._stop_by: float | None = None
        self._started = threading.Event()
        self._thread = threading.Thread(target=self._run, name="webhooks", daemon=True)
        self._db = ThreadPoolExecutor(max_workers=2, thread_name_prefix="webhook-db")
        self._inflight: dict[uuid.UUID, int] = {}  # requests in flight, per webhook
        self._unrecorded: list[tuple[Outcome, asyncio.Future[str | None]]] = []
        self._recorder: asyncio.Task[None] | None = None
        self._tasks: set[asyncio.Task[None]] = set()
        self._depth_labels: set[str] = set()
        # Whether the last claim may have left due deliveries for want of
        # room: then an attempt's end (room again) wakes the loop; else only
        # commits (poke) and the poll do, since nothing else was due.
        self._bounded = False

    def start(self) -> None:
        self._thread.start()
        self._started.wait(5)

    def poke(self) -> None:
        """Look for due deliveries now (from any thread; never blocks)."""
        if not self._stopping:
            self._wake_loop()

    def begin_stop(self) -> None:
        """Claim nothing more; attempts in flight go on."""
        self._stopping = True
        self._wake_loop()

    def _wake_loop(self) -> None:
        loop, wake = self._loop, self._wake
        if loop is not None and wake is not None:
            try:
                loop.call_soon_threadsafe(wake.set)
            except RuntimeError:  # the loop has closed
                pass

    def finish_stop(self, wait: float) -> None:
        """Give attempts in flight `wait` seconds (recording included), then
        cancel them (their leases run out and another dispatcher, or the next
        start, retries); the database is still open until this returns."""
        self._stop_by = time.monotonic() + max(0.1, wait)
        self.begin_stop()
        self._thread.join(max(0.1, wait) + _STOP_MARGIN_SECONDS)  # the cancelled ones' unwinding
        self._db.shutdown(wait=False, cancel_futures=True)

    # -- the loop -------------------------------------------------------------

    def _run(self) -> None:
        asyncio.run(self._main())

    async def _main(self) -> None:
        self._loop = asyncio.get_running_loop()
        self._wake = asyncio.Event()
        sender = Sender(self._settings)
        self._started.set()
        next_depth = 0.0
        coalesce = COALESCE_SECONDS
        try:
            while not self._stopping:
                self._wake.clear()
                lease_id = uuid.uuid4()
                claimed = await self._claim(lease_id)
                for item in claimed:
                    self._begin(sender, item, lease_id)
                self._bounded = self._hit_bound()
                if time.monotonic() >= next_depth:
                    next_depth = time.monotonic() + _DEPTH_SECONDS
                    await self._sample_depth()
                if claimed and self._bounded and self._room() > 0:
                    continue  # a webhook at its bound, now left out of claims: others may have some due
                if self._bounded or not claimed:
                    coalesce = COALESCE_SECONDS
                else:  # it took all that was due: the next waits longer, while commits keep coming
                    coalesce = min(_COALESCE_MAX_SECONDS, coalesce * 2)
                try:
                    await asyncio.wait_for(self._wake.wait(), self._settings.poll)
                except TimeoutError:
                    pass
                await asyncio.sleep(coalesce)
            if self._tasks:
                stop_by = self._stop_by or time.monotonic() + self._settings.timeout + 1
                await asyncio.wait(set(self._tasks), timeout=max(0.0, stop_by - time.monotonic()))
        finally:
            for task in [*self._tasks, *([self._recorder] if self._recorder else [])]:
                task.cancel()
            await sender.close()

    def _hit_bound(self) -> bool:
        """Whether a bound (in all, or a webhook's) may have kept the last claim from taking every due delivery."""
        per_webhook = self._settings.concurrency_per_webhook
        return self._room() <= 0 or any(n >= per_webhook for n in self._inflight.values())

    def _room(self) -> int:
        return self._settings.concurrency - len(self._tasks)  # attempting, or waiting to be recorded

    def _room_for(self, webhook_id: uuid.UUID) -> int:
        return self._settings.concurrency_per_webhook - self._inflight.get(webhook_id, 0)

    async def _in_db(self, fn: Callable[..., Any], *args: Any) -> Any:
        return await asyncio.get_running_loop().run_in_executor(self._db, fn, *args)

    async def _claim(self, lease_id: uuid.UUID) -> list[Claimed]:
        total = self._room()
        if total <= 0:
            return []
        in_flight = dict(self._inflight)  # read on the database thread: a copy
        per_webhook = self._settings.concurrency_per_webhook
        try:
            return await self._in_db(
                webhook_deliveries.claim, lease_id, self._settings.lease, per_webhook, in_flight, total
            )
        except Unavailable as exc:  # the database is down or busy: the poll tries again
            log.warning("could not claim webhook deliveries", extra={"error": str(exc)})
        except Exception:
            log.exception("could not claim webhook deliveries")
        return []

    def _begin(self, sender: Sender, claimed: Claimed, lease_id: uuid.UUID) -> None:
        self._inflight[claimed.webhook_id] = self._inflight.get(claimed.webhook_id, 0) + 1
        task = asyncio.get_running_loop().create_task(self._deliver(sender, claimed, lease_id))
        self._tasks.add(task)
        task.add_done_callback(self._done)

    def _answered(self, webhook_id: uuid.UUID) -> None:
        """The webhook's request has ended: room for another to it."""
        left = self._inflight.get(webhook_id, 1) - 1
        if left:
            self._inflight[webhook_id] = left
        else:
            self._inflight.pop(webhook_id, None)
        if self._wake is not None and self._bounded:
            self._wake.set()  # room again for what the last claim left

    def _done(self, task: asyncio.Task[None]) -> None:
        self._tasks.discard(task)
        if self._wake is not None and self._bounded:
            self._wake.set()  # room again

    async def _deliver(self, sender: Sender, claimed: Claimed, lease_id: uuid.UUID) -> None:
        try:
            attempt = await self._attempt(sender, claimed)
        except asyncio.CancelledError:
            raise
        except Exception as exc:  # noqa: BLE001 - unforeseen: still a failed attempt, so it backs off and counts
            log.exception("webhook attempt failed unexpectedly", extra={"delivery": str(claimed.id)})
            attempt = Attempt(False, None, f"the attempt failed ({type(exc).__name__})", 0)
        finally:
            self._answered(claimed.webhook_id)
        try:
            status = await self._record(Outcome(claimed, lease_id, attempt))
        except Exception as exc:  # its lease runs out, and the delivery is attempted again
            log.warning(
                "could not record a webhook attempt",
                exc_info=not isinstance(exc, Unavailable),
                extra={"delivery": str(claimed.id), "error": str(exc)},
            )
            return
        outcome = {"succeeded": "succeeded", "pending": "retrying", "failed": "failed", None: "lost"}[status]
        DELIVERIES.labels(outcome).inc()
        log.info(
            "webhook attempt",
            extra={
                "delivery": str(claimed.id),
                "webhook": str(claimed.webhook_id),
                "event_type": claimed.event_type,
                "outcome": outcome,
                "status_code": attempt.status_code,
                "error": attempt.error,
                "duration_ms": attempt.duration_ms,
            },
        )

    async def _attempt(self, sender: Sender, claimed: Claimed) -> Attempt:
        payload = delivery_body(claimed)
        if payload is None:
            return Attempt(False, None, "its event is no longer kept", 0, final=True)
        now = utcnow()
        signing = [claimed.secret]
        if claimed.previous_secret and claimed.previous_secret_until and claimed.previous_secret_until > now:
            signing.append(claimed.previous_secret)
        headers = webhook_signing.headers(str(claimed.id), int(time.time()), payload, signing)
        attempt = await sender.post(claimed.url, headers, payload)
        ATTEMPT_SECONDS.observe(attempt.duration_ms / 1000)
        return attempt

    async def _record(self, outcome: Outcome) -> str | None:
        """Record `outcome` with the others waiting (see the module's doc): the delivery's status."""
        done: asyncio.Future[str | None] = asyncio.get_running_loop().create_future()
        self._unrecorded.append((outcome, done))
        if self._recorder is None or self._recorder.done():
            self._recorder = asyncio.get_running_loop().create_task(self._record_batches())
        return await done

    async def _record_batches(self) -> None:
        while self._unrecorded:
            batch, self._unrecorded = self._unrecorded[:_BATCH_MAX], self._unrecorded[_BATCH_MAX:]
            try:
                statuses = await self._in_db(webhook_deliveries.record, [o for o, _ in batch], self._settings)
            except Exception as exc:  # none of them was written: their leases run out, and they are tried again
                for _, done in batch:
                    if not done.done():
                        done.set_exception(exc)
                continue
            for (_, done), status in zip(batch, statuses):
                if not done.done():
                    done.set_result(status)

    async def _sample_depth(self) -> None:
        try:
            depths = await self._in_db(webhook_deliveries.queue_depths)
        except Exception:
            return
        labels = {str(k): v for k, v in depths.items()}
        for gone in self._depth_labels - labels.keys():
            QUEUE_DEPTH.labels(gone).set(0)
        for label, depth in labels.items():
            QUEUE_DEPTH.labels(label).set(depth)
        self._depth_labels |= labels.keys()
