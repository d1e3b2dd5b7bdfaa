"""The OpenAPI 3.1 document of the gateway, generated from the same descriptors.

It describes what the codec and the transcoder really do, so that a fuzzer can
hold the running gateway to it:

  - response schemas list every field as required (every key is always
    printed), with `null` allowed exactly where the codec prints it
    (`optional` fields, unset messages, enum value 0);
  - request bodies refuse unknown keys (`additionalProperties: false`), omit
    OUTPUT_ONLY fields, path variables and the update mask, require the
    REQUIRED ones, and accept `null` for the rest (null means "unset");
  - every operation can answer with the error envelope.
"""

from __future__ import annotations

from typing import Any

from google.protobuf.descriptor import Descriptor, FieldDescriptor, ServiceDescriptor

from common.descriptors import is_output_only, is_required
from common.enums import enum_names

from .codec import wkt_json_type
from .routing import Binding, RouteTable, request_field

__all__ = ["build_openapi"]

Schema = dict[str, Any]

_INT32 = {FieldDescriptor.TYPE_INT32, FieldDescriptor.TYPE_SINT32, FieldDescriptor.TYPE_SFIXED32}
_UINT32 = {FieldDescriptor.TYPE_UINT32, FieldDescriptor.TYPE_FIXED32}
_INT64 = {FieldDescriptor.TYPE_INT64, FieldDescriptor.TYPE_SINT64, FieldDescriptor.TYPE_SFIXED64}
_UINT64 = {FieldDescriptor.TYPE_UINT64, FieldDescriptor.TYPE_FIXED64}

_OPENAPI_VERBS = {"get", "put", "post", "delete", "options", "head", "patch", "trace"}

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

    def scalar(self, f: FieldDescriptor, *, output: bool) -> Schema:
        t = f.type
        if t == FieldDescriptor.TYPE_ENUM:
            names = list(enum_names(f.enum_type).values())
            # Value 0 prints as null, so an output enum is always nullable.
            return {"type": ["string", "null"], "enum": [*names, None]} if output else {"type": "string", "enum": names}
        if t == FieldDescriptor.TYPE_STRING:
            return {"type": "string"}
        if t == FieldDescriptor.TYPE_BOOL:
            return {"type": "boolean"}
        if t in _INT32:
            return {"type": "integer", "format": "int32", "minimum": -(2**31), "maximum": 2**31 - 1}
        if t in _UINT32:
            return {"type": "integer", "format": "int32", "minimum": 0, "maximum": 2**32 - 1}
        if t in _INT64 | _UINT64:
            low, high = (0, 2**64 - 1) if t in _UINT64 else (-(2**63), 2**63 - 1)
            number = {"type": "integer", "format": "int64", "minimum": low, "maximum": high}
            if output:
                return number
            return {"oneOf": [number, {"type": "string", "pattern": "^-?[0-9]{1,20}$"}]}
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
        if f.message_type is not None and f.message_type.GetOptions().map_entry:
            value = f.message_type.fields_by_name["value"]
            return {"type": "object", "additionalProperties": self.one(value, output=output)}
        if f.is_repeated:
            return {"type": "array", "items": self.one(f, output=output)}
        one = self.one(f, output=output)
        if output and (f.message_type is not None or f.has_presence):
            return _nullable(one)
        return one

    def one(self, f: FieldDescriptor, *, output: bool) -> Schema:
        if f.message_type is not None:
            return self.message(f.message_type, output=output)
        return self.scalar(f, output=output)

    # -- whole messages ----------------------------------------------------------

    def _object(self, d: Descriptor, *, output: bool, skip: frozenset[str] = frozenset()) -> Schema:
        if output:
            properties = {f.name: self.field(f, output=True) for f in d.fields}
            return {"type": "object", "required": list(properties), "properties": properties}
        return self.input_object(d, skip=skip)

    def input_object(self, d: Descriptor, *, skip: frozenset[str] = frozenset()) -> Schema:
        properties: dict[str, Schema] = {}
        required: list[str] = []
        for f in d.fields:
            if f.name in skip or is_output_only(f):
                continue
            schema = self.field(f, output=False)
            if is_required(f):
                required.append(f.name)
                properties[f.name] = schema
            else:
                properties[f.name] = _nullable(schema)  # null: leave it unset
        out: Schema = {"type": "object", "properties": properties, "additionalProperties": False}
        if required:
            out["required"] = required
        return out


def _openapi_path(b: Binding) -> str:
    names = dict(b.template.variables)
    return "/" + "/".join(
        f"{{{names[i]}}}" if lit is None else lit for i, lit in enumerate(b.template.literals)
    )


def _summary(name: str) -> str:
    words = "".join(" " + c.lower() if c.isupper() else c for c in name).strip()
    return words[:1].upper() + words[1:]


def _operation(b: Binding, schemas: _Schemas, operation_id: str) -> Schema:
    method = b.method
    request = method.input_type
    path_fields = {p.split(".")[0] for p in b.template.variable_fields}
    parameters: list[Schema] = [
        {"name": path, "in": "path", "required": True,
         "schema": schemas.scalar(request_field(method, path), output=False)}
        for _, path in b.template.variables
    ]
    for f in b.query_fields:
        if f.message_type is not None:
            continue  # the transcoder reads only scalar query parameters
        item = schemas.scalar(f, output=False)
        if f.is_repeated:
            parameters.append({
                "name": f.name, "in": "query", "required": False,
                "schema": {"type": "array", "items": item}, "style": "form", "explode": True,
            })
        else:
            parameters.append({"name": f.name, "in": "query", "required": False, "schema": item})

    op: Schema = {
        "operationId": operation_id,
        "summary": _summary(method.name),
        "description": f"gRPC: `{method.full_name}`.",
        "tags": [method.containing_service.name],
        "security": [{"bearerAuth": []}],
        "parameters": parameters,
    }
    if b.body:
        if b.body == "*":
            mask = b.update_mask_field
            skip = frozenset(path_fields | ({mask.name} if mask is not None else set()))
            body_schema = schemas.input_object(request, skip=skip)
            if mask is not None:
                body_schema["description"] = (
                    "Only the keys present change; a key set to null clears the field."
                )
        else:
            body_schema = schemas.field(request.fields_by_name[b.body], output=False)
        op["requestBody"] = {
            "required": bool(body_schema.get("required")),
            "content": {"application/json": {"schema": body_schema}},
        }

    success: Schema
    if method.output_type.full_name == "google.protobuf.Empty":
        success = {"description": "Done; no content."}
    else:
        if b.response_body:
            schema = schemas.field(method.output_type.fields_by_name[b.response_body], output=True)
        else:
            schema = schemas.message(method.output_type, output=True)
        success = {"description": "Success.", "content": {"application/json": {"schema": schema}}}
    op["responses"] = {
        str(b.success_code): success,
        "400": {"$ref": "#/components/responses/BadRequest"},
        "401": {"$ref": "#/components/responses/Unauthorized"},
        "403": {"$ref": "#/components/responses/Error"},
        "404": {"$ref": "#/components/responses/Error"},
        "default": {"$ref": "#/components/responses/Error"},
    }
    return op


def build_openapi(service: ServiceDescriptor, table: RouteTable | None = None, *, version: str = "v1") -> dict[str, Any]:
    """The OpenAPI 3.1 document for `service`'s HTTP bindings (and the probes beside them)."""
    table = table or RouteTable.for_service(service)
    package = service.file.package
    schemas = _Schemas(package)
    paths: dict[str, dict[str, Schema]] = {}
    seen_ids: dict[str, int] = {}
    for b in table.bindings:
        if b.verb.lower() not in _OPENAPI_VERBS:
            continue  # a custom verb (HttpRule.custom) has no place in an OpenAPI path item
        seen_ids[b.method.name] = seen_ids.get(b.method.name, 0) + 1
        op_id = b.method.name if seen_ids[b.method.name] == 1 else f"{b.method.name}{seen_ids[b.method.name]}"
        paths.setdefault(_openapi_path(b), {})[b.verb.lower()] = _operation(b, schemas, op_id)

    status_schema = {"type": "object", "required": ["status"], "properties": {"status": {"type": "string"}}}
    paths["/healthz"] = {"get": {
        "operationId": "Healthz", "summary": "The gateway process is up", "tags": ["probes"], "security": [],
        "responses": {"200": {"description": "Up.", "content": {"application/json": {"schema": status_schema}}}},
    }}
    paths["/readyz"] = {"get": {
        "operationId": "Readyz", "summary": "The service behind the gateway is serving", "tags": ["probes"],
        "security": [],
        "responses": {
            "200": {"description": "Serving.", "content": {"application/json": {"schema": status_schema}}},
            "503": {"$ref": "#/components/responses/Error"},
        },
    }}

    error_content = {"application/json": {"schema": {"$ref": "#/components/schemas/Error"}}}
    return {
        "openapi": "3.1.0",
        "info": {
            "title": service.full_name,
            "version": version,
            "description": f"HTTP/JSON gateway for the gRPC service `{service.full_name}`, "
                           "generated from its google.api.http annotations.",
        },
        "tags": [{"name": service.name}, {"name": "probes"}],
        "paths": paths,
        "components": {
            "securitySchemes": {"bearerAuth": {"type": "http", "scheme": "bearer"}},
            "schemas": {
                **dict(sorted(schemas.components.items())),
                "Error": _ERROR_SCHEMA,
                "ErrorDetail": _ERROR_DETAIL,
            },
            "responses": {
                "Error": {"description": "An error, in the error envelope.", "content": error_content},
                "BadRequest": {"description": "Bad input; the details name each field.", "content": error_content},
                "Unauthorized": {
                    "description": "No token, or not a valid one.",
                    "headers": {"WWW-Authenticate": {"required": True, "schema": {"type": "string"}}},
                    "content": error_content,
                },
            },
        },
        "security": [{"bearerAuth": []}],
    }
