"""Description blocks: `google.protobuf.Struct`s kept as plain JSON.

Checked on every write path before anything is stored: numbers must be
finite (JSON has no NaN or Infinity) and a block nests at most
`BLOCK_DEPTH_MAX` levels of objects and arrays, so every stored block can be
served back inside any response.
"""

from __future__ import annotations

import math
from typing import Any

from google.protobuf import struct_pb2

from ..domain.errors import Violations
from ..domain.limits import BLOCK_DEPTH_MAX, BLOCKS_MAX


class _Refused(Exception):
    def __init__(self, description: str) -> None:
        self.description = description


def _value(value: struct_pb2.Value, depth: int) -> Any:
    kind = value.WhichOneof("kind")
    if kind == "struct_value":
        return _object(value.struct_value, depth + 1)
    if kind == "list_value":
        return _array(value.list_value, depth + 1)
    if kind == "number_value":
        number = value.number_value
        if not math.isfinite(number):
            raise _Refused("numbers must be finite (JSON has no NaN or Infinity)")
        return number
    if kind == "string_value":
        return value.string_value
    if kind == "bool_value":
        return value.bool_value
    return None  # null_value, or no kind set


def _too_deep(depth: int) -> None:
    if depth > BLOCK_DEPTH_MAX:
        raise _Refused(f"nests objects and arrays more than {BLOCK_DEPTH_MAX} levels deep")


def _object(struct: struct_pb2.Struct, depth: int) -> dict[str, Any]:
    _too_deep(depth)
    return {key: _value(item, depth) for key, item in struct.fields.items()}


def _array(items: struct_pb2.ListValue, depth: int) -> list[Any]:
    _too_deep(depth)
    return [_value(item, depth) for item in items.values]


def blocks(v: Violations, field: str, structs: Any) -> list[dict[str, Any]]:
    """The blocks as JSON-ready dicts; each bad one is named (`description[3]`)."""
    if len(structs) > BLOCKS_MAX:
        v.add(field, f"must have at most {BLOCKS_MAX} blocks")
        return []
    out = []
    for i, struct in enumerate(structs):
        try:
            out.append(_object(struct, 1))
        except _Refused as refused:
            v.add(f"{field}[{i}]", refused.description)
    return out
