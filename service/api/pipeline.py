"""What happens around every IssueService call, unary or streaming either way.

0. Take one of the call slots (admission.py), so that health and reflection
   always find a free thread; a call that gets none in time is UNAVAILABLE.
1. Authenticate the bearer token, before the request is even decoded (or
   a stream ticket, for a method with the `stream_ticket` option: read-only,
   app/stream_tickets.py).
2. Enforce the role the method's `required_role` option names. A method
   with the `signed_url` option takes no token: its handler verifies the
   URL signature in its request. A method with neither is refused (fail closed).
3. Decode the request, or each request of a client stream: bytes that are
   not the request message are INVALID_ARGUMENT (grpcio would answer
   INTERNAL had it decoded them).
4. Run the handler with an explicit `Call`: who is calling, and the gRPC
   context. Nothing is kept in thread or context variables, so a streaming
   handler that outlives its first thread still knows its caller.
5. Map errors to statuses: a `ServiceError` becomes its code and message,
   with `google.rpc.BadRequest` details for bad input and a
   `google.rpc.ErrorInfo` for one with a reason; anything else is a bug,
   logged whole, and the caller gets a bare INTERNAL. A repeated create
   (`Replay`, a request_id seen before) is answered with the stored
   answer, whatever the method.
6. Write one access line when the call, or the whole stream, ends.

The server is `grpc.aio`'s: ordinary handlers run on its thread pool, as
they would on the synchronous server, while a handler that is an async
generator (WatchEvents) runs on the event loop and holds no thread while it
waits, so hundreds of open streams cost little. Such a handler takes no call
slot; steps 1 to 6 are the same for it.

The in-process gateway calls the same functions (`Pipeline.entries`,
runtime/inprocess.py), so its calls go through steps 0 to 6 as well.

Health and reflection are registered apart from this and need no token.
"""

from __future__ import annotations

import asyncio
import contextlib
import inspect
import logging
import time
from dataclasses import dataclass, replace
from typing import Any, AsyncIterator, Awaitable, Callable, Iterator

import grpc
from google.protobuf import any_pb2, message_factory
from google.protobuf.descriptor import MethodDescriptor
from google.rpc import code_pb2, error_details_pb2, status_pb2
from grpc._cython import cygrpc
from grpc_status import rpc_status

from common import descriptors, logs
from common.errors import bad_request_any

from ..app import stream_tickets
from ..app.request_ids import Replay
from ..app.runner import call_deadline
from ..app.tokens import Authenticator, hash_token
from ..domain.errors import InvalidArgument, PermissionDenied, ServiceError, Unauthenticated
from ..domain.roles import Principal, Role
from .admission import Admission
from .rate_limit import RateLimited, RateLimiter
from .telemetry import observe_call
from .token_rechecks import TokenRechecks

log = logging.getLogger("service.rpc")


@dataclass(frozen=True)
class Call:
    """The call a handler serves."""

    # Who is calling, None for a `signed_url` method: read it as `principal`.
    _principal: Principal | None
    method: str
    context: grpc.ServicerContext
    # A long stream's way to ask, now and then, whether its token still holds
    # (revoked or expired since the call began: Unauthenticated). None: unary.
    recheck: Callable[[], Awaitable[None]] | None = None

    @property
    def principal(self) -> Principal:
        """Who is calling; a `signed_url` call has no one, and using it fails closed."""
        if self._principal is None:
            raise Unauthenticated("this call carries no token")
        return self._principal


@dataclass(frozen=True)
class InProcessEntry:
    """One method as the in-process gateway calls it: `function(request, context)`
    is the very function the gRPC server runs, every pipeline step included,
    given the request message itself instead of its bytes.

    kind: "unary" (returns the reply, or its bytes already encoded; run it on the server's pool),
    "client_stream" (the same, given an iterator of requests), "server_stream"
    (a generator; step it on the pool) or "async_stream" (an async
    generator; run it on the server's event loop). Its items may be the
    reply's bytes already encoded.
    """

    kind: str
    function: Callable[[Any, Any], Any]
    request_class: Any
    response_class: Any


# The `domain` of the google.rpc.ErrorInfo details this service sends.
ERROR_DOMAIN = "issues.v1"


def to_status(error: ServiceError) -> status_pb2.Status:
    details = [bad_request_any(error.violations)] if isinstance(error, InvalidArgument) else []
    if isinstance(error, RateLimited):
        details = error.status_details()
    if error.reason:
        info = any_pb2.Any()
        info.Pack(error_details_pb2.ErrorInfo(reason=error.reason, domain=ERROR_DOMAIN, metadata=error.metadata))
        details.append(info)
    return status_pb2.Status(code=grpc.StatusCode[error.code].value[0], message=error.message, details=details)


# What a caller sees for a bug: no message from the exception, no trace.
INTERNAL = status_pb2.Status(code=code_pb2.INTERNAL, message="internal error")


def encode(message: Any) -> bytes:
    """A response's bytes, with map entries (Struct keys) in a fixed order:
    the stored answer of a create (requests.request_id) is encoded
    here too, so a replay equals it byte for byte. A handler may return its
    reply already encoded so (ListIssues builds its pages from encoded
    issues): bytes go out as they are."""
    if type(message) is bytes:
        return message
    return message.SerializeToString(deterministic=True)


class _Outcome:
    """The code a call ended with, for its access line."""

    __slots__ = ("code", "principal", "started")

    def __init__(self) -> None:
        self.started = time.perf_counter()
        self.code = "OK"
        self.principal: Principal | None = None


class Pipeline:
    def __init__(
        self,
        authenticator: Authenticator,
        admission: Admission,
        limiter: RateLimiter | None,
        executor: Any,
    ) -> None:
        """`executor`: the grpc.aio server's thread pool (its `migration_thread_pool`)."""
        self._executor = executor
        self._authenticator = authenticator
        self._admission = admission
        self._limiter = limiter
        # Open streams' token rechecks, those due together checked in one job on a thread.
        self._rechecks = TokenRechecks(self._token_still_holds)
        # Each method's handler as the gRPC server runs it, before grpc wraps
        # it: the in-process gateway calls these (runtime/inprocess.py).
        self.entries: dict[str, InProcessEntry] = {}

    def method_handler(self, method: MethodDescriptor, handler: Callable[[Any, Call], Any]) -> grpc.RpcMethodHandler:
        """The gRPC handler serving `method` with `handler(request, call)`.

        For a client-streaming method `request` is an iterator of decoded
        requests; for a server-streaming one `handler` returns an iterator of
        responses.
        """
        name = descriptors.full_method_name(method)
        request_class = message_factory.GetMessageClass(method.input_type)
        response_class = message_factory.GetMessageClass(method.output_type)
        serialize = encode
        role = descriptors.required_role(method)
        required = Role(role) if role else None
        signed = descriptors.signed_url(method)
        tickets = descriptors.stream_ticket(method)
        slots = self._admission.slots_for(method)
        if inspect.isasyncgenfunction(handler):
            return self._async_stream_handler(method, name, handler, decode_with=request_class, required=required)

        def decode(raw: bytes) -> Any:
            if type(raw) is request_class:  # in-process: built by the gateway, size checked there
                return raw
            try:
                return request_class.FromString(raw)
            except Exception:  # DecodeError, or invalid UTF-8 in a string field
                raise InvalidArgument.field(
                    "request", f"is not a valid {method.input_type.full_name} message"
                ) from None

        def decoded(raws: Iterator[bytes]) -> Iterator[Any]:
            for raw in raws:
                yield decode(raw)

        def begin(raw: Any, context: grpc.ServicerContext, outcome: _Outcome) -> tuple[Any, Call]:
            if signed:  # no token: the handler checks the signature in the request
                principal = None
            else:
                principal = outcome.principal = self._authenticate(context, tickets)
                if required is None or principal.role < required:
                    needed = required.label if required else "an explicit role"
                    raise PermissionDenied(f"this call needs the {needed} role; the token has {principal.role.label}")
            request = decoded(raw) if method.client_streaming else decode(raw)
            return request, Call(principal, name, context)

        if method.server_streaming:

            def stream(raw: Any, context: grpc.ServicerContext) -> Iterator[Any]:
                outcome = _Outcome()
                with self._guarded(context, name, outcome), slots.held(context.time_remaining()):
                    request, call = begin(raw, context, outcome)
                    yield from handler(request, call)

            if method.client_streaming:
                return grpc.stream_stream_rpc_method_handler(
                    stream, request_deserializer=None, response_serializer=serialize
                )
            self.entries[name] = InProcessEntry("server_stream", stream, request_class, response_class)
            return grpc.unary_stream_rpc_method_handler(
                self._stepped(stream), request_deserializer=None, response_serializer=serialize
            )

        def unary(raw: Any, context: grpc.ServicerContext) -> Any:
            outcome = _Outcome()
            with self._guarded(context, name, outcome), slots.held(context.time_remaining()):
                request, call = begin(raw, context, outcome)
                # The call's deadline bounds its database work too.
                with call_deadline(context.time_remaining()):
                    try:
                        return handler(request, call)
                    except Replay as replay:  # a create's request_id seen before
                        return response_class.FromString(replay.response)

        kind = "client_stream" if method.client_streaming else "unary"
        self.entries[name] = InProcessEntry(kind, unary, request_class, response_class)
        if method.client_streaming:
            return grpc.stream_unary_rpc_method_handler(unary, request_deserializer=None, response_serializer=serialize)
        return grpc.unary_unary_rpc_method_handler(unary, request_deserializer=None, response_serializer=serialize)

    def _stepped(self, stream: Callable[[Any, Any], Iterator[Any]]) -> Callable[[Any, Any], AsyncIterator[Any]]:
        """A synchronous response stream (DownloadBlob) served step by step from the event loop.

        grpc.aio runs a synchronous generator on a thread of its own that
        hands each message over through a bounded queue; when the client
        goes away mid-stream nothing takes from that queue again, and the
        thread waits forever. Here each message is one `next` on the pool,
        no thread is held between messages, and a call that ends early
        closes the generator (its slot and its access line) on the pool.
        """
        executor = self._executor
        done = object()

        async def stepped(raw: Any, context: Any) -> AsyncIterator[Any]:
            loop = asyncio.get_running_loop()
            steps = stream(raw, cygrpc._SyncServicerContext(context))
            finished = False
            try:
                while True:
                    item = await loop.run_in_executor(executor, next, steps, done)
                    if item is done:
                        finished = True
                        return
                    yield item
            finally:
                if not finished:
                    loop.run_in_executor(executor, steps.close)  # not awaited: the call may be cancelled

        return stepped

    def _async_stream_handler(
        self,
        method: MethodDescriptor,
        name: str,
        handler: Callable[[Any, Call], AsyncIterator[Any]],
        *,
        decode_with: Any,
        required: Role | None,
    ) -> grpc.RpcMethodHandler:
        """A server-streaming method served on the event loop: authenticated,
        authorized, decoded, mapped and logged as every other call."""
        if method.client_streaming or not method.server_streaming or required is None:
            raise ValueError(f"{name}: only server-streaming methods with a role may be async")

        def serialize(item: Any) -> bytes:
            # A handler may yield messages already encoded (one encoding shared by many streams).
            return item if isinstance(item, bytes) else encode(item)

        async def stream(raw: bytes, context: grpc.aio.ServicerContext) -> AsyncIterator[Any]:
            outcome = _Outcome()
            status: status_pb2.Status | None = None
            try:
                loop = asyncio.get_running_loop()
                # A token lookup may query the database: not on the event loop.
                principal = outcome.principal = await loop.run_in_executor(
                    None, self._authenticate, context, descriptors.stream_ticket(method)
                )
                if principal.role < required:
                    raise PermissionDenied(
                        f"this call needs the {required.label} role; the token has {principal.role.label}"
                    )
                try:
                    request = raw if type(raw) is decode_with else decode_with.FromString(raw)
                except Exception:  # DecodeError, or invalid UTF-8 in a string field
                    raise InvalidArgument.field(
                        "request", f"is not a valid {method.input_type.full_name} message"
                    ) from None

                async def recheck() -> None:
                    await self._rechecks.holds(bearer_token(context))

                async for item in handler(request, Call(principal, name, context, recheck)):
                    yield item
            except asyncio.CancelledError:
                outcome.code = "CANCELLED"
                raise
            except ServiceError as exc:
                outcome.code = exc.code
                status = to_status(exc)
            except Exception as exc:  # noqa: BLE001 - a bug: logged whole, a bare INTERNAL for the caller
                outcome.code = "INTERNAL"
                log.error("unhandled error", exc_info=exc, extra={"method": name})
                status = INTERNAL
            finally:
                self._log(name, outcome)
            if status is not None:
                grpc_status = rpc_status.to_status(status)
                await context.abort(grpc_status.code, grpc_status.details, grpc_status.trailing_metadata)

        self.entries[name] = InProcessEntry(
            "async_stream", stream, decode_with, message_factory.GetMessageClass(method.output_type)
        )
        return grpc.unary_stream_rpc_method_handler(stream, request_deserializer=None, response_serializer=serialize)

    @contextlib.contextmanager
    def _guarded(self, context: grpc.ServicerContext, name: str, outcome: _Outcome) -> Iterator[None]:
        """Every failure inside becomes the call's status; one access line at the end."""
        try:
            yield
        except Exception as exc:  # noqa: BLE001 - every failure becomes a status
            self._fail(context, name, exc, outcome)
        finally:
            self._log(name, outcome)

    def _authenticate(self, context: grpc.ServicerContext, tickets: bool = False) -> Principal:
        token = bearer_token(context)
        if stream_tickets.is_ticket(token):
            if not tickets:
                raise PermissionDenied("a stream ticket opens only the event streams: send the token for this call")
            key = stream_tickets.token_key(token, opening=True)
            principal = replace(self._authenticator.principal_by_key(key), role=Role.VIEWER)  # read-only
        else:
            key = hash_token(token)  # once: the token cache and the rate limit both key on it
            principal = self._authenticator.principal_by_key(key)
        if self._limiter is not None:
            # A known token's call counts, whatever becomes of it; a ticket's, as its token's.
            self._limiter.admit_key(key)
        return principal

    def _token_still_holds(self, token: str) -> None:
        """Unauthenticated if a call's token (or the one behind its stream ticket)
        no longer stands for anyone (no rate limit taken)."""
        if stream_tickets.is_ticket(token):
            self._authenticator.principal_by_key(stream_tickets.token_key(token, opening=False))
        else:
            self._authenticator.principal(token)

    @staticmethod
    def _fail(context: grpc.ServicerContext, method: str, exc: Exception, outcome: _Outcome) -> None:
        """End the call with the status `exc` stands for (abort raises)."""
        if isinstance(exc, (grpc.RpcError, asyncio.CancelledError, ServiceError)) and _deadline_passed(context):
            # Past the deadline the caller hears DEADLINE_EXCEEDED whatever
            # the handler says (over gRPC the library answers so itself): a
            # client stream read at the deadline fails (in-process) or just
            # ends early (over gRPC, then "too few bytes"); neither is the
            # client's fault nor its request's.
            outcome.code = "DEADLINE_EXCEEDED"
            context.abort(grpc.StatusCode.DEADLINE_EXCEEDED, "Deadline Exceeded")
        if isinstance(exc, (grpc.RpcError, asyncio.CancelledError)):
            # Reading a client stream the client cancelled: no one is left to
            # answer (the thread-pool context cannot tell whether the client
            # still waits; a failed read of its stream means it went away).
            outcome.code = "CANCELLED"
            context.abort(grpc.StatusCode.CANCELLED, "the client cancelled the call")
        if isinstance(exc, ServiceError):
            outcome.code = exc.code
            _abort_with_status(context, to_status(exc))
        outcome.code = "INTERNAL"
        log.error("unhandled error", exc_info=exc, extra={"method": method})
        _abort_with_status(context, INTERNAL)

    @staticmethod
    def _log(method: str, outcome: _Outcome) -> None:
        principal = outcome.principal
        elapsed = time.perf_counter() - outcome.started
        observe_call(method, outcome.code, elapsed)
        logs.access_line(
            log,
            "rpc",
            method=method,
            code=outcome.code,
            duration_ms=round(elapsed * 1000, 3),
            workspace=principal.workspace_slug if principal else None,
        )


def bearer_token(context: grpc.ServicerContext) -> str:
    """The token of the call's `authorization: Bearer <token>` metadata."""
    header = next((value for key, value in context.invocation_metadata() if key == "authorization"), "")
    scheme, _, token = header.partition(" ")
    token = token.strip()
    if scheme.lower() != "bearer" or not token:
        raise Unauthenticated("missing credentials: send metadata 'authorization: Bearer <token>'")
    return token


def _abort_with_status(context: grpc.ServicerContext, status: status_pb2.Status) -> None:
    """End the call with `status`, its details in the trailers (raises).

    The asyncio server's context for thread-pool handlers has no
    `abort_with_status`; this is what that method does."""
    converted = rpc_status.to_status(status)
    context.abort(converted.code, converted.details, converted.trailing_metadata)  # type: ignore[call-arg]


def _deadline_passed(context: grpc.ServicerContext) -> bool:
    remaining = context.time_remaining()  # None: no deadline (in-process, grpc.aio)
    return remaining is not None and remaining <= 0
