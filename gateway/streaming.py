"""Raw bodies both ways, by the HttpBody rules of common/httpbody.py.

An upload binding (a client-streaming method whose `body` is an HttpBody
field) gets the HTTP request body as it arrives, cut into messages of at
most CHUNK_BYTES; a download binding (a server-streaming method returning
HttpBody) answers with the bytes as they arrive. Neither ever holds more
than a chunk or two, whatever the size; gRPC's flow control paces both.
"""

from __future__ import annotations

import asyncio
import logging
from typing import Any, AsyncIterator

import grpc
from google.api import httpbody_pb2
from google.protobuf.message import Message
from starlette.requests import ClientDisconnect, Request
from starlette.responses import Response, StreamingResponse

from common.httpbody import ACCEPTED, CHUNK_BYTES, HTTP_BODY, headers_from_metadata

from .errors import http_error
from .limits import declared_length, too_large
from .routing import Binding, request_field

__all__ = ["download", "is_download", "is_upload", "upload"]

log = logging.getLogger("gateway")


def is_upload(binding: Binding) -> bool:
    method = binding.method
    if not method.client_streaming or method.server_streaming or binding.body in ("", "*"):
        return False
    field = request_field(method, binding.body)
    return field.message_type is not None and field.message_type.full_name == HTTP_BODY


def is_download(binding: Binding) -> bool:
    method = binding.method
    return method.server_streaming and not method.client_streaming and method.output_type.full_name == HTTP_BODY


async def upload(
    call: grpc.aio.StreamUnaryCall[Message, Message], first: Message, body_field: str, request: Request, limit: int
) -> Message:
    """Send `first` (the path and query fields) with the body's bytes in `body_field`; the reply.

    More than `limit` bytes is a 413; a call the server ends early (a bad
    signature, too many bytes) answers with its status. Whatever goes wrong
    here cancels the call, so the server never waits on a body that is not
    coming.
    """
    try:
        return await _upload(call, first, body_field, request, limit)
    except ClientDisconnect:
        raise http_error(499, "the client went away before the whole body arrived") from None
    finally:
        call.cancel()  # a no-op once the call has ended


async def _upload(
    call: grpc.aio.StreamUnaryCall[Message, Message], first: Message, body_field: str, request: Request, limit: int
) -> Message:
    declared_length(request, limit)
    getattr(first, body_field).content_type = request.headers.get("content-type", "")
    pending = bytearray()
    size = 0
    next_message = first
    try:
        async for piece in request.stream():
            size += len(piece)
            if size > limit:
                raise too_large(limit)
            pending += piece
            while len(pending) >= CHUNK_BYTES:
                await _send(call, next_message, body_field, bytes(pending[:CHUNK_BYTES]))
                del pending[:CHUNK_BYTES]
                if next_message is first and not await _accepted(call):
                    return await call  # refused: raises its status
                next_message = type(first)()
        if pending or next_message is first:  # an empty body still names the object
            await _send(call, next_message, body_field, bytes(pending))
            if next_message is first and not await _accepted(call):
                return await call
        await call.done_writing()
    except asyncio.InvalidStateError:
        pass  # the server has answered already: its status says why
    return await call


async def _accepted(call: grpc.aio.StreamUnaryCall[Message, Message]) -> bool:
    """Whether the server took the first message: it says so in its initial
    metadata, and a refusal ends the call instead (whose initial metadata is
    then empty). Writing on into a call the server has ended would lose its
    status to a local INTERNAL."""
    return ACCEPTED in tuple(await call.initial_metadata() or ())


async def _send(
    call: grpc.aio.StreamUnaryCall[Message, Message], message: Message, body_field: str, data: bytes
) -> None:
    body: httpbody_pb2.HttpBody = getattr(message, body_field)
    body.data = data
    await call.write(message)


async def download(
    call: grpc.aio.UnaryStreamCall[Message, httpbody_pb2.HttpBody], binding: Binding, head_only: bool
) -> Response:
    """The response of a download: the first message's content type, the headers its metadata asks for."""
    # An HttpBody or grpc.aio.EOF (which the stubs type as a bare object, and do not export).
    first: Any = await call.read()  # a failure before any byte raises here, answered in the envelope
    if first is grpc.aio.EOF:
        first = httpbody_pb2.HttpBody()
    headers = headers_from_metadata(await call.initial_metadata() or ())
    media_type = first.content_type or "application/octet-stream"
    if head_only:
        call.cancel()
        return Response(status_code=binding.success_code, media_type=media_type, headers=headers)

    async def body() -> AsyncIterator[bytes]:
        try:
            yield first.data
            while (message := await call.read()) is not grpc.aio.EOF:
                yield message.data  # type: ignore[attr-defined]
        except grpc.RpcError as exc:
            # The status line is sent: all that is left is to cut the body short.
            log.warning("download failed midway", extra={"method": binding.full_method, "code": exc.code().name})
            raise
        finally:
            call.cancel()  # the client may have gone: stop the server sending

    return StreamingResponse(body(), status_code=binding.success_code, media_type=media_type, headers=headers)
