"""m0012 on a database that already has issues, and what its indexes buy:
search and status/priority pages whose SQL reads nothing past the page."""

from __future__ import annotations

import json
import uuid
from typing import Any, Iterator

import pytest

from service.api.messages import JsonRenderer
from service.app import issues
from service.app.peewee_storage import PeeweeStorage
from service.app.runner import Runner
from service.domain.identifiers import default_prefix
from service.domain.issue_filters import DEFAULT_ORDER, IssueFilter
from service.domain.roles import Principal, Role
from service.domain.search import search_text
from service.storage import counters, database, issue_lists, migrate, workspaces

from .test_search_migration import Titles


@pytest.fixture
def handle(fresh_database_url: str) -> Iterator[Any]:
    db = database.open_database(fresh_database_url, pool_size=2)
    database.bind(db)
    yield db
    db.close_all()


def _insert(db: Any, workspace_id: int, n: int, title: str, status: str = "open", priority: str = "low") -> None:
    postgres = database.is_postgres(db)
    p = "%s" if postgres else "?"
    issue_id = str(uuid.uuid4()) if postgres else uuid.uuid4().hex
    at = f"2026-01-01 00:{n // 60:02d}:{n % 60:02d}"
    db.execute_sql(
        "INSERT INTO issues (uuid, workspace_id, title, description, status, priority, tags, owner, created_by,"
        " created_at, updated_at, session_ids, attachment_ids, version, number, search_text)"
        f" VALUES ({', '.join([p] * 16)})",
        (
            issue_id,
            workspace_id,
            title,
            "[]",
            status,
            priority,
            json.dumps([]),
            "Unassigned",
            "a@old.co",
            at,
            at,
            "[]",
            "[]",
            1,
            n,
            search_text(title, [], None),
        ),
    )


def test_the_migration_keeps_every_issue_findable_on_a_populated_database(handle, monkeypatch):
    every = migrate.available()
    monkeypatch.setattr(migrate, "available", lambda: [m for m in every if m.version < 12])
    migrate.migrate(handle)
    ours, theirs = (
        database.transaction(lambda s=slug: workspaces.ensure(s, default_prefix(s)).id, write=True)
        for slug in ("ours", "theirs")
    )
    with handle.connection_context():
        for n in range(30):
            _insert(
                handle,
                ours,
                n,
                f"Pump {n} {'seal' if n % 3 == 0 else 'bearing'}",
                status="open" if n % 2 else "resolved",
                priority="high" if n % 5 == 0 else "low",
            )
        for n in range(10):
            _insert(handle, theirs, n, "Pump seal")
    monkeypatch.setattr(migrate, "available", lambda: every)
    assert [m.version for m in migrate.migrate(handle)] == [m.version for m in every if m.version >= 12]
    database.transaction(counters.rebuild, write=True)  # the rows went in behind the service's back

    caller = Principal(ours, "ours", "a@old.co", Role.VIEWER)
    runner = Runner(PeeweeStorage(), JsonRenderer(), after_commit=lambda committed: None)

    def listed(offset: int = 0, limit: int = 50, **filters: Any) -> tuple[int, list[str]]:
        page = issues.list_issues(
            runner, caller, Titles(), IssueFilter(**filters), DEFAULT_ORDER, limit=limit, offset=offset
        )
        return page.total, page.items

    total, seals = listed(words=("seal", "pump"))
    assert total == 10 and seals == [f"Pump {n} seal" for n in range(27, -1, -3)]
    assert listed(offset=8, limit=5, words=("seal",)) == (10, ["Pump 3 seal", "Pump 0 seal"])
    assert listed(offset=12, words=("seal",)) == (10, [])
    open_low = [n for n in range(29, -1, -1) if n % 2 and n % 5]
    assert listed(offset=2, limit=3, statuses=("open",), priorities=("low",)) == (
        len(open_low),
        [f"Pump {n} {'seal' if n % 3 == 0 else 'bearing'}" for n in open_low[2:5]],
    )

    if database.is_postgres(handle):
        names = {r[0] for r in handle.execute_sql("SELECT indexname FROM pg_indexes WHERE tablename = 'issues'")}
        assert {"issues_workspace_search", "issues_workspace_status_priority_created"} <= names
        assert not names & {"issues_search", "issues_workspace_status_priority"}  # replaced, not added to


def _plan_nodes(plan: dict[str, Any]) -> Iterator[dict[str, Any]]:
    yield plan
    for child in plan.get("Plans", []):
        yield from _plan_nodes(child)


@pytest.mark.parametrize("with_rows", [False, True], ids=["keys", "keys and rows"])
def test_a_page_at_an_offset_reads_index_entries_up_to_the_page_and_rows_of_the_page_only(
    handle, backend, monkeypatch, with_rows
):
    if backend != "postgres":
        pytest.skip("the plan is PostgreSQL's")
    migrate.migrate(handle)
    ws = database.transaction(lambda: workspaces.ensure("big", default_prefix("big")).id, write=True)
    with handle.connection_context():
        handle.execute_sql(
            "INSERT INTO issues (uuid, workspace_id, title, description, status, priority, tags, owner, created_by,"
            " created_at, updated_at, session_ids, attachment_ids, version, number, search_text)"
            " SELECT gen_random_uuid(), %s, 'Issue ' || g, '[]', (ARRAY['open', 'resolved'])[1 + g %% 2],"
            " (ARRAY['low', 'high'])[1 + (g / 2) %% 2], '[]', 'Unassigned', 'a@b.co',"
            " TIMESTAMP '2026-01-01' + g * INTERVAL '1 second', TIMESTAMP '2026-01-01', '[]', '[]', 1, g,"
            " 'issue ' || g || CASE WHEN g %% 50 = 0 THEN ' rare' ELSE '' END"
            " FROM generate_series(1, 20000) AS g",
            (ws,),
        )
    database.transaction(counters.rebuild, write=True)
    with handle.connection_context():
        handle.execute_sql("VACUUM ANALYZE issues")

    statements: list[tuple[str, tuple[Any, ...]]] = []
    real = type(handle).execute_sql

    def record(self: Any, sql: str, params: Any = None, *args: Any, **kwargs: Any) -> Any:
        statements.append((sql, tuple(params or ())))
        return real(self, sql, params, *args, **kwargs)

    monkeypatch.setattr(type(handle), "execute_sql", record)
    limit, offset = 101, 3000
    f = IssueFilter(statuses=("open",), priorities=("low",))
    total, rows = database.transaction(
        lambda: issue_lists.counted_page(
            ws, f, None, DEFAULT_ORDER, limit=limit, offset=offset, after=None, with_rows=with_rows
        )
    )
    assert total == 5000 and len(rows) == limit
    assert all((r.row is not None) is with_rows for r in rows)
    sql, params = statements[-1]
    monkeypatch.setattr(type(handle), "execute_sql", real)

    def explain() -> dict[str, Any]:
        found = handle.execute_sql("EXPLAIN (ANALYZE, FORMAT JSON) " + sql, params).fetchone()[0]
        return (json.loads(found) if isinstance(found, str) else found)[0]["Plan"]

    nodes = list(_plan_nodes(database.transaction(explain)))
    scans = [n for n in nodes if n.get("Relation Name") == "issues"]
    skipping = [n for n in scans if n["Node Type"] == "Index Only Scan"]
    assert skipping and skipping[0]["Actual Rows"] <= offset + limit  # stops at the page's end
    assert skipping[0]["Heap Fetches"] == 0  # what the offset skips are index entries
    fetched = [n for n in scans if n is not skipping[0]]
    assert all(n["Actual Rows"] * n["Actual Loops"] <= limit for n in fetched)  # rows of the page only
    assert not [n for n in nodes if n["Node Type"] == "Sort" and n["Actual Rows"] > limit]
