"""Reading the contract's JSON (and query and path text) into protobuf messages.

Strict: unknown keys, wrong types and unknown enum names are collected as
`FieldViolation`s naming the key, and raised together as `InvalidJson`.

AIP-134 over JSON: an object read into a message with an `update_mask`
FieldMask carries no mask; the keys present are the fields to change (a key
set to null is in the mask but unset, which clears the field). At the top of
a body the transcoder says whether that applies (a PATCH's `*` body).
"""

from __future__ import annotations

import base64
import math
import re
from typing import Any, Callable, Iterable

from google.protobuf import json_format, struct_pb2
from google.protobuf.descriptor import Descriptor, EnumDescriptor, FieldDescriptor
from google.protobuf.message import Message

from common.descriptors import field_rules, is_required, query_name, update_mask_field
from common.enums import enum_numbers
from common.errors import FieldViolation, summary
from common.jsonout import WRAPPERS, JsonValue

__all__ = ["InvalidJson", "merge_object", "merge_path", "merge_query"]

_INT_RANGES = {
    FieldDescriptor.TYPE_INT32: (-(2**31), 2**31 - 1),
    FieldDescriptor.TYPE_SINT32: (-(2**31), 2**31 - 1),
    FieldDescriptor.TYPE_SFIXED32: (-(2**31), 2**31 - 1),
    FieldDescriptor.TYPE_UINT32: (0, 2**32 - 1),
    FieldDescriptor.TYPE_FIXED32: (0, 2**32 - 1),
    FieldDescriptor.TYPE_INT64: (-(2**63), 2**63 - 1),
    FieldDescriptor.TYPE_SINT64: (-(2**63), 2**63 - 1),
    FieldDescriptor.TYPE_SFIXED64: (-(2**63), 2**63 - 1),
    FieldDescriptor.TYPE_UINT64: (0, 2**64 - 1),
    FieldDescriptor.TYPE_FIXED64: (0, 2**64 - 1),
}
_FLOATS = (FieldDescriptor.TYPE_FLOAT, FieldDescriptor.TYPE_DOUBLE)


class InvalidJson(Exception):
    """Input that does not fit the request message; every problem names its key."""

    def __init__(self, violations: list[FieldViolation], message: str | None = None) -> None:
        self.violations = violations
        super().__init__(message or summary(violations))


class _Reader:
    def __init__(self) -> None:
        self.violations: list[FieldViolation] = []

    def bad(self, where: str, description: str) -> None:
        self.violations.append(FieldViolation(where, description))

    def merge(
        self,
        message: Message,
        data: JsonValue,
        where: str,
        skip: frozenset[str] = frozenset(),
        mask_from_keys: bool = True,
    ) -> None:
        # The stubs type DESCRIPTOR as the pure-Python or the upb class; at run time one.
        descriptor: Descriptor = message.DESCRIPTOR  # type: ignore[assignment]
        if descriptor.full_name in _WKT_READERS or descriptor.full_name in WRAPPERS:
            self.well_known(message, data, where)
            return
        if not isinstance(data, dict):
            self.bad(where or "body", "must be a JSON object")
            return
        fields = descriptor.fields_by_name
        mask = update_mask_field(descriptor) if mask_from_keys else None
        for key, value in data.items():
            path = f"{where}.{key}" if where else key
            f = fields.get(key)
            if f is None or key in skip or f is mask:
                self.bad(
                    path,
                    "is not a known field"
                    if f is None
                    else "cannot be set in the body"
                    if key in skip
                    else "is made from the keys present; leave it out",
                )
                continue
            self.field(message, f, value, path)
        if mask is not None:
            getattr(message, mask.name).paths[:] = [key for key in data if key != mask.name]
        if where:
            # A nested object's REQUIRED keys; the body's own are checked by
            # merge_object, which knows which ones the path supplies. JSON is
            # the only place an absent list differs from an empty one.
            for f in descriptor.fields:
                if is_required(f) and data.get(f.name) is None:
                    self.bad(f"{where}.{f.name}", "is required")

    def field(self, message: Message, f: FieldDescriptor, value: JsonValue, where: str) -> None:
        if value is None:
            return  # null: left unset (a PATCH's mask still names it, which clears it)
        if f.message_type is not None and f.message_type.GetOptions().map_entry:
            self.map(getattr(message, f.name), f.message_type, value, where)
        elif f.is_repeated:
            if not isinstance(value, list):
                self.bad(where, "must be an array")
                return
            target = getattr(message, f.name)
            for i, item in enumerate(value):
                item_where = f"{where}[{i}]"
                if f.message_type is not None:
                    if item is None and f.message_type.full_name != "google.protobuf.Value":
                        self.bad(item_where, "must not be null")
                    else:
                        self.merge(target.add(), item, item_where)
                elif (converted := self.scalar(f, item, item_where)) is not None:
                    target.append(converted)
        elif f.message_type is not None:
            sub = getattr(message, f.name)
            sub.SetInParent()  # `{}` still sets the field
            self.merge(sub, value, where)
        elif (converted := self.scalar(f, value, where)) is not None:
            setattr(message, f.name, converted)

    def map(self, target: Any, entry: Descriptor, value: JsonValue, where: str) -> None:
        if not isinstance(value, dict):
            self.bad(where, "must be a JSON object")
            return
        key_field, value_field = entry.fields_by_name["key"], entry.fields_by_name["value"]
        for k, v in value.items():
            item_where = f"{where}.{k}"
            key = k if key_field.type == FieldDescriptor.TYPE_STRING else self.text(key_field, k, item_where)
            if key is None:
                continue
            if value_field.message_type is not None:
                self.merge(target[key], v, item_where)
            elif (converted := self.scalar(value_field, v, item_where)) is not None:
                target[key] = converted

    def scalar(self, f: FieldDescriptor, value: JsonValue, where: str) -> Any:
        """`value` converted for `f`, or None after recording why it does not fit."""
        t = f.type
        if t == FieldDescriptor.TYPE_STRING:
            if isinstance(value, str):
                return value
            return self.bad(where, "must be a string")
        if t == FieldDescriptor.TYPE_BOOL:
            if isinstance(value, bool):
                return value
            return self.bad(where, "must be a boolean")
        if t == FieldDescriptor.TYPE_ENUM:
            return self.enum(f.enum_type, value, where)  # type: ignore[arg-type]  # an enum field has its type
        if t in _INT_RANGES:
            # 64-bit integers may come as strings, as proto3 JSON allows.
            if isinstance(value, str) and t not in _INT_RANGES_32:
                return self.text(f, value, where)
            if isinstance(value, float) and value.is_integer():
                value = int(value)
            if not isinstance(value, int) or isinstance(value, bool):
                return self.bad(where, "must be an integer")
            low, high = _INT_RANGES[t]
            if not low <= value <= high:
                # Past what the type holds; name the range the field declares, if narrower.
                rules = field_rules(f)
                low = low if rules.minimum is None else max(low, rules.minimum)
                high = high if rules.maximum is None else min(high, rules.maximum)
                return self.bad(where, f"must be between {low} and {high}, got {value}")
            return value
        if t in _FLOATS:
            if isinstance(value, (int, float)) and not isinstance(value, bool):
                return float(value)
            return self.bad(where, "must be a number")
        if t == FieldDescriptor.TYPE_BYTES:
            if isinstance(value, str):
                padded = value + "=" * (-len(value) % 4)
                for altchars in (None, b"-_"):  # standard, then URL-safe, as proto3 JSON allows
                    try:
                        return base64.b64decode(padded, altchars=altchars, validate=True)
                    except ValueError:
                        pass
            return self.bad(where, "must be base64 text")
        return self.bad(where, "has a type this gateway cannot read")

    def enum(self, enum: EnumDescriptor, value: JsonValue, where: str) -> int | None:
        numbers = enum_numbers(enum)
        if isinstance(value, str) and value in numbers:
            return numbers[value]
        self.bad(where, f"must be one of {', '.join(numbers)}")
        return None

    def text(self, f: FieldDescriptor, value: str, where: str) -> Any:
        """A scalar of `f` from its text form: query parameters, map keys, int64 strings."""
        t = f.type
        if t == FieldDescriptor.TYPE_STRING:
            return value
        if t == FieldDescriptor.TYPE_ENUM:
            return self.enum(f.enum_type, value, where)  # type: ignore[arg-type]  # an enum field has its type
        if t == FieldDescriptor.TYPE_BOOL:
            if value in ("true", "false"):
                return value == "true"
            return self.bad(where, "must be true or false")
        if t in _INT_RANGES:
            if not re.fullmatch(r"-?[0-9]{1,20}", value):
                return self.bad(where, "must be an integer")
            return self.scalar(f, int(value), where)
        if t in _FLOATS:
            try:
                number = float(value)
            except ValueError:
                return self.bad(where, "must be a number")
            if not math.isfinite(number):
                return self.bad(where, "must be a finite number")
            return number
        return self.scalar(f, value, where)

    def well_known(self, message: Message, data: JsonValue, where: str) -> None:
        name = message.DESCRIPTOR.full_name
        if name in WRAPPERS:
            value_field: FieldDescriptor = message.DESCRIPTOR.fields_by_name["value"]  # type: ignore[assignment]
            if data is not None and (v := self.scalar(value_field, data, where)) is not None:
                message.value = v  # type: ignore[attr-defined]  # a wrapper: the checker sees only Message
            return
        problem = _WKT_READERS[name](message, data)
        if problem:
            self.bad(where or "body", problem)


_INT_RANGES_32 = {
    FieldDescriptor.TYPE_INT32,
    FieldDescriptor.TYPE_SINT32,
    FieldDescriptor.TYPE_SFIXED32,
    FieldDescriptor.TYPE_UINT32,
    FieldDescriptor.TYPE_FIXED32,
}

_TOO_LARGE = "holds a number too large for a double"
_Read = Callable[[Any, JsonValue], "str | None"]


def _struct_reader(kind: type, expected: str, fill: Callable[[Any, Any], None]) -> _Read:
    """Struct, ListValue and Value: any JSON of the right kind, except numbers a double cannot hold."""

    def read(message: Any, data: JsonValue) -> str | None:
        if not isinstance(data, kind):
            return f"must be {expected}"
        try:
            fill(message, data)
        except OverflowError:  # Struct keeps numbers as doubles; 1e400-sized ints do not fit
            return _TOO_LARGE
        return None

    return read


def _fill_value(message: Any, data: JsonValue) -> None:
    # A one-key Struct converts any JSON value, nested lists and objects included.
    holder = struct_pb2.Struct()
    holder.update({"v": data})
    message.CopyFrom(holder.fields["v"])


def _string_form_reader(expected: str) -> _Read:
    """Timestamp and Duration: their proto3 JSON string forms, parsed by protobuf."""

    def read(message: Any, data: JsonValue) -> str | None:
        if isinstance(data, str):
            try:
                message.FromJsonString(data)
                return None
            except ValueError:
                pass
        return f"must be {expected}"

    return read


def _read_field_mask(message: Any, data: JsonValue) -> str | None:
    if not isinstance(data, str):
        return "must be a comma-separated string of field names"
    message.paths.extend(p for p in data.split(",") if p)
    return None


def _read_empty(message: Any, data: JsonValue) -> str | None:
    return None if data == {} else "must be an empty object"


def _read_any(message: Any, data: JsonValue) -> str | None:
    try:
        json_format.ParseDict(data, message)
    except (json_format.ParseError, TypeError):
        return "is not a valid Any"
    return None


_WKT_READERS: dict[str, _Read] = {
    "google.protobuf.Timestamp": _string_form_reader("an RFC 3339 timestamp, like 2026-04-13T10:30:00.000000Z"),
    "google.protobuf.Duration": _string_form_reader("a duration in seconds, like 1.5s"),
    "google.protobuf.FieldMask": _read_field_mask,
    "google.protobuf.Struct": _struct_reader(dict, "a JSON object", lambda m, d: m.update(d)),
    "google.protobuf.ListValue": _struct_reader(list, "an array", lambda m, d: m.extend(d)),
    "google.protobuf.Value": _struct_reader(object, "a JSON value", _fill_value),
    "google.protobuf.Empty": _read_empty,
    "google.protobuf.Any": _read_any,
}


def merge_object(
    message: Message,
    data: JsonValue,
    *,
    skip: Iterable[str] = (),
    required: Iterable[str] = (),
    mask_from_keys: bool = False,
) -> None:
    """Fill `message` from a decoded JSON body.

    `skip`: top-level keys the body may not carry (path variables, fields
    set by headers). `required`: top-level keys that must be present and not
    null. `mask_from_keys`: the body's keys make the message's update mask
    (nested objects' keys always make theirs). Raises InvalidJson naming
    every bad key.
    """
    reader = _Reader()
    reader.merge(message, data, "", frozenset(skip), mask_from_keys)
    if isinstance(data, dict):
        for name in required:
            if data.get(name) is None:
                reader.bad(name, "is required")
    if reader.violations:
        raise InvalidJson(reader.violations)


def merge_query(message: Message, items: Iterable[tuple[str, str]], allowed: Iterable[FieldDescriptor]) -> None:
    """Fill `message` from query parameters (`?status=open&status=in_progress`).

    Only the top-level scalar, enum and repeated scalar fields in `allowed`
    can be set this way; anything else is named as unknown. A non-repeated
    field given twice is an error rather than a silent last-one-wins.
    """
    by_name = {query_name(f): f for f in allowed if f.message_type is None}
    reader = _Reader()
    seen: set[str] = set()
    for key, raw in items:
        f = by_name.get(key)
        if f is None:
            reader.bad(key, "is not a known query parameter")
            continue
        if not f.is_repeated:
            if key in seen:
                reader.bad(key, "may be given only once")
                continue
            seen.add(key)
        converted = reader.text(f, raw, key)
        if converted is None:
            continue
        if f.is_repeated:
            getattr(message, f.name).append(converted)
        else:
            setattr(message, f.name, converted)
    if reader.violations:
        raise InvalidJson(reader.violations)


def merge_path(message: Message, params: dict[str, str]) -> None:
    """Set the fields path variables name (`issue_id`, or dotted like `issue.id`) from their text."""
    reader = _Reader()
    for dotted, raw in params.items():
        *parents, leaf = dotted.split(".")
        target = message
        for name in parents:
            target = getattr(target, name)
        f: FieldDescriptor = target.DESCRIPTOR.fields_by_name[leaf]  # type: ignore[assignment]  # upb at run time
        converted = reader.text(f, raw, dotted)
        if converted is not None:
            setattr(target, leaf, converted)
    if reader.violations:
        raise InvalidJson(reader.violations)
