"""Rules about how issues relate: parents and references to other systems."""

from __future__ import annotations

import re
import uuid
from typing import Iterable, Mapping

from .errors import InvalidArgument, Violations

REFS_MAX = 20
REF_KEY = re.compile(r"^[a-z0-9_]{1,64}$")
REF_VALUE_MAX = 256


def check_parent(issue_id: uuid.UUID, parent_id: uuid.UUID, parent_ancestors: Iterable[uuid.UUID]) -> None:
    """Refuse a parent that is the issue itself or one of its descendants.

    `parent_ancestors` are the would-be parent's ancestors, nearest first; the
    issue is among them exactly when the parent descends from it.
    """
    if parent_id == issue_id:
        raise InvalidArgument.field("parent_id", "an issue cannot be its own parent")
    if issue_id in set(parent_ancestors):
        raise InvalidArgument.field("parent_id", f"issue {parent_id} is a sub-issue of this one: that would be a cycle")


def check_refs(v: Violations, field: str, refs: Mapping[str, str]) -> dict[str, str]:
    if len(refs) > REFS_MAX:
        v.add(field, f"must have at most {REFS_MAX} keys, got {len(refs)}")
    for key, value in refs.items():
        if not REF_KEY.match(key):
            v.add(f"{field}.{key[:64]}", "keys are 1 to 64 lower-case letters, digits and _")
        elif not 1 <= len(value) <= REF_VALUE_MAX or "\x00" in value:
            v.add(f"{field}.{key}", f"values are 1 to {REF_VALUE_MAX} characters, without NUL")
    return dict(sorted(refs.items()))


def parse_ref_filter(v: Violations, field: str, pair: str) -> tuple[str, str] | None:
    """`order:8001` -> ("order", "8001"), split at the first colon."""
    key, sep, value = pair.partition(":")
    if not sep or not REF_KEY.match(key) or not 1 <= len(value) <= REF_VALUE_MAX or "\x00" in value:
        v.add(
            field, f"{pair[:80]!r} is not key:value (key 1 to 64 of a-z 0-9 _, value 1 to {REF_VALUE_MAX} characters)"
        )
        return None
    return key, value
