"""The JSON Schemas of the OpenAPI document's messages, from the descriptors.

Each message is a component once per direction: a reply (`Issue`: every key
required, null only for `optional` fields and oneof members) and a request body
(`IssueInput`: unknown keys refused, OUTPUT_ONLY fields left out, the
fields' `issues.v1.rules` as constraints, null where it means "unset").
"""

from __future__ import annotations

from typing import Any

from google.protobuf.descriptor import Descriptor, EnumDescriptor, FieldDescriptor

from common.descriptors import Rules, field_rules, is_output_only, is_required, update_mask_field
from common.enums import enum_names

from .codec import wkt_json_type
from .openapi_rules import constrain, constrain_list, constrain_map, integer_schema

__all__ = ["Schema", "Schemas", "nullable"]

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
JSON_OBJECT: Schema = {
    "type": "object",
    "additionalProperties": {},
    "description": "Any JSON object. A description block is one, such as "
    '`{"type": "text", "text": "..."}`: search reads every string under a `text` key, at any depth; '
    "blocks nest at most 16 levels of objects and arrays and hold finite numbers only.",
    "examples": [{"type": "text", "text": "Seen on board 3"}],
}


def nullable(schema: Schema) -> Schema:
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


class Schemas:
    """Component schemas, each message once per direction (output / input)."""

    def __init__(self, package: str) -> None:
        self.package = package
        self.components: dict[str, Schema] = {}

    def _name(self, d: Descriptor | EnumDescriptor, suffix: str) -> str:
        full = d.full_name
        short = full[len(self.package) + 1 :] if full.startswith(self.package + ".") else full
        return short + suffix

    # -- values of one field ---------------------------------------------------

    def scalar(self, f: FieldDescriptor, *, output: bool, rules: Rules = _NO_RULES) -> Schema:
        t = f.type
        if t == FieldDescriptor.TYPE_ENUM:
            return self.enum(f.enum_type)  # type: ignore[arg-type]  # an enum field has its type
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

    def enum(self, e: EnumDescriptor) -> Schema:
        """An enum as one named component (`IssueStatus`) that every use refers
        to, so generated clients have one type per enum; a nullable use is
        `anyOf` it and null. Never null itself, not even in replies: value 0
        (unspecified) is no value the server sends."""
        name = self._name(e, "").replace(".", "")
        self.components.setdefault(name, {"type": "string", "enum": list(enum_names(e).values())})
        return {"$ref": f"#/components/schemas/{name}"}

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
        if kind == "object":
            # Any JSON object (a description block, an event's data, chart options),
            # named once: stated as open, since generators read a bare object as an
            # empty one, and a `$ref` gives them one type for every use.
            self.components.setdefault("JsonObject", JSON_OBJECT)
            return {"$ref": "#/components/schemas/JsonObject"}
        shapes: dict[str, Schema] = {
            "timestamp": {"type": "string", "format": "date-time", "examples": ["2026-04-13T10:30:00.000000Z"]},
            "duration": {"type": "string", "pattern": r"^-?[0-9]+(\.[0-9]{1,9})?s$"},
            "fieldmask": {"type": "string"},
            "array": {"type": "array", "items": {}},
            "any": {},
            "empty": {"type": "object", "additionalProperties": False},
            "any-message": {"type": "object", "required": ["@type"], "properties": {"@type": {"type": "string"}}},
        }
        return shapes[kind]

    def field(self, f: FieldDescriptor, *, output: bool) -> Schema:
        rules = _NO_RULES if output else field_rules(f)
        if f.message_type is not None and f.message_type.GetOptions().map_entry:
            value = f.message_type.fields_by_name["value"]
            return constrain_map(self.one(value, output=output), rules)
        if f.is_repeated:
            return constrain_list({"type": "array", "items": self.one(f, output=output)}, rules)
        one = self.one(f, output=output, rules=rules)
        # Null in a reply only where the proto says a value may be missing:
        # `optional` (a synthetic oneof) or a oneof member. The server sets
        # every other message field (timestamps, the chart, the attachment).
        if output and f.containing_oneof is not None:
            return nullable(one)
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
                properties[f.name] = nullable(schema)  # null: leave it unset
            elif field_rules(f).clearable:
                properties[f.name] = {**nullable(schema), "description": "null clears it."}
            else:
                properties[f.name] = schema
        out: Schema = {"type": "object", "properties": properties, "additionalProperties": False}
        if required:
            out["required"] = required
        if update:
            out["minProperties"] = 1  # an update that names no field is refused
        return out
