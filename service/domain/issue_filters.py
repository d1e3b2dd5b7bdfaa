"""What the issue list can be filtered and ordered by (SPEC 8.8), as plain values."""

from __future__ import annotations

import datetime
import uuid
from dataclasses import dataclass

from .identifiers import IssueRef

# order_by as the contract spells it -> (the key, descending?). Every order
# ends with uuid, so no two issues tie and a keyset page is well defined.
ORDERS: dict[str, tuple[str, bool]] = {
    "created_at desc": ("created_at", True),
    "created_at": ("created_at", False),
    "updated_at desc": ("updated_at", True),
    "updated_at": ("updated_at", False),
    "priority desc": ("priority", True),
    "priority": ("priority", False),
}
DEFAULT_ORDER = "created_at desc"
# What `priority` orders by: low < medium < high.
PRIORITY_RANK = {"low": 1, "medium": 2, "high": 3}


@dataclass(frozen=True)
class IssueFilter:
    """Every filter of ListIssues; each one set narrows the list (empty: no filter)."""

    statuses: tuple[str, ...] = ()
    priorities: tuple[str, ...] = ()
    refs: tuple[tuple[str, str], ...] = ()
    owners: tuple[str, ...] = ()
    created_by: tuple[str, ...] = ()
    tags: tuple[str, ...] = ()
    parent: IssueRef | None = None
    # Strict bounds, naive UTC, already rounded to the microseconds stored
    # (down for `after`, up for `before`: strictness survives the rounding).
    created_after: datetime.datetime | None = None
    created_before: datetime.datetime | None = None
    updated_after: datetime.datetime | None = None
    # The words of `q` (domain/search.py); every one must occur.
    words: tuple[str, ...] = ()

    @property
    def counted_by_counters(self) -> bool:
        """Only status and priority filters: the counters hold the total."""
        return self == IssueFilter(statuses=self.statuses, priorities=self.priorities)


@dataclass(frozen=True)
class ResolvedFilter:
    """An IssueFilter with its parent looked up (None: no parent filter)."""

    filter: IssueFilter
    parent_uuid: uuid.UUID | None
