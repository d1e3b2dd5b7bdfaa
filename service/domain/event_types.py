"""The types an event can have (SPEC 8.12), and checking a list of them
(ListEvents' and WatchEvents' `types`, a webhook's `events`)."""

from __future__ import annotations

from typing import Sequence

from .errors import Violations

# Every type an event can have, in the SPEC's order.
TYPES = (
    "issue.created",
    "issue.updated",
    "issue.deleted",
    "comment.created",
    "comment.updated",
    "comment.deleted",
    "reaction.added",
    "reaction.removed",
    "file.added",
    "workflow.updated",
    "issues.bulk_updated",
)


def check_types(types: Sequence[str], field: str = "types") -> list[str]:
    """The types asked for, each once; a type that is not one of TYPES names its place."""
    v = Violations()
    if len(types) > len(TYPES):
        v.add(field, f"at most {len(TYPES)} types")
    for i, name in enumerate(types):
        if name not in TYPES:
            v.add(f"{field}[{i}]", f"is not an event type ({', '.join(TYPES)})")
    v.check()
    return list(dict.fromkeys(types))
