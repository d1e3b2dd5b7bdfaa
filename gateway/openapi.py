"""The OpenAPI 3.1 document of the gateway, generated from the same descriptors.

It describes what the codec and the transcoder really do, so that a fuzzer can
hold the running gateway to it:

  - response schemas list every field as required (every key is always
    printed), with `null` allowed exactly where the codec prints it
    (`optional` fields, unset messages; enums are never null);
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
  - raw-body streams (HttpBody, see common/httpbody.py) take and answer
    binary bodies, and a `signed_url` method needs no bearer token.
"""

from __future__ import annotations

from typing import Any

from google.protobuf.descriptor import Descriptor, FieldDescriptor, ServiceDescriptor

from common.descriptors import Rules, field_rules, is_output_only, is_required, query_name, signed_url, update_mask_field
from common.enums import enum_names

from . import headers
from .codec import wkt_json_type
from .openapi_responses import error_components, operation_errors
from .openapi_rules import constrain, constrain_list, constrain_map, integer_schema
from .routing import Binding, RouteTable, request_field
from .streaming import is_download, is_upload

__all__ = ["build_openapi"]

Schema = dict[str, Any]

_INT32 = {FieldDescriptor.TYPE_INT32, FieldDescriptor.TYPE_SINT32, FieldDescriptor.TYPE_SFIXED32}
_UINT32 = {FieldDescriptor.TYPE_UINT32, FieldDescriptor.TYPE_FIXED32}
_INT64 = {FieldDescriptor.TYPE_INT64, FieldDescriptor.TYPE_SINT64, FieldDescriptor.TYPE_SFIXED64}
_UINT64 = {FieldDescriptor.TYPE_UINT64, FieldDescriptor.TYPE_FIXED64}
# (JSON Schema format, least, greatest) of each integer type.
_INTEGERS = {
    **{t: ("int32", -(2**31), 2**31 - 1) for t in _INT32},
    **{t: ("int32", 0, 2**32 - 1) for t in _UINT32},
    **{t: ("int64", -(2**63), 2**63 - 1) for t in _INT64},
    **{t: ("int64", 0, 2**64 - 1) for t in _UINT64},
}
_NO_RULES = Rules()

_OPENAPI_VERBS = {"get", "put", "post", "delete", "options", "head", "patch", "trace"}
_BINARY: Schema = {"type": "string", "format": "binary"}

def _nullable(schema: Schema) -> Schema:
    if not schema:
        return schema  # "any" already includes null
    if "$ref" in schema:
        return {"anyOf": [schema, {"type": "null"}]}
    out = dict(schema)
    t = out.get("type")
    if isinstance(t, str):
        out["type"] = [t, "null"]
    elif isinstance(t, list) and "null" not in t:
        out["type"] = [*t, "null"]
    elif "oneOf" in out:
        out["oneOf"] = [*out["oneOf"], {"type": "null"}]
    if "enum" in out and None not in out["enum"]:
        out["enum"] = [*out["enum"], None]
    return out


class _Schemas:
    """Component schemas, each message once per direction (output / input)."""

    def __init__(self, package: str) -> None:
        self.package = package
        self.components: dict[str, Schema] = {}

    def _name(self, d: Descriptor, suffix: str) -> str:
        full = d.full_name
        short = full[len(self.package) + 1:] if full.startswith(self.package + ".") else full
        return short + suffix

    # -- values of one field ---------------------------------------------------

    def scalar(self, f: FieldDescriptor, *, output: bool, rules: Rules = _NO_RULES) -> Schema:
        t = f.type
        if t == FieldDescriptor.TYPE_ENUM:
            # Never null, not even in replies: value 0 (unspecified) is no value the server sends.
            return {"type": "string", "enum": list(enum_names(f.enum_type).values())}
        if t == FieldDescriptor.TYPE_STRING:
            return constrain({"type": "string"}, rules)
        if t == FieldDescriptor.TYPE_BOOL:
            return {"type": "boolean"}
        if t in _INTEGERS:
            fmt, low, high = _INTEGERS[t]
            # The reader also takes 64-bit integers as strings, as proto3 JSON allows.
            return integer_schema(low, high, rules, fmt=fmt, as_text=fmt == "int64" and not output)
        if t in (FieldDescriptor.TYPE_FLOAT, FieldDescriptor.TYPE_DOUBLE):
            return {"type": "number"}
        if t == FieldDescriptor.TYPE_BYTES:
            return {"type": "string", "contentEncoding": "base64"}
        raise ValueError(f"{f.full_name}: no JSON schema for field type {t}")

    def message(self, d: Descriptor, *, output: bool) -> Schema:
        kind = wkt_json_type(d.full_name)
        if kind is not None:
            return self._well_known(d, kind, output=output)
        name = self._name(d, "" if output else "Input")
        if name not in self.components:
            self.components[name] = {}  # placeholder: recursive messages refer to themselves
            self.components[name] = self._object(d, output=output)
        return {"$ref": f"#/components/schemas/{name}"}

    def _well_known(self, d: Descriptor, kind: str, *, output: bool) -> Schema:
        if kind == "wrapper":
            return self.scalar(d.fields_by_name["value"], output=output)
        return {
            "timestamp": {"type": "string", "format": "date-time",
                          "examples": ["2026-04-13T10:30:00.000000Z"]},
            "duration": {"type": "string", "pattern": r"^-?[0-9]+(\.[0-9]{1,9})?s$"},
            "fieldmask": {"type": "string"},
            "object": {"type": "object"},
            "array": {"type": "array"},
            "any": {},
            "empty": {"type": "object", "additionalProperties": False},
            "any-message": {"type": "object", "required": ["@type"], "properties": {"@type": {"type": "string"}}},
        }[kind]

    def field(self, f: FieldDescriptor, *, output: bool) -> Schema:
        rules = _NO_RULES if output else field_rules(f)
        if f.message_type is not None and f.message_type.GetOptions().map_entry:
            value = f.message_type.fields_by_name["value"]
            return constrain_map(self.one(value, output=output), rules)
        if f.is_repeated:
            return constrain_list({"type": "array", "items": self.one(f, output=output)}, rules)
        one = self.one(f, output=output, rules=rules)
        if output and (f.message_type is not None or f.has_presence):
            return _nullable(one)
        return one

    def one(self, f: FieldDescriptor, *, output: bool, rules: Rules = _NO_RULES) -> Schema:
        if f.message_type is not None:
            return self.message(f.message_type, output=output)
        return self.scalar(f, output=output, rules=rules)

    # -- whole messages ----------------------------------------------------------

    def _object(self, d: Descriptor, *, output: bool, skip: frozenset[str] = frozenset()) -> Schema:
        if output:
            properties = {f.name: self.field(f, output=True) for f in d.fields}
            return {"type": "object", "required": list(properties), "properties": properties}
        mask = update_mask_field(d)
        if mask is not None:  # an update inside the body: its keys are its mask (codec/reading.py)
            return self.input_object(d, skip=skip | {mask.name}, update=True)
        return self.input_object(d, skip=skip)

    def input_object(self, d: Descriptor, *, skip: frozenset[str] = frozenset(), update: bool = False) -> Schema:
        """A request body. In an `update` (keys become the mask), null clears, so only `clearable` fields take it."""
        properties: dict[str, Schema] = {}
        required: list[str] = []
        for f in d.fields:
            if f.name in skip or is_output_only(f):
                continue
            schema = self.field(f, output=False)
            if is_required(f):
                required.append(f.name)
                properties[f.name] = schema
            elif not update:
                properties[f.name] = _nullable(schema)  # null: leave it unset
            elif field_rules(f).clearable:
                properties[f.name] = {**_nullable(schema), "description": "null clears it."}
            else:
                properties[f.name] = schema
        out: Schema = {"type": "object", "properties": properties, "additionalProperties": False}
        if required:
            out["required"] = required
        if update:
            out["minProperties"] = 1  # an update that names no field is refused
        return out


def _openapi_path(b: Binding) -> str:
    names = dict(b.template.variables)
    return "/" + "/".join(
        f"{{{names[i]}}}" if lit is None else lit for i, lit in enumerate(b.template.literals)
    ) + (f":{b.template.verb}" if b.template.verb else "")


_HEADER_DESCRIPTIONS = {
    "Idempotency-Key": "Makes the request safe to retry: for 24 hours a repeat with the same key gets the "
                       "first response and creates nothing; the same key with another request is a 409. "
                       "The body's `request_id` does the same; if both are sent, they must be equal.",
    "If-Match": "The resource's etag as last read (its `ETag`): if it has changed since, the request is "
                "refused with 412 and changes nothing.",
}
_ETAG_HEADER: Schema = {
    "required": True,
    "description": "The resource's etag in double quotes (a strong validator), as its `etag` key shows it.",
    "schema": {"type": "string"},
}


def _summary(name: str) -> str:
    words = "".join(" " + c.lower() if c.isupper() else c for c in name).strip()
    return words[:1].upper() + words[1:]


def _operation(b: Binding, schemas: _Schemas, operation_id: str) -> Schema:
    method = b.method
    request = method.input_type
    header_fields = b.header_fields
    etag_reply = headers.has_etag(method.output_type) and not b.response_body
    parameters: list[Schema] = []
    for _, path in b.template.variables:
        f = request_field(method, path)
        parameters.append({"name": path, "in": "path", "required": True,
                           "schema": schemas.scalar(f, output=False, rules=field_rules(f))})
    for f in b.query_fields:
        if f.message_type is not None:
            continue  # the transcoder reads only scalar query parameters
        if f.is_repeated:
            parameters.append({
                "name": query_name(f), "in": "query", "required": False,
                "schema": schemas.field(f, output=False), "style": "form", "explode": True,
            })
        else:
            parameters.append({"name": query_name(f), "in": "query", "required": False, "schema": schemas.field(f, output=False)})
    for name, header in header_fields.items():
        f = request.fields_by_name[name]
        # If-Match is read by the gateway (headers.py); the others' rules are their fields'.
        schema = ({"type": "string", "pattern": headers.IF_MATCH_PATTERN} if header == "If-Match"
                  else schemas.scalar(f, output=False, rules=field_rules(f)))
        parameters.append({"name": header, "in": "header", "required": False,
                           "description": _HEADER_DESCRIPTIONS[header], "schema": schema})
    if etag_reply and b.verb == "GET":
        parameters.append({"name": "If-None-Match", "in": "header", "required": False,
                           "description": "An etag (or `*`): when it is the resource's current one, "
                                          "the answer is 304 with no body.",
                           "schema": {"type": "string"}})

    op: Schema = {
        "operationId": operation_id,
        "summary": _summary(method.name),
        "description": f"gRPC: `{method.full_name}`.",
        "tags": [method.containing_service.name],
        # A signed URL is its own credential.
        "security": [] if signed_url(method) else [{"bearerAuth": []}],
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
            "headers": {"Content-Disposition": {"description": "The file name to save as.",
                                                "schema": {"type": "string"}}},
            "content": {"*/*": {"schema": _BINARY}},
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
            responses["304"] = {"description": "Not modified: `If-None-Match` names the current etag.",
                                "headers": {"ETag": _ETAG_HEADER}}
    op["responses"] = {**responses, **operation_errors(b)}
    return op


def build_openapi(service: ServiceDescriptor, table: RouteTable | None = None, *, version: str = "v1") -> dict[str, Any]:
    """The OpenAPI 3.1 document for `service`'s HTTP bindings (and the probes beside them)."""
    table = table or RouteTable.for_service(service)
    package = service.file.package
    schemas = _Schemas(package)
    paths: dict[str, dict[str, Schema]] = {}
    seen_ids: dict[str, int] = {}
    streams = [b for b in table.bindings if b.event_stream]
    for b in table.bindings:
        if b.verb.lower() not in _OPENAPI_VERBS:
            continue  # a custom verb (HttpRule.custom) has no place in an OpenAPI path item
        if b.event_stream and any(o.template.text == b.template.text and o.verb == b.verb and not o.event_stream
                                  for o in table.bindings):
            continue  # described as the other content of its unary twin, below
        seen_ids[b.method.name] = seen_ids.get(b.method.name, 0) + 1
        op_id = b.method.name if seen_ids[b.method.name] == 1 else f"{b.method.name}{seen_ids[b.method.name]}"
        paths.setdefault(_openapi_path(b), {})[b.verb.lower()] = _operation(b, schemas, op_id)

    for b in streams:
        op = paths.get(_openapi_path(b), {}).get(b.verb.lower())
        if op is None:
            continue
        success = op["responses"].setdefault("200", {"description": "Success."})
        success.setdefault("content", {})["text/event-stream"] = {"schema": {
            "type": "string",
            "description": (
                f"With `Accept: text/event-stream`: `{b.method.full_name}` as Server-Sent Events, one per "
                f"`{b.method.output_type.full_name}` (`id:` its sequence, `event:` its type, `data:` it as JSON), "
                "a comment line at least every 15 s, and an `event: error` with the error envelope if the "
                "stream fails once it has begun. Resume with the header `Last-Event-ID` (which wins) or the query."
            ),
        }}
    status_schema = {"type": "object", "required": ["status"], "properties": {"status": {"type": "string"}}}
    paths["/healthz"] = {"get": {
        "operationId": "Healthz", "summary": "The gateway process is up", "tags": ["probes"], "security": [],
        "responses": {
            "200": {"description": "Up.", "content": {"application/json": {"schema": status_schema}}},
            "431": {"$ref": "#/components/responses/HeaderTooLarge"},
        },
    }}
    paths["/readyz"] = {"get": {
        "operationId": "Readyz", "summary": "The service behind the gateway is serving", "tags": ["probes"],
        "security": [],
        "responses": {
            "200": {"description": "Serving.", "content": {"application/json": {"schema": status_schema}}},
            "431": {"$ref": "#/components/responses/HeaderTooLarge"},
            "503": {"$ref": "#/components/responses/Unavailable"},
        },
    }}
    paths["/metrics"] = {"get": {
        "operationId": "Metrics", "summary": "Prometheus metrics of this process", "tags": ["probes"],
        "security": [],
        "responses": {
            "200": {
                "description": "The Prometheus text exposition format (0.0.4).",
                "content": {"text/plain": {"schema": {"type": "string"}}},
            },
            "431": {"$ref": "#/components/responses/HeaderTooLarge"},
        },
    }}

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
            "securitySchemes": {"bearerAuth": {"type": "http", "scheme": "bearer"}},
            "schemas": {
                **dict(sorted(schemas.components.items())),
                **error_schemas,
            },
            "responses": error_responses,
        },
        "security": [{"bearerAuth": []}],
    }
