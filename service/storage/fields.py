"""Column types shared by the models."""

from __future__ import annotations

import json
from typing import Any

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
        return json.loads(value)
