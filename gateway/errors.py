"""Every error the gateway answers with, in one envelope and one status table.

    {"error": {"code": 400, "status": "INVALID_ARGUMENT", "message": "...", "details": [...]}}

The status table and the envelope's shape are `common.errors`' (shared with
the CLI); this module makes Starlette responses of them. The details come from the google.rpc.Status the server sends in its
`grpc-status-details-bin` trailer; a stack trace never gets here.
"""

from __future__ import annotations

import json
import logging
import math
import re
from typing import Any, Iterable, Mapping

import grpc
from google.protobuf import any_pb2, message_factory, symbol_database
from google.rpc import error_details_pb2
from grpc_status import rpc_status
from starlette.responses import Response

from common.errors import (
    BAD_REQUEST_TYPE_URL,
    HTTP_STATUS,
    STATUS_FOR_HTTP,
    FieldViolation,
    bad_request_json as bad_request_detail,
    envelope,
)

from .codec import InvalidJson, to_json

__all__ = [
    "HTTP_STATUS",
    "STATUS_FOR_HTTP",
    "GatewayError",
    "bad_request",
    "bad_request_detail",
    "error_response",
    "from_rpc_error",
    "http_error",
    "invalid_field",
]

log = logging.getLogger("gateway.errors")


class GatewayError(Exception):
    """An HTTP error response waiting to be sent.

    `status` is the canonical gRPC code name shown in the envelope; errors made
    by the gateway itself take theirs from STATUS_FOR_HTTP (see `http_error`).
    """

    def __init__(
        self,
        http_status: int,
        status: str,
        message: str,
        details: Iterable[dict[str, Any]] = (),
        headers: Mapping[str, str] | None = None,
    ) -> None:
        super().__init__(message)
        self.http_status = http_status
        self.status = status
        self.message = message
        self.details = list(details)
        self.headers = dict(headers or {})
        if http_status == 401:
            self.headers.setdefault("WWW-Authenticate", "Bearer")

    def envelope(self) -> dict[str, Any]:
        return envelope(self.http_status, self.status, self.message, self.details)


def http_error(
    http_status: int, message: str, *, field: str | None = None, headers: Mapping[str, str] | None = None
) -> GatewayError:
    """An error made without a gRPC call, in the same envelope; `field` adds a BadRequest naming it."""
    details = [bad_request_detail([FieldViolation(field, message)])] if field else []
    return GatewayError(http_status, STATUS_FOR_HTTP.get(http_status, "UNKNOWN"), message, details, headers)


def invalid_field(field: str, description: str) -> GatewayError:
    """400 naming `field`, shaped as the server's are: the message `field: description`,
    the violation the field and the description."""
    return GatewayError(
        400, "INVALID_ARGUMENT", f"{field}: {description}", [bad_request_detail([FieldViolation(field, description)])]
    )


def error_response(error: GatewayError) -> Response:
    body = json.dumps(error.envelope(), ensure_ascii=False, separators=(",", ":")).encode()
    return Response(body, error.http_status, headers=error.headers, media_type="application/json")


def bad_request(invalid: InvalidJson) -> GatewayError:
    """400 for input the gateway refused before calling the service."""
    return GatewayError(400, "INVALID_ARGUMENT", str(invalid), [bad_request_detail(invalid.violations)])


def from_rpc_error(error: grpc.RpcError, names: Mapping[str, str] | None = None) -> GatewayError:
    """The HTTP form of a failed call, details decoded from the rich status.

    `names`: request fields whose query parameter has another name
    (`after_sequence` is `?after=`); violations of them name the parameter,
    as the HTTP client wrote it."""
    code = error.code() if callable(getattr(error, "code", None)) else grpc.StatusCode.UNKNOWN
    message = (error.details() if callable(getattr(error, "details", None)) else None) or code.name.lower()
    details: list[dict[str, Any]] = []
    try:
        # Every RpcError a call raises is also its grpc.Call; the stubs keep the two apart.
        status = rpc_status.from_call(error)  # type: ignore[arg-type]
    except ValueError:  # code or message in the trailer disagree with the call's: trust the call
        status = None
    headers: dict[str, str] = {}
    if status is not None:
        details = [_detail(d, names or {}) for d in status.details]
        headers = _retry_after(status.details)
    if HTTP_STATUS.get(code, 500) == 500:
        # A server bug: gRPC's own handler puts the exception's text in the
        # message ("Exception calling application: ..."); keep it out.
        message, details = "internal error", []
    elif code == grpc.StatusCode.UNAVAILABLE and not details and "failed to connect" in message.lower():
        # The channel's own wording names addresses; say what it means instead.
        message = "the service is unavailable; retry later"
    if names:
        message = _renamed(message, names, whole=False)
    return GatewayError(HTTP_STATUS.get(code, 500), code.name, message, details, headers)


def _renamed(text: str, names: Mapping[str, str], *, whole: bool = True) -> str:
    """`text` with each field path that starts with a renamed field renamed:
    a violation's field (`whole`), or the paths a message or description
    quotes (followed by `:`, `[` or `.`)."""
    ahead = r"(?=$|[\[.:])" if whole else r"(?=[\[.:])"
    pattern = re.compile(r"\b(" + "|".join(map(re.escape, names)) + r")" + ahead)
    return pattern.sub(lambda m: names[m.group(1)], text)


def _retry_after(details: Iterable[any_pb2.Any]) -> dict[str, str]:
    """`Retry-After` from a `google.rpc.RetryInfo` detail, whatever the code: the
    server says when to retry, HTTP clients read it from this header. Whole
    seconds (HTTP has no fractions), rounded up so that a retry on time succeeds."""
    for packed in details:
        info = error_details_pb2.RetryInfo()
        if packed.Unpack(info):  # False for any other detail type
            return {"Retry-After": str(max(1, math.ceil(info.retry_delay.ToNanoseconds() / 1e9)))}
    return {}


def _detail(packed: any_pb2.Any, names: Mapping[str, str]) -> dict[str, Any]:
    if packed.type_url == BAD_REQUEST_TYPE_URL:
        bad = error_details_pb2.BadRequest()
        packed.Unpack(bad)
        return bad_request_detail(
            FieldViolation(_renamed(v.field, names), _renamed(v.description, names, whole=False))
            if names
            else FieldViolation(v.field, v.description)
            for v in bad.field_violations
        )
    # Any other detail type this process knows (ErrorInfo, RetryInfo, ...) in the same JSON style.
    name = packed.type_url.rsplit("/", 1)[-1]
    try:
        descriptor = symbol_database.Default().pool.FindMessageTypeByName(name)  # type: ignore[attr-defined]
    except KeyError:
        return {"@type": packed.type_url}
    message = message_factory.GetMessageClass(descriptor)()
    if not packed.Unpack(message):
        return {"@type": packed.type_url}
    return {"@type": packed.type_url, **to_json(message)}
