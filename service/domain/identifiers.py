"""Parsing the ids callers send."""

from __future__ import annotations

import re
import uuid

from .errors import Violations

# The canonical 8-4-4-4-12 spelling, in either case; uuid.UUID alone would
# also take braces, urn: prefixes and no dashes.
_CANONICAL_UUID = re.compile(r"^[0-9a-fA-F]{8}-(?:[0-9a-fA-F]{4}-){3}[0-9a-fA-F]{12}$")


def shorten(value: str, limit: int = 60) -> str:
    return value if len(value) <= limit else value[:limit] + "..."


def parse_uuid(v: Violations, field: str, value: str) -> uuid.UUID | None:
    """The uuid `value` spells, or None with a violation naming `field`."""
    if not value:
        v.add(field, "is required")
        return None
    if not _CANONICAL_UUID.match(value):
        v.add(field, f"{shorten(value)!r} is not a UUID")
        return None
    return uuid.UUID(value)


def require_uuid(field: str, value: str) -> uuid.UUID:
    """Parse one id or raise InvalidArgument naming it."""
    v = Violations()
    parsed = parse_uuid(v, field, value)
    v.check()
    assert parsed is not None
    return parsed
