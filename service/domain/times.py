"""Times as the service stores and shows them: naive datetimes in UTC (the
database columns have no zone), shown to the second with a Z."""

from __future__ import annotations

import datetime
from typing import overload


def utcnow() -> datetime.datetime:
    return datetime.datetime.now(datetime.UTC).replace(tzinfo=None)


@overload
def iso_seconds(at: datetime.datetime) -> str: ...


@overload
def iso_seconds(at: None) -> None: ...


def iso_seconds(at: datetime.datetime | None) -> str | None:
    """`at` as 2026-12-07T14:40:09Z; None (a time not set) stays None."""
    return None if at is None else at.isoformat(timespec="seconds") + "Z"
