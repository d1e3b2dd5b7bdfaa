"""The issues of one workspace.

An `IssueRepository` is bound to a workspace when the unit of work hands it
out, so no query it runs can see another workspace's rows. It runs inside
the unit of work's transaction and writes only the issue tables; counters,
history and whatever else derives from a change are written by the unit of
work. Rows it reads carry the workspace's current `prefix`, joined in, so
showing an identifier costs no query of its own.
"""

from __future__ import annotations

import collections
import datetime
import uuid
from typing import Any, Iterable, NamedTuple

import peewee

from ..domain.identifiers import IssueRef
from ..domain.issue_filters import IssueFilter
from ..domain.search import search_text
from . import counters, issue_lists, prebuilt_sql
from .database import is_postgres
from .issue_lists import ListedIssue
from .models import Issue, IssueRefRow, IssueTag, Workspace, WorkspacePrefix

# The stored columns a write may set (besides the bookkeeping ones).
VALUE_FIELDS = (
    "title",
    "description",
    "status",
    "priority",
    "tags",
    "owner",
    "resolution_summary",
    "job_run_id",
    "session_ids",
    "attachment_ids",
    "resolved_at",
    "parent_uuid",
    "refs",
)
# The columns the search words come from.
SEARCHED = frozenset({"title", "description", "resolution_summary"})
# Longer chains than this are refused rather than walked.
ANCESTORS_MAX = 1_000


# An issue as reads that change nothing return it: every column they load,
# then the workspace's prefix, as attributes of the model's names. A locked
# read (for_update) returns the `Issue` model instead, which the write saves.
IssueRow = collections.namedtuple("IssueRow", [f.name for f in Issue.READ_FIELDS] + ["prefix"])  # type: ignore[misc]


class PageKey(NamedTuple):
    """What identifies a built issue message: its uuid (as text, ListedIssue's), version and the prefix shown."""

    uuid: str
    version: int
    prefix: str


def _shown(query: peewee.Query) -> peewee.Query:
    """Every column of the issues that reads load, then their workspace's prefix."""
    return query.select(*Issue.READ_FIELDS, Workspace.prefix).join(Workspace, on=(Issue.workspace == Workspace.id))


def _by_id(for_update: bool) -> peewee.Query:
    query = _shown(Issue.select()).where((Issue.uuid == uuid.UUID(int=0)) & (Issue.workspace == 0))
    return query.for_update(of=Issue) if for_update else query


def _by_number(for_update: bool) -> peewee.Query:
    owns = WorkspacePrefix.select(peewee.SQL("1")).where(
        (WorkspacePrefix.workspace == Issue.workspace) & (WorkspacePrefix.prefix == "X")
    )
    query = _shown(Issue.select()).where((Issue.workspace == 0) & (Issue.number == 0) & peewee.fn.EXISTS(owns))
    return query.for_update(of=Issue) if for_update else query


def _ahead(n: int, locking: bool) -> peewee.Query:
    """`n` issues by uuid, sorted: rows are locked as sorted, one order for every batch."""
    wanted = [uuid.UUID(int=k) for k in range(n)]
    query = _shown(Issue.select()).where(Issue.uuid.in_(wanted) & (Issue.workspace == 0)).order_by(Issue.uuid)
    return query.for_update(of=Issue) if locking else query


class IssueRepository:
    def __init__(self, workspace_id: int) -> None:
        self.workspace_id = workspace_id
        # Issues a batch locked ahead (lock_ahead), each handed out once.
        self._locked: dict[uuid.UUID, Issue] = {}

    def lock_ahead(self, issue_ids: Iterable[uuid.UUID]) -> None:
        """Lock and read these issues of the workspace in one statement, in
        uuid order, for `get(for_update=True)` to hand out once each: a batch
        of updates pays one locking read, not one apiece. An issue written
        (`save`) before its turn is read again then."""
        wanted = sorted(set(issue_ids))
        if not wanted:
            return
        locking = is_postgres()
        text = prebuilt_sql.sql(("issues-ahead", len(wanted), locking), lambda: _ahead(len(wanted), locking))
        params = [*(Issue.uuid.db_value(i) for i in wanted), self.workspace_id]
        self._locked = {row.uuid: row for row in prebuilt_sql.rows(Issue, text, params, ("prefix",))}

    # -- one issue ---------------------------------------------------------------

    def insert(self, values: dict[str, Any], prefix: str) -> Issue:
        """Store a new issue with every column given in `values`; returns it."""
        row = {
            **values,
            "workspace": self.workspace_id,
            "version": 1,
            "search_text": search_text(values["title"], values["description"], values.get("resolution_summary")),
        }
        prebuilt_sql.insert(Issue, row)
        del row["search_text"]
        issue = Issue(**row)
        issue.prefix = prefix
        return issue

    def get(self, issue_id: uuid.UUID, *, for_update: bool = False) -> Issue | IssueRow | None:
        """The issue: an `IssueRow`, or with `for_update` the `Issue` model, locked."""
        # FOR UPDATE serialises concurrent updates of one issue on PostgreSQL;
        # SQLite writers are already serialised by BEGIN IMMEDIATE.
        if for_update and self._locked:
            ahead = self._locked.pop(issue_id, None)
            if ahead is not None:
                return ahead
        locking = for_update and is_postgres()
        text = prebuilt_sql.sql(("issue", locking), lambda: _by_id(locking))
        return self._one(text, (Issue.uuid.db_value(issue_id), self.workspace_id), for_update)

    def find(self, ref: IssueRef, *, for_update: bool = False) -> Issue | IssueRow | None:
        """The issue a uuid or an identifier names: one indexed lookup either way
        (an `IssueRow`, or with `for_update` the `Issue` model, locked)."""
        if ref.uuid is not None:
            return self.get(ref.uuid, for_update=for_update)
        locking = for_update and is_postgres()
        text = prebuilt_sql.sql(("issue-by-number", locking), lambda: _by_number(locking))
        return self._one(text, (self.workspace_id, ref.number, ref.prefix), for_update)

    @staticmethod
    def _one(text: str, params: tuple[Any, ...], for_update: bool) -> Issue | IssueRow | None:
        if for_update:
            found = prebuilt_sql.rows(Issue, text, params, ("prefix",))
        else:
            found = prebuilt_sql.records(Issue, IssueRow._make, text, params)
        return found[0] if found else None

    def save(self, row: Issue, names: list[str], updated_at: datetime.datetime) -> None:
        """Write the fields `names` of `row`, move its version, and set updated_at."""
        self._locked.pop(row.uuid, None)
        row.updated_at = updated_at
        row.version += 1
        names = [*names, "updated_at", "version"]
        if SEARCHED.intersection(names):
            # Moves the full-text index with it, in this statement (m0007).
            row.search_text = search_text(row.title, row.description, row.resolution_summary)
            names.append("search_text")
        # SQL built once per set of columns (peewee's save() built it on every
        # call); peewee writes the columns in the model's order, the parameters follow it.
        fields = [f for f in Issue._meta.sorted_fields if f.name in names]
        text = prebuilt_sql.sql(
            ("issue-save", tuple(f.name for f in fields)),
            lambda: Issue.update({f: None for f in fields}).where(Issue.uuid == uuid.UUID(int=0)),
        )
        prebuilt_sql.execute(text, [*(f.db_value(getattr(row, f.name)) for f in fields), Issue.uuid.db_value(row.uuid)])

    def delete(self, issue_id: uuid.UUID) -> None:
        """Delete an issue; its comments, file records, history and refs go with it (ON DELETE CASCADE)."""
        self._locked.pop(issue_id, None)
        Issue.delete().where((Issue.uuid == issue_id) & (Issue.workspace == self.workspace_id)).execute()

    def write_lookups(
        self,
        replaced: list[uuid.UUID],
        refs: list[tuple[uuid.UUID, dict[str, str]]],
        tags: list[tuple[uuid.UUID, list[str]]],
    ) -> None:
        """The ?ref= and ?tag= lookup rows of the issues given: those of the
        `replaced` issues are deleted first. One statement each, for any number
        of issues (the unit of work writes them with its derived rows)."""
        if replaced:
            IssueRefRow.delete().where(IssueRefRow.issue.in_(replaced)).execute()
            IssueTag.delete().where(IssueTag.issue.in_(replaced)).execute()
        prebuilt_sql.insert_many(
            IssueRefRow,
            [
                {"issue": issue_id, "workspace_id": self.workspace_id, "ref_key": k, "ref_value": v}
                for issue_id, given in refs
                for k, v in given.items()
            ],
        )
        prebuilt_sql.insert_many(
            IssueTag,
            [
                {"issue": issue_id, "workspace_id": self.workspace_id, "tag": t}
                for issue_id, given in tags
                for t in dict.fromkeys(given)
            ],
        )

    # -- parents and children ----------------------------------------------------------

    def ancestors(self, issue_id: uuid.UUID, *, lock: bool) -> list[uuid.UUID]:
        """The issue's ancestors, nearest first; with `lock` each is locked as it is
        read (PostgreSQL), so two moves that would close a cycle cannot both pass."""
        chain: list[uuid.UUID] = []
        current: uuid.UUID | None = issue_id
        while current is not None and len(chain) < ANCESTORS_MAX:
            query = Issue.select(Issue.parent_uuid).where(
                (Issue.uuid == current) & (Issue.workspace == self.workspace_id)
            )
            if lock and is_postgres():
                query = query.for_update()
            current = query.scalar()
            if current is not None:
                chain.append(current)
        return chain

    def children(self, parent_id: uuid.UUID, *, for_update: bool = False) -> list[Issue]:
        query = _shown(Issue.select()).where((Issue.parent_uuid == parent_id) & (Issue.workspace == self.workspace_id))
        if for_update and is_postgres():
            query = query.for_update(of=Issue)
        return list(query.order_by(Issue.created_at, Issue.uuid).objects())

    def sub_page(
        self, parent_id: uuid.UUID, limit: int, offset: int, after: tuple[Any, ...] | None = None
    ) -> tuple[list[Issue], int]:
        """One page of an issue's children, oldest first (after the (created_at,
        uuid) position `after`, else from `offset`), and how many it has."""
        query = Issue.select().where((Issue.parent_uuid == parent_id) & (Issue.workspace == self.workspace_id))
        total = query.count()
        if after is not None:
            created_at, issue_id = after
            query = query.where(
                peewee.Tuple(Issue.created_at, Issue.uuid)
                > peewee.Tuple(Issue.created_at.db_value(created_at), Issue.uuid.db_value(issue_id))
            )
        query = _shown(query).order_by(Issue.created_at, Issue.uuid).limit(limit).offset(offset)
        return list(query.objects()), total

    def add_to_sub_count(self, parent_id: uuid.UUID, delta: int) -> None:
        """A parent's child count moves; so does its version, as it shows the count."""
        Issue.update(sub_issues_count=Issue.sub_issues_count + delta, version=Issue.version + 1).where(
            (Issue.uuid == parent_id) & (Issue.workspace == self.workspace_id)
        ).execute()

    # -- lists -------------------------------------------------------------------

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
        """How many issues match the filters, in all pages, and one page of their keys in
        `order_by` order (issue_lists.py; a search reads its matches once for both).
        With `with_rows`, each ListedIssue's `row` is its IssueRow, read in
        the same statement, where the filters allow (not for a search);
        else load the rows with `by_ids`."""
        total, listed = issue_lists.counted_page(
            self.workspace_id, f, parent_uuid, order_by, limit=limit, offset=offset, after=after, with_rows=with_rows
        )
        if with_rows:
            make = IssueRow._make
            listed = [
                i if i.row is None else i._replace(row=make([*prebuilt_sql.converted(Issue, i.row), i.prefix]))
                for i in listed
            ]
        return total, listed

    def by_ids(self, ids: list[uuid.UUID]) -> list[IssueRow]:
        if not ids:
            return []
        # SQL built once per number of ids (a page's worth at most).
        text = prebuilt_sql.sql(
            ("issues-by-ids", len(ids)),
            lambda: _shown(Issue.select()).where(
                (Issue.workspace == 0) & Issue.uuid.in_([uuid.UUID(int=0)] * len(ids))
            ),
        )
        return prebuilt_sql.records(Issue, IssueRow._make, text, (self.workspace_id, *map(Issue.uuid.db_value, ids)))

    # -- counts ------------------------------------------------------------------

    def counts_by_status_priority(self) -> dict[tuple[str, str], int]:
        """How many issues have each (status, priority), from the counters (zeros left out)."""
        return counters.by_status_priority(self.workspace_id)

    def opened_and_resolved_per_day(self, since: datetime.date) -> tuple[dict[str, int], dict[str, int]]:
        """Issues opened, and resolved, per ISO day from `since` on, from the counters."""
        return counters.per_day(self.workspace_id, since)
