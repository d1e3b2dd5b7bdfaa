"""An async server stream (WatchEvents) called in-process, as cheaply per message as it can be.

A thousand SSE watchers each get every event of their workspace, so what a
message costs here is paid a thousand times. Stepping the handler once per
read (a Task on the server's loop, a concurrent future, a wake-up of the
gateway's loop and a Task there, per watcher per event) cost more than the
hub's whole fan-out. Instead:

- one task on the server's loop runs the handler's generator for the whole
  call (as grpc.aio runs a handler) and hands each item over as soon as it
  has it, until WINDOW items wait unread: then it waits for the reader, so a
  reader that stops reading holds at most WINDOW messages here and the hub's
  bounded queue (and its RESOURCE_EXHAUSTED) still does the rest;
- items cross to the gateway's loop through a `Handoff`: one wake-up of
  that loop for everything handed over since its last drain, however many
  streams it is for (the same back, for a reader's credit);
- `read()` returns a future, not a coroutine, so a caller's ensure_future
  makes no Task of it.

The call keeps the shape of a grpc.aio.UnaryStreamCall (inprocess.py's
`_StreamCall` has the same): `initial_metadata()`, `read()` (a message,
grpc.aio.EOF, or CallFailed), `done()`, `cancel()`.
"""

from __future__ import annotations

import asyncio
import collections
import logging
from typing import Any, Callable

import grpc
from google.protobuf.message import Message

from .inprocess_context import Aborted, AsyncContext, CallFailed

log = logging.getLogger("service.inprocess")

# Messages handed over and not yet read before the handler waits for its reader.
WINDOW = 4

_DONE = object()  # the generator ended


class _Failed:
    __slots__ = ("error",)

    def __init__(self, error: BaseException) -> None:
        self.error = error


class Handoff:
    """Calls made on one event loop from another thread, one wake-up per batch."""

    def __init__(self, loop: asyncio.AbstractEventLoop) -> None:
        self._loop = loop
        self._items: collections.deque[tuple[Callable[[Any], None], Any]] = collections.deque()
        self._scheduled = False

    def put(self, function: Callable[[Any], None], argument: Any) -> None:
        """Call function(argument) on the loop soon (any thread; never blocks)."""
        self._items.append((function, argument))
        if not self._scheduled:
            self._scheduled = True
            try:
                self._loop.call_soon_threadsafe(self._drain)
            except RuntimeError:  # the loop has closed: nobody is left to tell
                self._items.clear()

    def _drain(self) -> None:
        # Cleared first: whatever is put from now on schedules another drain.
        self._scheduled = False
        items = self._items
        while items:
            function, argument = items.popleft()
            try:
                function(argument)
            except Exception:  # noqa: BLE001 - one call's failure must not strand the others
                log.exception("in-process hand-off failed")


class AsyncStreamCall:
    """One call of an async server-streaming handler, from the gateway's loop."""

    def __init__(
        self,
        function: Callable[[Any, Any], Any],
        decode: Callable[[Any], Any],
        request: Message,
        metadata: Any,
        timeout: float | None,
        server_loop: asyncio.AbstractEventLoop,
        handoffs: tuple[Handoff, Handoff],
        leave: Callable[..., None],
    ) -> None:
        self._loop = asyncio.get_running_loop()
        self._server_loop = server_loop
        self._to_gateway, self._to_server = handoffs
        self._leave = leave
        self._decode = decode
        self._context = AsyncContext(metadata, timeout, self._loop)
        self._steps = function(request, self._context)  # an async generator: nothing runs yet
        self._items: collections.deque[Any] = collections.deque()  # arrived, not read (gateway loop)
        self._reader: asyncio.Future[Any] | None = None  # a read waiting for an item
        self._arrival: asyncio.Future[None] | None = None  # initial_metadata waiting for anything
        self._failure: BaseException | None = None
        self._ended = False  # read to its end, failed, or cancelled
        self._started = False
        # Counted by the server's loop and the gateway's (each writes its own).
        self._handed = self._taken = 0
        self._task: asyncio.Task[None] | None = None  # the pump, on the server's loop
        self._credit: asyncio.Future[None] | None = None  # the pump waiting for its reader
        self._timer = None if timeout is None else self._loop.call_later(timeout, self._expire)

    # -- the gateway's loop ---------------------------------------------------

    async def initial_metadata(self) -> tuple:
        """The handler's initial metadata, once it has sent it (or ended, or sent a message)."""
        self._start()
        if self._context.initial is None and not self._items and not self._ended:
            self._arrival = self._loop.create_future()
            headers = asyncio.ensure_future(self._context.headers.wait())
            try:
                await asyncio.wait((self._arrival, headers), return_when=asyncio.FIRST_COMPLETED)
            finally:
                headers.cancel()
                self._arrival = None
        return self._context.initial or ()

    def done(self) -> bool:
        """Whether the call has ended: failed, cancelled, or what it sent last says it is over."""
        return self._ended or (bool(self._items) and (self._items[0] is _DONE or type(self._items[0]) is _Failed))

    def read(self) -> asyncio.Future[Any]:
        """A future of the next message: grpc.aio.EOF at the end; a failure raises CallFailed."""
        future = self._loop.create_future()
        if self._items or self._ended:
            self._deliver(future)
        else:
            self._reader = future
            self._start()
        return future

    def cancel(self) -> bool:
        if self._ended:
            return False
        self._end(CallFailed(grpc.StatusCode.CANCELLED, "Locally cancelled by application!"))
        self._context.cancel()
        reader, self._reader = self._reader, None
        if reader is not None and not reader.done():
            reader.cancel()
        if self._started:
            self._to_server.put(_stop, self)
        else:  # never begun: _begin closes the generator, as a cancellation would
            self._started = True
            self._to_server.put(_begin, self)
        return True

    def _end(self, failure: BaseException | None) -> None:
        self._ended = True
        if self._failure is None:
            self._failure = failure
        if self._timer is not None:
            self._timer.cancel()
            self._timer = None

    def _expire(self) -> None:
        self._timer = None
        if self._ended:
            return
        failure = CallFailed(grpc.StatusCode.DEADLINE_EXCEEDED, "Deadline Exceeded")
        reader, self._reader = self._reader, None
        self._failure = failure
        self.cancel()
        if reader is not None and not reader.done():
            reader.set_exception(failure)

    def _start(self) -> None:
        if not self._started:
            self._started = True
            self._to_server.put(_begin, self)

    def _arrived(self, item: Any) -> None:
        if self._ended:
            return  # cancelled meanwhile: dropped
        self._items.append(item)
        reader, self._reader = self._reader, None
        if reader is not None and not reader.done():
            self._deliver(reader)
        arrival = self._arrival
        if arrival is not None and not arrival.done():
            arrival.set_result(None)

    def _deliver(self, future: asyncio.Future[Any]) -> None:
        if self._ended:  # cancelled, failed or read to its end
            if self._failure is not None:
                future.set_exception(self._failure)
            else:
                future.set_result(grpc.aio.EOF)
            return
        item = self._items.popleft()
        if item is _DONE:
            self._end(None)
            future.set_result(grpc.aio.EOF)
        elif type(item) is _Failed:
            self._end(item.error)
            future.set_exception(item.error)
        else:
            self._taken += 1
            if self._credit is not None:  # the pump waits for this read
                self._to_server.put(_release, self)
            future.set_result(self._decode(item) if isinstance(item, bytes) else item)

    # -- the server's loop ----------------------------------------------------

    async def _pump(self) -> None:
        steps, stepping = self._steps, False
        try:
            while True:
                if self._handed - self._taken >= WINDOW:
                    self._credit = self._server_loop.create_future()
                    if self._handed - self._taken >= WINDOW:  # still: the reader had not taken one
                        await self._credit
                    self._credit = None
                stepping = True
                item = await steps.__anext__()
                stepping = False
                self._handed += 1
                self._to_gateway.put(self._arrived, item)
        except StopAsyncIteration:
            self._to_gateway.put(self._arrived, _DONE)
        except Aborted as aborted:
            self._to_gateway.put(self._arrived, _Failed(aborted.failure))
        except asyncio.CancelledError:
            if not stepping:  # waiting at a yield: end the handler as a cancellation would
                await _throw_cancelled(steps)
            raise
        except Exception as exc:  # noqa: BLE001 - handed to the reader, as a step's failure was
            self._to_gateway.put(self._arrived, _Failed(exc))
        finally:
            self._leave()


def _begin(call: AsyncStreamCall) -> None:
    if call._ended:  # cancelled before it began
        asyncio.ensure_future(_throw_cancelled(call._steps)).add_done_callback(call._leave)
    else:
        call._task = asyncio.ensure_future(call._pump())


def _stop(call: AsyncStreamCall) -> None:
    task = call._task
    if task is not None:
        task.cancel()  # where the handler waits it sees CancelledError, as a gRPC cancellation raises there
    # No task: it has not begun, and _begin (queued before this) ends it.


def _release(call: AsyncStreamCall) -> None:
    credit = call._credit
    if credit is not None and not credit.done():
        credit.set_result(None)


async def _throw_cancelled(steps: Any) -> None:
    """End an async generator waiting at a yield as a cancellation would."""
    try:
        await steps.athrow(asyncio.CancelledError())
    except (asyncio.CancelledError, StopAsyncIteration, Aborted):
        pass
    except Exception:  # noqa: BLE001 - the stream is over; nobody to tell but the log
        log.exception("event stream failed while being cancelled")
