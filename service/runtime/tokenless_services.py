"""The services that need no token: health (with List) and reflection, served
under both reflection packages, with request decoding that cannot fail as
INTERNAL.

grpcio decodes a request before any handler runs and answers INTERNAL
("Exception deserializing request!") when the bytes are not the message; for
these services `DecodeGuard` decodes inside the handler instead, so bad
bytes are INVALID_ARGUMENT. IssueService decodes in its own pipeline.
"""

from __future__ import annotations

import asyncio
import inspect
from typing import Any, AsyncIterator, Callable, Iterator

import grpc
from google.protobuf import descriptor_pb2, descriptor_pool
from grpc_health.v1 import health, health_pb2
from grpc_reflection.v1alpha import reflection, reflection_pb2

_GUARDED = ("/grpc.health.", "/grpc.reflection.")
# grpc.reflection.v1 has the same messages as v1alpha under a new package;
# buf curl and newer grpcurl ask for it first.
REFLECTION_V1 = "grpc.reflection.v1.ServerReflection"
_V1_FILE = "grpc/reflection/v1/reflection.proto"


class Health(health.HealthServicer):
    """The standard health servicer, with List (which grpcio's leaves unimplemented),
    and Watch on the event loop.

    grpcio's Watch blocks a thread until the call ends, and under the asyncio
    server nothing tells it the call ended: each watch would hold a pool
    thread for good (and keep the process from exiting). This Watch is an
    async generator: it holds no thread, ends when the client goes, and ends
    after saying NOT_SERVING once the server is shutting down.
    """

    POLL_SECONDS = 0.1

    async def Watch(
        self, request: health_pb2.HealthCheckRequest, context: Any
    ) -> AsyncIterator[health_pb2.HealthCheckResponse]:  # type: ignore[override]
        last = None
        while True:
            with self._lock:
                status = self._server_status.get(request.service, health_pb2.HealthCheckResponse.SERVICE_UNKNOWN)
                leaving = self._gracefully_shutting_down
            if status != last:
                yield health_pb2.HealthCheckResponse(status=status)
                last = status
            if leaving:
                return
            await asyncio.sleep(self.POLL_SECONDS)

    def List(
        self, request: health_pb2.HealthListRequest, context: grpc.ServicerContext
    ) -> health_pb2.HealthListResponse:
        with self._lock:
            statuses = dict(self._server_status)
        return health_pb2.HealthListResponse(
            statuses={name: health_pb2.HealthCheckResponse(status=status) for name, status in statuses.items()}
        )


def _describe_reflection_v1() -> None:
    """Put grpc.reflection.v1's file in the default pool, which reflection answers from.

    grpcio-reflection ships only v1alpha's descriptor, so a listed v1 service
    could not be described (`grpcurl describe`, `buf curl --list-methods`
    fail on it). v1 is v1alpha's file under the new package, as upstream's
    reflection.proto is: the same messages, fields and numbers.
    """
    pool = descriptor_pool.Default()
    try:
        pool.FindFileByName(_V1_FILE)
        return
    except KeyError:
        pass
    proto = descriptor_pb2.FileDescriptorProto()
    reflection_pb2.DESCRIPTOR.CopyToProto(proto)
    old, new = f".{proto.package}.", ".grpc.reflection.v1."
    proto.name, proto.package = _V1_FILE, "grpc.reflection.v1"
    proto.ClearField("options")
    for message in proto.message_type:
        for field in message.field:
            if field.type_name.startswith(old):
                field.type_name = new + field.type_name[len(old) :]
    for service in proto.service:
        for method in service.method:
            method.input_type = method.input_type.replace(old, new, 1)
            method.output_type = method.output_type.replace(old, new, 1)
    pool.AddSerializedFile(proto.SerializeToString())


def reflection_handlers(service_names: tuple[str, ...]) -> list[grpc.GenericRpcHandler]:
    """Reflection as grpc.reflection.v1alpha and grpc.reflection.v1, naming and describing both."""
    _describe_reflection_v1()
    names = (*service_names, reflection.SERVICE_NAME, REFLECTION_V1)
    servicer = reflection.ReflectionServicer(names)
    method = grpc.stream_stream_rpc_method_handler(
        servicer.ServerReflectionInfo,
        request_deserializer=reflection_pb2.ServerReflectionRequest.FromString,
        response_serializer=reflection_pb2.ServerReflectionResponse.SerializeToString,
    )
    return [
        grpc.method_handlers_generic_handler(service, {"ServerReflectionInfo": method})
        for service in (reflection.SERVICE_NAME, REFLECTION_V1)
    ]


def _bad_request(context: grpc.ServicerContext) -> None:
    context.abort(grpc.StatusCode.INVALID_ARGUMENT, "the request is not a valid message of this method")


def _decoded(decode: Callable[[bytes], Any], raw: bytes, context: grpc.ServicerContext) -> Any:
    try:
        return decode(raw)
    except Exception:  # DecodeError, or invalid UTF-8 in a string field
        _bad_request(context)


class DecodeGuard(grpc.aio.ServerInterceptor):
    """Decodes the requests of health and reflection inside their handlers."""

    def __init__(self) -> None:
        self._wrapped: dict[str, grpc.RpcMethodHandler] = {}

    async def intercept_service(self, continuation: Callable[[Any], Any], details: grpc.HandlerCallDetails) -> Any:
        method = details.method
        if not method.startswith(_GUARDED):
            return await continuation(details)
        wrapped = self._wrapped.get(method)
        if wrapped is None:
            handler = await continuation(details)
            if handler is None or handler.request_deserializer is None:
                return handler
            wrapped = self._wrapped[method] = _guard(handler)
        return wrapped


def _guard(handler: grpc.RpcMethodHandler) -> grpc.RpcMethodHandler:
    decode, serialize = handler.request_deserializer, handler.response_serializer
    if handler.unary_unary:
        behavior = handler.unary_unary
        return grpc.unary_unary_rpc_method_handler(
            lambda raw, context: behavior(_decoded(decode, raw, context), context), response_serializer=serialize
        )
    # Generator functions, not lambdas returning generators: the asyncio
    # server tells a streaming handler by its kind, and an abort raised before
    # a plain function returned its iterator would leave the call hanging.
    if handler.unary_stream and inspect.isasyncgenfunction(handler.unary_stream):
        on_loop = handler.unary_stream

        async def responses_on_loop(raw: bytes, context: Any) -> AsyncIterator[Any]:
            try:
                request = decode(raw)
            except Exception:  # DecodeError, or invalid UTF-8 in a string field
                await context.abort(
                    grpc.StatusCode.INVALID_ARGUMENT, "the request is not a valid message of this method"
                )
            async for response in on_loop(request, context):
                yield response

        return grpc.unary_stream_rpc_method_handler(responses_on_loop, response_serializer=serialize)
    if handler.unary_stream:
        stream = handler.unary_stream

        def responses(raw: bytes, context: grpc.ServicerContext) -> Iterator[Any]:
            yield from stream(_decoded(decode, raw, context), context)

        return grpc.unary_stream_rpc_method_handler(responses, response_serializer=serialize)
    if handler.stream_stream:
        bidi = handler.stream_stream

        def requests(raws: Iterator[bytes], context: grpc.ServicerContext) -> Iterator[Any]:
            for raw in raws:
                yield _decoded(decode, raw, context)

        def answers(raws: Iterator[bytes], context: grpc.ServicerContext) -> Iterator[Any]:
            yield from bidi(requests(raws, context), context)

        return grpc.stream_stream_rpc_method_handler(answers, response_serializer=serialize)
    return handler
