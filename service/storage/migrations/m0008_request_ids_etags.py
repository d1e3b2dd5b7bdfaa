"""Safe retries and concurrent edits (SPEC 8.10): the first responses of
creates that carried a request_id, and a version on comments for their etag."""

STATEMENTS = [
    # Moves with every change to what a comment shows (edits, deletion,
    # reactions); existing comments start at 1, as new ones do.
    "ALTER TABLE comments ADD COLUMN version INTEGER NOT NULL DEFAULT 1",
    # One row per (workspace, request_id): the primary key is what makes two
    # racing creates with one key create one resource (the second's claim
    # waits for the first's commit, fails, and answers with the stored row).
    # `response` is null only inside the claiming transaction.
    """
    CREATE TABLE request_ids (
        workspace_id INTEGER NOT NULL REFERENCES workspaces (id) ON DELETE CASCADE,
        request_id VARCHAR(128) NOT NULL,
        fingerprint VARCHAR(64) NOT NULL,
        resource_id {uuid},
        response {bytes},
        created_at TIMESTAMP NOT NULL,
        PRIMARY KEY (workspace_id, request_id)
    )
    """,
    # gc removes the expired ones oldest first.
    "CREATE INDEX request_ids_created ON request_ids (created_at)",
]
