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
generator) on the server's event loop. `_Context` stands in for the gRPC
servicer context: metadata in, the deadline, initial and trailing metadata
out, abort, cancellation. A handler's abort arrives here as `CallFailed`, a
grpc.RpcError whose code, details and trailers (the rich status) the
gateway reads as it reads a channel's.

UploadBlob (client streaming) still goes over the loopback channel: its
bytes arrive as a stream the gateway writes while the handler reads, which
gRPC's flow control paces; it is rare next to the JSON calls.

Once the server begins to stop, new calls are refused UNAVAILABLE, as the
gRPC server refuses them.
"""

from __future__ import annotations

import asyncio
import functools
import logging
import time
from concurrent import futures
from typing import Any, Callable, Mapping

import grpc
from google.protobuf.message import Message

from gateway.transport import GrpcTransport, not_serving_text

from ..api.pipeline import InProcessEntry

log = logging.getLogger("service.inprocess")

_DONE = object()  # a generator's end, stepped on the pool


class CallFailed(grpc.RpcError):
    """A call's failure, shaped as grpc.aio's (code, details, trailing metadata)."""

    def __init__(self, code: grpc.StatusCode, details: str, trailing: Any = ()) -> None:
        super().__init__(details)
        self._code, self._details, self._trailing = code, details, tuple(trailing or ())

    def code(self) -> grpc.StatusCode:
        return self._code

    def details(self) -> str:
        return self._details

    def trailing_metadata(self) -> tuple:
        return self._trailing

    def initial_metadata(self) -> tuple:
        return ()


class _Aborted(Exception):
    """What `abort` raises inside a handler; becomes CallFailed for the gateway."""

    def __init__(self, code: grpc.StatusCode, details: str, trailing: Any) -> None:
        super().__init__(details)
        self.failure = CallFailed(code, details, trailing)


class _Context:
    """What handlers and the pipeline use of a gRPC servicer context, for one in-process call."""

    def __init__(self, metadata: Any, timeout: float | None, loop: asyncio.AbstractEventLoop) -> None:
        self._metadata = tuple(metadata or ())
        self.deadline = None if timeout is None else time.monotonic() + timeout
        self.cancelled = False
        self.initial: tuple | None = None  # initial metadata, once sent
        self.trailing: tuple = ()
        self._loop = loop  # the gateway's, where `headers` is awaited
        self.headers = asyncio.Event()
        self._callbacks: list[Callable[[], None]] = []

    def invocation_metadata(self) -> tuple:
        return self._metadata

    def time_remaining(self) -> float | None:
        return None if self.deadline is None else max(0.0, self.deadline - time.monotonic())

    def is_active(self) -> bool:
        return not self.cancelled and (self.deadline is None or time.monotonic() < self.deadline)

    def peer(self) -> str:
        return "in-process"

    def abort(self, code: grpc.StatusCode, details: str = "", trailing_metadata: Any = ()) -> None:
        raise _Aborted(code, details, trailing_metadata)

    def set_trailing_metadata(self, metadata: Any) -> None:
        self.trailing = tuple(metadata)

    def send_initial_metadata(self, metadata: Any) -> None:
        # Called on a pool thread (or the server's loop): wake the gateway's loop.
        self.initial = tuple(metadata)
        self._loop.call_soon_threadsafe(self.headers.set)

    def add_callback(self, callback: Callable[[], None]) -> bool:
        self._callbacks.append(callback)
        return True

    def cancel(self) -> None:
        """The caller has gone (or its deadline passed): tell the handler."""
        if self.cancelled:
            return
        self.cancelled = True
        for callback in self._callbacks:
            try:
                callback()
            except Exception:  # noqa: BLE001 - one callback's failure must not skip the others
                log.exception("cancellation callback failed")


class _AsyncContext(_Context):
    """The context of a handler on the server's event loop (awaits abort and headers, as grpc.aio's)."""

    async def abort(self, code: grpc.StatusCode, details: str = "", trailing_metadata: Any = ()) -> None:  # type: ignore[override]
        raise _Aborted(code, details, trailing_metadata)

    async def send_initial_metadata(self, metadata: Any) -> None:  # type: ignore[override]
        super().send_initial_metadata(metadata)


class InProcessTransport:
    """The gateway's transport into this server (gateway/transport.py's protocol)."""

    def __init__(
        self, entries: Mapping[str, InProcessEntry], pool: futures.ThreadPoolExecutor,
        server_loop: asyncio.AbstractEventLoop, health_status: Callable[[], int], max_message_bytes: int,
        grpc_target: str,
    ) -> None:
        self._entries = entries
        self._pool = pool
        self._server_loop = server_loop
        self._health_status = health_status
        self._max_message_bytes = max_message_bytes
        self._refusing = False
        # Client streams (UploadBlob) only: see the module's docstring.
        self._channel = GrpcTransport(grpc_target)
        self._callables: dict[str, Any] = {}

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
        return functools.partial(_StreamCall, self, entry)

    def client_stream(self, full_method: str, response_class: type[Message]) -> Any:
        return self._channel.client_stream(full_method, response_class)

    async def not_serving(self) -> str | None:
        return not_serving_text(self._health_status())

    async def close(self, grace: float | None = None) -> None:
        await self._channel.close(grace)

    def admit(self, request: Message) -> None:
        """What the gRPC server checks before any handler: that it serves, and the request's size."""
        if self._refusing:
            raise CallFailed(grpc.StatusCode.UNAVAILABLE, "the server is shutting down; retry elsewhere")
        size = request.ByteSize()
        if size > self._max_message_bytes:
            # gRPC's own wording for a message past the server's receive limit.
            raise CallFailed(grpc.StatusCode.RESOURCE_EXHAUSTED,
                             f"Received message larger than max ({size} vs. {self._max_message_bytes})")

    def submit(self, function: Callable[..., Any], *args: Any) -> futures.Future:
        try:
            return self._pool.submit(function, *args)
        except RuntimeError:  # the pool is shut down: the server has stopped
            raise CallFailed(grpc.StatusCode.UNAVAILABLE, "the server is shutting down; retry elsewhere") from None

    async def _unary(self, entry: InProcessEntry, request: Message, *, metadata: Any = (),
                     timeout: float | None = None) -> Message:
        self.admit(request)
        context = _Context(metadata, timeout, asyncio.get_running_loop())
        work = self.submit(entry.function, request, context)
        try:
            # Cancelling the wait (the deadline) takes the call off the pool's
            # queue if no thread has started it; a running one is cut off by
            # its database deadline (unit_of_work.call_deadline), as over gRPC.
            return await asyncio.wait_for(asyncio.wrap_future(work), timeout)
        except _Aborted as aborted:
            raise aborted.failure from None
        except asyncio.TimeoutError:
            context.cancel()
            raise CallFailed(grpc.StatusCode.DEADLINE_EXCEEDED, "Deadline Exceeded") from None
        except asyncio.CancelledError:
            context.cancel()
            if work.cancelled() and not _current_task_cancelling():
                raise CallFailed(grpc.StatusCode.UNAVAILABLE, "the server is shutting down; retry elsewhere") from None
            raise


def _current_task_cancelling() -> bool:
    task = asyncio.current_task()
    return task is not None and task.cancelling() > 0


class _StreamCall:
    """One server-streaming call in-process, read as a grpc.aio.UnaryStreamCall is.

    Each `read` takes one step of the handler's generator (on the pool, or
    on the server's loop for an async one), so a reader that stops reading
    holds nothing, as gRPC's flow control would. `cancel` (the HTTP client
    went away) ends the handler: an async one sees CancelledError where it
    waits, as a gRPC cancellation would raise there; a synchronous one is
    closed on the pool once its step ends.
    """

    def __init__(self, transport: InProcessTransport, entry: InProcessEntry, request: Message, *,
                 metadata: Any = (), timeout: float | None = None) -> None:
        transport.admit(request)
        self._transport = transport
        self._entry = entry
        self._async = entry.kind == "async_stream"
        loop = asyncio.get_running_loop()
        self._context = (_AsyncContext if self._async else _Context)(metadata, timeout, loop)
        self._steps = entry.function(request, self._context)  # a generator: nothing runs yet
        self._pending: asyncio.Future | None = None
        self._work: futures.Future | None = None  # the pending step itself (on the pool or the loop)
        self._failure: CallFailed | None = None
        self._ended = False

    def _step(self) -> asyncio.Future:
        if self._pending is None:
            if self._async:
                work = asyncio.run_coroutine_threadsafe(_next(self._steps), self._transport._server_loop)
            else:
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
        except _Aborted as aborted:
            self._ended, self._failure = True, aborted.failure
            raise aborted.failure from None
        except asyncio.TimeoutError:
            self.cancel()
            self._failure = CallFailed(grpc.StatusCode.DEADLINE_EXCEEDED, "Deadline Exceeded")
            raise self._failure from None
        self._pending = self._work = None
        if item is _DONE:
            self._ended = True
            return grpc.aio.EOF
        if isinstance(item, bytes):  # a message encoded once for many watchers
            return self._entry.response_class.FromString(item)
        return item

    def cancel(self) -> bool:
        if self._ended:
            return False
        self._ended = True
        self._failure = CallFailed(grpc.StatusCode.CANCELLED, "Locally cancelled by application!")
        self._context.cancel()
        work, steps = self._work, self._steps
        if self._async:
            if work is not None and not work.done():
                work.cancel()  # cancels the step's task on the server's loop, where the handler waits
            else:
                asyncio.run_coroutine_threadsafe(_throw_cancelled(steps), self._transport._server_loop)
        elif work is not None and not work.done():
            # A generator cannot be closed mid-step (the step may be running
            # even if its awaiting was cancelled): close it once the step ends.
            work.add_done_callback(lambda _: self._close_on_pool(steps))
        else:
            self._close_on_pool(steps)
        return True

    def _close_on_pool(self, steps: Any) -> None:
        try:
            self._transport.submit(steps.close)  # frees its call slot and writes its access line
        except CallFailed:
            steps.close()  # no pool any more (stopped): here, then


async def _next(steps: Any) -> Any:
    try:
        return await steps.__anext__()
    except StopAsyncIteration:
        return _DONE


async def _throw_cancelled(steps: Any) -> None:
    """End an async generator waiting at a yield as a cancellation would."""
    try:
        await steps.athrow(asyncio.CancelledError())
    except (asyncio.CancelledError, StopAsyncIteration, _Aborted):
        pass
    except Exception:  # noqa: BLE001 - the stream is over; nobody to tell but the log
        log.exception("event stream failed while being cancelled")
