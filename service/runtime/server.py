"""Assembling the gRPC server: IssueService behind its pipeline, health and reflection."""

from __future__ import annotations

import logging
import threading
from concurrent import futures
from dataclasses import dataclass

import grpc
import peewee
from grpc_health.v1 import health_pb2, health_pb2_grpc

from common.descriptors import SERVICE

from ..api.messages import JsonRenderer
from ..api.rate_limit import RateLimit, RateLimiter, SharedBuckets
from ..api.admission import Admission
from ..api.service import issue_service
from ..app.token_usage import UsageRecorder
from ..app.views import use_renderer
from ..app.tokens import Authenticator
from ..blobs import SIGNING_KEY_NAME, BlobStore, open_store
from ..config import Settings
from ..storage import inflight
from ..storage.database import transaction
from ..storage.secrets import server_secret
from .health import DatabaseHealth
from .open_services import DecodeGuard, reflection_handlers
from .pool_metrics import PoolSampler

log = logging.getLogger("service.server")

# After the grace, how long cancelled calls get to report their failure.
CANCEL_MARGIN_SECONDS = 3.0


@dataclass
class RunningServer:
    grpc_server: grpc.Server
    port: int
    health: DatabaseHealth
    db: peewee.Database
    blobs: BlobStore
    usage: UsageRecorder
    pool_sampler: PoolSampler

    def begin_stop(self, grace: float) -> threading.Event:
        """Report NOT_SERVING and refuse new calls from now on; calls in flight
        go on. Returns the event set once the last call has ended."""
        self.health.shutdown()
        # gRPC cancels whatever still runs at grace + margin; by then the
        # database work of those calls has been cancelled (finish_stop), so
        # their clients hear a real status first.
        return self.grpc_server.stop(grace + CANCEL_MARGIN_SECONDS)

    def finish_stop(self, grace: float, stopped: threading.Event) -> None:
        """Give calls in flight `grace` seconds, then cancel their database
        work (it rolls back, and they fail with UNAVAILABLE), and close."""
        if not stopped.wait(grace):
            cancelled = inflight.cancel_all()
            log.warning("grace over: cancelled the database work still running", extra={"transactions": cancelled})
            stopped.wait(CANCEL_MARGIN_SECONDS)
        else:
            self.usage.close()  # the last calls' "last used", while commits are still allowed
            inflight.cancel_all()  # nothing may commit from here on
        self.pool_sampler.stop()
        self.db.close_all()

    def stop(self, grace: float) -> None:
        self.finish_stop(grace, self.begin_stop(grace))


def start(settings: Settings, db: peewee.Database) -> RunningServer:
    """Start serving on `settings.grpc_listen` (port 0 picks a free one)."""
    # IssueService gets `workers` threads at once (and waiting room, and as
    # many for streams); the pool is larger, so that health and reflection
    # always find a free thread.
    admission = Admission.for_workers(settings.workers)
    server = grpc.server(
        futures.ThreadPoolExecutor(max_workers=admission.threads, thread_name_prefix="rpc"),
        interceptors=[DecodeGuard()],
        options=[
            ("grpc.max_receive_message_length", settings.max_message_bytes),
            # Several processes may share the port only when asked to (the
            # multi-process mode); by default a second server fails to bind.
            ("grpc.so_reuseport", 1 if settings.reuse_port else 0),
        ],
    )
    # Every replica signs the file store's URLs with one key, kept in the database.
    blobs = open_store(settings.blobs, lambda: transaction(lambda: server_secret(SIGNING_KEY_NAME), write=True))
    # History values are the issue JSON the API shows: the use cases render with it.
    use_renderer(JsonRenderer())
    usage = UsageRecorder()
    # Parsed (and refused when malformed) by `serve` before anything starts.
    limit = RateLimit.parse(settings.rate_limit)
    limiter = None
    if limit:
        limiter = RateLimiter(limit, SharedBuckets(settings.rate_limit_table) if settings.rate_limit_table else None)
    server.add_generic_rpc_handlers((issue_service(blobs, settings.blobs, Authenticator(usage=usage), admission, limiter),))
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
    server.start()
    host = settings.grpc_listen.rsplit(":", 1)[0]
    where = {"grpc_listen": f"{host}:{port}"}
    if settings.worker_listen:
        where["worker_listen"] = settings.worker_listen
    log.info("serving grpc", extra=where)
    return RunningServer(server, port, health, db, blobs, usage, pool_sampler)
