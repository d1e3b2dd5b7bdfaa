"""The in-memory IssueRepository (storage/issues.py and issue_lists.py): one
workspace's issues, their children, the list's filters, orders and keyset
pages, and the counts read from the counters."""

from __future__ import annotations

import copy
import datetime
import uuid
from typing import Any

from service.domain.identifiers import IssueRef
from service.domain.issue_filters import ORDERS, PRIORITY_RANK, IssueFilter
from service.domain.search import search_text
from service.storage.issue_lists import ListedIssue
from service.storage.models import Issue

from .fake_tables import Tables, clone, issue_of


class FakeIssues:
    def __init__(self, tables: Tables, workspace_id: int) -> None:
        self._t, self.workspace_id = tables, workspace_id

    def lock_ahead(self, issue_ids: Any) -> None:
        """Nothing to lock here: every get reads the tables as they are."""

    def _mine(self, issue_id: uuid.UUID | None) -> bool:
        return issue_id is not None and self._t.issue_workspace.get(issue_id) == self.workspace_id

    def _rows(self) -> list[Issue]:
        return [i for i in self._t.issues.values() if self._mine(i.uuid)]

    def insert(self, values: dict[str, Any], prefix: str) -> Issue:
        row = Issue(**{**values, "workspace": self.workspace_id, "version": 1})
        row.prefix = prefix
        self._t.issues[row.uuid] = clone(row)
        self._t.issue_workspace[row.uuid] = self.workspace_id
        return row

    def get(self, issue_id: uuid.UUID, *, for_update: bool = False) -> Issue | None:
        return clone(self._t.issues[issue_id]) if self._mine(issue_id) else None

    def find(self, ref: IssueRef, *, for_update: bool = False) -> Issue | None:
        if ref.uuid is not None:
            return self.get(ref.uuid)
        found = [i for i in self._rows() if (i.number, i.prefix) == (ref.number, ref.prefix)]
        return clone(found[0]) if found else None

    def save(self, row: Issue, names: list[str], updated_at: datetime.datetime) -> None:
        row.updated_at = updated_at
        row.version += 1
        stored = self._t.issues[row.uuid]
        for name in [*names, "updated_at", "version"]:
            setattr(stored, name, copy.deepcopy(getattr(row, name)))

    def delete(self, issue_id: uuid.UUID) -> None:
        del self._t.issues[issue_id]
        self._t.lookups.pop(issue_id, None)
        self._t.comments = {k: c for k, c in self._t.comments.items() if issue_of(c) != issue_id}
        self._t.history = [h for h in self._t.history if issue_of(h) != issue_id]

    def write_lookups(
        self,
        replaced: list[uuid.UUID],
        refs: list[tuple[uuid.UUID, dict[str, str]]],
        tags: list[tuple[uuid.UUID, list[str]]],
    ) -> None:
        for issue_id in replaced:
            self._t.lookups.pop(issue_id, None)
        for (issue_id, given_refs), (_, given_tags) in zip(refs, tags):
            self._t.lookups[issue_id] = (dict(given_refs), list(dict.fromkeys(given_tags)))

    # -- parents and children

    def ancestors(self, issue_id: uuid.UUID, *, lock: bool) -> list[uuid.UUID]:
        chain: list[uuid.UUID] = []
        current = self._t.issues[issue_id].parent_uuid if self._mine(issue_id) else None
        while current is not None:
            chain.append(current)
            current = self._t.issues[current].parent_uuid
        return chain

    def children(self, parent_id: uuid.UUID, *, for_update: bool = False) -> list[Issue]:
        rows = [i for i in self._rows() if i.parent_uuid == parent_id]
        return [clone(i) for i in sorted(rows, key=lambda i: (i.created_at, i.uuid))]

    def sub_page(
        self, parent_id: uuid.UUID, limit: int, offset: int, after: tuple[Any, ...] | None = None
    ) -> tuple[list[Issue], int]:
        rows = self.children(parent_id)
        if after is not None:
            rows = [i for i in rows if (i.created_at, i.uuid) > (after[0], after[1])]
        return rows[offset : offset + limit], len(self.children(parent_id))

    def add_to_sub_count(self, parent_id: uuid.UUID, delta: int) -> None:
        stored = self._t.issues.get(parent_id)
        if stored is None:  # deleted in the same transaction: an UPDATE of no row
            return
        stored.sub_issues_count += delta
        stored.version += 1

    def by_ids(self, ids: list[uuid.UUID]) -> list[Issue]:
        return [clone(self._t.issues[i]) for i in ids if self._mine(i)]

    # -- lists (issue_lists.py)

    def _matches(self, i: Issue, f: IssueFilter, parent_uuid: uuid.UUID | None) -> bool:
        refs, tags = self._t.lookups.get(i.uuid, ({}, []))
        # Whole words, as search_text spells them: PostgreSQL's `simple` parser and
        # FTS5's unicode61 (remove_diacritics 0) find the same ones (domain/search.py).
        words = set(search_text(i.title, i.description, i.resolution_summary).split())
        return (
            all(
                not wanted or value in wanted
                for value, wanted in (
                    (i.status, f.statuses),
                    (i.priority, f.priorities),
                    (i.owner, f.owners),
                    (i.created_by, f.created_by),
                )
            )
            and (parent_uuid is None or i.parent_uuid == parent_uuid)
            and (f.created_after is None or i.created_at > f.created_after)
            and (f.created_before is None or i.created_at < f.created_before)
            and (f.updated_after is None or i.updated_at > f.updated_after)
            and all(tag in tags for tag in f.tags)
            and all(refs.get(key) == value for key, value in f.refs)
            and all(word in words for word in f.words)
        )

    def counted_page(
        self,
        f: IssueFilter,
        parent_uuid: uuid.UUID | None,
        order_by: str,
        *,
        limit: int,
        offset: int,
        after: tuple[Any, ...] | None,
        with_rows: bool = False,
    ) -> tuple[int, list[ListedIssue]]:
        matched = [i for i in self._rows() if self._matches(i, f, parent_uuid)]
        # As issue_lists._count: only status and priority filters are counted from the counters.
        total = self._matching(f) if f.counted_by_counters else len(matched)
        key, descending = ORDERS[order_by]

        def position(i: Issue) -> tuple[Any, ...]:  # the order's keys, the uuid last (ListedIssue.position)
            if key == "priority":
                return (PRIORITY_RANK.get(i.priority, 1), i.created_at, i.uuid)
            return (getattr(i, key), i.uuid)

        listed = sorted(matched, key=position, reverse=descending)
        if after is not None:
            listed = [i for i in listed if (position(i) < after if descending else position(i) > after)]
        page = listed[offset : offset + limit]
        rows = with_rows and not f.words  # as issue_lists: a search page leaves the rows out
        return total, [
            ListedIssue(str(i.uuid), i.version, i.prefix, position(i), clone(i) if rows else None) for i in page
        ]

    # -- counts (counters.py)

    def _matching(self, f: IssueFilter) -> int:
        return sum(
            n
            for (workspace_id, status, priority), n in self._t.counts.items()
            if workspace_id == self.workspace_id
            and (not f.statuses or status in f.statuses)
            and (not f.priorities or priority in f.priorities)
        )

    def counts_by_status_priority(self) -> dict[tuple[str, str], int]:
        return {(s, p): n for (w, s, p), n in self._t.counts.items() if w == self.workspace_id and n}

    def opened_and_resolved_per_day(self, since: datetime.date) -> tuple[dict[str, int], dict[str, int]]:
        opened, resolved = {}, {}
        for (workspace_id, day), (o, r) in sorted(self._t.days.items()):
            if workspace_id == self.workspace_id and day >= since:
                opened[day.isoformat()], resolved[day.isoformat()] = o, r
        return opened, resolved
