"""How the gateway reaches the service: a transport, over gRPC or in the same process.

The transcoder asks a transport for three kinds of call, each named by its
full method (`/issues.v1.IssueService/GetIssue`) and the reply's message class,
with the same shapes as grpc.aio's multi-callables (as grpc-gateway's
generated code calls either a client or, with `Register...HandlerServer`,
the server directly):

    unary(method, reply)(request, metadata=, timeout=)      awaitable reply
    server_stream(method, reply)(request, metadata=, timeout=)
        a call with `initial_metadata()`, `read()` (a message or
        grpc.aio.EOF), `done()` and `cancel()`
    client_stream(method, reply)(metadata=, timeout=)
        a call with `write()`, `done_writing()`, `initial_metadata()`,
        `cancel()`, awaited for the reply

A failed call raises a grpc.RpcError with `code()`, `details()` and
`trailing_metadata()` (the rich status in `grpc-status-details-bin`), so
errors.from_rpc_error reads either transport's failures alike. A transport
also says whether the service is ready (`not_serving()`) and closes.

`GrpcTransport` is the channel (the standalone gateway, `serve --workers N`);
the in-process one is the server's own (service/runtime/inprocess.py),
passed to build_app by `serve`.
"""

from __future__ import annotations

import logging
from typing import Any, Protocol

import grpc
from google.protobuf.message import Message
from grpc_health.v1 import health_pb2, health_pb2_grpc

__all__ = ["GrpcTransport", "Transport", "split_target"]

log = logging.getLogger("gateway")

READY_TIMEOUT_SECONDS = 2.0


class Transport(Protocol):
    def unary(self, full_method: str, response_class: type[Message]) -> Any: ...
    def server_stream(self, full_method: str, response_class: type[Message]) -> Any: ...
    def client_stream(self, full_method: str, response_class: type[Message]) -> Any: ...

    async def not_serving(self) -> str | None:
        """None if the service is ready, else what it reports."""
        ...

    async def close(self, grace: float | None = None) -> None: ...


def split_target(target: str) -> list[str]:
    """The servers a target names: `ipv4:127.0.0.1:5001,127.0.0.1:5002` (gRPC's
    own spelling of an address list) is two, each as a target of its own;
    anything else is one."""
    scheme, sep, addresses = target.partition(":")
    if scheme in ("ipv4", "ipv6") and sep and "," in addresses:
        return [f"{scheme}:{address}" for address in addresses.split(",") if address]
    return [target]


class GrpcTransport:
    """The one gRPC channel of an app, opened on first use inside the server's event loop.

    A target that lists several servers (`ipv4:A,B`: the worker processes of
    `serve --workers N`) spreads calls over them round-robin, skipping any that
    is down and reconnecting to it within a second or two once it is back.
    """

    def __init__(self, target: str, options: list[tuple[str, Any]] | None = None) -> None:
        self.target = target
        # A page of 1000 issues with rich descriptions can pass gRPC's 4 MiB
        # default; refusing it would surface as a misleading 429.
        self._options = options if options is not None else [("grpc.max_receive_message_length", 64 << 20)]
        if options is None and len(split_target(target)) > 1:
            self._options += [
                ("grpc.lb_policy_name", "round_robin"),
                # A restarted worker is back within about a second: look for it that often.
                ("grpc.initial_reconnect_backoff_ms", 200),
                ("grpc.min_reconnect_backoff_ms", 200),
                ("grpc.max_reconnect_backoff_ms", 2000),
            ]
        self._channel: grpc.aio.Channel | None = None
        self._callables: dict[tuple[str, str], Any] = {}

    @property
    def channel(self) -> grpc.aio.Channel:
        if self._channel is None:
            self._channel = grpc.aio.insecure_channel(self.target, options=self._options)
        return self._channel

    def unary(self, full_method: str, response_class: type[Message]) -> grpc.aio.UnaryUnaryMultiCallable[Message, Any]:
        return self._callable("unary_unary", full_method, response_class)  # type: ignore[no-any-return]

    def client_stream(
        self, full_method: str, response_class: type[Message]
    ) -> grpc.aio.StreamUnaryMultiCallable[Message, Any]:
        return self._callable("stream_unary", full_method, response_class)  # type: ignore[no-any-return]

    def server_stream(
        self, full_method: str, response_class: type[Message]
    ) -> grpc.aio.UnaryStreamMultiCallable[Message, Any]:
        return self._callable("unary_stream", full_method, response_class)  # type: ignore[no-any-return]

    def _callable(self, kind: str, full_method: str, response_class: type[Message]) -> Any:
        call = self._callables.get((kind, full_method))
        if call is None:
            call = self._callables[(kind, full_method)] = getattr(self.channel, kind)(
                full_method,
                request_serializer=lambda m: m.SerializeToString(),
                response_deserializer=response_class.FromString,
            )
        return call

    async def not_serving(self) -> str | None:
        """None if the server behind the channel reports SERVING, else what it reports."""
        try:
            # types-grpcio-health-checking declares HealthStub without its methods.
            reply = await health_pb2_grpc.HealthStub(self.channel).Check(  # type: ignore[attr-defined]
                health_pb2.HealthCheckRequest(service=""), timeout=READY_TIMEOUT_SECONDS
            )
        except grpc.RpcError as exc:
            log.warning("readiness check failed", extra={"code": exc.code().name if exc.code() else None})
            return "the service is unreachable"
        return not_serving_text(reply.status)

    async def close(self, grace: float | None = None) -> None:
        if self._channel is not None:
            channel, self._channel = self._channel, None
            self._callables.clear()
            await channel.close(grace)


def not_serving_text(status: int) -> str | None:
    """None for SERVING, else what a health status means for readiness."""
    if status != health_pb2.HealthCheckResponse.SERVING:
        return f"the service reports {health_pb2.HealthCheckResponse.ServingStatus.Name(status)}"
    return None
