"""m0007 on a database that already has issues: their words, tags and the
search index are filled in, on SQLite and PostgreSQL."""

from __future__ import annotations

import json
import uuid
from typing import Any

import pytest

from service.api.messages import JsonRenderer
from service.app import issues
from service.app.peewee_storage import PeeweeStorage
from service.app.runner import Runner
from service.domain.identifiers import default_prefix
from service.domain.issue_filters import DEFAULT_ORDER, IssueFilter
from service.domain.roles import Principal, Role
from service.storage import database, migrate, workspaces


class Titles:
    """A view cache that builds titles, enough to see what a list found."""

    def get_many(self, keys: list[Any]) -> list[None]:
        return [None] * len(keys)

    def put(self, key: Any, value: Any) -> None:
        pass

    def page_seen(self, page: Any) -> bool:
        return False

    def build(self, view: Any) -> str:
        return view.row.title


def test_the_search_migration_indexes_the_issues_already_stored(
    fresh_database_url: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    handle = database.open_database(fresh_database_url, pool_size=2)
    database.bind(handle)
    try:
        every = migrate.available()
        monkeypatch.setattr(migrate, "available", lambda: [m for m in every if m.version < 7])
        migrate.migrate(handle)
        workspace_id = database.transaction(lambda: workspaces.ensure("old", default_prefix("old")).id, write=True)
        postgres = database.is_postgres(handle)
        p = "%s" if postgres else "?"

        def insert(title: str, description: list[Any], summary: str | None, tags: list[str]) -> None:
            issue_id = str(uuid.uuid4()) if postgres else uuid.uuid4().hex
            handle.execute_sql(
                "INSERT INTO issues (uuid, workspace_id, title, description, status, priority, tags, owner,"
                " resolution_summary, created_by, created_at, updated_at, session_ids, attachment_ids, version, number)"
                f" VALUES ({', '.join([p] * 16)})",
                (
                    issue_id,
                    workspace_id,
                    title,
                    json.dumps(description),
                    "open",
                    "low",
                    json.dumps(tags),
                    "Unassigned",
                    summary,
                    "a@old.co",
                    "2026-01-01 00:00:00",
                    "2026-01-01 00:00:00",
                    "[]",
                    "[]",
                    1,
                    None,
                ),
            )

        with handle.connection_context():
            insert("Old pump", [{"type": "text", "text": "Cavitation noise"}], None, ["pump", "old"])
            insert("Old valve", [], "Seat reground", ["valve"])
        monkeypatch.setattr(migrate, "available", lambda: every)
        assert [m.version for m in migrate.migrate(handle)] == [m.version for m in every if m.version >= 7]

        caller = Principal(workspace_id, "old", "a@old.co", Role.VIEWER)
        runner = Runner(PeeweeStorage(), JsonRenderer())

        def found(**filters: Any) -> list[str]:
            page = issues.list_issues(
                runner, caller, Titles(), IssueFilter(**filters), DEFAULT_ORDER, limit=10, offset=0
            )
            assert page.total == len(page.items)
            return sorted(page.items)

        assert found(words=("cavitation",)) == ["Old pump"]
        assert found(words=("reground", "seat")) == ["Old valve"]
        assert found(tags=("pump", "old")) == ["Old pump"]
        assert found(tags=("valve",)) == ["Old valve"]
    finally:
        handle.close_all()
