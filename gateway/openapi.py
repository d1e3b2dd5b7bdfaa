"""The OpenAPI 3.1 document of the gateway, generated from the same descriptors.

It describes what the codec and the transcoder really do, so that a fuzzer can
hold the running gateway to it:

  - response schemas list every field as required (every key is always
    printed), with `null` allowed only where the proto says a value may be
    missing (`optional` fields and oneof members; the server sets every
    other message field, and enums are never null);
  - request bodies refuse unknown keys (`additionalProperties: false`), omit
    OUTPUT_ONLY fields, path variables and the update mask, require the
    REQUIRED ones, and accept `null` for the rest (null means "unset"),
    except in updates, where null clears and only `clearable` fields take it;
  - every request field carries the constraints its `issues.v1.rules` declare
    (openapi_rules.py), so the document is exactly as strict as the server;
  - each operation lists the error statuses it can answer with (openapi_responses.py);
  - the headers that stand for fields (headers.py) are header parameters
    (`Idempotency-Key`, `If-Match`, and `If-None-Match` where the reply has
    an etag), and such a reply declares its `ETag` header and the 304;
  - a create's 201 declares its `Location` and links to the operations on
    what it made (openapi_links.py), for stateful clients and fuzzers;
  - raw-body streams (HttpBody, see common/httpbody.py) take and answer
    binary bodies, and a `signed_url` method needs no bearer token.
"""

from __future__ import annotations

from typing import Any

from google.protobuf.descriptor import MethodDescriptor, ServiceDescriptor

from common.descriptors import STREAM_TICKET_PARAMETER, field_rules, query_name, signed_url, stream_ticket

from . import headers
from .location import item_route
from .openapi_links import links
from .openapi_responses import error_components, operation_errors
from .openapi_schemas import Schema, Schemas
from .routing import Binding, RouteTable, request_field
from .streaming import is_download, is_upload

__all__ = ["build_openapi"]

_OPENAPI_VERBS = {"get", "put", "post", "delete", "options", "head", "patch", "trace"}
_BINARY: Schema = {"type": "string", "format": "binary"}


def _openapi_path(b: Binding) -> str:
    names = dict(b.template.variables)
    return (
        "/"
        + "/".join(f"{{{names[i]}}}" if lit is None else lit for i, lit in enumerate(b.template.literals))
        + (f":{b.template.verb}" if b.template.verb else "")
    )


_HEADER_DESCRIPTIONS = {
    "Idempotency-Key": "Makes the request safe to retry: for 24 hours a repeat with the same key gets the "
    "first response and creates nothing; the same key with another request is a 409. "
    "The body's `request_id` does the same; if both are sent, they must be equal.",
    "If-Match": "The resource's etag as last read (its `ETag`): if it has changed since, the request is "
    "refused with 412 and changes nothing.",
}
_LOCATION_HEADER: Schema = {
    "required": True,
    "description": "The path of what was created (its item path, with its uuid).",
    "schema": {"type": "string", "format": "uri-reference"},
}
_ETAG_HEADER: Schema = {
    "required": True,
    "description": "The resource's etag in double quotes (a strong validator), as its `etag` key shows it.",
    "schema": {"type": "string"},
}


def _security(method: MethodDescriptor) -> list[Schema]:
    if signed_url(method):
        return []  # a signed URL is its own credential
    return [{"bearerAuth": []}, *([{"streamTicket": []}] if stream_ticket(method) else [])]


def _summary(name: str) -> str:
    words = "".join(" " + c.lower() if c.isupper() else c for c in name).strip()
    return words[:1].upper() + words[1:]


def _operation(b: Binding, schemas: Schemas, operation_id: str) -> Schema:
    method = b.method
    request = method.input_type
    header_fields = b.header_fields
    etag_reply = headers.has_etag(method.output_type) and not b.response_body
    parameters: list[Schema] = []
    for _, path in b.template.variables:
        f = request_field(method, path)
        parameters.append(
            {
                "name": path,
                "in": "path",
                "required": True,
                "schema": schemas.scalar(f, output=False, rules=field_rules(f)),
            }
        )
    for f in b.query_fields:
        if f.message_type is not None:
            continue  # the transcoder reads only scalar query parameters
        if f.is_repeated:
            parameters.append(
                {
                    "name": query_name(f),
                    "in": "query",
                    "required": False,
                    "schema": schemas.field(f, output=False),
                    "style": "form",
                    "explode": True,
                }
            )
        else:
            parameters.append(
                {"name": query_name(f), "in": "query", "required": False, "schema": schemas.field(f, output=False)}
            )
    for name, header in header_fields.items():
        f = request.fields_by_name[name]
        # If-Match is read by the gateway (headers.py); the others' rules are their fields'.
        schema = (
            {"type": "string", "pattern": headers.IF_MATCH_PATTERN}
            if header == "If-Match"
            else schemas.scalar(f, output=False, rules=field_rules(f))
        )
        parameters.append(
            {
                "name": header,
                "in": "header",
                "required": False,
                "description": _HEADER_DESCRIPTIONS[header],
                "schema": schema,
            }
        )
    if etag_reply and b.verb == "GET":
        parameters.append(
            {
                "name": "If-None-Match",
                "in": "header",
                "required": False,
                "description": "An etag (or `*`): when it is the resource's current one, "
                "the answer is 304 with no body.",
                "schema": {"type": "string"},
            }
        )

    op: Schema = {
        "operationId": operation_id,
        "summary": _summary(method.name),
        "description": f"gRPC: `{method.full_name}`.",
        "tags": [method.containing_service.name],
        "security": _security(method),
        "parameters": parameters,
    }
    if is_upload(b):
        op["requestBody"] = {
            "required": True,
            "description": "The raw bytes, of any media type; streamed through, never held whole.",
            "content": {"application/octet-stream": {"schema": _BINARY}},
        }
    elif b.body:
        if b.body == "*":
            mask = b.update_mask_field
            body_schema = schemas.input_object(request, skip=b.body_skip, update=mask is not None)
            if mask is not None:
                body_schema["description"] = (
                    "Only the keys present change; a key set to null clears the field (where null is allowed)."
                )
        else:
            body_schema = schemas.field(request.fields_by_name[b.body], output=False)
        op["requestBody"] = {
            "required": bool(body_schema.get("required") or body_schema.get("minProperties")),
            "content": {"application/json": {"schema": body_schema}},
        }

    success: Schema
    if is_download(b):
        success = {
            "description": "The raw bytes, as the media type they were stored with.",
            "headers": {
                "Content-Disposition": {"description": "The file name to save as.", "schema": {"type": "string"}}
            },
            # Any media type; octet-stream named first, for generators that want a named one.
            "content": {"application/octet-stream": {"schema": _BINARY}, "*/*": {"schema": _BINARY}},
        }
    elif method.output_type.full_name == "google.protobuf.Empty":
        success = {"description": "Done; no content."}
    else:
        if b.response_body:
            schema = schemas.field(method.output_type.fields_by_name[b.response_body], output=True)
        else:
            schema = schemas.message(method.output_type, output=True)
        success = {"description": "Success.", "content": {"application/json": {"schema": schema}}}
    responses: Schema = {str(b.success_code): success}
    if etag_reply:
        success["headers"] = {"ETag": _ETAG_HEADER}
        if b.verb == "GET":
            responses["304"] = {
                "description": "Not modified: `If-None-Match` names the current etag.",
                "headers": {"ETag": _ETAG_HEADER},
            }
    op["responses"] = {**responses, **operation_errors(b)}
    return op


def build_openapi(
    service: ServiceDescriptor, table: RouteTable | None = None, *, version: str = "v1"
) -> dict[str, Any]:
    """The OpenAPI 3.1 document for `service`'s HTTP bindings (and the probes beside them)."""
    table = table or RouteTable.for_service(service)
    package = service.file.package
    schemas = Schemas(package)
    paths: dict[str, dict[str, Schema]] = {}
    seen_ids: dict[str, int] = {}
    operations: dict[str, Binding] = {}
    streams = [b for b in table.bindings if b.event_stream]
    for b in table.bindings:
        if b.verb.lower() not in _OPENAPI_VERBS:
            continue  # a custom verb (HttpRule.custom) has no place in an OpenAPI path item
        if b.event_stream and any(
            o.template.text == b.template.text and o.verb == b.verb and not o.event_stream for o in table.bindings
        ):
            continue  # described as the other content of its unary twin, below
        seen_ids[b.method.name] = seen_ids.get(b.method.name, 0) + 1
        op_id = b.method.name if seen_ids[b.method.name] == 1 else f"{b.method.name}{seen_ids[b.method.name]}"
        paths.setdefault(_openapi_path(b), {})[b.verb.lower()] = _operation(b, schemas, op_id)
        operations[op_id] = b
    # A create's 201 names its item (Location) and links to the operations on it.
    for b in operations.values():
        item = item_route(b, table)
        if item is not None:
            created = paths[_openapi_path(b)][b.verb.lower()]["responses"]["201"]
            created.setdefault("headers", {})["Location"] = _LOCATION_HEADER
            created["links"] = links(b, item, operations)

    for b in streams:
        op = paths.get(_openapi_path(b), {}).get(b.verb.lower())
        if op is None:
            continue
        success = op["responses"].setdefault("200", {"description": "Success."})
        success.setdefault("content", {})["text/event-stream"] = {
            "schema": {
                "type": "string",
                "description": (
                    f"With `Accept: text/event-stream`: `{b.method.full_name}` as Server-Sent Events, one per "
                    f"`{b.method.output_type.full_name}` (`id:` its sequence, `event:` its type, `data:` it as JSON), "
                    "a comment line at least every 15 s, and an `event: error` with the error envelope if the "
                    "stream fails once it has begun. Resume with the header `Last-Event-ID` (which wins) or the query."
                ),
            }
        }
    status_schema = {"type": "object", "required": ["status"], "properties": {"status": {"type": "string"}}}
    paths["/healthz"] = {
        "get": {
            "operationId": "Healthz",
            "summary": "The gateway process is up",
            "tags": ["probes"],
            "security": [],
            "description": "Liveness: 200 while the gateway process runs, whatever is behind it.",
            "responses": {
                "200": {"description": "Up.", "content": {"application/json": {"schema": status_schema}}},
                "431": {"$ref": "#/components/responses/HeaderTooLarge"},
            },
        }
    }
    paths["/readyz"] = {
        "get": {
            "operationId": "Readyz",
            "summary": "The service behind the gateway is serving",
            "tags": ["probes"],
            "description": "Readiness: 200 while every server behind the gateway reports SERVING, else 503.",
            "security": [],
            "responses": {
                "200": {"description": "Serving.", "content": {"application/json": {"schema": status_schema}}},
                "431": {"$ref": "#/components/responses/HeaderTooLarge"},
                "503": {"$ref": "#/components/responses/Unavailable"},
            },
        }
    }
    paths["/metrics"] = {
        "get": {
            "operationId": "Metrics",
            "summary": "Prometheus metrics of this process",
            "tags": ["probes"],
            "description": "Request counts and latencies, pool and stream gauges, in Prometheus text.",
            "security": [],
            "responses": {
                "200": {
                    "description": "The Prometheus text exposition format (0.0.4).",
                    "content": {"text/plain": {"schema": {"type": "string"}}},
                },
                "431": {"$ref": "#/components/responses/HeaderTooLarge"},
            },
        }
    }

    error_schemas, error_responses = error_components()
    return {
        "openapi": "3.1.0",
        "info": {
            "title": service.full_name,
            "version": version,
            "description": f"HTTP/JSON gateway for the gRPC service `{service.full_name}`, "
            "generated from its google.api.http annotations.",
        },
        # Relative: the document is served by the gateway it describes, wherever that is reached.
        "servers": [{"url": "/", "description": "The gateway serving this document."}],
        "tags": [
            {"name": service.name, "description": f"The methods of `{service.full_name}` that have HTTP bindings."},
            {"name": "probes", "description": "Liveness, readiness and metrics, without a token."},
        ],
        "paths": paths,
        "components": {
            "securitySchemes": {
                "bearerAuth": {"type": "http", "scheme": "bearer"},
                "streamTicket": {
                    "type": "apiKey",
                    "in": "query",
                    "name": STREAM_TICKET_PARAMETER,
                    "description": "A stream ticket from `POST /api/v1/events:ticket`, for a browser's "
                    "EventSource (which cannot send headers): 60 seconds to open a stream, read-only.",
                },
            },
            "schemas": {
                **dict(sorted(schemas.components.items())),
                **error_schemas,
            },
            "responses": error_responses,
        },
        "security": [{"bearerAuth": []}],
    }
