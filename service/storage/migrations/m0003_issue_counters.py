"""Exact per-workspace counters behind list counts and metrics.

Counting 100,000 issues for every ListIssues page, or grouping a million for
every metrics call, costs time in proportion to the data; these tables keep
the same numbers per (status, priority) and per day, updated in the same
transaction as every issue write (storage/counters.py). Each row is one of
several shards, so concurrent writers in one workspace rarely wait on the
same row lock; readers add the shards up.
"""

STATEMENTS = [
    """
    CREATE TABLE issue_counts (
        workspace_id INTEGER NOT NULL REFERENCES workspaces (id) ON DELETE CASCADE,
        status VARCHAR(16) NOT NULL,
        priority VARCHAR(16) NOT NULL,
        shard SMALLINT NOT NULL,
        n BIGINT NOT NULL,
        PRIMARY KEY (workspace_id, status, priority, shard)
    )
    """,
    """
    CREATE TABLE issue_days (
        workspace_id INTEGER NOT NULL REFERENCES workspaces (id) ON DELETE CASCADE,
        day DATE NOT NULL,
        shard SMALLINT NOT NULL,
        opened BIGINT NOT NULL,
        resolved BIGINT NOT NULL,
        PRIMARY KEY (workspace_id, day, shard)
    )
    """,
    # Backfill from the issues already stored (storage/counters.py: REBUILD).
    "INSERT INTO issue_counts (workspace_id, status, priority, shard, n)"
    " SELECT workspace_id, status, priority, 0, COUNT(*) FROM issues GROUP BY workspace_id, status, priority",
    "INSERT INTO issue_days (workspace_id, day, shard, opened, resolved)"
    " SELECT workspace_id, day, 0, SUM(opened), SUM(resolved) FROM ("
    "  SELECT workspace_id, DATE(created_at) AS day, 1 AS opened, 0 AS resolved FROM issues"
    "  UNION ALL"
    "  SELECT workspace_id, DATE(resolved_at) AS day, 0 AS opened, 1 AS resolved FROM issues WHERE resolved_at IS NOT NULL"
    " ) AS changes GROUP BY workspace_id, day",
]
