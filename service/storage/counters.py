"""The issue counters, read by list counts and metrics.

The derived writes (`service.app.derived`) make each transaction's `Deltas`
from the issue changes its units of work recorded and apply them before commit,
so the counters are exact whatever use case wrote.

Each transaction adds its changes to one of SHARDS rows per key, picked at
random, so that concurrent creates in one workspace seldom queue on the same
row lock (held until commit, WAL flush included); readers sum the shards.
Within a transaction the changes are applied in key order, so two
transactions on the same shard lock rows in the same order and cannot
deadlock each other.
"""

from __future__ import annotations

import datetime
import random
from collections import Counter
from typing import Any

import peewee

from ..domain.workflow import COUNTED_AS_RESOLVED
from . import prebuilt_sql
from .database import database
from .models import Issue, IssueCount, IssueDay

SHARDS = 16


class Deltas:
    """Counter changes made by one transaction's issue writes."""

    def __init__(self, workspace_id: int) -> None:
        self.workspace_id = workspace_id
        self.shard = random.randrange(SHARDS)
        self.counts: Counter[tuple[str, str]] = Counter()
        self.opened: Counter[datetime.date] = Counter()
        self.resolved: Counter[datetime.date] = Counter()

    def issue(
        self,
        status: str,
        priority: str,
        created_at: datetime.datetime,
        resolved_at: datetime.datetime | None,
        sign: int,
    ) -> None:
        """Count an issue in (sign=1) or out (sign=-1)."""
        self.counts[(status, priority)] += sign
        self.opened[created_at.date()] += sign
        if resolved_at is not None and status == COUNTED_AS_RESOLVED:
            self.resolved[resolved_at.date()] += sign

    def apply(self) -> None:
        for (status, priority), n in sorted(self.counts.items()):
            if n:
                text = prebuilt_sql.sql(
                    "bump-count",
                    lambda: IssueCount.insert(
                        workspace=0,
                        status="",
                        priority="",
                        shard=0,
                        n=0,
                    ).on_conflict(
                        conflict_target=[
                            IssueCount.workspace,
                            IssueCount.status,
                            IssueCount.priority,
                            IssueCount.shard,
                        ],
                        update={IssueCount.n: IssueCount.n + peewee.EXCLUDED.n},
                    ),
                )
                database.obj.execute_sql(text, (self.workspace_id, status, priority, self.shard, n))
        for day in sorted(set(self.opened) | set(self.resolved)):
            opened, resolved = self.opened[day], self.resolved[day]
            if opened or resolved:
                text = prebuilt_sql.sql(
                    "bump-day",
                    lambda: IssueDay.insert(
                        workspace=0,
                        day=datetime.date.min,
                        shard=0,
                        opened=0,
                        resolved=0,
                    ).on_conflict(
                        conflict_target=[IssueDay.workspace, IssueDay.day, IssueDay.shard],
                        update={
                            IssueDay.opened: IssueDay.opened + peewee.EXCLUDED.opened,
                            IssueDay.resolved: IssueDay.resolved + peewee.EXCLUDED.resolved,
                        },
                    ),
                )
                database.obj.execute_sql(
                    text, (self.workspace_id, IssueDay.day.db_value(day), self.shard, opened, resolved)
                )


def matching_sql(workspace_id: int, statuses: list[str], priorities: list[str]) -> tuple[str, tuple[Any, ...]]:
    """The query (one value) of how many issues have any of `statuses` and any
    of `priorities` (all when empty), and its parameters: a list page's
    statement reads it with the page (issue_lists.py)."""
    shape = (len(statuses), len(priorities))

    def build() -> peewee.Query:
        query = IssueCount.select(peewee.fn.COALESCE(peewee.fn.SUM(IssueCount.n), peewee.SQL("0"))).where(
            IssueCount.workspace == 0
        )
        if statuses:
            query = query.where(IssueCount.status.in_(["x"] * len(statuses)))
        if priorities:
            query = query.where(IssueCount.priority.in_(["x"] * len(priorities)))
        return query

    return prebuilt_sql.sql(("count-matching", shape), build), (workspace_id, *statuses, *priorities)


def by_status_priority(workspace_id: int) -> dict[tuple[str, str], int]:
    total = peewee.fn.SUM(IssueCount.n)
    rows = (
        IssueCount.select(IssueCount.status, IssueCount.priority, total)
        .where(IssueCount.workspace == workspace_id)
        .group_by(IssueCount.status, IssueCount.priority)
    )
    return {(status, priority): int(n) for status, priority, n in rows.tuples() if n}


def per_day(workspace_id: int, since: datetime.date) -> tuple[dict[str, int], dict[str, int]]:
    """(opened, resolved) per ISO day from `since` on."""
    rows = (
        IssueDay.select(IssueDay.day, peewee.fn.SUM(IssueDay.opened), peewee.fn.SUM(IssueDay.resolved))
        .where((IssueDay.workspace == workspace_id) & (IssueDay.day >= since))
        .group_by(IssueDay.day)
    )
    opened, resolved = {}, {}
    for day, o, r in rows.tuples():
        key = str(day)[:10]
        opened[key], resolved[key] = int(o), int(r)
    return opened, resolved


def rebuild() -> None:
    """Recount everything from the issues table (after rows were loaded behind
    the service's back). Each issue counts once on the day it was opened and
    once on the day it was resolved. Call inside a write transaction."""
    IssueCount.delete().execute()
    IssueDay.delete().execute()
    by_key = Issue.select(
        Issue.workspace, Issue.status, Issue.priority, peewee.SQL("0"), peewee.fn.COUNT(peewee.SQL("*"))
    )
    IssueCount.insert_from(
        by_key.group_by(Issue.workspace, Issue.status, Issue.priority),
        [IssueCount.workspace, IssueCount.status, IssueCount.priority, IssueCount.shard, IssueCount.n],
    ).execute()
    opened = Issue.select(
        Issue.workspace.alias("w"),
        peewee.fn.DATE(Issue.created_at).alias("d"),
        peewee.Value(1).alias("o"),
        peewee.Value(0).alias("r"),
    )
    resolved = Issue.select(
        Issue.workspace,
        peewee.fn.DATE(Issue.resolved_at),
        peewee.Value(0),
        peewee.Value(1),
    ).where(Issue.resolved_at.is_null(False) & (Issue.status == COUNTED_AS_RESOLVED))
    events = (opened + resolved).alias("events")  # UNION ALL
    per_day = peewee.Select(
        [events], [events.c.w, events.c.d, peewee.Value(0), peewee.fn.SUM(events.c.o), peewee.fn.SUM(events.c.r)]
    ).group_by(events.c.w, events.c.d)
    IssueDay.insert_from(
        per_day, [IssueDay.workspace, IssueDay.day, IssueDay.shard, IssueDay.opened, IssueDay.resolved]
    ).execute()
