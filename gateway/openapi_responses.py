"""The error responses of the OpenAPI document: which statuses each operation can answer with.

Derived from the binding, never listed per route:
  - every API call: 400 (bad input), 401 (no or bad token), 429 (over the
    token's rate limit, with Retry-After), 431 (a header too large), 500, 503
    (service or database down), 504 (the grpc-timeout passed);
  - 403 where the method needs more than the lowest role;
  - 404 where the path names a resource;
  - 413 where there is a body, and 415 where it must be JSON;
  - 412 on PATCH and DELETE (a comment deleted meanwhile; If-Match);
  - 409 where an Idempotency-Key may have been used with another request;
  - a `signed_url` method: no 401 (no token), but 403 (a bad or expired
    signature) and 412 (the server's blob store is not the file store);
  - 409 on uploads (the bytes arrived already).
"""

from __future__ import annotations

from typing import Any

from common.descriptors import required_role, signed_url
from issues.v1 import options_pb2

from . import headers
from .routing import Binding
from .streaming import is_upload

__all__ = ["error_components", "operation_errors"]

Schema = dict[str, Any]

_ERROR_SCHEMA: Schema = {
    "type": "object",
    "required": ["error"],
    "properties": {
        "error": {
            "type": "object",
            "required": ["code", "status", "message", "details"],
            "properties": {
                "code": {"type": "integer", "description": "The HTTP status code."},
                "status": {"type": "string", "description": "The canonical gRPC status name, e.g. INVALID_ARGUMENT."},
                "message": {"type": "string"},
                "details": {
                    "type": "array",
                    "description": "google.rpc error details; bad input carries a google.rpc.BadRequest.",
                    "items": {"$ref": "#/components/schemas/ErrorDetail"},
                },
            },
        }
    },
}
_ERROR_DETAIL: Schema = {
    "type": "object",
    "required": ["@type"],
    "properties": {
        "@type": {"type": "string", "examples": ["type.googleapis.com/google.rpc.BadRequest"]},
        "field_violations": {
            "type": "array",
            "items": {
                "type": "object",
                "required": ["field", "description"],
                "properties": {"field": {"type": "string"}, "description": {"type": "string"}},
            },
        },
    },
}

# status -> (component name, description)
_RESPONSES: dict[int, tuple[str, str]] = {
    400: ("BadRequest", "Bad input; the details name each field (INVALID_ARGUMENT)."),
    401: ("Unauthorized", "No `Authorization: Bearer <token>` header, or not a valid token (UNAUTHENTICATED)."),
    403: ("Forbidden", "The token's role may not do this, or a signed URL is not valid (PERMISSION_DENIED)."),
    404: ("NotFound", "No such resource in the token's workspace (NOT_FOUND)."),
    409: (
        "Conflict",
        "It exists already, such as an attachment's uploaded bytes, or the Idempotency-Key "
        "was used with another request (ALREADY_EXISTS).",
    ),
    412: (
        "PreconditionFailed",
        "The resource is not in a state that allows this, or `If-Match` names an etag "
        "it no longer has (FAILED_PRECONDITION; a google.rpc.ErrorInfo with reason "
        "ETAG_MISMATCH tells the latter).",
    ),
    413: ("PayloadTooLarge", "The body is larger than the gateway accepts (RESOURCE_EXHAUSTED)."),
    415: ("UnsupportedMediaType", "The body is not application/json (UNIMPLEMENTED)."),
    429: (
        "TooManyRequests",
        "Over the token's rate limit (`Retry-After` says when to retry), or another "
        "limit was reached, such as a page too large to pass (RESOURCE_EXHAUSTED).",
    ),
    431: ("HeaderTooLarge", "A request header is too large; the details name it (INVALID_ARGUMENT)."),
    500: ("InternalError", "A server fault; the message says nothing more (INTERNAL)."),
    503: ("Unavailable", "The service or its database is unavailable; retry later (UNAVAILABLE)."),
    504: ("GatewayTimeout", "The call's deadline passed (DEADLINE_EXCEEDED)."),
}
_ALWAYS = (400, 401, 429, 431, 500, 503, 504)


def operation_errors(b: Binding) -> dict[str, Schema]:
    """The error statuses `b` can answer with, each a $ref to its response component."""
    statuses = set(_ALWAYS)
    if required_role(b.method) > options_pb2.ROLE_VIEWER:
        statuses.add(403)
    if b.template.variables:
        statuses.add(404)
    if signed_url(b.method):
        statuses = (statuses - {401}) | {403, 412}
    if b.body:
        statuses.add(413)
        if is_upload(b):
            statuses.add(409)  # raw bytes of any media type: never a 415
        else:
            statuses.add(415)
    fields = headers.request_headers(b.method.input_type)
    if b.verb.lower() in ("patch", "delete") or "etag" in fields:
        statuses.add(412)
    if "request_id" in fields:
        statuses.add(409)
    return {str(s): {"$ref": f"#/components/responses/{_RESPONSES[s][0]}"} for s in sorted(statuses)}


def error_components() -> tuple[dict[str, Schema], dict[str, Schema]]:
    """(schemas, responses) for the components section."""
    content = {"application/json": {"schema": {"$ref": "#/components/schemas/Error"}}}
    responses: dict[str, Schema] = {}
    for status, (name, description) in sorted(_RESPONSES.items()):
        response: Schema = {"description": description, "content": content}
        if status == 401:
            response["headers"] = {
                "WWW-Authenticate": {
                    "required": True,
                    "description": "`Bearer`.",
                    "schema": {"type": "string"},
                }
            }
        if status == 429:
            response["headers"] = {
                "Retry-After": {
                    "description": "Seconds until the token's rate limit admits a call again (when that was the limit).",
                    "schema": {"type": "integer", "minimum": 1},
                }
            }
        responses[name] = response
    return {"Error": _ERROR_SCHEMA, "ErrorDetail": _ERROR_DETAIL}, responses
