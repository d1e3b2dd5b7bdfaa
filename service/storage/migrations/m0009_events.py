"""Live events (SPEC 8.12): the outbox table, and per workspace the last
sequence given and the last one pruned.

The counters have a row of their own per workspace (not the workspace row,
which a batch of creates locks midway for issue numbers): a transaction
takes its sequences as its very last statement, under that row's lock, held
to commit, so sequences become visible in the order they were given, and
that lock, always the last one taken, cannot close a cycle with any other.
"""

STATEMENTS = [
    """
    CREATE TABLE event_counters (
        workspace_id INTEGER PRIMARY KEY REFERENCES workspaces (id) ON DELETE CASCADE,
        last_sequence BIGINT NOT NULL,
        -- Every event up to this sequence has been pruned (retention): a
        -- cursor below it cannot be resumed from.
        pruned_sequence BIGINT NOT NULL DEFAULT 0
    )
    """,
    # No foreign key to issues: an issue's events outlive it.
    """
    CREATE TABLE events (
        workspace_id INTEGER NOT NULL REFERENCES workspaces (id) ON DELETE CASCADE,
        sequence BIGINT NOT NULL,
        type VARCHAR(64) NOT NULL,
        issue_uuid {uuid},
        actor VARCHAR(320) NOT NULL,
        occurred_at TIMESTAMP NOT NULL,
        data TEXT NOT NULL,
        PRIMARY KEY (workspace_id, sequence)
    )
    """,
    "CREATE INDEX events_occurred ON events (occurred_at)",
]
