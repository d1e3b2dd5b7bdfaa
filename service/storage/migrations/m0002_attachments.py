"""Attachments, the comment-to-attachment links, and server secrets."""

STATEMENTS = [
    """
    CREATE TABLE attachments (
        uuid {uuid} PRIMARY KEY,
        workspace_id INTEGER NOT NULL REFERENCES workspaces (id) ON DELETE CASCADE,
        file_name VARCHAR(255) NOT NULL,
        content_type VARCHAR(255) NOT NULL,
        size_bytes BIGINT NOT NULL,
        sha256 VARCHAR(64),
        status VARCHAR(16) NOT NULL,
        object_key VARCHAR(255) NOT NULL UNIQUE,
        created_by VARCHAR(320) NOT NULL,
        created_at TIMESTAMP NOT NULL,
        upload_expires_at TIMESTAMP NOT NULL,
        uploaded_at TIMESTAMP
    )
    """,
    "CREATE INDEX attachments_workspace ON attachments (workspace_id, created_at)",
    # Serves the garbage collector's scans of pending and stale attachments.
    "CREATE INDEX attachments_status_created ON attachments (status, created_at)",
    "CREATE INDEX issue_files_attachment ON issue_files (attachment_id)",
    # The attachments in order, beside the issue_files rows that
    # record them, so that reading an issue stays one query.
    "ALTER TABLE issues ADD COLUMN attachment_ids {json} NOT NULL DEFAULT '[]'",
    """
    CREATE TABLE comment_attachments (
        comment_uuid {uuid} NOT NULL REFERENCES comments (uuid) ON DELETE CASCADE,
        attachment_uuid {uuid} NOT NULL REFERENCES attachments (uuid),
        position INTEGER NOT NULL,
        PRIMARY KEY (comment_uuid, attachment_uuid)
    )
    """,
    "CREATE INDEX comment_attachments_attachment ON comment_attachments (attachment_uuid)",
    """
    CREATE TABLE server_secrets (
        name VARCHAR(64) PRIMARY KEY,
        value VARCHAR(255) NOT NULL,
        created_at TIMESTAMP NOT NULL
    )
    """,
]
