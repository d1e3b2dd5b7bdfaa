"""Search and status/priority pages that read only their own workspace's index entries.

- The `status`/`priority` index ends in the default order's keys,
  (workspace, status, priority, created_at, uuid), in place of (workspace,
  status, priority): a page of one status and priority is one index range in
  created_at order that stops at the page, read index-only up to it, instead of
  every matching row fetched and sorted. The counters' aggregates
  (storage/counters.py) still read it index-only, by its first three columns.
- PostgreSQL: the search index leads with the workspace, GIN (workspace_id,
  search), through btree_gin, in place of GIN (search). A query's words were
  matched in every workspace's posting lists and each hit fetched from the
  heap to be thrown away by its workspace: a word common elsewhere cost a
  heap visit per issue elsewhere. Now the workspace is one more index key, the
  match is the same `@@` (nothing changes in what is found), and `count` is
  counted off the bitmap without reading rows. btree_gin is a trusted
  extension (PostgreSQL 13+: a database owner may create it); where it cannot
  be created the old index stays, and search is as it was.

Both are built inside the migration's transaction, like every index before
them: writes to `issues` wait for the build (seconds per million issues).
SQLite's FTS5 table has no workspace to add and is unchanged.
"""

from __future__ import annotations

from typing import Any, Callable

STATEMENTS = [
    "CREATE INDEX issues_workspace_status_priority_created ON issues"
    " (workspace_id, status, priority, created_at, uuid)",
    "DROP INDEX issues_workspace_status_priority",
]


def backfill(execute: Callable[..., Any], placeholder: str) -> None:
    if placeholder != "%s":  # SQLite
        return
    execute("SAVEPOINT m0012_btree_gin")
    try:
        execute("CREATE EXTENSION IF NOT EXISTS btree_gin")
    except Exception:  # not installed, or not permitted: keep GIN (search)
        execute("ROLLBACK TO SAVEPOINT m0012_btree_gin")
        return
    execute("RELEASE SAVEPOINT m0012_btree_gin")
    execute("CREATE INDEX issues_workspace_search ON issues USING GIN (workspace_id, search)")
    execute("DROP INDEX issues_search")
