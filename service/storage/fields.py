"""Column types shared by the models."""

from __future__ import annotations

import json
from typing import Any

import orjson
import peewee


class JSONField(peewee.TextField):
    """A JSON document kept as text, portable between SQLite and PostgreSQL."""

    def db_value(self, value: Any) -> str | None:
        if value is None:
            return None
        return json.dumps(value, separators=(",", ":"), ensure_ascii=False)

    def python_value(self, value: str | None) -> Any:
        if value is None:
            return None
        # Most issues have no tags, sessions, files or refs: skip the parser.
        if value == "[]":
            return []
        if value == "{}":
            return {}
        return loads(value)


def loads(text: str) -> Any:
    """json.loads, by orjson: a list page parses two documents per issue, and
    orjson's C parser takes a fraction of the json module's per-call cost.
    The values are json's: what this service stores is strings, booleans,
    nulls and finite floats (api/content.py keeps Struct numbers as floats),
    which both read alike; what orjson refuses (NaN, lone surrogates) goes
    to json. (Only integers past 64 bits would differ, and none is written.)"""
    try:
        return orjson.loads(text)
    except orjson.JSONDecodeError:
        return json.loads(text)
