"""Error shapes shared by the server, the gateway and the CLI.

- `FieldViolation`: one problem with one named request field.
- `bad_request_any`: violations packed as the `google.rpc.BadRequest` detail
  the server sends in its rich status.
- `HTTP_STATUS`: the one table from gRPC codes to HTTP statuses
  (grpc-gateway's, except FAILED_PRECONDITION, which the SPEC makes 412), and
  `STATUS_FOR_HTTP`, the nearest code for an error made without a call.
- `envelope`: `{"error": {"code", "status", "message", "details"}}`.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Iterable

import grpc
from google.protobuf import any_pb2
from google.rpc import error_details_pb2

__all__ = [
    "BAD_REQUEST_TYPE_URL",
    "HTTP_STATUS",
    "STATUS_FOR_HTTP",
    "FieldViolation",
    "bad_request_any",
    "bad_request_json",
    "envelope",
    "summary",
]

BAD_REQUEST_TYPE_URL = "type.googleapis.com/google.rpc.BadRequest"


@dataclass(frozen=True)
class FieldViolation:
    field: str
    description: str


def summary(violations: list[FieldViolation]) -> str:
    """One message for a list of violations: the first, and how many more."""
    first = violations[0]
    more = f" (and {len(violations) - 1} more)" if len(violations) > 1 else ""
    return f"{first.field}: {first.description}{more}"


def bad_request_any(violations: Iterable[FieldViolation]) -> any_pb2.Any:
    packed = any_pb2.Any()
    packed.Pack(
        error_details_pb2.BadRequest(
            field_violations=[
                error_details_pb2.BadRequest.FieldViolation(field=v.field, description=v.description)
                for v in violations
            ]
        )
    )
    return packed


def bad_request_json(violations: Iterable[FieldViolation]) -> dict[str, Any]:
    """The BadRequest detail as the error envelope shows it."""
    return {
        "@type": BAD_REQUEST_TYPE_URL,
        "field_violations": [{"field": v.field, "description": v.description} for v in violations],
    }


HTTP_STATUS: dict[grpc.StatusCode, int] = {
    grpc.StatusCode.OK: 200,
    grpc.StatusCode.CANCELLED: 499,
    grpc.StatusCode.UNKNOWN: 500,
    grpc.StatusCode.INVALID_ARGUMENT: 400,
    grpc.StatusCode.DEADLINE_EXCEEDED: 504,
    grpc.StatusCode.NOT_FOUND: 404,
    grpc.StatusCode.ALREADY_EXISTS: 409,
    grpc.StatusCode.PERMISSION_DENIED: 403,
    grpc.StatusCode.RESOURCE_EXHAUSTED: 429,
    grpc.StatusCode.FAILED_PRECONDITION: 412,
    grpc.StatusCode.ABORTED: 409,
    grpc.StatusCode.OUT_OF_RANGE: 400,
    grpc.StatusCode.UNIMPLEMENTED: 501,
    grpc.StatusCode.INTERNAL: 500,
    grpc.StatusCode.UNAVAILABLE: 503,
    grpc.StatusCode.DATA_LOSS: 500,
    grpc.StatusCode.UNAUTHENTICATED: 401,
}


def http_status_of(code_name: str) -> int:
    """The HTTP status of a canonical code given by name ("NOT_FOUND" -> 404)."""
    return HTTP_STATUS.get(grpc.StatusCode[code_name], 500)


# For errors made over HTTP without a gRPC call (bad routes, bodies, uploads):
# the canonical code whose meaning is nearest to each HTTP status. 415 is
# UNIMPLEMENTED ("not supported by this service"): the request may be fine,
# its encoding is one the gateway does not implement (like a 405's method).
# 431 is INVALID_ARGUMENT with the header named, as for any other bad input.
STATUS_FOR_HTTP: dict[int, str] = {
    400: "INVALID_ARGUMENT",
    401: "UNAUTHENTICATED",
    403: "PERMISSION_DENIED",
    404: "NOT_FOUND",
    405: "UNIMPLEMENTED",
    409: "ALREADY_EXISTS",
    412: "FAILED_PRECONDITION",
    413: "RESOURCE_EXHAUSTED",
    415: "UNIMPLEMENTED",
    429: "RESOURCE_EXHAUSTED",
    431: "INVALID_ARGUMENT",
    499: "CANCELLED",
    500: "INTERNAL",
    501: "UNIMPLEMENTED",
    503: "UNAVAILABLE",
    504: "DEADLINE_EXCEEDED",
}


def envelope(http_status: int, status: str, message: str, details: Iterable[dict[str, Any]] = ()) -> dict[str, Any]:
    return {"error": {"code": http_status, "status": status, "message": message, "details": list(details)}}
