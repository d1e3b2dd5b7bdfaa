"""Assembling the gRPC server: IssueService behind its pipeline, health and reflection.

The server is grpc.aio's, on an event loop in a thread of its own. Every
handler but WatchEvents is an ordinary function run on the server's thread
pool, as on the synchronous server; WatchEvents is an async generator on the
loop, so an open stream holds no thread (see pipeline.py). The process's
EventHub is woken by its own commits and, on PostgreSQL, by the other
replicas' NOTIFY. The in-process gateway calls the same handlers without
the gRPC hop (inprocess.py).
"""

from __future__ import annotations

import asyncio
import logging
import threading
import time
from concurrent import futures
from concurrent.futures import thread as futures_thread
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

import grpc
import peewee
from grpc_health.v1 import health_pb2, health_pb2_grpc

from common.descriptors import SERVICE

from ..api.admission import Admission
from ..api.event_hub import EventHub
from ..api.messages import JsonRenderer
from ..api.rate_limit import RateLimit, RateLimiter, SharedBuckets
from ..api.service import issue_service
from ..app.peewee_storage import PeeweeStorage
from ..app.runner import Runner
from ..app.token_usage import UsageRecorder
from ..app.tokens import Authenticator
from ..blobs import SIGNING_KEY_NAME, BlobStore, open_store
from ..config import Settings
from ..storage import inflight
from ..storage.database import is_postgres, transaction
from ..storage.secrets import server_secret
from ..webhook_config import WebhookSettings
from .after_commit import AfterCommit
from .grace import CANCEL_MARGIN_SECONDS
from .health import DatabaseHealth
from .inprocess import InProcessTransport
from .pool_metrics import PoolSampler
from .tokenless_services import DecodeGuard, reflection_handlers
from .wakeups import start_wakeups

if TYPE_CHECKING:
    from ..api.webhook_dispatch import Dispatcher

log = logging.getLogger("service.server")


class _Loop:
    """An asyncio event loop running in a thread of its own."""

    def __init__(self) -> None:
        self.loop = asyncio.new_event_loop()
        self._thread = threading.Thread(target=self.loop.run_forever, name="grpc-loop", daemon=True)
        self._thread.start()

    def run(self, coroutine: Any) -> Any:
        return asyncio.run_coroutine_threadsafe(coroutine, self.loop).result()

    def close(self) -> None:
        self.loop.call_soon_threadsafe(self.loop.stop)
        self._thread.join(5)


@dataclass
class RunningServer:
    grpc_server: grpc.aio.Server
    port: int
    health: DatabaseHealth
    db: peewee.Database
    blobs: BlobStore
    usage: UsageRecorder
    pool_sampler: PoolSampler
    hub: EventHub
    loop: _Loop
    # PostgreSQL's wake-ups across replicas (None on SQLite).
    wakeups: list[Any] = field(default_factory=list)
    pool: futures.ThreadPoolExecutor | None = None
    dispatcher: Dispatcher | None = None
    # The in-process gateway's way in (inprocess.py); `serve` hands it to the gateway.
    in_process: InProcessTransport | None = None
    # When the grace given at begin_stop ends (monotonic).
    stop_by: float = 0.0

    def begin_stop(self, grace: float) -> threading.Event:
        """Report NOT_SERVING and refuse new calls from now on; calls in flight
        go on (event streams end at once: their clients resume elsewhere).
        Returns the event set once the last call has ended."""
        self.health.shutdown()
        if self.in_process is not None:
            self.in_process.refuse_new_calls()  # as the gRPC server does from its stop on
        self.hub.close()
        if self.dispatcher is not None:
            self.dispatcher.begin_stop()
        self.stop_by = time.monotonic() + grace
        stopped = threading.Event()
        # gRPC cancels whatever still runs at grace + margin; by then the
        # database work of those calls has been cancelled (finish_stop), so
        # their clients hear a real status first.
        done = asyncio.run_coroutine_threadsafe(self.grpc_server.stop(grace + CANCEL_MARGIN_SECONDS), self.loop.loop)
        in_process = self.in_process
        if in_process is None:
            done.add_done_callback(lambda _: stopped.set())
            return stopped

        def drained() -> None:  # the gRPC calls, then the in-process gateway's
            done.result()
            in_process.wait_idle()
            stopped.set()

        threading.Thread(target=drained, name="drain", daemon=True).start()
        return stopped

    def finish_stop(self, grace: float, stopped: threading.Event) -> None:
        """Give calls in flight `grace` seconds, then cancel their database
        work (it rolls back, and they fail with UNAVAILABLE), and close.
        Webhook attempts in flight get what is left of the grace, too."""
        if self.dispatcher is not None:  # meanwhile the calls drain: both within the one grace
            self.dispatcher.finish_stop(self.stop_by - time.monotonic())
        if not stopped.wait(max(0.0, self.stop_by - time.monotonic())):
            cancelled = inflight.cancel_all()
            log.warning("grace over: cancelled the database work still running", extra={"transactions": cancelled})
            stopped.wait(CANCEL_MARGIN_SECONDS)
        else:
            self.usage.close()  # the last calls' "last used", while commits are still allowed
            inflight.cancel_all()  # nothing may commit from here on
        self.pool_sampler.stop()
        for wakeup in self.wakeups:
            wakeup.stop()
        self.loop.close()
        self._release_pool()
        self.db.close_all()

    def _release_pool(self, wait: float = 2.0) -> None:
        """Let the process exit even if a handler thread is stuck.

        A thread-pool handler whose call the asyncio server has already
        cancelled can be left waiting on the event loop, which has stopped;
        Python joins every pool thread at exit and would wait for it forever.
        Threads still busy after `wait` seconds are let go (they die with
        the process), and logged.
        """
        if self.pool is None:
            return
        self.pool.shutdown(wait=False, cancel_futures=True)
        give_up = time.monotonic() + wait
        stuck = []
        for thread in list(getattr(self.pool, "_threads", ())):
            thread.join(max(0.0, give_up - time.monotonic()))
            if thread.is_alive():
                stuck.append(thread)
                futures_thread._threads_queues.pop(thread, None)  # not joined at exit
        if stuck:
            log.warning("exiting with call threads still waiting", extra={"threads": len(stuck)})

    def stop(self, grace: float) -> None:
        self.finish_stop(grace, self.begin_stop(grace))


def start(settings: Settings, db: peewee.Database) -> RunningServer:
    """Start serving on `settings.grpc_listen` (port 0 picks a free one).

    The webhook dispatcher runs in this process on SQLite only (on PostgreSQL
    `serve` runs it in a process of its own: see webhook_process.py)."""
    # IssueService gets `call_slots` threads at once (and waiting room, and as
    # many for streams); the pool is larger, so that health and reflection
    # always find a free thread.
    admission = Admission.for_call_slots(settings.call_slots)
    webhook_settings = WebhookSettings.from_env()  # a malformed ISSUES_WEBHOOK_* stops the start here
    loop = _Loop()

    pool = futures.ThreadPoolExecutor(max_workers=admission.threads, thread_name_prefix="rpc")

    async def make() -> grpc.aio.Server:
        return grpc.aio.server(
            migration_thread_pool=pool,
            interceptors=[DecodeGuard()],
            options=[
                ("grpc.max_receive_message_length", settings.max_message_bytes),
                # Several processes may share the port only when asked to (the
                # multi-process mode); by default a second server fails to bind.
                ("grpc.so_reuseport", 1 if settings.reuse_port else 0),
            ],
        )

    server = loop.run(make())
    # PostgreSQL wakes the other replicas' (and workers') hubs with NOTIFY; on
    # SQLite only the poll reaches another process, so it polls more often.
    hub = EventHub(poll_seconds=2.0 if is_postgres(db) else 0.5)
    hub.attach(loop.loop)
    after_commit = AfterCommit(hub.poke)  # this process's commits wake its watchers at once
    dispatcher = None
    if not is_postgres(db):
        from ..api.webhook_dispatch import Dispatcher  # its metrics exist only where it runs

        dispatcher = Dispatcher(webhook_settings)
    wakeups: list[Any] = []
    if is_postgres(db):
        # Other replicas' commits: NOTIFY after commit, one LISTEN per process
        # (and deliveries made due wake the dispatcher process).
        wakeups += start_wakeups(settings, hub, after_commit)
    # Every replica signs the file store's URLs with one key, kept in the database.
    blobs = open_store(settings.blobs, lambda: transaction(lambda: server_secret(SIGNING_KEY_NAME), write=True))
    # History values are the issue JSON the API shows: the use cases render with it.
    runner = Runner(PeeweeStorage(), JsonRenderer(), after_commit=after_commit)
    usage = UsageRecorder()
    # Parsed (and refused when malformed) by `serve` before anything starts.
    limit = RateLimit.parse(settings.rate_limit)
    limiter = None
    if limit:
        limiter = RateLimiter(limit, SharedBuckets(settings.rate_limit_table) if settings.rate_limit_table else None)
    service = issue_service(runner, blobs, settings.blobs, Authenticator(usage=usage), admission, hub, limiter, pool)
    server.add_generic_rpc_handlers((service.handler,))
    health = DatabaseHealth([SERVICE.full_name])
    health_pb2_grpc.add_HealthServicer_to_server(health.servicer, server)
    server.add_generic_rpc_handlers(
        reflection_handlers((SERVICE.full_name, health_pb2.DESCRIPTOR.services_by_name["Health"].full_name))
    )
    port = server.add_insecure_port(settings.grpc_listen)
    if port == 0:
        raise OSError(f"cannot listen on {settings.grpc_listen}")
    if settings.worker_listen and server.add_insecure_port(settings.worker_listen) == 0:
        raise OSError(f"cannot listen on {settings.worker_listen}")
    health.start()
    usage.start()
    pool_sampler = PoolSampler()
    pool_sampler.start()
    loop.run(server.start())
    if dispatcher is not None:
        dispatcher.start()
        after_commit.also_wake_dispatchers(dispatcher.poke)
    host = settings.grpc_listen.rsplit(":", 1)[0]
    where = {"grpc_listen": f"{host}:{port}"}
    if settings.worker_listen:
        where["worker_listen"] = settings.worker_listen
    log.info("serving grpc", extra=where)
    in_process = InProcessTransport(
        service.entries, pool, loop.loop, lambda: _overall_status(health), settings.max_message_bytes
    )
    return RunningServer(
        server, port, health, db, blobs, usage, pool_sampler, hub, loop, wakeups, pool, dispatcher, in_process
    )


def _overall_status(health: DatabaseHealth) -> int:
    """The server's health status, as a Check of service "" answers it."""
    return health.servicer.Check(health_pb2.HealthCheckRequest(service=""), None).status
