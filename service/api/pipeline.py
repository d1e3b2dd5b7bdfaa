"""What happens around every IssueService call, unary or streaming either way.

0. Take one of the call slots (admission.py), so that health and reflection
   always find a free thread; a call that gets none in time is UNAVAILABLE.
1. Authenticate the bearer token, before the request is even decoded.
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
   (`Replayed`, a request_id seen before) is answered with the first
   response, whatever the method.
6. Write one access line when the call, or the whole stream, ends.

Health and reflection are registered apart from this and need no token.
"""

from __future__ import annotations

import contextlib
import logging
import time
from dataclasses import dataclass
from typing import Any, Callable, Iterator

import grpc
from google.protobuf import any_pb2, message_factory
from google.protobuf.descriptor import MethodDescriptor
from google.rpc import code_pb2, error_details_pb2, status_pb2
from grpc_status import rpc_status

from common import descriptors, logs
from common.errors import bad_request_any

from ..app.idempotency import Replayed
from ..app.tokens import Authenticator
from ..app.unit_of_work import call_deadline
from ..domain.errors import InvalidArgument, PermissionDenied, ServiceError, Unauthenticated
from ..domain.roles import Principal, Role
from .admission import Admission
from .rate_limit import RateLimited, RateLimiter
from .telemetry import observe_call

log = logging.getLogger("service.rpc")


@dataclass(frozen=True)
class Call:
    """The call a handler serves."""

    caller: Principal | None  # None for a `signed_url` method
    method: str
    context: grpc.ServicerContext

    @property
    def principal(self) -> Principal:
        """Who is calling; a `signed_url` call has no one, and using it fails closed."""
        if self.caller is None:
            raise Unauthenticated("this call carries no token")
        return self.caller


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


class _Outcome:
    """The code a call ended with, for its access line."""

    __slots__ = ("code", "principal", "started")

    def __init__(self) -> None:
        self.started = time.perf_counter()
        self.code = "OK"
        self.principal: Principal | None = None


class Pipeline:
    def __init__(
        self, authenticator: Authenticator, admission: Admission | None = None, limiter: RateLimiter | None = None
    ) -> None:
        self._authenticator = authenticator
        # None (a test's own server): in effect unbounded.
        self._admission = admission if admission is not None else Admission.unbounded()
        self._limiter = limiter

    def method_handler(self, method: MethodDescriptor, handler: Callable[[Any, Call], Any]) -> grpc.RpcMethodHandler:
        """The gRPC handler serving `method` with `handler(request, call)`.

        For a client-streaming method `request` is an iterator of decoded
        requests; for a server-streaming one `handler` returns an iterator of
        responses.
        """
        name = descriptors.full_method_name(method)
        request_class = message_factory.GetMessageClass(method.input_type)
        response_class = message_factory.GetMessageClass(method.output_type)
        serialize = response_class.SerializeToString
        role = descriptors.required_role(method)
        required = Role(role) if role else None
        signed = descriptors.signed_url(method)
        slots = self._admission.slots_for(method)

        def decode(raw: bytes) -> Any:
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
                principal = outcome.principal = self._authenticate(context)
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
                return grpc.stream_stream_rpc_method_handler(stream, request_deserializer=None, response_serializer=serialize)
            return grpc.unary_stream_rpc_method_handler(stream, request_deserializer=None, response_serializer=serialize)

        def unary(raw: Any, context: grpc.ServicerContext) -> Any:
            outcome = _Outcome()
            with self._guarded(context, name, outcome), slots.held(context.time_remaining()):
                request, call = begin(raw, context, outcome)
                # The call's deadline bounds its database work too.
                with call_deadline(context.time_remaining()):
                    try:
                        return handler(request, call)
                    except Replayed as repeat:  # a create's request_id seen before
                        return response_class.FromString(repeat.response)

        if method.client_streaming:
            return grpc.stream_unary_rpc_method_handler(unary, request_deserializer=None, response_serializer=serialize)
        return grpc.unary_unary_rpc_method_handler(unary, request_deserializer=None, response_serializer=serialize)

    @contextlib.contextmanager
    def _guarded(self, context: grpc.ServicerContext, name: str, outcome: _Outcome) -> Iterator[None]:
        """Every failure inside becomes the call's status; one access line at the end."""
        try:
            yield
        except Exception as exc:  # noqa: BLE001 - every failure becomes a status
            self._fail(context, name, exc, outcome)
        finally:
            self._log(name, outcome)

    def _authenticate(self, context: grpc.ServicerContext) -> Principal:
        header = ""
        for key, value in context.invocation_metadata():
            if key == "authorization":
                header = value
                break
        scheme, _, token = header.partition(" ")
        token = token.strip()
        if scheme.lower() != "bearer" or not token:
            raise Unauthenticated("missing credentials: send metadata 'authorization: Bearer <token>'")
        principal = self._authenticator.principal(token)
        if self._limiter is not None:
            self._limiter.admit(token)  # a known token's call counts, whatever becomes of it
        return principal

    @staticmethod
    def _fail(context: grpc.ServicerContext, method: str, exc: Exception, outcome: _Outcome) -> None:
        """End the call with the status `exc` stands for (abort raises)."""
        if isinstance(exc, grpc.RpcError) and not context.is_active():
            # Reading a client stream the client cancelled: no one is left to answer.
            outcome.code = "CANCELLED"
            context.abort(grpc.StatusCode.CANCELLED, "the client cancelled the call")
        if isinstance(exc, ServiceError):
            outcome.code = exc.code
            context.abort_with_status(rpc_status.to_status(to_status(exc)))
        outcome.code = "INTERNAL"
        log.error("unhandled error", exc_info=exc, extra={"method": method})
        context.abort_with_status(rpc_status.to_status(INTERNAL))

    @staticmethod
    def _log(method: str, outcome: _Outcome) -> None:
        principal = outcome.principal
        elapsed = time.perf_counter() - outcome.started
        observe_call(method, outcome.code, elapsed)
        logs.access_line(
            log, "rpc", method=method, code=outcome.code,
            duration_ms=round(elapsed * 1000, 3),
            workspace=principal.workspace_slug if principal else None,
        )
