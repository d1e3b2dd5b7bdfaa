"""The in-process call's side of a gRPC call: its context and its failure.

`Context` stands in for the gRPC servicer context of one in-process call
(inprocess.py): metadata in, the deadline, initial and trailing metadata
out, abort, cancellation. A handler's abort raises `Aborted`, which the
transport turns into `CallFailed`, a grpc.RpcError shaped as grpc.aio's.
"""

from __future__ import annotations

import asyncio
import logging
import threading
import time
from typing import Any, Callable

import grpc

log = logging.getLogger("service.inprocess")


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


class Aborted(Exception):
    """What `abort` raises inside a handler; becomes CallFailed for the gateway."""

    def __init__(self, code: grpc.StatusCode, details: str, trailing: Any) -> None:
        super().__init__(details)
        self.failure = CallFailed(code, details, trailing)


class Context:
    """What handlers and the pipeline use of a gRPC servicer context, for one in-process call.

    Only what they use: a method none calls (peer, is_active,
    set_trailing_metadata) is left out, so a handler that starts to call one
    fails the in-process tests loudly rather than, say, losing its trailers.
    """

    def __init__(self, metadata: Any, timeout: float | None, loop: asyncio.AbstractEventLoop) -> None:
        self._metadata = tuple(metadata or ())
        self.deadline = None if timeout is None else time.monotonic() + timeout
        self.cancelled = False
        self.initial: tuple | None = None  # initial metadata, once sent
        self._loop = loop  # the gateway's, where `headers` is awaited
        self.headers = asyncio.Event()
        self._callbacks: list[Callable[[], None]] = []
        # cancel() comes from the gateway's loop (the caller left) and the
        # deadline's path at once: the callbacks must run once.
        self._cancel_lock = threading.Lock()

    def invocation_metadata(self) -> tuple:
        return self._metadata

    def time_remaining(self) -> float | None:
        return None if self.deadline is None else max(0.0, self.deadline - time.monotonic())

    def abort(self, code: grpc.StatusCode, details: str = "", trailing_metadata: Any = ()) -> None:
        raise Aborted(code, details, trailing_metadata)

    def send_initial_metadata(self, metadata: Any) -> None:
        # Called on a pool thread (or the server's loop): wake the gateway's loop.
        self.initial = tuple(metadata)
        self._loop.call_soon_threadsafe(self.headers.set)

    def add_callback(self, callback: Callable[[], None]) -> bool:
        self._callbacks.append(callback)
        return True

    def cancel(self) -> None:
        """The caller has gone (or its deadline passed): tell the handler."""
        with self._cancel_lock:
            if self.cancelled:
                return
            self.cancelled = True
        for callback in self._callbacks:
            try:
                callback()
            except Exception:  # noqa: BLE001 - one callback's failure must not skip the others
                log.exception("cancellation callback failed")


class AsyncContext(Context):
    """The context of a handler on the server's event loop (awaits abort and headers, as grpc.aio's)."""

    async def abort(self, code: grpc.StatusCode, details: str = "", trailing_metadata: Any = ()) -> None:  # type: ignore[override]
        raise Aborted(code, details, trailing_metadata)

    async def send_initial_metadata(self, metadata: Any) -> None:  # type: ignore[override]
        super().send_initial_metadata(metadata)
