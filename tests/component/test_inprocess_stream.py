"""An async server stream called in-process (service/runtime/inprocess_stream.py),
between two real event loops on two threads, as `serve` runs them (the
server's loop and the gateway's): messages arrive in order, a reader that
stops reading holds at most WINDOW of them, cancelling ends the handler where
it waits (or before it begins), a handler's abort and the call's deadline
reach the reader as a status, and one event's bytes are decoded once for all
the calls that get them."""

from __future__ import annotations

import asyncio
import threading
from concurrent import futures
from typing import Any, AsyncIterator, Iterator

import grpc
import pytest
from grpc_health.v1 import health_pb2

from issues.v1 import event_pb2
from service.api.pipeline import InProcessEntry
from service.runtime import inprocess_stream
from service.runtime.inprocess import InProcessTransport

METHOD = "/issues.v1.IssueService/WatchEvents"


class Handler:
    """An async generator handler that yields what the test puts in its queue and records how it ended."""

    def __init__(self) -> None:
        self.queue: asyncio.Queue[Any] | None = None
        self.produced = 0
        self.began = threading.Event()
        self.ended: list[str] = []
        self.finished = threading.Event()

    async def __call__(self, request: Any, context: Any) -> AsyncIterator[Any]:
        self.queue = asyncio.Queue()
        self.began.set()
        try:
            await context.send_initial_metadata(())
            while True:
                item = await self.queue.get()
                if isinstance(item, BaseException):
                    raise item
                if item is None:
                    self.ended.append("done")
                    return
                self.produced += 1
                yield item
        except asyncio.CancelledError:
            self.ended.append("cancelled")
            raise
        finally:
            self.finished.set()


# The pools the transports of one test made, shut down when it ends.
_pools: list[futures.ThreadPoolExecutor] = []


@pytest.fixture
def server_loop() -> Iterator[asyncio.AbstractEventLoop]:
    loop = asyncio.new_event_loop()
    thread = threading.Thread(target=loop.run_forever, daemon=True)
    thread.start()
    yield loop
    loop.call_soon_threadsafe(loop.stop)
    thread.join(5)
    loop.close()
    while _pools:
        _pools.pop().shutdown(wait=False, cancel_futures=True)


def _transport(server_loop: asyncio.AbstractEventLoop, handler: Any) -> InProcessTransport:
    entry = InProcessEntry("async_stream", handler, event_pb2.Event, event_pb2.Event)
    pool = futures.ThreadPoolExecutor(1)
    _pools.append(pool)
    serving = health_pb2.HealthCheckResponse.SERVING
    return InProcessTransport({METHOD: entry}, pool, server_loop, lambda: serving, 1 << 20)


def _put(server_loop: asyncio.AbstractEventLoop, handler: Handler, item: Any) -> None:
    assert handler.began.wait(5)
    server_loop.call_soon_threadsafe(handler.queue.put_nowait, item)  # type: ignore[union-attr]


def _event(sequence: int) -> bytes:
    return event_pb2.Event(sequence=sequence, type="issue.created").SerializeToString()


async def _until(condition: Any) -> None:
    for _ in range(500):
        if condition():
            return
        await asyncio.sleep(0.01)
    raise AssertionError("never happened")


def test_messages_arrive_in_order_then_eof_and_the_call_is_counted_until_then(server_loop) -> None:
    handler = Handler()
    transport = _transport(server_loop, handler)

    async def run() -> list[Any]:
        call = transport.server_stream(METHOD, event_pb2.Event)(event_pb2.Event())
        assert await call.initial_metadata() == ()
        for i in range(1, 4):
            _put(server_loop, handler, _event(i))
        got = [(await call.read()).sequence for _ in range(3)]
        _put(server_loop, handler, None)
        got.append(await call.read())
        assert call.done()
        assert await call.read() is grpc.aio.EOF  # and again
        return got

    assert asyncio.run(run()) == [1, 2, 3, grpc.aio.EOF]
    assert handler.ended == ["done"]
    assert transport.wait_idle(5)


def test_a_reader_that_stops_reading_holds_at_most_a_window(server_loop) -> None:
    handler = Handler()
    transport = _transport(server_loop, handler)
    window = inprocess_stream.WINDOW

    async def run() -> None:
        call = transport.server_stream(METHOD, event_pb2.Event)(event_pb2.Event())
        await call.initial_metadata()
        for i in range(1, window + 4):
            _put(server_loop, handler, _event(i))
        await _until(lambda: handler.produced == window)
        await asyncio.sleep(0.2)  # had it gone on, it would have by now
        assert handler.produced == window  # the rest wait in the handler's own (bounded) queue
        assert (await call.read()).sequence == 1
        await _until(lambda: handler.produced == window + 1)
        assert [(await call.read()).sequence for _ in range(window + 2)] == list(range(2, window + 4))
        call.cancel()

    asyncio.run(run())
    assert handler.finished.wait(5)
    assert handler.ended == ["cancelled"]
    assert transport.wait_idle(5)


def test_cancel_ends_the_handler_where_it_waits_and_the_reader_sees_cancelled(server_loop) -> None:
    handler = Handler()
    transport = _transport(server_loop, handler)

    async def run() -> None:
        call = transport.server_stream(METHOD, event_pb2.Event)(event_pb2.Event())
        await call.initial_metadata()
        pending = call.read()
        assert call.cancel() is True
        assert call.cancel() is False
        assert pending.cancelled()
        with pytest.raises(grpc.RpcError) as failed:
            await call.read()
        assert failed.value.code() == grpc.StatusCode.CANCELLED

    asyncio.run(run())
    assert handler.finished.wait(5)
    assert handler.ended == ["cancelled"]
    assert transport.wait_idle(5)


def test_a_call_cancelled_before_it_began_never_runs_its_handler(server_loop) -> None:
    handler = Handler()
    transport = _transport(server_loop, handler)

    async def run() -> None:
        call = transport.server_stream(METHOD, event_pb2.Event)(event_pb2.Event())
        assert call.cancel() is True

    asyncio.run(run())
    assert transport.wait_idle(5)
    assert not handler.began.is_set()


def test_an_abort_reaches_the_reader_as_its_status(server_loop) -> None:
    async def aborting(request: Any, context: Any) -> AsyncIterator[Any]:
        await context.abort(grpc.StatusCode.RESOURCE_EXHAUSTED, "fell behind", (("k", "v"),))
        yield b""  # never reached

    transport = _transport(server_loop, aborting)

    async def run() -> None:
        call = transport.server_stream(METHOD, event_pb2.Event)(event_pb2.Event())
        assert await call.initial_metadata() == ()
        assert call.done()  # what sse.respond asks before it sends its headers
        with pytest.raises(grpc.RpcError) as failed:
            await call.read()
        assert (failed.value.code(), failed.value.details()) == (grpc.StatusCode.RESOURCE_EXHAUSTED, "fell behind")
        assert failed.value.trailing_metadata() == (("k", "v"),)

    asyncio.run(run())
    assert transport.wait_idle(5)


def test_the_deadline_ends_the_call_and_the_handler(server_loop) -> None:
    handler = Handler()
    transport = _transport(server_loop, handler)

    async def run() -> None:
        call = transport.server_stream(METHOD, event_pb2.Event)(event_pb2.Event(), timeout=0.3)
        await call.initial_metadata()
        with pytest.raises(grpc.RpcError) as failed:
            await call.read()  # nothing comes: the deadline passes
        assert failed.value.code() == grpc.StatusCode.DEADLINE_EXCEEDED

    asyncio.run(run())
    assert handler.finished.wait(5)
    assert handler.ended == ["cancelled"]
    assert transport.wait_idle(5)


def test_one_events_bytes_are_decoded_once_for_every_call(server_loop) -> None:
    handlers = [Handler(), Handler()]
    calls_of = iter(handlers)
    transport = _transport(server_loop, lambda request, context: next(calls_of)(request, context))
    shared = _event(7)

    async def run() -> list[Any]:
        calls = [transport.server_stream(METHOD, event_pb2.Event)(event_pb2.Event()) for _ in handlers]
        for call in calls:
            await call.initial_metadata()
        for handler in handlers:
            _put(server_loop, handler, shared)
        got = [await call.read() for call in calls]
        for call in calls:
            call.cancel()
        return got

    first, second = asyncio.run(run())
    assert first.sequence == 7 and first is second
    assert all(h.finished.wait(5) for h in handlers)
    assert transport.wait_idle(5)
