"""One server process of `bench.server_models`: the product's IssueService
pipeline and handlers, served by one of several gRPC server models.

    python -m bench.model_server --mode MODE --database-url URL --listen 127.0.0.1:0

prints `port N` once serving and stops on SIGTERM. Modes:

- `product`: `service.runtime.server.start`, exactly what `serve --no-http` runs.
- `aio`: the same pieces wired here (no LISTEN wake-ups, no dispatcher) on
  grpc.aio with `migration_thread_pool`: the product's model, as a control
  for this wiring.
- `aio-queue`: grpc.aio, each unary call handed to worker threads through a
  SimpleQueue and answered with one `loop.call_soon_threadsafe` instead of
  `run_in_executor`'s concurrent.futures chain.
- `aio-batch`: as aio-queue, but the answers go back through a deque and the
  loop is woken only when it is not already due to drain it.
- `sync`: `grpc.server(ThreadPoolExecutor)`, the same generic handler; the
  only adapter is a context whose `abort` takes trailing metadata, as the
  aio one does. `--park` adds a `Park` stream method that holds a pool thread
  per open stream, blocked on one Condition, and answers one message per
  broadcast (`Broadcast`): what a watcher would cost on this model.

The pipeline, handlers, unit of work, token cache, access lines and metrics
are the product's own (service/api, service/app), unchanged.
"""

from __future__ import annotations

import argparse
import asyncio
import collections
import functools
import queue
import signal
import sys
import threading
import time
from concurrent import futures
from typing import Any, Callable

import grpc
from grpc._cython import cygrpc

from common import logs

PARK_SERVICE = "bench.v1.Park"


class _SyncContext:
    """The sync server's context with the aio thread-pool context's `abort(code, details, trailers)`."""

    __slots__ = ("_context",)

    def __init__(self, context: Any) -> None:
        self._context = context

    def abort(self, code: Any, details: str = "", trailing_metadata: Any = ()) -> None:
        if trailing_metadata:
            self._context.set_trailing_metadata(trailing_metadata)
        self._context.abort(code, details)

    def __getattr__(self, name: str) -> Any:
        return getattr(self._context, name)


def _sync_adapted(handler: grpc.GenericRpcHandler) -> grpc.GenericRpcHandler:
    class Adapted(grpc.GenericRpcHandler):
        def service(self, details: Any) -> Any:
            found = handler.service(details)
            if found is None or found.unary_unary is None:
                return found
            function = found.unary_unary
            return found._replace(unary_unary=lambda raw, context: function(raw, _SyncContext(context)))

    return Adapted()


class _QueueHandOff:
    """Unary handlers run on worker threads fed by a SimpleQueue; the answer
    comes back to the loop by call_soon_threadsafe (`batch`: one wake-up for
    all answers ready at once)."""

    def __init__(self, threads: int, batch: bool) -> None:
        self._work: queue.SimpleQueue[Any] = queue.SimpleQueue()
        self._batch = batch
        self._ready: collections.deque[Any] = collections.deque()
        self._woken = False
        self._lock = threading.Lock()
        self.loop: asyncio.AbstractEventLoop | None = None
        for n in range(threads):
            threading.Thread(target=self._run, name=f"rpc-q{n}", daemon=True).start()

    def _run(self) -> None:
        while True:
            function, raw, context, future = self._work.get()
            try:
                outcome = (True, function(raw, context))
            except BaseException as exc:  # noqa: BLE001 - AbortError included: the loop raises it
                outcome = (False, exc)
            if self._batch:
                self._ready.append((future, outcome))
                with self._lock:
                    if self._woken:
                        continue
                    self._woken = True
                self.loop.call_soon_threadsafe(self._drain)  # type: ignore[union-attr]
            else:
                self.loop.call_soon_threadsafe(_settle, future, outcome)  # type: ignore[union-attr]

    def _drain(self) -> None:
        with self._lock:
            self._woken = False
        ready = self._ready
        while ready:
            _settle(*ready.popleft())

    def adapted(self, handler: grpc.GenericRpcHandler) -> grpc.GenericRpcHandler:
        work = self._work

        class Adapted(grpc.GenericRpcHandler):
            def service(self, details: Any) -> Any:
                found = handler.service(details)
                if found is None or found.unary_unary is None:
                    return found
                function = found.unary_unary

                async def unary(raw: bytes, context: Any) -> Any:
                    future = asyncio.get_running_loop().create_future()
                    work.put((function, raw, cygrpc._SyncServicerContext(context), future))
                    return await future

                return found._replace(unary_unary=unary)

        return Adapted()


def _settle(future: asyncio.Future, outcome: tuple[bool, Any]) -> None:
    if future.done():  # the call was cancelled meanwhile
        return
    if outcome[0]:
        future.set_result(outcome[1])
    else:
        future.set_exception(outcome[1])


class _Park:
    """Streams that each hold a pool thread until the server stops, sending one
    message per broadcast: a watcher on the synchronous model."""

    def __init__(self) -> None:
        self._changed = threading.Condition()
        self._generation = 0
        self._stopping = False
        self.parked = 0

    def handler(self) -> grpc.GenericRpcHandler:
        return grpc.method_handlers_generic_handler(
            PARK_SERVICE,
            {
                "Park": grpc.unary_stream_rpc_method_handler(self._park),
                "Broadcast": grpc.unary_unary_rpc_method_handler(self._broadcast),
            },
        )

    def _park(self, request: bytes, context: Any) -> Any:
        with self._changed:
            seen = self._generation
            self.parked += 1
        yield b"open"
        try:
            while context.is_active():
                with self._changed:
                    self._changed.wait_for(functools.partial(self._moved, seen), timeout=10)
                    if self._stopping:
                        return
                    if self._generation == seen:
                        continue
                    seen = self._generation
                yield time.monotonic_ns().to_bytes(8, "big")  # CLOCK_MONOTONIC: the client compares
        finally:
            with self._changed:
                self.parked -= 1

    def _moved(self, seen: int) -> bool:
        return self._generation != seen or self._stopping

    def _broadcast(self, request: bytes, context: Any) -> bytes:
        with self._changed:
            self._generation += 1
            self._changed.notify_all()
            return str(self.parked).encode()

    def stop(self) -> None:
        with self._changed:
            self._stopping = True
            self._changed.notify_all()


def _pieces(settings: Any, executor: Any, loop: asyncio.AbstractEventLoop | None) -> tuple[Any, list[Callable]]:
    """The product's IssueService, as runtime/server.start assembles it (no
    LISTEN wake-ups, no dispatcher: idle here). Returns it and its stoppers."""
    from service.api.admission import Admission
    from service.api.event_hub import EventHub
    from service.api.messages import JsonRenderer
    from service.api.service import issue_service
    from service.app.peewee_storage import PeeweeStorage
    from service.app.runner import Runner
    from service.app.token_usage import UsageRecorder
    from service.app.tokens import Authenticator
    from service.blobs import SIGNING_KEY_NAME, open_store
    from service.runtime.after_commit import AfterCommit
    from service.runtime.pool_metrics import PoolSampler
    from service.storage.database import transaction
    from service.storage.secrets import server_secret

    admission = Admission.for_call_slots(settings.call_slots)
    hub = EventHub(poll_seconds=2.0)
    if loop is not None:
        hub.attach(loop)
    runner = Runner(PeeweeStorage(), JsonRenderer(), after_commit=AfterCommit(hub.poke))
    blobs = open_store(settings.blobs, lambda: transaction(lambda: server_secret(SIGNING_KEY_NAME), write=True))
    usage = UsageRecorder()
    usage.start()
    sampler = PoolSampler()
    sampler.start()
    service = issue_service(runner, blobs, settings.blobs, Authenticator(usage=usage), admission, hub, None, executor)
    return service, [usage.close, sampler.stop]


def serve(mode: str, url: str, listen: str, park: bool, slots: int) -> int:
    from service.api.admission import Admission
    from service.config import Settings, blob_settings
    from service.runtime.bootstrap import prepare_database

    settings = Settings(
        database_url=url,
        grpc_listen=listen,
        http_listen=None,
        blobs=blob_settings(url, None),
        call_slots=slots,
        db_pool_size=slots,
    )
    db = prepare_database(settings)
    stop = threading.Event()
    for sig in (signal.SIGTERM, signal.SIGINT):
        signal.signal(sig, lambda *_: stop.set())
    if mode == "product":
        from service.runtime import server as product

        running = product.start(settings, db)
        print(f"port {running.port}", flush=True)
        stop.wait()
        running.stop(1.0)
        return 0
    threads = Admission.for_call_slots(settings.call_slots).threads
    if mode == "sync":
        parked = _Park() if park else None
        pool = futures.ThreadPoolExecutor(max_workers=threads + (1100 if park else 0), thread_name_prefix="rpc")
        service, stoppers = _pieces(settings, pool, None)
        server = grpc.server(pool, options=[("grpc.max_receive_message_length", settings.max_message_bytes)])
        server.add_generic_rpc_handlers((_sync_adapted(service.handler),))
        if parked is not None:
            server.add_generic_rpc_handlers((parked.handler(),))
        port = server.add_insecure_port(listen)
        server.start()
        print(f"port {port}", flush=True)
        stop.wait()
        if parked is not None:
            parked.stop()
        server.stop(1).wait()
        for stopper in stoppers:
            stopper()
        return 0
    loop = asyncio.new_event_loop()
    threading.Thread(target=loop.run_forever, name="grpc-loop", daemon=True).start()

    def run(coroutine: Any) -> Any:
        return asyncio.run_coroutine_threadsafe(coroutine, loop).result()

    pool = futures.ThreadPoolExecutor(max_workers=threads, thread_name_prefix="rpc")
    service, stoppers = _pieces(settings, pool, loop)
    handler = service.handler
    if mode in ("aio-queue", "aio-batch"):
        hand_off = _QueueHandOff(threads, batch=mode == "aio-batch")
        hand_off.loop = loop
        handler = hand_off.adapted(handler)

    async def make() -> Any:
        return grpc.aio.server(
            migration_thread_pool=pool, options=[("grpc.max_receive_message_length", settings.max_message_bytes)]
        )

    server = run(make())
    server.add_generic_rpc_handlers((handler,))
    port = server.add_insecure_port(listen)
    run(server.start())
    print(f"port {port}", flush=True)
    stop.wait()
    run(server.stop(1))
    for stopper in stoppers:
        stopper()
    return 0


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(prog="python -m bench.model_server", description=__doc__.split("\n\n")[0])
    p.add_argument("--mode", required=True, choices=("product", "aio", "aio-queue", "aio-batch", "sync"))
    p.add_argument("--database-url", required=True)
    p.add_argument("--listen", default="127.0.0.1:0")
    p.add_argument("--park", action="store_true", help="sync only: add the Park/Broadcast watcher stand-in")
    p.add_argument(
        "--slots", type=int, default=16, help="call slots and database connections (the product's default: 16)"
    )
    args = p.parse_args(argv)
    logs.configure("INFO")
    return serve(args.mode, args.database_url, args.listen, args.park, args.slots)


if __name__ == "__main__":
    sys.exit(main())
