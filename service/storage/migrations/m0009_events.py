"""Live events (SPEC 8.12): the outbox table, and per workspace the last
sequence given and the last one pruned.

`event_seq` lives on the workspace row, like `issue_seq`: a transaction takes
its sequences as its last statement, under that row's lock, held to commit,
so sequences become visible in the order they were given.
"""

STATEMENTS = [
    "ALTER TABLE workspaces ADD COLUMN event_seq BIGINT NOT NULL DEFAULT 0",
    # Every event up to this sequence has been pruned (retention): a cursor
    # below it cannot be resumed from.
    "ALTER TABLE workspaces ADD COLUMN event_pruned_seq BIGINT NOT NULL DEFAULT 0",
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
