"""Filters, orders and full-text search of the issue list (SPEC 8.8).

- `issues.search_text`: the words an issue is found by (domain/search.py),
  written by the issue repository with the columns it is made from, in the
  same statement. PostgreSQL derives a `tsvector` from it as a generated
  column with a GIN index; SQLite keeps an FTS5 index over it as an
  external-content table, maintained by triggers. Either way the index moves
  in the write's own transaction, with no second copy of the rule of what
  is searched (which needs Python: the text blocks of a JSON description).
- `issue_tags`: one row per tag, for the `tag` filter's index.
- Indexes for the new filters and orders, each ending in the order's
  tie-breaker so a keyset page is one index range scan.
"""

from __future__ import annotations

import json
from typing import Any, Callable

STATEMENTS = [
    "ALTER TABLE issues ADD COLUMN search_text TEXT NOT NULL DEFAULT ''",
    """
    CREATE TABLE issue_tags (
        issue_uuid {uuid} NOT NULL REFERENCES issues (uuid) ON DELETE CASCADE,
        workspace_id INTEGER NOT NULL,
        tag VARCHAR(100) NOT NULL,
        PRIMARY KEY (issue_uuid, tag)
    )
    """,
    "CREATE INDEX issue_tags_lookup ON issue_tags (workspace_id, tag, issue_uuid)",
    "CREATE INDEX issues_workspace_updated ON issues (workspace_id, updated_at, uuid)",
    "CREATE INDEX issues_workspace_owner ON issues (workspace_id, owner, created_at, uuid)",
    "CREATE INDEX issues_workspace_creator ON issues (workspace_id, created_by, created_at, uuid)",
    # The `priority` orders: the same expression as storage/issue_lists.py's PRIORITY_RANK.
    "CREATE INDEX issues_workspace_priority_rank ON issues (workspace_id,"
    " (CASE priority WHEN 'high' THEN 3 WHEN 'medium' THEN 2 ELSE 1 END), created_at, uuid)",
]

# The rule as of this migration (domain/search.py keeps the live one).
_POSTGRES = [
    "ALTER TABLE issues ADD COLUMN search tsvector GENERATED ALWAYS AS (to_tsvector('simple', search_text)) STORED",
    "CREATE INDEX issues_search ON issues USING GIN (search)",
]
_SQLITE = [
    "CREATE VIRTUAL TABLE issues_fts USING fts5(search_text, content='issues', content_rowid='rowid',"
    " tokenize='unicode61 remove_diacritics 0')",
    "CREATE TRIGGER issues_fts_insert AFTER INSERT ON issues BEGIN"
    " INSERT INTO issues_fts (rowid, search_text) VALUES (new.rowid, new.search_text); END",
    "CREATE TRIGGER issues_fts_delete AFTER DELETE ON issues BEGIN"
    " INSERT INTO issues_fts (issues_fts, rowid, search_text) VALUES ('delete', old.rowid, old.search_text); END",
    "CREATE TRIGGER issues_fts_update AFTER UPDATE OF search_text ON issues BEGIN"
    " INSERT INTO issues_fts (issues_fts, rowid, search_text) VALUES ('delete', old.rowid, old.search_text);"
    " INSERT INTO issues_fts (rowid, search_text) VALUES (new.rowid, new.search_text); END",
]


def _block_text(block: Any) -> list[str]:
    if isinstance(block, dict):
        out = []
        for key, value in block.items():
            out.extend([value] if key == "text" and isinstance(value, str) else _block_text(value))
        return out
    if isinstance(block, list):
        return [t for item in block for t in _block_text(item)]
    return []


def _search_text(title: str, description: list[Any], summary: str | None) -> str:
    import re

    parts = [title, *(t for block in description for t in _block_text(block)), summary or ""]
    return " ".join(re.findall(r"[^\W_]+", " ".join(parts).lower()))


def backfill(execute: Callable[..., Any], placeholder: str) -> None:
    """The words and tags of the issues there are, then the search index over them."""
    postgres = placeholder == "%s"
    p = placeholder
    rows = execute("SELECT uuid, workspace_id, title, description, resolution_summary, tags FROM issues").fetchall()
    for issue_id, workspace_id, title, description, summary, tags in rows:
        text = _search_text(title, json.loads(description or "[]"), summary)
        execute(f"UPDATE issues SET search_text = {p} WHERE uuid = {p}", (text, issue_id))
        for tag in dict.fromkeys(json.loads(tags or "[]")):
            execute(
                f"INSERT INTO issue_tags (issue_uuid, workspace_id, tag) VALUES ({p}, {p}, {p})",
                (issue_id, workspace_id, tag),
            )
    for statement in _POSTGRES if postgres else _SQLITE:
        execute(statement)
    if not postgres:
        execute("INSERT INTO issues_fts (issues_fts) VALUES ('rebuild')")
