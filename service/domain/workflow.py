"""Statuses and priorities: their names, defaults and categories, and what a
change of status does to the issue.

Names are the contract's JSON names (`in_progress`), which is also how they
are stored.
"""

from __future__ import annotations

import datetime

STATUSES = ("open", "in_progress", "resolved", "rejected")
PRIORITIES = ("low", "medium", "high")

DEFAULT_STATUS = "open"
DEFAULT_PRIORITY = "low"
UNASSIGNED = "Unassigned"

# Work not yet finished: the "Active Issues" chart counts these.
ACTIVE = ("open", "in_progress")
# Statuses whose issues count as resolved in the metrics and carry resolved_at.
RESOLVED = ("resolved",)


def resolved_at(
    new_status: str, old_resolved_at: datetime.datetime | None, now: datetime.datetime
) -> datetime.datetime | None:
    """`resolved_at` after the status becomes `new_status`.

    Set when the issue becomes resolved, kept while it stays so, cleared when
    it leaves.
    """
    if new_status not in RESOLVED:
        return None
    return old_resolved_at or now
