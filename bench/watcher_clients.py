"""The watchers of `bench.watcher_models --models serve`: N idle streams in a
process of their own, each noting when its k-th event arrives.

- `grpc`: WatchEvents streams over a few channels (raw bytes, no decoding:
  the client's own cost is part of the latency measured).
- `sse`: `GET /api/v1/events` with `Accept: text/event-stream` on the
  in-process gateway, one connection each, read by a bare asyncio Protocol
  (a callback per chunk, no task per stream) for the same reason. An event
  is a frame that starts with `id:`; comment lines (`: keep-alive`) are not.

Every arrival is (trigger index, CLOCK_MONOTONIC), which the parent reads on
the same clock as its triggers' sending. A run ends once every stream has
had `triggers` events, or when the parent says stop.
"""

from __future__ import annotations

import asyncio
import resource
import time
from typing import Any

SERVICE = "/issues.v1.IssueService/"


def run(
    kind: str, address: str, token: str, n: int, channels: int, triggers: int, opened: Any, stop: Any, arrived: Any
) -> Any:
    """In the child: open the N streams, set `opened`, return the arrivals (and how many opened)."""
    resource.setrlimit(resource.RLIMIT_NOFILE, (resource.getrlimit(resource.RLIMIT_NOFILE)[1],) * 2)
    watch = _grpc if kind == "grpc" else _sse
    return asyncio.run(watch(address, token, n, channels, triggers, opened, stop, arrived))


async def _until(ready: asyncio.Event, opened: Any, stop: Any, done: asyncio.Event) -> None:
    await asyncio.wait_for(ready.wait(), 180)
    opened.set()
    while not stop.is_set() and not done.is_set():
        await asyncio.sleep(0.05)


async def _grpc(
    target: str, token: str, n: int, channels: int, triggers: int, opened: Any, stop: Any, arrived: Any
) -> Any:
    import grpc

    from issues.v1 import issue_service_pb2 as pb

    chans = [
        grpc.aio.insecure_channel(target, options=[("grpc.use_local_subchannel_pool", 1)]) for _ in range(channels)
    ]
    metadata = (("authorization", f"Bearer {token}"),)
    request = pb.WatchEventsRequest().SerializeToString()
    arrivals: list[tuple[int, float]] = []
    ready, finished = asyncio.Event(), asyncio.Event()
    counts = [0, 0]  # opened, finished

    async def one(i: int) -> None:
        call = chans[i % channels].unary_stream(
            SERVICE + "WatchEvents", request_serializer=None, response_deserializer=None
        )(request, metadata=metadata)
        await call.initial_metadata()
        counts[0] += 1
        if counts[0] == n:
            ready.set()
        for k in range(triggers):  # read(), not `async for`: faster, and the count is known
            if await call.read() is grpc.aio.EOF:
                return
            arrivals.append((k, time.monotonic()))
            with arrived.get_lock():
                arrived.value += 1
        counts[1] += 1
        if counts[1] == n:
            finished.set()

    tasks = [asyncio.ensure_future(one(i)) for i in range(n)]
    try:
        await _until(ready, opened, stop, finished)
    finally:
        for task in tasks:
            task.cancel()
        await asyncio.gather(*tasks, return_exceptions=True)
        for chan in chans:
            await chan.close()
    return counts[0], arrivals


class _SseReader(asyncio.Protocol):
    def __init__(self, request: bytes, triggers: int, shared: _Shared) -> None:
        self._request = request
        self._triggers = triggers
        self._shared = shared
        self._buffer = b""
        self._headers = False
        self._events = 0
        self.transport: asyncio.Transport | None = None

    def connection_made(self, transport: Any) -> None:
        self.transport = transport
        transport.write(self._request)

    def data_received(self, data: bytes) -> None:
        now = time.monotonic()
        self._buffer += data
        if not self._headers:
            head, sep, rest = self._buffer.partition(b"\r\n\r\n")
            if not sep:
                return
            if b" 200 " not in head.split(b"\r\n", 1)[0]:
                raise RuntimeError(f"SSE refused: {head[:200]!r}")
            self._headers, self._buffer = True, rest
            self._shared.opened_one()
        *frames, self._buffer = self._buffer.split(b"\n\n")
        before = self._events
        for frame in frames:
            # Chunked transfer encoding puts a size line before a chunk: look past it.
            if (b"\nid: " in frame or frame.startswith(b"id: ")) and self._events < self._triggers:
                self._shared.arrivals.append((self._events, now))
                self._events += 1
                if self._events == self._triggers:
                    self._shared.finished_one()
        if self._events > before:
            with self._shared.arrived.get_lock():
                self._shared.arrived.value += self._events - before


class _Shared:
    def __init__(self, n: int, arrived: Any) -> None:
        self.n = n
        self.arrived = arrived
        self.opened = self.finished = 0
        self.arrivals: list[tuple[int, float]] = []
        self.ready, self.done = asyncio.Event(), asyncio.Event()

    def opened_one(self) -> None:
        self.opened += 1
        if self.opened == self.n:
            self.ready.set()

    def finished_one(self) -> None:
        self.finished += 1
        if self.finished == self.n:
            self.done.set()


async def _sse(
    address: str, token: str, n: int, channels: int, triggers: int, opened: Any, stop: Any, arrived: Any
) -> Any:
    host, port = address.rsplit(":", 1)
    request = (
        f"GET /api/v1/events HTTP/1.1\r\nHost: {host}\r\nAuthorization: Bearer {token}\r\n"
        "Accept: text/event-stream\r\n\r\n"
    ).encode()
    shared = _Shared(n, arrived)
    loop = asyncio.get_running_loop()
    transports = []
    try:
        for _ in range(n):
            transport, _protocol = await loop.create_connection(
                lambda: _SseReader(request, triggers, shared), host, int(port)
            )
            transports.append(transport)
        await _until(shared.ready, opened, stop, shared.done)
    finally:
        for transport in transports:
            transport.close()
    return shared.opened, shared.arrivals
