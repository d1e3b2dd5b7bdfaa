"""Workspaces, tokens, issues, comments and issue files."""

STATEMENTS = [
    """
    CREATE TABLE workspaces (
        id {serial} PRIMARY KEY,
        slug VARCHAR(64) NOT NULL UNIQUE,
        created_at TIMESTAMP NOT NULL
    )
    """,
    """
    CREATE TABLE api_tokens (
        id {serial} PRIMARY KEY,
        workspace_id INTEGER NOT NULL REFERENCES workspaces (id) ON DELETE CASCADE,
        email VARCHAR(320) NOT NULL,
        role VARCHAR(16) NOT NULL,
        token_hash VARCHAR(64) NOT NULL UNIQUE,
        created_at TIMESTAMP NOT NULL
    )
    """,
    "CREATE INDEX api_tokens_workspace_id ON api_tokens (workspace_id)",
    """
    CREATE TABLE issues (
        uuid {uuid} PRIMARY KEY,
        workspace_id INTEGER NOT NULL REFERENCES workspaces (id) ON DELETE CASCADE,
        title VARCHAR(500) NOT NULL,
        description {json} NOT NULL,
        status VARCHAR(16) NOT NULL,
        priority VARCHAR(16) NOT NULL,
        tags {json} NOT NULL,
        owner TEXT NOT NULL,
        resolution_summary TEXT,
        created_by VARCHAR(320) NOT NULL,
        created_at TIMESTAMP NOT NULL,
        updated_at TIMESTAMP NOT NULL,
        resolved_at TIMESTAMP,
        job_run_id TEXT,
        session_ids {json} NOT NULL
    )
    """,
    # Serves the newest-first listing (and its filters, which are applied
    # while walking it) and the per-day "opened" counts.
    "CREATE INDEX issues_workspace_created ON issues (workspace_id, created_at, uuid)",
    # Serves the status/priority aggregates as an index-only scan.
    "CREATE INDEX issues_workspace_status_priority ON issues (workspace_id, status, priority)",
    # Serves the per-day "resolved" counts.
    "CREATE INDEX issues_workspace_resolved ON issues (workspace_id, resolved_at)",
    """
    CREATE TABLE comments (
        uuid {uuid} PRIMARY KEY,
        issue_uuid {uuid} NOT NULL REFERENCES issues (uuid) ON DELETE CASCADE,
        content TEXT NOT NULL,
        created_by VARCHAR(320) NOT NULL,
        created_at TIMESTAMP NOT NULL,
        updated_at TIMESTAMP NOT NULL,
        is_edited BOOLEAN NOT NULL,
        is_deleted BOOLEAN NOT NULL
    )
    """,
    "CREATE INDEX comments_issue_created ON comments (issue_uuid, created_at, uuid)",
    """
    CREATE TABLE issue_files (
        uuid {uuid} PRIMARY KEY,
        issue_uuid {uuid} NOT NULL REFERENCES issues (uuid) ON DELETE CASCADE,
        file_name TEXT NOT NULL,
        file_type VARCHAR(64) NOT NULL,
        attachment_id {uuid} NOT NULL,
        created_at TIMESTAMP NOT NULL
    )
    """,
    "CREATE INDEX issue_files_issue_type ON issue_files (issue_uuid, file_type, created_at)",
]
