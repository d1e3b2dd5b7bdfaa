"""HTTP request -> gRPC call -> HTTP response, for every binding of the route table.

`TranscodingRoute` is one Starlette route that stands for the whole table: it
matches by the table's own resolution (so a literal beats a variable and a
known path with the wrong method is a 405), builds the request message from
path variables, query parameters, the JSON body and the headers that stand
for fields (headers.py: Idempotency-Key, If-Match), calls the method through
the app's transport (transport.py: the gRPC channel, or the server itself
in-process), and writes the reply in the contract's JSON, with its etag as
the ETag header (and a 304 for a GET whose If-None-Match names it),
and a create's 201 with the new item's `Location` (location.py).
Raw-body uploads and downloads (HttpBody streams) go through streaming.py;
other server streams are Server-Sent Events (sse.py), picked by the client's
`Accept: text/event-stream` where a unary method shares their path.
"""

from __future__ import annotations

import logging
import re
from typing import Any

import grpc
from google.protobuf import message_factory
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import BaseRoute, Match, NoMatchFound
from starlette.types import Receive, Scope, Send

from common.descriptors import STREAM_TICKET_PARAMETER, is_required, query_name, signed_url, stream_ticket

from . import headers, sse, streaming
from .codec import InvalidJson, ReplyWriter, merge_object, merge_path, merge_query, parse_json
from .errors import GatewayError, bad_request, error_response, from_rpc_error, http_error, invalid_field
from .limits import declared_length, too_large
from .location import item_route
from .routing import Binding, RouteTable
from .transport import Transport

__all__ = ["DEFAULT_TIMEOUT_SECONDS", "MAX_TIMEOUT_SECONDS", "TranscodingRoute"]

DEFAULT_TIMEOUT_SECONDS = 10.0
MAX_TIMEOUT_SECONDS = 300.0
# A raw-body stream may take long on a slow link: as long as an upload URL lives.
STREAM_TIMEOUT_SECONDS = 3600.0
_GRPC_TIMEOUT = re.compile(r"^([0-9]{1,8})([HMSmun])$")
_TIMEOUT_UNITS = {"H": 3600.0, "M": 60.0, "S": 1.0, "m": 1e-3, "u": 1e-6, "n": 1e-9}
_PRINTABLE_ASCII = re.compile(r"^[\x20-\x7e]*$")
# Whose replies are asked for again and again: their resources' texts are kept.
_READS = frozenset({"GET", "HEAD"})

log = logging.getLogger("gateway")


class _Method:
    """What one binding needs at request time, worked out once."""

    def __init__(self, binding: Binding, table: RouteTable) -> None:
        self.binding = binding
        # A create's reply names where its item now lives (Location).
        self.item = item_route(binding, table)
        self.request_class = message_factory.GetMessageClass(binding.method.input_type)
        self.response_class = message_factory.GetMessageClass(binding.method.output_type)
        self.query_fields = binding.query_fields
        mask = binding.update_mask_field
        self.mask_field = mask.name if mask is not None else None
        path_fields = binding.path_fields
        # Fields set by headers (request_id, etag); only these headers set them.
        self.header_fields = binding.header_fields
        # Query parameters named apart from their field: the server's violations are renamed back.
        self.query_names = {f.name: query_name(f) for f in binding.method.input_type.fields if query_name(f) != f.name}
        self.body_skip = binding.body_skip
        # The reply's etag goes out as the ETag header too (not for a reply cut down to one field).
        self.etag = headers.has_etag(binding.method.output_type) and not binding.response_body
        self.required = (
            tuple(f.name for f in binding.method.input_type.fields if is_required(f) and f.name not in path_fields)
            if binding.body == "*"
            else ()
        )
        self.empty_response = binding.method.output_type.full_name == "google.protobuf.Empty"
        self.upload = streaming.is_upload(binding)
        self.download = streaming.is_download(binding)
        self.events = binding.event_stream
        method = binding.method
        if (method.client_streaming or method.server_streaming) and not (self.upload or self.download or self.events):
            raise ValueError(f"{method.full_name}: only HttpBody streams and server streams have an HTTP mapping")
        # The URL's signature, in the request, is the credential: no token to require.
        self.needs_token = not signed_url(method)
        # `?ticket=` may stand in for the token (an EventSource sends no headers).
        self.ticket = stream_ticket(method)


class TranscodingRoute(BaseRoute):
    """All annotated methods of a service, as one route."""

    def __init__(
        self, table: RouteTable, backend: Transport, *, max_body_bytes: int = 1 << 20, max_upload_bytes: int = 512 << 20
    ) -> None:
        self.table = table
        self.backend = backend
        self.max_body_bytes = max_body_bytes  # JSON bodies
        self.max_upload_bytes = max_upload_bytes  # raw-body uploads
        self._methods = {id(b): _Method(b, table) for b in table.bindings}
        self.writer = ReplyWriter()

    def matches(self, scope: Scope) -> tuple[Match, Scope]:
        if scope["type"] != "http":
            return Match.NONE, {}
        raw = scope.get("raw_path")
        path = raw.decode("latin-1").split("?", 1)[0] if raw else scope["path"]
        resolution = self.table.resolve(scope["method"], path)
        if resolution is None:
            return Match.NONE, {}
        child = {"gateway.resolution": resolution, "path_params": resolution.path_params}
        return (Match.FULL if resolution.binding is not None else Match.PARTIAL), child

    def url_path_for(self, name: str, /, **path_params: Any) -> Any:
        raise NoMatchFound(name, path_params)

    async def handle(self, scope: Scope, receive: Receive, send: Send) -> None:
        resolution = scope["gateway.resolution"]
        try:
            if resolution.binding is None and scope["method"] == "OPTIONS":
                response: Response | sse.EventStream = Response(
                    status_code=204, headers={"Allow": ", ".join(resolution.allowed)}
                )
                await response(scope, receive, send)
                return
            if resolution.binding is None:
                raise http_error(
                    405,
                    f"{scope['method']} is not allowed here; allowed: {', '.join(resolution.allowed)}",
                    headers={"Allow": ", ".join(resolution.allowed)},
                )
            request = headers.GatewayRequest(scope, receive)
            binding = resolution.binding
            if resolution.stream is not None and sse.accepts_events(request):
                binding = resolution.stream
            elif binding.event_stream:
                raise http_error(406, f"this route streams events: send `Accept: {sse.MEDIA_TYPE}`")
            response = await self._call(self._methods[id(binding)], request, resolution.path_params)
        except GatewayError as exc:
            response = error_response(exc)
        except InvalidJson as exc:
            response = error_response(bad_request(exc))
        except grpc.RpcError as exc:
            response = error_response(from_rpc_error(exc, self._methods[id(binding)].query_names))
        except Exception:  # a gateway bug: logged here, never shown to the client
            log.exception("unhandled error", extra={"path": scope["path"], "method": scope["method"]})
            response = error_response(http_error(500, "internal error"))
        await response(scope, receive, send)

    async def _call(self, method: _Method, request: Request, path_params: dict[str, str]) -> Response | sse.EventStream:
        binding = method.binding
        # Before the body: who asks comes first.
        metadata = _metadata(request, method.ticket) if method.needs_token else ()
        message = method.request_class()
        if binding.body and not method.upload:
            data = await self._read_json(request)
            if binding.body == "*":
                # AIP-134 over JSON: a PATCH body's keys are the fields to change.
                merge_object(
                    message,
                    data,
                    skip=method.body_skip,
                    required=method.required,
                    mask_from_keys=method.mask_field is not None,
                )
            else:
                wrapper = {binding.body: data}
                merge_object(message, wrapper)
        if request.scope.get("query_string"):
            query = request.query_params.multi_items()
            if method.ticket:
                query = [(k, v) for k, v in query if k != STREAM_TICKET_PARAMETER]  # a credential, not a field
            merge_query(message, query, method.query_fields)
        merge_path(message, path_params)
        headers.read(message, request.headers, method.header_fields)

        if method.events:
            names = sse.apply_last_event_id(message, request, method.query_names)
            stream = self.backend.server_stream(binding.full_method, method.response_class)
            try:
                # No deadline: a watcher follows for as long as it stays connected.
                return await sse.respond(stream(message, metadata=metadata, timeout=None), binding.full_method, names)
            except grpc.RpcError as exc:
                raise from_rpc_error(exc, names) from None
        if method.upload:
            sender = self.backend.client_stream(binding.full_method, method.response_class)
            # No request iterator: streaming.upload writes the messages (the stubs require one).
            sending = sender(
                metadata=metadata, timeout=_timeout(request, STREAM_TIMEOUT_SECONDS, STREAM_TIMEOUT_SECONDS)
            )
            # The method's response message, whose fields are read by name below.
            reply: Any = await streaming.upload(sending, message, binding.body, request, self.max_upload_bytes)
        elif method.download:
            stream = self.backend.server_stream(binding.full_method, method.response_class)
            call = stream(
                message, metadata=metadata, timeout=_timeout(request, STREAM_TIMEOUT_SECONDS, STREAM_TIMEOUT_SECONDS)
            )
            return await streaming.download(call, binding, head_only=request.method == "HEAD")
        else:
            unary = self.backend.unary(binding.full_method, method.response_class)
            reply = await unary(message, metadata=metadata, timeout=_timeout(request))
        if method.empty_response:
            return Response(status_code=binding.success_code)
        extra: dict[str, str] = {}
        location = method.item.url(path_params, reply) if method.item is not None else None
        if location is not None:
            extra["Location"] = location
        if method.etag and reply.etag:
            extra["ETag"] = headers.quoted(reply.etag)
            match = request.headers.get("if-none-match") if request.method in ("GET", "HEAD") else None
            if match is not None and headers.none_match(match, reply.etag):
                return Response(status_code=304, headers=extra)
        # A read's resources are written from their kept texts (codec/writing.py).
        # The response field alone, where the binding names one: `files` answers as a bare JSON array.
        body = self.writer.write(reply, keep=request.method in _READS, field=binding.response_body or None)
        return Response(body, binding.success_code, headers=extra, media_type="application/json")

    async def _read_json(self, request: Request) -> Any:
        limit = self.max_body_bytes
        if declared_length(request, limit) == 0:
            return {}  # no body: an empty request, which the service validates
        media_type = request.headers.get("content-type", "").split(";", 1)[0].strip().lower()
        is_json = media_type == "application/json" or media_type.endswith("+json")
        if media_type and not is_json:
            raise _unsupported(media_type)
        # Count while streaming: Content-Length may be missing (chunked) or a lie.
        chunks: list[bytes] = []
        size = 0
        async for chunk in request.stream():
            size += len(chunk)
            if size > limit:
                raise too_large(limit)
            chunks.append(chunk)
        body = b"".join(chunks)
        if not body:
            return {}
        if not is_json:
            raise _unsupported(media_type)
        return parse_json(body)


def _unsupported(media_type: str) -> GatewayError:
    shown = media_type or "none"
    return http_error(415, f"the body must be application/json, not {shown}")


def _metadata(request: Request, ticket_ok: bool = False) -> tuple[tuple[str, str], ...]:
    """The call's metadata: the bearer token, checked for its form here so a 401 speaks HTTP;
    or, where `ticket_ok`, a stream ticket from the query, sent the same way (the server tells them apart)."""
    authorization = request.headers.get("authorization")
    tickets = request.query_params.getlist(STREAM_TICKET_PARAMETER) if ticket_ok else []
    if tickets:
        if authorization is not None or len(tickets) > 1:
            raise invalid_field(
                STREAM_TICKET_PARAMETER, "send one stream ticket, or the Authorization header, not both"
            )
        authorization = f"Bearer {tickets[0]}"
    if authorization is None:
        raise http_error(401, "missing credentials: send the header `Authorization: Bearer <token>`")
    scheme, _, token = authorization.partition(" ")
    # gRPC metadata cannot carry anything but printable ASCII; no token is anything else.
    if scheme.lower() != "bearer" or not token.strip() or not _PRINTABLE_ASCII.match(authorization):
        raise http_error(401, "malformed credentials: the header must be `Authorization: Bearer <token>`")
    return (("authorization", authorization),)


def _timeout(request: Request, default: float = DEFAULT_TIMEOUT_SECONDS, longest: float = MAX_TIMEOUT_SECONDS) -> float:
    """The call's deadline: the caller's `grpc-timeout` header (at most `longest`) if any, else `default`."""
    header = request.headers.get("grpc-timeout")
    if header is None:
        return default
    m = _GRPC_TIMEOUT.match(header)
    if m is None:
        raise http_error(
            400, "grpc-timeout must be digits and a unit (H, M, S, m, u, n), e.g. 5S", field="grpc-timeout"
        )
    return min(int(m.group(1)) * _TIMEOUT_UNITS[m.group(2)], longest)
