"""Statuses and priorities: their names, defaults and categories, and what a
change of status does to the issue.

Names are the contract's JSON names (`in_progress`), which is also how they
are stored.
"""

from __future__ import annotations

import datetime

from .errors import InvalidArgument

STATUSES = ("open", "in_progress", "resolved", "rejected")
PRIORITIES = ("low", "medium", "high")

DEFAULT_STATUS = "open"
DEFAULT_PRIORITY = "low"
UNASSIGNED = "Unassigned"

# Work not yet finished: the "Active Issues" chart counts these.
ACTIVE = ("open", "in_progress")
# Work finished, either way: these carry resolved_at (SPEC 8.3) and count as
# resolved in the metrics.
RESOLVED = ("resolved", "rejected")

# The metrics' "resolved" line counts these only: a rejected issue carries
# resolved_at too, but was not resolved.
COUNTED_AS_RESOLVED = "resolved"

Transitions = dict[str, list[str]]


def resolved_at(
    new_status: str, old_resolved_at: datetime.datetime | None, now: datetime.datetime
) -> datetime.datetime | None:
    """`resolved_at` after the status becomes `new_status`.

    Set when the issue becomes resolved or rejected, kept on a move between
    those two, cleared on a move back to open or in progress.
    """
    if new_status not in RESOLVED:
        return None
    return old_resolved_at or now


def default_transitions() -> Transitions:
    """Every move allowed: the contract's behaviour."""
    return {status: [other for other in STATUSES if other != status] for status in STATUSES}


def normalized(transitions: Transitions) -> Transitions:
    """Each status's allowed moves, in the statuses' order, without repeats or itself."""
    return {s: [t for t in STATUSES if t in set(transitions.get(s, ())) and t != s] for s in STATUSES}


def check_move(transitions: Transitions, current: str, asked: str) -> None:
    """Refuse a move the workflow does not allow (setting the current status is no move)."""
    if asked == current:
        return
    allowed = transitions.get(current, [])
    if asked not in allowed:
        can = ", ".join(allowed) if allowed else "no other status"
        raise InvalidArgument.field(
            "status", f"the workflow does not allow moving from {current} to {asked}; from {current} it allows {can}"
        )
