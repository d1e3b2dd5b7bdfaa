"""gRPC calls to IssueService, with every failure turned into one line for the user."""

from __future__ import annotations

from typing import Any

import grpc
from google.protobuf.message import Message

from issues.v1 import issue_service_pb2 as pb, issue_service_pb2_grpc

from .config import DEFAULT_SERVER, Settings
from .errors import CliError

TIMEOUT_SECONDS = 30.0


def has_field(request_class: type[Message], name: str) -> bool:
    """Whether this build's request message has `name`: features arrive with the protos."""
    return name in request_class.DESCRIPTOR.fields_by_name


class Client:
    """One channel to the server and the token's metadata."""

    def __init__(self, settings: Settings) -> None:
        if not settings.token:
            raise CliError("no token: pass --token, set ISSUES_TOKEN or run `issuectl login`")
        self.settings = settings
        if settings.tls:
            self._channel = grpc.secure_channel(settings.target, grpc.ssl_channel_credentials())
        else:
            self._channel = grpc.insecure_channel(settings.target)
        self._stub = issue_service_pb2_grpc.IssueServiceStub(self._channel)
        self._metadata = (("authorization", f"Bearer {settings.token}"),)

    def call(self, method: str, request: Message) -> Any:
        """`method` (an IssueService RPC name) with `request`; raises CliError on any failure."""
        try:
            return getattr(self._stub, method)(request, metadata=self._metadata, timeout=TIMEOUT_SECONDS)
        except grpc.RpcError as error:
            raise CliError(describe(error, self.settings)) from None

    def stream(self, method: str, request: Message) -> Any:
        """A server-streaming call, with no deadline (it follows until stopped); the caller handles its errors."""
        return getattr(self._stub, method)(request, metadata=self._metadata)

    def close(self) -> None:
        self._channel.close()

    def __enter__(self) -> Client:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


def describe(error: grpc.RpcError, settings: Settings) -> str:
    """The one line to print for a failed call: the fields at fault, or what to do next."""
    code = error.code() if isinstance(error, grpc.Call) else grpc.StatusCode.UNKNOWN
    message = error.details() if isinstance(error, grpc.Call) else str(error)
    if code == grpc.StatusCode.UNAVAILABLE:
        return _unreachable(message or "", settings)
    if code == grpc.StatusCode.DEADLINE_EXCEEDED:
        return f"the server at {settings.server} did not answer within {TIMEOUT_SECONDS:.0f} s"
    if code == grpc.StatusCode.UNAUTHENTICATED:
        return f"the server refused the token ({message}); run `issuectl login` or pass --token"
    if code == grpc.StatusCode.PERMISSION_DENIED:
        return f"permission denied: {message}"
    violations = _field_violations(error)
    if violations:
        return "; ".join(violations)
    return message or code.name.lower()


def _unreachable(message: str, settings: Settings) -> str:
    """Why a connection failed, in the user's terms: TLS refused, an HTTP port, or the socket's own reason."""
    where = f"cannot reach the server at {settings.server}"
    if "handshake failed" in message.lower():
        return (
            f"{where}: the TLS handshake failed (the server speaks plaintext there, or its certificate is "
            "not trusted); for a plaintext server drop https:// and --tls"
        )
    if "http1.x server" in message or "Expected SETTINGS frame" in message:
        return (
            f"{where}: that is an HTTP/1 port (the HTTP gateway's?), not gRPC; point --server at the "
            f"gRPC port (default {DEFAULT_SERVER})"
        )
    return f"{where} ({_first_line(message)}); check --server or ISSUES_SERVER"


def _first_line(text: str | None) -> str:
    # gRPC's text ends with the cause: "...: Failed to connect to remote host: Connection refused".
    return (text or "unavailable").splitlines()[0].rsplit(": ", 1)[-1].strip("[] ").lower()


def _field_violations(error: grpc.RpcError) -> list[str]:
    """`field: description` for each google.rpc.BadRequest violation in the rich status."""
    # Imported only on this error path: they add start-up time to every run.
    from google.rpc import error_details_pb2, status_pb2

    trailers = error.trailing_metadata() if isinstance(error, grpc.Call) else None
    raw = next((v for k, v in trailers or () if k == "grpc-status-details-bin"), None)
    if not raw:
        return []
    status = status_pb2.Status.FromString(raw)
    found = []
    for detail in status.details:
        bad = error_details_pb2.BadRequest()
        if detail.Unpack(bad):
            found += [f"{v.field}: {v.description}" for v in bad.field_violations]
    return found


__all__ = ["CliError", "Client", "describe", "has_field", "pb"]
