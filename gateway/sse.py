"""Server-streaming methods of messages as Server-Sent Events.

Derived from the annotations like every other route: a server-streaming
method bound to a path is served here when the client accepts
`text/event-stream` (its unary twin on the same path answers otherwise).
Each message is one event: `id:` its `sequence` field and `event:` its
`type` field when it has them, `data:` the whole message as the contract's
JSON on one line. A request field `after_sequence` takes the
`Last-Event-ID` header (a browser's EventSource sends it when it
reconnects, with the URL it first used, so the header wins over the query),
and the server's refusals of that cursor name the header.

Failures before anything is sent are ordinary error responses; once the
headers are out, a failure is sent in-band as `event: error` with the error
envelope as its data, and the stream ends (grpc-gateway's stream error
handler does the same). A comment line goes out at least every
HEARTBEAT_SECONDS (or $ISSUES_SSE_HEARTBEAT_SECONDS), so that proxies and
clients see the stream is alive.
"""

from __future__ import annotations

import asyncio
import json
import logging
import os
from typing import Any, Mapping

import grpc
from google.protobuf.message import Message
from starlette.requests import Request

from common.identity_cache import IdentityCache
from common.jsonout import to_json

from .codec.writing import dumps
from .errors import from_rpc_error, http_error

__all__ = [
    "HEARTBEAT_SECONDS",
    "LAST_EVENT_ID",
    "LAST_EVENT_ID_FIELD",
    "MEDIA_TYPE",
    "accepts_events",
    "apply_last_event_id",
    "respond",
]

log = logging.getLogger("gateway")

MEDIA_TYPE = "text/event-stream"
HEARTBEAT_SECONDS = 10.0
# Overrides HEARTBEAT_SECONDS (the test suite's servers send one a second
# rather than have a test wait out ten).
HEARTBEAT_ENV = "ISSUES_SSE_HEARTBEAT_SECONDS"
LAST_EVENT_ID_FIELD = "after_sequence"
LAST_EVENT_ID = "Last-Event-ID"


def accepts_events(request: Request) -> bool:
    accept = request.headers.get("accept", "")
    return any(part.split(";", 1)[0].strip().lower() == MEDIA_TYPE for part in accept.split(","))


def apply_last_event_id(message: Message, request: Request, names: Mapping[str, str]) -> Mapping[str, str]:
    """Set the cursor from `Last-Event-ID`, if sent; returns the names the
    call's violations are shown under (the header's, for the cursor it set)."""
    value = request.headers.get(LAST_EVENT_ID)
    if value is None or LAST_EVENT_ID_FIELD not in message.DESCRIPTOR.fields_by_name:
        return names
    value = value.strip()
    if not value.isdigit() or len(value) > 18:
        raise http_error(400, "Last-Event-ID must be the sequence of an event (digits)", field=LAST_EVENT_ID)
    setattr(message, LAST_EVENT_ID_FIELD, int(value))
    return {**names, LAST_EVENT_ID_FIELD: LAST_EVENT_ID}


# The in-process transport hands every watcher of an event the same message:
# its frame is rendered once for all of them.
_FRAMES: IdentityCache[Message, bytes] = IdentityCache()


def _frame(message: Message) -> bytes:
    fields = message.DESCRIPTOR.fields_by_name
    lines = []
    if "sequence" in fields:
        lines.append(f"id: {getattr(message, 'sequence')}")
    if "type" in fields:
        lines.append(f"event: {getattr(message, 'type')}")
    data = dumps(to_json(message)).decode()
    lines.append(f"data: {data}")
    return ("\n".join(lines) + "\n\n").encode()


def _error_frame(envelope: dict[str, Any]) -> bytes:
    return f"event: error\ndata: {json.dumps(envelope, ensure_ascii=False, separators=(',', ':'))}\n\n".encode()


async def respond(
    call: grpc.aio.UnaryStreamCall[Message, Message],
    method: str,
    names: Mapping[str, str] | None = None,
    heartbeat: float | None = None,
) -> EventStream:
    """The stream as Server-Sent Events, or an error response if it fails before it starts.

    The server sends its headers once the request is accepted (a bad cursor
    is refused before), so waiting for them tells the two apart.
    """
    await call.initial_metadata()
    if call.done():
        await call.read()  # raises the call's error (answered as an ordinary error response)
    return EventStream(call, method, heartbeat or heartbeat_seconds(), names or {})


def heartbeat_seconds() -> float:
    """$ISSUES_SSE_HEARTBEAT_SECONDS when it is a number of seconds from 0.1 to
    3600, else HEARTBEAT_SECONDS (a bad value is logged, never a failed stream)."""
    raw = os.environ.get(HEARTBEAT_ENV)
    if raw is None:
        return HEARTBEAT_SECONDS
    try:
        seconds = float(raw)
    except ValueError:
        seconds = 0.0
    if not 0.1 <= seconds <= 3600:
        log.warning("ignoring %s=%r: not 0.1 to 3600 seconds", HEARTBEAT_ENV, raw)
        return HEARTBEAT_SECONDS
    return seconds


class EventStream:
    """The ASGI response of an event stream.

    Lean on purpose, since a thousand may sit idle at once: two pending
    reads (the next message, the client's disconnect) and nothing else per
    stream, where a StreamingResponse would add a task group, a reader task
    and a queue.
    """

    media_type = MEDIA_TYPE

    def __init__(
        self, call: grpc.aio.UnaryStreamCall[Message, Message], method: str, heartbeat: float, names: Mapping[str, str]
    ) -> None:
        self._call = call
        self._method = method
        self._names = names  # query parameters named apart from their fields (errors name the parameter)
        self._heartbeat = heartbeat
        self.status_code = 200
        self.headers = {"content-type": MEDIA_TYPE, "cache-control": "no-cache", "x-accel-buffering": "no"}

    async def __call__(self, scope: Any, receive: Any, send: Any) -> None:
        call = self._call
        await send(
            {
                "type": "http.response.start",
                "status": 200,
                "headers": [(k.encode(), v.encode()) for k, v in self.headers.items()],
            }
        )
        loop = asyncio.get_running_loop()
        # Woken by the next message, the client's going or the heartbeat: one
        # future and one timer per wait (asyncio.wait adds a set, a closure
        # and two callbacks to remove, for every message to every watcher).
        wake: asyncio.Future[None] | None = None

        def poke(_: Any = None) -> None:
            if wake is not None and not wake.done():
                wake.set_result(None)

        read = asyncio.ensure_future(call.read())
        gone = asyncio.ensure_future(_disconnected(receive))
        gone.add_done_callback(poke)
        try:
            await send({"type": "http.response.body", "body": b": connected\n\n", "more_body": True})
            while True:
                if not read.done() and not gone.done():
                    wake = loop.create_future()
                    read.add_done_callback(poke)
                    timer = loop.call_later(self._heartbeat, poke)
                    try:
                        await wake
                    finally:
                        timer.cancel()
                        read.remove_done_callback(poke)
                if gone.done():
                    return  # the client went away: cancel the call (below)
                if not read.done():
                    await send({"type": "http.response.body", "body": b": keep-alive\n\n", "more_body": True})
                    continue
                try:
                    # A Message or grpc.aio.EOF, which the stubs type as a bare object.
                    message: Any = read.result()
                except grpc.RpcError as exc:
                    if exc.code() != grpc.StatusCode.CANCELLED:
                        log.info("event stream ended", extra={"method": self._method, "code": exc.code().name})
                    body = _error_frame(from_rpc_error(exc, self._names).envelope())
                    await send({"type": "http.response.body", "body": body, "more_body": False})
                    return
                if message is grpc.aio.EOF:
                    await send({"type": "http.response.body", "body": b"", "more_body": False})
                    return
                await send({"type": "http.response.body", "body": _FRAMES.get(message, _frame), "more_body": True})
                read = asyncio.ensure_future(call.read())
        finally:
            read.cancel()
            gone.cancel()
            call.cancel()  # the client may have gone: stop the server sending


async def _disconnected(receive: Any) -> None:
    """Returns when the client has gone (the request's own body, empty, comes first)."""
    while (await receive())["type"] != "http.disconnect":
        pass
