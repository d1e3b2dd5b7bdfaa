"""PostgreSQL's search vector moves to a table of its own (SQLite unchanged).

A generated column on `issues` was recomputed, and its GIN entries written
again, by every update of an issue: a status change paid for re-indexing the
issue's words. `issue_search` holds one vector per issue, written by
triggers when an issue is inserted and when its `search_text` changes, and
nothing else touches it. The rule stays `to_tsvector('simple', search_text)`
in SQL, and search_text stays the one copy of what is searched
(domain/search.py). SQLite's FTS5 table already works this way (m0007).
"""

from __future__ import annotations

from typing import Any, Callable

STATEMENTS: list[str] = []

_POSTGRES = [
    """
    CREATE TABLE issue_search (
        issue_uuid uuid PRIMARY KEY REFERENCES issues (uuid) ON DELETE CASCADE,
        search tsvector NOT NULL
    )
    """,
    "INSERT INTO issue_search (issue_uuid, search) SELECT uuid, to_tsvector('simple', search_text) FROM issues",
    "CREATE INDEX issue_search_vector ON issue_search USING GIN (search)",
    "ALTER TABLE issues DROP COLUMN search",  # and its GIN index
    """
    CREATE FUNCTION issue_search_write() RETURNS trigger LANGUAGE plpgsql AS $$
    BEGIN
        INSERT INTO issue_search (issue_uuid, search) VALUES (NEW.uuid, to_tsvector('simple', NEW.search_text))
        ON CONFLICT (issue_uuid) DO UPDATE SET search = EXCLUDED.search;
        RETURN NULL;
    END $$
    """,
    "CREATE TRIGGER issue_search_insert AFTER INSERT ON issues FOR EACH ROW EXECUTE FUNCTION issue_search_write()",
    "CREATE TRIGGER issue_search_update AFTER UPDATE OF search_text ON issues FOR EACH ROW"
    " WHEN (OLD.search_text IS DISTINCT FROM NEW.search_text) EXECUTE FUNCTION issue_search_write()",
]


def backfill(execute: Callable[..., Any], placeholder: str) -> None:
    if placeholder == "%s":  # PostgreSQL
        for statement in _POSTGRES:
            execute(statement)
