"""The contract's JSON, read from and written to protobuf messages via their descriptors.

`parsing` turns a request body into JSON values (refusing what JSON or
protobuf cannot carry) and `reading` fills request messages from them. Reply
messages are shaped by `common.jsonout`, which the CLI's `--json` shares, and
written to bytes by `writing` (which keeps the texts of resources read often).
"""

from __future__ import annotations

from common.enums import enum_names
from common.errors import FieldViolation
from common.jsonout import JsonValue, to_json, wkt_json_type

from .parsing import MAX_DEPTH, parse_json
from .reading import InvalidJson, merge_object, merge_path, merge_query
from .writing import ReplyWriter

__all__ = [
    "MAX_DEPTH",
    "FieldViolation",
    "InvalidJson",
    "JsonValue",
    "ReplyWriter",
    "enum_names",
    "merge_object",
    "merge_path",
    "merge_query",
    "parse_json",
    "to_json",
    "wkt_json_type",
]
