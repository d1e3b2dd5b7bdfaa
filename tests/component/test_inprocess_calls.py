"""The in-process transport's thread-pool calls (service/runtime/inprocess.py)
at their edges, as the gateway drives them: a download's deadline and
cancellation, an abort midway, an upload's deadline, its cancellation and a
write after it was answered, and calls cut off when the server stops.

Component level: the edges need a handler that blocks where the test says,
which a real server's handlers do not offer. The pool is a real thread pool
and the caller a real event loop on another thread, as in `serve`; what each
test asserts is what the gateway sees (a status, the end of a stream) and
what the handler saw (cancelled, closed, never run), and that the call no
longer counts as in flight (what the server's drain waits for).
"""

from __future__ import annotations

import asyncio
import threading
from concurrent import futures
from typing import Any, Iterator

import grpc
import pytest
from google.api import httpbody_pb2
from grpc_health.v1 import health_pb2

from service.api.pipeline import InProcessEntry
from service.runtime.inprocess import InProcessTransport

METHOD = "/issues.v1.IssueService/Blob"
SLOW = 10.0  # how long a handler waits for what should stop it sooner (a failure, never a pass)


def _body(data: bytes) -> httpbody_pb2.HttpBody:
    return httpbody_pb2.HttpBody(data=data)


class Calls:
    """A transport over a real pool, for one method of the given kind."""

    def __init__(self, kind: str, function: Any, threads: int = 2) -> None:
        self.loop = asyncio.new_event_loop()  # the server's loop: only async streams use it
        self.pool = futures.ThreadPoolExecutor(threads)
        entry = InProcessEntry(kind, function, httpbody_pb2.HttpBody, httpbody_pb2.HttpBody)
        self.health = health_pb2.HealthCheckResponse.SERVING
        self.transport = InProcessTransport({METHOD: entry}, self.pool, self.loop, lambda: self.health, 1 << 20)

    def close(self) -> None:
        self.pool.shutdown(wait=True, cancel_futures=True)
        self.loop.close()


@pytest.fixture
def made() -> Iterator[list[Calls]]:
    made: list[Calls] = []
    yield made
    for calls in made:
        calls.close()


def _calls(made: list[Calls], kind: str, function: Any, threads: int = 2) -> Calls:
    calls = Calls(kind, function, threads)
    made.append(calls)
    return calls


class Download:
    """A DownloadBlob-like generator: one message, then it waits to be cancelled (or aborts)."""

    def __init__(self, abort: bool = False) -> None:
        self.abort = abort
        self.closed = threading.Event()
        self.saw_cancel = threading.Event()

    def __call__(self, request: Any, context: Any) -> Iterator[Any]:
        context.add_callback(self._failing_callback)  # one callback's failure must not skip the next
        context.add_callback(self.saw_cancel.set)
        try:
            context.send_initial_metadata((("content-disposition", "inline"),))
            yield _body(b"first").SerializeToString()  # bytes, as a message encoded once for many
            if self.abort:
                context.abort(grpc.StatusCode.DATA_LOSS, "the blob is gone", (("k", "v"),))
            self.saw_cancel.wait(SLOW)
            yield _body(b"after the cancel")
        finally:
            self.closed.set()

    @staticmethod
    def _failing_callback() -> None:
        raise RuntimeError("a callback that fails")


def test_a_download_past_its_deadline_ends_deadline_exceeded_and_its_generator_is_closed(made) -> None:
    handler = Download()
    calls = _calls(made, "server_stream", handler)

    async def run() -> None:
        call = calls.transport.server_stream(METHOD, httpbody_pb2.HttpBody)(_body(b""), timeout=2.0)
        assert await call.initial_metadata() == (("content-disposition", "inline"),)
        assert not call.done()  # its first step has a message: more may follow
        assert (await call.read()).data == b"first"
        assert not call.done()
        with pytest.raises(grpc.RpcError) as failed:
            await call.read()  # the handler waits: the deadline passes
        assert (failed.value.code(), failed.value.details()) == (grpc.StatusCode.DEADLINE_EXCEEDED, "Deadline Exceeded")
        assert call.done()
        with pytest.raises(grpc.RpcError) as again:
            await call.read()
        assert again.value.code() == grpc.StatusCode.DEADLINE_EXCEEDED
        assert call.cancel() is False  # over already

    asyncio.run(run())
    assert handler.saw_cancel.is_set()
    assert handler.closed.wait(SLOW)  # closed on the pool once its step ended
    assert calls.transport.wait_idle(SLOW)


def test_a_download_read_to_its_end_reads_eof_from_then_on_and_is_no_longer_counted(made) -> None:
    def two(request: Any, context: Any) -> Iterator[Any]:
        yield _body(b"one")
        yield _body(b"two")

    calls = _calls(made, "server_stream", two)

    async def run() -> list[Any]:
        call = calls.transport.server_stream(METHOD, httpbody_pb2.HttpBody)(_body(b""))
        got = [(await call.read()).data, (await call.read()).data, await call.read(), await call.read()]
        assert call.done()
        assert call.cancel() is False
        return got

    assert asyncio.run(run()) == [b"one", b"two", grpc.aio.EOF, grpc.aio.EOF]
    assert calls.transport.wait_idle(SLOW)


def test_a_download_cancelled_between_reads_is_closed_and_reads_cancelled(made) -> None:
    handler = Download()
    calls = _calls(made, "server_stream", handler)

    async def run() -> None:
        call = calls.transport.server_stream(METHOD, httpbody_pb2.HttpBody)(_body(b""))
        assert (await call.read()).data == b"first"
        assert call.cancel() is True  # no step pending: closed at once
        with pytest.raises(grpc.RpcError) as failed:
            await call.read()
        assert failed.value.code() == grpc.StatusCode.CANCELLED

    asyncio.run(run())
    assert handler.closed.wait(SLOW)
    assert calls.transport.wait_idle(SLOW)


def test_a_download_that_aborts_midway_reaches_the_reader_as_its_status(made) -> None:
    calls = _calls(made, "server_stream", Download(abort=True))

    async def run() -> None:
        call = calls.transport.server_stream(METHOD, httpbody_pb2.HttpBody)(_body(b""))
        assert (await call.read()).data == b"first"
        with pytest.raises(grpc.RpcError) as failed:
            await call.read()
        assert (failed.value.code(), failed.value.details()) == (grpc.StatusCode.DATA_LOSS, "the blob is gone")
        assert failed.value.trailing_metadata() == (("k", "v"),)
        assert failed.value.initial_metadata() == ()
        assert call.done()

    asyncio.run(run())
    assert calls.transport.wait_idle(SLOW)


def test_a_download_cut_off_when_the_pool_has_stopped_is_closed_all_the_same(made) -> None:
    handler = Download()
    calls = _calls(made, "server_stream", handler)

    async def run() -> None:
        call = calls.transport.server_stream(METHOD, httpbody_pb2.HttpBody)(_body(b""))
        assert (await call.read()).data == b"first"
        calls.pool.shutdown(wait=True)  # the server has stopped (its pool is gone)
        later = calls.transport.server_stream(METHOD, httpbody_pb2.HttpBody)(_body(b""))
        with pytest.raises(grpc.RpcError) as refused:
            await later.read()  # its first step finds no pool
        assert refused.value.code() == grpc.StatusCode.UNAVAILABLE
        later.cancel()
        assert call.cancel() is True  # closed here, there being no pool

    asyncio.run(run())
    assert handler.closed.is_set()
    assert calls.transport.wait_idle(SLOW)


class Upload:
    """An UploadBlob-like handler: reads requests until `stop_after`, then (if told) waits before answering."""

    def __init__(self, stop_after: int | None = None, hold: bool = False, answer_on_cancel: bool = False) -> None:
        self.stop_after = stop_after
        self.hold = hold
        self.answer_on_cancel = answer_on_cancel
        self.taken: list[bytes] = []
        self.took = threading.Event()
        self.answer = threading.Event()
        self.failed: list[grpc.StatusCode] = []
        self.saw_cancel = threading.Event()

    def __call__(self, requests: Iterator[Any], context: Any) -> Any:
        context.add_callback(self.saw_cancel.set)
        if self.answer_on_cancel:
            context.add_callback(self.answer.set)
        context.send_initial_metadata((("accepted", "1"),))
        try:
            for request in requests:
                self.taken.append(request.data)
                self.took.set()
                if self.stop_after is not None and len(self.taken) >= self.stop_after:
                    break
        except grpc.RpcError as exc:
            self.failed.append(exc.code())
            raise
        if self.hold:
            self.answer.wait(SLOW)
        return _body(b"".join(self.taken))


def test_a_write_waiting_for_room_when_the_upload_is_answered_is_refused_and_the_answer_stands(made) -> None:
    handler = Upload(stop_after=1, hold=True)
    calls = _calls(made, "client_stream", handler)

    async def run() -> None:
        call = calls.transport.client_stream(METHOD, httpbody_pb2.HttpBody)()
        assert await call.initial_metadata() == (("accepted", "1"),)
        await call.write(_body(b"a"))
        while not handler.took.is_set():
            await asyncio.sleep(0.01)
        await asyncio.sleep(0)  # the room the handler's take gave back
        await call.write(_body(b"b"))
        await call.write(_body(b"c"))  # the window is full: nobody takes these
        blocked = asyncio.ensure_future(call.write(_body(b"d")))
        await asyncio.sleep(0)
        assert not blocked.done()
        handler.answer.set()
        with pytest.raises(asyncio.InvalidStateError):
            await blocked
        with pytest.raises(asyncio.InvalidStateError):
            await call.write(_body(b"e"))  # and any later write
        assert (await call).data == b"a"
        assert call.cancel() is False

    asyncio.run(run())
    assert calls.transport.wait_idle(SLOW)


def test_an_upload_cancelled_by_its_writer_fails_the_handlers_read_cancelled(made) -> None:
    handler = Upload()
    calls = _calls(made, "client_stream", handler)

    async def run() -> None:
        call = calls.transport.client_stream(METHOD, httpbody_pb2.HttpBody)()
        await call.write(_body(b"a"))
        while not handler.took.is_set():
            await asyncio.sleep(0.01)
        assert call.cancel() is True
        assert call.cancel() is False
        with pytest.raises(grpc.RpcError) as failed:
            await call
        assert failed.value.code() == grpc.StatusCode.CANCELLED
        with pytest.raises(asyncio.InvalidStateError):
            await call.write(_body(b"b"))

    asyncio.run(run())
    assert handler.failed == [grpc.StatusCode.CANCELLED]
    assert handler.saw_cancel.is_set()
    assert calls.transport.wait_idle(SLOW)


def test_an_upload_whose_handler_outlasts_the_deadline_is_deadline_exceeded_and_cancelled(made) -> None:
    handler = Upload(hold=True, answer_on_cancel=True)
    calls = _calls(made, "client_stream", handler)

    async def run() -> None:
        call = calls.transport.client_stream(METHOD, httpbody_pb2.HttpBody)(timeout=1.5)
        await call.write(_body(b"a"))
        await call.done_writing()
        with pytest.raises(grpc.RpcError) as failed:
            await call  # the handler holds its answer: the deadline passes
        assert failed.value.code() == grpc.StatusCode.DEADLINE_EXCEEDED

    asyncio.run(run())
    assert handler.saw_cancel.is_set() and handler.answer.is_set()  # answered once cancelled, not by the test
    assert calls.transport.wait_idle(SLOW)


def test_an_upload_read_on_after_its_writers_loop_has_closed_still_gets_every_request(made) -> None:
    """The gateway's loop may close (the server stopping) with requests not yet taken:
    the handler still reads them; the room it gives back has no loop to go to."""
    start = threading.Event()
    got: list[bytes] = []

    def late_reader(requests: Iterator[Any], context: Any) -> Any:
        start.wait(SLOW)
        got.append(b"".join(r.data for r in requests))
        return _body(got[-1])

    calls = _calls(made, "client_stream", late_reader)

    async def run() -> None:
        call = calls.transport.client_stream(METHOD, httpbody_pb2.HttpBody)()
        await call.write(_body(b"a"))
        await call.write(_body(b"b"))
        await call.done_writing()

    asyncio.run(run())
    start.set()
    assert calls.transport.wait_idle(SLOW)
    assert got == [b"ab"]


def _unary_calls(made: list[Calls], threads: int = 1) -> tuple[Calls, list[str], threading.Event]:
    ran: list[str] = []
    release = threading.Event()

    def handler(request: Any, context: Any) -> Any:
        ran.append(request.data.decode())
        if request.data == b"hold":
            release.wait(SLOW)
        return _body(request.data)

    return _calls(made, "unary", handler, threads), ran, release


def test_a_unary_call_queued_when_the_pool_stops_is_unavailable_and_never_runs(made) -> None:
    calls, ran, release = _unary_calls(made, threads=1)
    unary = calls.transport.unary(METHOD, httpbody_pb2.HttpBody)

    async def run() -> None:
        holding = asyncio.ensure_future(unary(_body(b"hold")))
        while not ran:
            await asyncio.sleep(0.01)
        queued = asyncio.ensure_future(unary(_body(b"queued")))  # no thread free: it waits in the queue
        await asyncio.sleep(0)
        calls.pool.shutdown(wait=False, cancel_futures=True)  # as the server's stop does
        with pytest.raises(grpc.RpcError) as failed:
            await queued
        assert failed.value.code() == grpc.StatusCode.UNAVAILABLE
        release.set()
        assert (await holding).data == b"hold"
        with pytest.raises(grpc.RpcError) as after:
            await unary(_body(b"after"))  # no pool at all now
        assert after.value.code() == grpc.StatusCode.UNAVAILABLE

    asyncio.run(run())
    assert ran == ["hold"]
    assert calls.transport.wait_idle(SLOW)


def test_a_unary_call_whose_caller_is_cancelled_tells_the_handler_and_is_not_mistaken_for_a_stop(made) -> None:
    saw_cancel = threading.Event()
    began = threading.Event()

    def handler(request: Any, context: Any) -> Any:
        context.add_callback(saw_cancel.set)
        began.set()
        saw_cancel.wait(SLOW)
        return _body(b"")

    calls = _calls(made, "unary", handler)

    async def run() -> None:
        task = asyncio.ensure_future(calls.transport.unary(METHOD, httpbody_pb2.HttpBody)(_body(b"")))
        while not began.is_set():
            await asyncio.sleep(0.01)
        task.cancel()  # the HTTP client went away
        with pytest.raises(asyncio.CancelledError):
            await task

    asyncio.run(run())
    assert saw_cancel.is_set()
    assert calls.transport.wait_idle(SLOW)


def test_once_stopping_every_new_call_is_unavailable_and_readiness_says_why(made) -> None:
    calls, ran, _ = _unary_calls(made)
    calls.transport.refuse_new_calls()

    async def run() -> list[grpc.StatusCode]:
        codes = []
        for call in (
            lambda: calls.transport.unary(METHOD, httpbody_pb2.HttpBody)(_body(b"new")),
            lambda: calls.transport.client_stream(METHOD, httpbody_pb2.HttpBody)(),
        ):
            with pytest.raises(grpc.RpcError) as refused:
                await call()
            codes.append(refused.value.code())
        return codes

    assert asyncio.run(calls.transport.not_serving()) is None
    calls.health = health_pb2.HealthCheckResponse.NOT_SERVING
    assert asyncio.run(calls.transport.not_serving()) == "the service reports NOT_SERVING"
    assert asyncio.run(run()) == [grpc.StatusCode.UNAVAILABLE] * 2
    assert ran == []
    assert calls.transport.wait_idle(SLOW)
