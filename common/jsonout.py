"""Protobuf messages as the HTTP contract's JSON, via their descriptors.

Shared by the gateway (its responses) and the CLI (`--json`), so both print
byte-for-byte the same shapes.

Why not `json_format`: it omits unset fields, camel-cases names, prints enums
as `STATUS_OPEN` and int64 as strings, and costs ~65 us a call. The contract
wants every key present, snake_case, nulls for unset nullable fields, enums
as `open`, and numbers as numbers. So each message type gets a compiled plan
(one getter per field, built once) and encoding is a dict comprehension.

Rules:
  - proto3 `optional` fields, oneof members and unset message fields -> null;
  - enums -> the lower-case value name without the enum's prefix
    (`STATUS_IN_PROGRESS` -> `in_progress`); value 0 -> null;
  - Timestamp -> `2026-04-13T10:30:00.000000Z`; Struct/Value/ListValue -> plain
    JSON, with integral numbers printed as integers.
"""

from __future__ import annotations

import base64
import math
import time
from operator import attrgetter
from typing import Any, Callable

from google.protobuf import json_format, struct_pb2
from google.protobuf.descriptor import Descriptor, FieldDescriptor
from google.protobuf.message import Message

from common.enums import enum_names

__all__ = ["MAX_SAFE_INT", "WRAPPERS", "JsonValue", "field_plan", "timestamp_json", "to_json", "wkt_json_type"]

JsonValue = Any  # what json.loads returns / json.dumps takes
_Getter = Callable[[Any], JsonValue]  # takes a message or a field's value

MAX_SAFE_INT = 2**53
_FLOATS = (FieldDescriptor.TYPE_FLOAT, FieldDescriptor.TYPE_DOUBLE)
# Wrapper types are written as their bare value.
WRAPPERS = frozenset(
    f"google.protobuf.{n}"
    for n in (
        "DoubleValue",
        "FloatValue",
        "Int64Value",
        "UInt64Value",
        "Int32Value",
        "UInt32Value",
        "BoolValue",
        "StringValue",
        "BytesValue",
    )
)

_plans: dict[str, list[tuple[str, _Getter]]] = {}


def to_json(message: Message) -> JsonValue:
    """The message as JSON-ready Python values, in the contract's shape."""
    # The stubs type DESCRIPTOR as the pure-Python or the upb class; at run time
    # either one is a Descriptor (isinstance holds for both).
    return _message_writer(message.DESCRIPTOR)(message)  # type: ignore[arg-type]


def field_plan(descriptor: Descriptor) -> list[tuple[str, _Getter]] | None:
    """How `to_json` writes a message of this type: each field's key and getter,
    in order; None for a type written as a plain value (well-known types)."""
    _message_writer(descriptor)
    return _plans.get(descriptor.full_name)


def _message_writer(descriptor: Descriptor) -> _Getter:
    special = _WKT_WRITERS.get(descriptor.full_name)
    if special is not None:
        return special
    if descriptor.full_name in WRAPPERS:
        return attrgetter("value")
    if descriptor.full_name == "google.protobuf.Any":
        return lambda m: json_format.MessageToDict(m, preserving_proto_field_name=True)
    name = descriptor.full_name
    if name not in _plans:
        _plans[name] = []  # placeholder first: recursive messages refer to themselves
        _plans[name][:] = [(f.name, _field_writer(f)) for f in descriptor.fields]
    plan = _plans[name]
    return lambda m: {key: get(m) for key, get in plan}


def _field_writer(f: FieldDescriptor) -> _Getter:
    name = f.name
    get = attrgetter(name)
    if f.message_type is not None and f.message_type.GetOptions().map_entry:
        value_writer = _value_writer(f.message_type.fields_by_name["value"]) or (lambda v: v)
        is_bool = f.message_type.fields_by_name["key"].type == FieldDescriptor.TYPE_BOOL
        key = (lambda k: "true" if k else "false") if is_bool else str
        return lambda m: {key(k): value_writer(v) for k, v in get(m).items()}
    one = _value_writer(f)
    if f.is_repeated:
        if one is None:
            return lambda m: list(get(m))
        return lambda m: [one(v) for v in get(m)]
    if f.message_type is not None or f.has_presence:
        if one is None:
            return lambda m: get(m) if m.HasField(name) else None
        return lambda m: one(get(m)) if m.HasField(name) else None
    if one is None:
        return get
    return lambda m: one(get(m))


def _value_writer(f: FieldDescriptor) -> Callable[[Any], JsonValue] | None:
    """How to write one value of `f` (None: as it is)."""
    if f.message_type is not None:
        # For a recursive message this writer's plan is still being filled in;
        # it is complete before anything is written.
        return _message_writer(f.message_type)
    if f.enum_type is not None:
        names = enum_names(f.enum_type)
        # An unknown number (a newer server) prints as the number, as proto3 JSON does.
        return lambda v: names.get(v, v or None)
    if f.type == FieldDescriptor.TYPE_BYTES:
        return lambda v: base64.b64encode(v).decode("ascii")
    if f.type in _FLOATS:
        return _number
    return None


def _number(n: float) -> JsonValue:
    if n != n or n in (math.inf, -math.inf):
        return None  # JSON has no NaN/Infinity
    return n


_TIMESTAMP_FORMAT = "%04d-%02d-%02dT%02d:%02d:%02d.%06dZ"


def timestamp_json(ts: Any) -> str:
    """A Timestamp as its JSON (RFC 3339, UTC, microseconds)."""
    # gmtime + one format is about half the cost of building a datetime.
    t = time.gmtime(ts.seconds)
    return _TIMESTAMP_FORMAT % (t.tm_year, t.tm_mon, t.tm_mday, t.tm_hour, t.tm_min, t.tm_sec, ts.nanos // 1000)


def _struct(s: struct_pb2.Struct) -> dict[str, JsonValue]:
    # Keys sorted: a Struct's map keeps no order (protobuf's iteration order
    # differs between a message built in memory and the same one parsed), and
    # the same object must print the same bytes whichever way it reached here.
    return {k: _value(s.fields[k]) for k in sorted(s.fields)}


def _list(lv: struct_pb2.ListValue) -> list[JsonValue]:
    return [_value(v) for v in lv.values]


def _value(v: struct_pb2.Value) -> JsonValue:
    kind = v.WhichOneof("kind")
    if kind == "string_value":
        return v.string_value
    if kind == "number_value":
        n = v.number_value
        # Struct keeps every number as a double; 5.0 goes back out as the 5 it came in as.
        if n.is_integer() and -MAX_SAFE_INT <= n <= MAX_SAFE_INT:
            return int(n)
        return _number(n)
    if kind == "bool_value":
        return v.bool_value
    if kind == "struct_value":
        return _struct(v.struct_value)
    if kind == "list_value":
        return _list(v.list_value)
    return None


_WKT_WRITERS: dict[str, _Getter] = {
    "google.protobuf.Timestamp": timestamp_json,
    "google.protobuf.Duration": lambda d: d.ToJsonString(),
    "google.protobuf.FieldMask": lambda m: ",".join(m.paths),
    "google.protobuf.Struct": _struct,
    "google.protobuf.ListValue": _list,
    "google.protobuf.Value": _value,
    "google.protobuf.Empty": lambda _: {},
}


def wkt_json_type(full_name: str) -> str | None:
    """The JSON shape of a well-known type written as a plain value, for the OpenAPI document."""
    if full_name in WRAPPERS:
        return "wrapper"
    return {
        "google.protobuf.Timestamp": "timestamp",
        "google.protobuf.Duration": "duration",
        "google.protobuf.FieldMask": "fieldmask",
        "google.protobuf.Struct": "object",
        "google.protobuf.ListValue": "array",
        "google.protobuf.Value": "any",
        "google.protobuf.Empty": "empty",
        "google.protobuf.Any": "any-message",
    }.get(full_name)
