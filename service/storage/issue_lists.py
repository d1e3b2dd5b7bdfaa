"""The issue list's query: filters, orders, full-text search and keyset pages.

Written as SQL text rather than through peewee: the shape varies with the
filters given, and each filter is one indexed predicate (m0007's and m0012's indexes):
tags and refs probe their lookup tables, `q` the full-text index (a
PostgreSQL GIN index over the workspace and a tsvector, SQLite FTS5), the
orders, the timestamp bounds and one status with one priority the (workspace,
..., key, uuid) indexes. A page after a token starts with a row-value
comparison on the order's keys, so it is one index range scan however deep it
is: no OFFSET. A page at an offset skips index entries, not rows.
"""

from __future__ import annotations

import datetime
import uuid
from typing import Any, NamedTuple

from ..domain.issue_filters import ORDERS, IssueFilter
from . import counters
from .database import database, is_postgres
from .models import Issue

# The same expression as m0007's issues_workspace_priority_rank index.
PRIORITY_RANK = "(CASE i.priority WHEN 'high' THEN 3 WHEN 'medium' THEN 2 ELSE 1 END)"

_KEYS = {
    "created_at": ("i.created_at", "i.uuid"),
    "updated_at": ("i.updated_at", "i.uuid"),
    "priority": (PRIORITY_RANK, "i.created_at", "i.uuid"),
}


class ListedIssue(NamedTuple):
    """An issue of a page: what keys its built message, and its position in the order.

    The uuid is its text (as the database spells it, cast in the query): a
    page of keys is looked up in the message cache and written into a
    token, and a UUID object per issue (parsed, then hashed in Python on
    every lookup) was a tenth of a cached page's CPU."""

    uuid: str
    version: int
    prefix: str
    position: tuple[Any, ...]
    # With `with_rows`: the issue's columns (Issue.READ_FIELDS) as the driver gave them.
    row: tuple[Any, ...] | None = None


class _Where:
    def __init__(self, workspace_id: int) -> None:
        self.p = database.obj.param
        self.clauses: list[str] = ["i.workspace_id = " + self.p]
        self.params: list[Any] = [workspace_id]

    def add(self, clause: str, *params: Any) -> None:
        self.clauses.append(clause.replace("?", self.p))
        self.params.extend(params)

    def any_of(self, column: str, values: tuple[Any, ...]) -> None:
        if values:
            self.add(f"{column} IN ({', '.join('?' * len(values))})", *values)


def _dt(value: datetime.datetime) -> Any:
    return Issue.created_at.db_value(value)


def _where(workspace_id: int, f: IssueFilter, parent_uuid: uuid.UUID | None) -> _Where:
    w = _Where(workspace_id)
    w.any_of("i.status", f.statuses)
    w.any_of("i.priority", f.priorities)
    w.any_of("i.owner", f.owners)
    w.any_of("i.created_by", f.created_by)
    if parent_uuid is not None:
        w.add("i.parent_uuid = ?", Issue.uuid.db_value(parent_uuid))
    if f.created_after is not None:
        w.add("i.created_at > ?", _dt(f.created_after))
    if f.created_before is not None:
        w.add("i.created_at < ?", _dt(f.created_before))
    if f.updated_after is not None:
        w.add("i.updated_at > ?", _dt(f.updated_after))
    # Each tag and ref is one probe of its (workspace, key, ...) index.
    for tag in f.tags:
        w.add(
            "i.uuid IN (SELECT t.issue_uuid FROM issue_tags t WHERE t.workspace_id = ? AND t.tag = ?)",
            workspace_id,
            tag,
        )
    for key, value in f.refs:
        w.add(
            "i.uuid IN (SELECT r.issue_uuid FROM issue_refs r WHERE r.workspace_id = ?"
            " AND r.ref_key = ? AND r.ref_value = ?)",
            workspace_id,
            key,
            value,
        )
    if f.words:
        if is_postgres():
            w.add("i.search @@ plainto_tsquery('simple', ?)", " ".join(f.words))
        else:
            # Words are letters and digits only (domain/search.py): quoting is all FTS5 needs.
            w.add(
                "i.rowid IN (SELECT rowid FROM issues_fts WHERE issues_fts MATCH ?)",
                " ".join(f'"{word}"' for word in f.words),
            )
    return w


def _count(workspace_id: int, f: IssueFilter, parent_uuid: uuid.UUID | None) -> tuple[str, tuple[Any, ...]]:
    """The SQL (one value) of how many issues match, and its parameters: from
    the counters when only status and priority filter, else one COUNT over
    the filters' indexes."""
    if f.counted_by_counters:
        return counters.matching_sql(workspace_id, list(f.statuses), list(f.priorities))
    w = _where(workspace_id, f, parent_uuid)
    return f"SELECT COUNT(*) FROM issues i WHERE {' AND '.join(w.clauses)}", tuple(w.params)


def _keys(order_by: str) -> tuple[list[str], str]:
    """The names the order's columns but the uuid take in a page's subquery
    (k0, k1), and the ORDER BY of those names and the uuid."""
    key, descending = ORDERS[order_by]
    names = [f"k{n}" for n in range(len(_KEYS[key]) - 1)]
    direction = " DESC" if descending else ""
    return names, ", ".join(f"listed.{k}{direction}" for k in [*names, "uuid"])


def counted_page(
    workspace_id: int,
    f: IssueFilter,
    parent_uuid: uuid.UUID | None,
    order_by: str,
    *,
    limit: int,
    offset: int,
    after: tuple[Any, ...] | None,
    with_rows: bool = False,
) -> tuple[int, list[ListedIssue]]:
    """How many issues match, and up to `limit` of them in `order_by` order:
    from `offset`, or after the position `after` (a ListedIssue's position,
    as a token carried it).

    One statement, so the count and the page come from one snapshot without
    a transaction around them (BEGIN, a second statement and COMMIT were
    three more round trips per page). Its first row carries the count even
    when the page is empty. A search reads every row it matches (the
    full-text index has no order and no count), so with words both are taken
    from one read of those rows; otherwise each from its own index.

    `with_rows`: each issue's columns too, for a page whose issues are likely
    not built yet (the same probes of the primary key give them; a search
    page leaves them out)."""
    if f.words:
        return _searched_page(workspace_id, f, parent_uuid, order_by, limit=limit, offset=offset, after=after)
    key, columns, order = _order(order_by)
    names, outer_order = _keys(order_by)
    counted, count_params = _count(workspace_id, f, parent_uuid)
    w = _where(workspace_id, f, parent_uuid)
    for clause, params in _after(order_by, after):
        w.add(clause, *params)
    p = w.p
    where = " AND ".join(w.clauses)
    if offset:
        # The page's uuids first, from the order's index alone where the
        # filters are in it, so the issues an offset skips are index entries
        # read, not rows fetched; then the page's rows, and nothing past them.
        rows = (
            f"(SELECT i.uuid FROM issues i WHERE {where} ORDER BY {order} LIMIT {p} OFFSET {p}) AS skipped"
            f" JOIN issues i ON i.uuid = skipped.uuid"
        )
        page_params: tuple[Any, ...] = (*w.params, limit, offset)
        tail = f"ORDER BY {order}"
    else:
        rows = f"issues i WHERE {where}"
        page_params = (*w.params, limit)
        tail = f"ORDER BY {order} LIMIT {p}"
    keyed = ", ".join(f"{c} AS {k}" for c, k in zip(columns, names))
    shown = _ROW_COLUMNS if with_rows else []
    text = (
        f"SELECT c.total, CAST(listed.uuid AS TEXT), listed.version, ws.prefix,"
        f" {', '.join('listed.' + k for k in [*names, *(n for n, _ in shown)])}"
        f" FROM (SELECT ({counted}) AS total) AS c JOIN workspaces ws ON ws.id = {p}"
        f" LEFT JOIN (SELECT i.uuid, i.version, {keyed}{''.join(f', {c} AS {n}' for n, c in shown)}"
        f" FROM {rows} {tail}) AS listed ON TRUE"
        f" ORDER BY {outer_order}"
    )
    found = database.obj.execute_sql(text, (*count_params, workspace_id, *page_params)).fetchall()
    page = [row for row in found if row[1] is not None]  # the count's row comes alone on an empty page
    width = 4 + len(names)  # total, uuid, version, prefix, the keys
    listed = _listed(key, [row[1:width] for row in page])
    if with_rows:
        listed = [item._replace(row=row[width:]) for item, row in zip(listed, page)]
    return int(found[0][0]), listed


# An issue's columns as a page's subquery names them (r0, r1, ...): Issue.READ_FIELDS.
_ROW_COLUMNS = [(f"r{n}", f"i.{field.column_name}") for n, field in enumerate(Issue.READ_FIELDS)]


def _searched_page(
    workspace_id: int,
    f: IssueFilter,
    parent_uuid: uuid.UUID | None,
    order_by: str,
    *,
    limit: int,
    offset: int,
    after: tuple[Any, ...] | None,
) -> tuple[int, list[ListedIssue]]:
    key, columns, order = _order(order_by)
    keys, outer_order = _keys(order_by)
    w = _where(workspace_id, f, parent_uuid)
    p = w.p
    later = _after(order_by, after)
    # The matches once (PostgreSQL materializes a CTE named twice), counted,
    # and the page of them; the count's row comes even when the page is empty.
    text = (
        f"WITH matched AS (SELECT i.uuid, i.version, i.priority, i.created_at, i.updated_at FROM issues i"
        f" WHERE {' AND '.join(w.clauses)})"
        f" SELECT c.total, CAST(listed.uuid AS TEXT), listed.version, ws.prefix, {', '.join('listed.' + k for k in keys)}"
        f" FROM (SELECT COUNT(*) AS total FROM matched) AS c JOIN workspaces ws ON ws.id = {p}"
        f" LEFT JOIN (SELECT i.uuid, i.version, {', '.join(f'{c} AS {k}' for c, k in zip(columns, keys))} FROM matched i"
        f" WHERE {' AND '.join(c for c, _ in later).replace('?', p) or 'TRUE'}"
        f" ORDER BY {order} LIMIT {p} OFFSET {p}) AS listed ON TRUE"
        f" ORDER BY {outer_order}"
    )
    params = (*w.params, workspace_id, *(v for _, values in later for v in values), limit, offset)
    found = database.obj.execute_sql(text, params).fetchall()
    return int(found[0][0]), _listed(key, [row[1:] for row in found if row[1] is not None])


def _order(order_by: str) -> tuple[str, tuple[str, ...], str]:
    """The order's key name, its columns (the tie-breaker last) and its ORDER BY."""
    key, descending = ORDERS[order_by]
    columns = _KEYS[key]
    return key, columns, ", ".join(c + (" DESC" if descending else "") for c in columns)


def _after(order_by: str, after: tuple[Any, ...] | None) -> list[tuple[str, tuple[Any, ...]]]:
    """The clauses (with `?` marks) that start a page after the position `after`."""
    if after is None:
        return []
    key, descending = ORDERS[order_by]
    columns = _KEYS[key]
    marks = ", ".join("?" * len(columns))
    out = [(f"({', '.join(columns)}) {'<' if descending else '>'} ({marks})", _db_position(key, after))]
    if key == "priority":
        # Implied by the row comparison; stated so that SQLite, which does not
        # range-scan a row value over an expression, starts at the rank at least.
        out.append((f"{PRIORITY_RANK} {'<=' if descending else '>='} ?", (after[0],)))
    return out


def _listed(key: str, rows: list[tuple[Any, ...]]) -> list[ListedIssue]:
    """The page's rows (uuid text, version, prefix, the order's keys but the uuid) as ListedIssues."""
    if not is_postgres():  # SQLite gives 32 hex digits and timestamps as text
        rows = [(str(uuid.UUID(u)), v, p, *_python_keys(key, keys)) for u, v, p, *keys in rows]
    # psycopg2 gives the uuid's canonical text, datetimes and the rank as an int: as they are.
    if key == "priority":
        return [ListedIssue(u, v, p, (rank, at, u)) for u, v, p, rank, at in rows]
    return [ListedIssue(u, v, p, (at, u)) for u, v, p, at in rows]


def _python_keys(key: str, keys: list[Any]) -> tuple[Any, ...]:
    if key == "priority":
        return (int(keys[0]), Issue.created_at.python_value(keys[1]))
    return (Issue.created_at.python_value(keys[0]),)


def _db_position(key: str, position: tuple[Any, ...]) -> tuple[Any, ...]:
    *keys, issue_id = position
    if key == "priority":
        return (keys[0], _dt(keys[1]), Issue.uuid.db_value(issue_id))
    return (_dt(keys[0]), Issue.uuid.db_value(issue_id))
