"""Server-streaming methods of messages as Server-Sent Events.

Derived from the annotations like every other route: a server-streaming
method bound to a path is served here when the client accepts
`text/event-stream` (its unary twin on the same path answers otherwise).
Each message is one event: `id:` its `sequence` field and `event:` its
`type` field when it has them, `data:` the whole message as the contract's
JSON on one line. A request field `after_sequence` takes the
`Last-Event-ID` header (a browser's EventSource sends it when it
reconnects, with the URL it first used, so the header wins over the query).

Failures before anything is sent are ordinary error responses; once the
headers are out, a failure is sent in-band as `event: error` with the error
envelope as its data, and the stream ends (grpc-gateway's stream error
handler does the same). A comment line goes out at least every
HEARTBEAT_SECONDS, so that proxies and clients see the stream is alive.
"""

from __future__ import annotations

import asyncio
import json
import logging
from typing import Any, AsyncIterator

import grpc
from google.protobuf.message import Message
from starlette.requests import Request
from starlette.responses import Response, StreamingResponse

from common.jsonout import to_json

from .errors import from_rpc_error, http_error

__all__ = ["HEARTBEAT_SECONDS", "LAST_EVENT_ID_FIELD", "MEDIA_TYPE", "accepts_events", "apply_last_event_id", "respond"]

log = logging.getLogger("gateway")

MEDIA_TYPE = "text/event-stream"
HEARTBEAT_SECONDS = 10.0
LAST_EVENT_ID_FIELD = "after_sequence"


def accepts_events(request: Request) -> bool:
    accept = request.headers.get("accept", "")
    return any(part.split(";", 1)[0].strip().lower() == MEDIA_TYPE for part in accept.split(","))


def apply_last_event_id(message: Message, request: Request) -> None:
    value = request.headers.get("last-event-id")
    if value is None or LAST_EVENT_ID_FIELD not in message.DESCRIPTOR.fields_by_name:
        return
    value = value.strip()
    if not value.isdigit() or len(value) > 18:
        raise http_error(400, "Last-Event-ID must be the sequence of an event (digits)", field="Last-Event-ID")
    setattr(message, LAST_EVENT_ID_FIELD, int(value))


def _frame(message: Message) -> bytes:
    fields = message.DESCRIPTOR.fields_by_name
    lines = []
    if "sequence" in fields:
        lines.append(f"id: {getattr(message, 'sequence')}")
    if "type" in fields:
        lines.append(f"event: {getattr(message, 'type')}")
    data = json.dumps(to_json(message), ensure_ascii=False, separators=(",", ":"), allow_nan=False)
    lines.append(f"data: {data}")
    return ("\n".join(lines) + "\n\n").encode()


def _error_frame(envelope: dict[str, Any]) -> bytes:
    return f"event: error\ndata: {json.dumps(envelope, ensure_ascii=False, separators=(',', ':'))}\n\n".encode()


async def respond(call: grpc.aio.UnaryStreamCall, method: str, heartbeat: float = HEARTBEAT_SECONDS) -> Response:
    """The stream as Server-Sent Events, or an error response if it fails before it starts.

    The server sends its headers once the request is accepted (a bad cursor
    is refused before), so waiting for them tells the two apart.
    """
    await call.initial_metadata()
    if call.done():
        await call.read()  # raises the call's error (answered as an ordinary error response)

    async def pump(queue: asyncio.Queue[Any]) -> None:
        try:
            while (message := await call.read()) is not grpc.aio.EOF:
                await queue.put(message)
            await queue.put(None)
        except grpc.RpcError as exc:
            await queue.put(exc)

    async def body() -> AsyncIterator[bytes]:
        queue: asyncio.Queue[Any] = asyncio.Queue(maxsize=16)  # gRPC's flow control paces the rest
        reader = asyncio.ensure_future(pump(queue))
        try:
            yield b": connected\n\n"
            while True:
                try:
                    item = await asyncio.wait_for(queue.get(), heartbeat)
                except asyncio.TimeoutError:
                    yield b": keep-alive\n\n"
                    continue
                if item is None:
                    return
                if isinstance(item, grpc.RpcError):
                    if item.code() != grpc.StatusCode.CANCELLED:
                        log.info("event stream ended", extra={"method": method, "code": item.code().name})
                    yield _error_frame(from_rpc_error(item).envelope())
                    return
                yield _frame(item)
        finally:
            reader.cancel()
            call.cancel()  # the client may have gone: stop the server sending

    return StreamingResponse(body(), media_type=MEDIA_TYPE, headers={
        "Cache-Control": "no-cache", "X-Accel-Buffering": "no",
    })
