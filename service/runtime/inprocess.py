"""The in-process gateway's transport: HTTP calls reach IssueService with no gRPC hop.

As grpc-gateway's `Register...HandlerServer` does, `serve` hands the gateway
a transport (gateway/transport.py) that calls the service's own handlers:
the very functions the gRPC server runs (pipeline.Pipeline.entries), so a
call over HTTP is authenticated, rate limited, admitted, bounded by its
deadline, counted in the metrics, logged and mapped to a status exactly as a
gRPC call is. Only the wire is skipped: the request goes in as the message
the gateway built (its size still checked against the server's receive
limit) and the reply comes back as a message, not bytes.

Where each kind runs is where the gRPC server runs it: unary handlers and
DownloadBlob's generator on the server's thread pool, WatchEvents (an async
generator) on the server's event loop (inprocess_stream.py: one task per
call, its messages handed to the gateway's loop in batches). `Context` (inprocess_context.py)
stands in for the gRPC servicer context. A handler's abort arrives here as
`CallFailed`, a grpc.RpcError whose code, details and trailers (the rich
status) the gateway reads as it reads a channel's.

UploadBlob (client streaming) runs on the pool from the start and reads
its requests as the gateway writes them, at most a few waiting between the
two, as gRPC's flow control would pace them.

Once the server begins to stop, new calls are refused UNAVAILABLE, as the
gRPC server refuses them, and its drain waits for the calls in flight here
(`wait_idle`) as for its gRPC ones.
"""

from __future__ import annotations

import asyncio
import functools
import logging
import queue
import threading
from concurrent import futures
from typing import Any, Callable, Mapping

import grpc
from google.protobuf.message import Message

from common.identity_cache import IdentityCache
from gateway.transport import not_serving_text

from ..api.pipeline import InProcessEntry
from .inprocess_context import Aborted, CallFailed, Context
from .inprocess_stream import AsyncStreamCall, Handoff

log = logging.getLogger("service.inprocess")

_DONE = object()  # a generator's end, stepped on the pool
_END = object()  # an upload's last request was written
_GONE = object()  # an upload's writer went away


class InProcessTransport:
    """The gateway's transport into this server (gateway/transport.py's protocol)."""

    def __init__(
        self,
        entries: Mapping[str, InProcessEntry],
        pool: futures.ThreadPoolExecutor,
        server_loop: asyncio.AbstractEventLoop,
        health_status: Callable[[], int],
        max_message_bytes: int,
    ) -> None:
        self._entries = entries
        self._pool = pool
        self._server_loop = server_loop
        self._health_status = health_status
        self._max_message_bytes = max_message_bytes
        self._refusing = False
        self._callables: dict[str, Any] = {}
        # An event fanned out to many in-process watchers comes as the same
        # bytes to each: decoded once, the one message shared (the gateway
        # only reads it, and renders it once: gateway/sse.py).
        self.decoded: IdentityCache[bytes, Message] = IdentityCache()
        # Async streams' items and wake-ups, one loop wake-up per batch each way (inprocess_stream.py).
        self._to_server = Handoff(server_loop)
        self._handoffs: dict[asyncio.AbstractEventLoop, tuple[Handoff, Handoff]] = {}
        self._idle = threading.Condition()
        self._in_flight = 0

    def enter(self) -> Callable[..., None]:
        """Count a call in flight until the returned function is called (once counts)."""
        with self._idle:
            self._in_flight += 1
        left: list[bool] = []

        def leave(*_: Any) -> None:
            with self._idle:
                if not left:
                    left.append(True)
                    self._in_flight -= 1
                    if self._in_flight == 0:
                        self._idle.notify_all()

        return leave

    def wait_idle(self, timeout: float | None = None) -> bool:
        """Wait until no in-process call is in flight (the server's drain counts them as its own)."""
        with self._idle:
            return self._idle.wait_for(lambda: self._in_flight == 0, timeout)

    def refuse_new_calls(self) -> None:
        """From now on every new call is UNAVAILABLE (the server is stopping)."""
        self._refusing = True

    def unary(self, full_method: str, response_class: type[Message]) -> Any:
        call = self._callables.get(full_method)
        if call is None:
            call = self._callables[full_method] = functools.partial(self._unary, self._entries[full_method])
        return call

    def server_stream(self, full_method: str, response_class: type[Message]) -> Any:
        entry = self._entries[full_method]
        if entry.kind == "async_stream":
            return functools.partial(self._async_stream, entry)
        return functools.partial(_StreamCall, self, entry)

    def _async_stream(
        self, entry: InProcessEntry, request: Message, *, metadata: Any = (), timeout: float | None = None
    ) -> AsyncStreamCall:
        self.admit(request)
        loop = asyncio.get_running_loop()
        handoffs = self._handoffs.get(loop)
        if handoffs is None:
            handoffs = self._handoffs[loop] = (Handoff(loop), self._to_server)
        decode = functools.partial(self.decoded.get, make=entry.response_class.FromString)
        leave = self.enter()  # once the generator is over: ended, failed or closed
        return AsyncStreamCall(entry.function, decode, request, metadata, timeout, self._server_loop, handoffs, leave)

    def client_stream(self, full_method: str, response_class: type[Message]) -> Any:
        return functools.partial(_UploadCall, self, self._entries[full_method])

    async def not_serving(self) -> str | None:
        return not_serving_text(self._health_status())

    async def close(self, grace: float | None = None) -> None:
        """Nothing to close: the server's own stop drains its calls."""

    def admit(self, request: Message | None) -> None:
        """What the gRPC server checks before any handler: that it serves, and the request's size."""
        if self._refusing:
            raise CallFailed(grpc.StatusCode.UNAVAILABLE, "the server is shutting down; retry elsewhere")
        if request is not None:
            self.check_size(request)

    def check_size(self, request: Message) -> None:
        size = request.ByteSize()
        if size > self._max_message_bytes:
            # gRPC's own wording for a message past the server's receive limit.
            raise CallFailed(
                grpc.StatusCode.RESOURCE_EXHAUSTED,
                f"Received message larger than max ({size} vs. {self._max_message_bytes})",
            )

    def submit(self, function: Callable[..., Any], *args: Any) -> futures.Future:
        try:
            return self._pool.submit(function, *args)
        except RuntimeError:  # the pool is shut down: the server has stopped
            raise CallFailed(grpc.StatusCode.UNAVAILABLE, "the server is shutting down; retry elsewhere") from None

    def submit_counted(self, function: Callable[..., Any], *args: Any) -> futures.Future:
        """`submit`, the call counted in flight until the function returns."""
        leave = self.enter()
        try:
            work = self.submit(function, *args)
        except BaseException:
            leave()
            raise
        work.add_done_callback(leave)
        return work

    async def _unary(
        self, entry: InProcessEntry, request: Message, *, metadata: Any = (), timeout: float | None = None
    ) -> Message:
        self.admit(request)
        context = Context(metadata, timeout, asyncio.get_running_loop())
        work = self.submit_counted(entry.function, request, context)
        try:
            # Cancelling the wait (the deadline) takes the call off the pool's
            # queue if no thread has started it; a running one is cut off by
            # its database deadline (unit_of_work.call_deadline), as over gRPC.
            reply = await asyncio.wait_for(asyncio.wrap_future(work), timeout)
        except Aborted as aborted:
            raise aborted.failure from None
        except TimeoutError:
            context.cancel()
            raise CallFailed(grpc.StatusCode.DEADLINE_EXCEEDED, "Deadline Exceeded") from None
        except asyncio.CancelledError:
            context.cancel()
            if work.cancelled() and not _current_task_cancelling():
                raise CallFailed(grpc.StatusCode.UNAVAILABLE, "the server is shutting down; retry elsewhere") from None
            raise
        if type(reply) is bytes:  # a reply the handler encoded itself (ListIssues): the gateway reads messages
            return entry.response_class.FromString(reply)
        return reply


def _current_task_cancelling() -> bool:
    task = asyncio.current_task()
    return task is not None and task.cancelling() > 0


class _StreamCall:
    """One synchronous server-streaming call (DownloadBlob) in-process, read
    as a grpc.aio.UnaryStreamCall is (async ones: inprocess_stream.py).

    Each `read` takes one step of the handler's generator on the pool, so a
    reader that stops reading holds nothing, as gRPC's flow control would.
    `cancel` (the HTTP client went away) closes the generator on the pool
    once its step ends.
    """

    def __init__(
        self,
        transport: InProcessTransport,
        entry: InProcessEntry,
        request: Message,
        *,
        metadata: Any = (),
        timeout: float | None = None,
    ) -> None:
        transport.admit(request)
        self._leave = transport.enter()  # once the generator is over: ended, failed or closed
        self._transport = transport
        self._entry = entry
        self._context = Context(metadata, timeout, asyncio.get_running_loop())
        self._steps = entry.function(request, self._context)  # a generator: nothing runs yet
        self._pending: asyncio.Future | None = None
        self._work: futures.Future | None = None  # the pending step itself (on the pool or the loop)
        self._failure: CallFailed | None = None
        self._ended = False

    def _step(self) -> asyncio.Future:
        if self._pending is None:
            work = self._transport.submit(next, self._steps, _DONE)
            self._work, self._pending = work, asyncio.wrap_future(work)
        return self._pending

    async def initial_metadata(self) -> tuple:
        """The handler's initial metadata, once it has sent it (or ended, or sent a message)."""
        if self._context.initial is None and not self._ended:
            step = self._step()
            headers = asyncio.ensure_future(self._context.headers.wait())
            try:
                await asyncio.wait((step, headers), return_when=asyncio.FIRST_COMPLETED)
            finally:
                headers.cancel()
        return self._context.initial or ()

    def done(self) -> bool:
        """Whether the call has ended: failed, cancelled, or its next step says it is over."""
        if self._ended:
            return True
        pending = self._pending
        if pending is None or not pending.done() or pending.cancelled():
            return False
        return pending.exception() is not None or pending.result() is _DONE

    async def read(self) -> Any:
        """The next message, grpc.aio.EOF at the end; a failure raises CallFailed."""
        if self._failure is not None:
            raise self._failure
        if self._ended:
            return grpc.aio.EOF
        step = self._step()
        try:
            remaining = self._context.time_remaining()
            item = await (step if remaining is None else asyncio.wait_for(asyncio.shield(step), remaining))
        except Aborted as aborted:
            self._ended, self._failure = True, aborted.failure
            self._leave()
            raise aborted.failure from None
        except TimeoutError:
            self.cancel()
            self._failure = CallFailed(grpc.StatusCode.DEADLINE_EXCEEDED, "Deadline Exceeded")
            raise self._failure from None
        self._pending = self._work = None
        if item is _DONE:
            self._ended = True
            self._leave()
            return grpc.aio.EOF
        if isinstance(item, bytes):  # a message encoded once for many watchers
            return self._transport.decoded.get(item, self._entry.response_class.FromString)
        return item

    def cancel(self) -> bool:
        if self._ended:
            return False
        self._ended = True
        self._failure = CallFailed(grpc.StatusCode.CANCELLED, "Locally cancelled by application!")
        self._context.cancel()
        work, steps = self._work, self._steps
        if work is not None and not work.done():
            # A generator cannot be closed mid-step (the step may be running
            # even if its awaiting was cancelled): close it once the step ends.
            work.add_done_callback(lambda _: self._close_on_pool(steps))
        else:
            self._close_on_pool(steps)
        return True

    def _close_on_pool(self, steps: Any) -> None:
        try:
            # Frees its call slot and writes its access line.
            self._transport.submit(steps.close).add_done_callback(self._leave)
        except CallFailed:
            try:
                steps.close()  # no pool any more (stopped): here, then
            finally:
                self._leave()


class _UploadCall:
    """One client-streaming call (UploadBlob) in-process, written as a grpc.aio.StreamUnaryCall is.

    The handler runs on the pool from the start and takes the requests as
    they are written; a writer waits while WINDOW of them are not taken yet
    (as gRPC's flow control would hold it), and a write after the handler
    has answered raises InvalidStateError, as grpc.aio's does.
    """

    WINDOW = 2

    def __init__(
        self, transport: InProcessTransport, entry: InProcessEntry, *, metadata: Any = (), timeout: float | None = None
    ) -> None:
        transport.admit(None)
        self._transport = transport
        self._loop = asyncio.get_running_loop()
        self._context = Context(metadata, timeout, self._loop)
        self._requests: queue.SimpleQueue[Any] = queue.SimpleQueue()
        self._credit = asyncio.Semaphore(self.WINDOW)
        self._reply = asyncio.wrap_future(transport.submit_counted(entry.function, self._taken(), self._context))

    def _taken(self) -> Any:
        """The requests, as the handler reads them (on its pool thread)."""
        while True:
            try:
                item = self._requests.get(timeout=self._context.time_remaining())
            except queue.Empty:
                self._context.cancel()
                raise CallFailed(grpc.StatusCode.DEADLINE_EXCEEDED, "Deadline Exceeded") from None
            if item is _END:
                return
            if item is _GONE:
                raise CallFailed(grpc.StatusCode.CANCELLED, "the client cancelled the call")
            try:
                self._loop.call_soon_threadsafe(self._credit.release)
            except RuntimeError:  # the gateway's loop is closed: nobody writes any more
                pass
            yield item

    async def write(self, message: Message) -> None:
        if self._reply.done() or self._context.cancelled:
            raise asyncio.InvalidStateError("the call has ended")
        self._transport.check_size(message)
        credit = asyncio.ensure_future(self._credit.acquire())
        await asyncio.wait((credit, self._reply), return_when=asyncio.FIRST_COMPLETED)
        if not credit.done():
            credit.cancel()
            raise asyncio.InvalidStateError("the call has ended")
        self._requests.put(message)

    async def done_writing(self) -> None:
        self._requests.put(_END)

    async def initial_metadata(self) -> tuple:
        if self._context.initial is None and not self._reply.done():
            headers = asyncio.ensure_future(self._context.headers.wait())
            try:
                await asyncio.wait((headers, self._reply), return_when=asyncio.FIRST_COMPLETED)
            finally:
                headers.cancel()
        return self._context.initial or ()

    def cancel(self) -> bool:
        if self._reply.done() or self._context.cancelled:
            return False
        self._context.cancel()
        self._requests.put(_GONE)
        return True

    def __await__(self) -> Any:
        return self._result().__await__()

    async def _result(self) -> Message:
        try:
            return await asyncio.wait_for(asyncio.shield(self._reply), self._context.time_remaining())
        except Aborted as aborted:
            raise aborted.failure from None
        except TimeoutError:
            self.cancel()
            raise CallFailed(grpc.StatusCode.DEADLINE_EXCEEDED, "Deadline Exceeded") from None
