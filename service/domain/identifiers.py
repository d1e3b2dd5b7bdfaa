"""Parsing the ids callers send, and the rules of issue identifiers (`ACM-42`)."""

from __future__ import annotations

import re
import uuid
from dataclasses import dataclass

from common import patterns

from .errors import Violations

# The canonical 8-4-4-4-12 spelling, in either case; uuid.UUID alone would
# also take braces, urn: prefixes and no dashes.
_CANONICAL_UUID = re.compile(f"^{patterns.UUID}$")
# A workspace slug: lower-case letters, digits and dashes, 1 to 64.
SLUG = re.compile(r"^[a-z0-9](?:[a-z0-9-]{0,62}[a-z0-9])?$")
# A workspace prefix: 2 to 10 upper-case letters or digits, starting with a letter.
PREFIX = re.compile(r"^[A-Z][A-Z0-9]{1,9}$")
DEFAULT_PREFIX = "ISS"
_IDENTIFIER = re.compile(f"^({patterns.PREFIX_ANY_CASE})-({patterns.ISSUE_NUMBER})$")


def default_prefix(slug: str) -> str:
    """The slug's first three letters, upper-cased (`acme` -> ACM); ISS with fewer than two."""
    letters = [c for c in slug if "a" <= c <= "z"]
    return "".join(letters[:3]).upper() if len(letters) >= 2 else DEFAULT_PREFIX


def identifier(prefix: str, number: int) -> str:
    return f"{prefix}-{number}"


@dataclass(frozen=True)
class IssueRef:
    """An issue as a caller named it: by uuid, or by prefix and number."""

    uuid: uuid.UUID | None = None
    prefix: str | None = None
    number: int | None = None

    def __str__(self) -> str:
        return str(self.uuid) if self.uuid is not None else identifier(self.prefix or "", self.number or 0)


def parse_issue_ref(v: Violations, field: str, value: str) -> IssueRef | None:
    """A uuid (canonical spelling) or an identifier (prefix in any case)."""
    if not value:
        v.add(field, "is required")
        return None
    if _CANONICAL_UUID.match(value):
        return IssueRef(uuid=uuid.UUID(value))
    match = _IDENTIFIER.match(value)
    if match:  # well formed: a number no issue has is a NOT_FOUND later, not bad input
        return IssueRef(prefix=match[1].upper(), number=int(match[2]))
    v.add(field, f"{shorten(value)!r} is neither an issue's uuid nor an identifier such as ACM-42")
    return None


def require_issue_ref(field: str, value: str) -> IssueRef:
    v = Violations()
    parsed = parse_issue_ref(v, field, value)
    v.check()
    assert parsed is not None
    return parsed


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
