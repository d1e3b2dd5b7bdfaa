"""The tracker model: identifiers, workflows, history, reactions, sub-issues
and references (SPEC 8.1 to 8.7).

Existing workspaces get their default prefix and existing issues their
numbers, in creation order, by `backfill`.
"""

from __future__ import annotations

from typing import Any, Callable

STATEMENTS = [
    "ALTER TABLE workspaces ADD COLUMN prefix VARCHAR(10) NOT NULL DEFAULT 'ISS'",
    # The last number given to an issue; taken under the row's lock, so
    # numbers are never given twice and a rolled-back create gives none.
    "ALTER TABLE workspaces ADD COLUMN issue_seq INTEGER NOT NULL DEFAULT 0",
    # JSON {status: [statuses]}; NULL is the default, every move allowed.
    "ALTER TABLE workspaces ADD COLUMN workflow TEXT",
    # Every prefix a workspace has had, so that old identifiers still resolve.
    """
    CREATE TABLE workspace_prefixes (
        workspace_id INTEGER NOT NULL REFERENCES workspaces (id) ON DELETE CASCADE,
        prefix VARCHAR(10) NOT NULL,
        PRIMARY KEY (workspace_id, prefix)
    )
    """,
    # Set as the last statement of the create's transaction (so the workspace
    # row's lock is held for one statement); null only inside it.
    "ALTER TABLE issues ADD COLUMN number INTEGER",
    "ALTER TABLE issues ADD COLUMN parent_uuid {uuid} REFERENCES issues (uuid) ON DELETE SET NULL",
    "ALTER TABLE issues ADD COLUMN sub_issues_count INTEGER NOT NULL DEFAULT 0",
    "ALTER TABLE issues ADD COLUMN refs {json} NOT NULL DEFAULT '{{}}'",
    "CREATE INDEX issues_parent ON issues (parent_uuid, created_at)",
    # Serves ?ref=key:value filters: an issue's references, one row a pair.
    """
    CREATE TABLE issue_refs (
        issue_uuid {uuid} NOT NULL REFERENCES issues (uuid) ON DELETE CASCADE,
        workspace_id INTEGER NOT NULL,
        ref_key VARCHAR(64) NOT NULL,
        ref_value VARCHAR(256) NOT NULL,
        PRIMARY KEY (issue_uuid, ref_key)
    )
    """,
    "CREATE INDEX issue_refs_lookup ON issue_refs (workspace_id, ref_key, ref_value)",
    """
    CREATE TABLE issue_history (
        uuid {uuid} PRIMARY KEY,
        issue_uuid {uuid} NOT NULL REFERENCES issues (uuid) ON DELETE CASCADE,
        position INTEGER NOT NULL,
        action VARCHAR(64) NOT NULL,
        field VARCHAR(64),
        old_value TEXT,
        new_value TEXT,
        actor VARCHAR(320) NOT NULL,
        created_at TIMESTAMP NOT NULL
    )
    """,
    "CREATE INDEX issue_history_order ON issue_history (issue_uuid, created_at, position)",
    """
    CREATE TABLE reactions (
        comment_uuid {uuid} NOT NULL REFERENCES comments (uuid) ON DELETE CASCADE,
        emoji VARCHAR(64) NOT NULL,
        user_email VARCHAR(320) NOT NULL,
        created_at TIMESTAMP NOT NULL,
        PRIMARY KEY (comment_uuid, emoji, user_email)
    )
    """,
]


def _default_prefix(slug: str) -> str:
    # The rule as of this migration (domain/identifiers.py keeps the live one):
    # the slug's first three letters upper-cased, ISS with fewer than two.
    letters = [c for c in slug if "a" <= c <= "z"]
    return "".join(letters[:3]).upper() if len(letters) >= 2 else "ISS"


def backfill(execute: Callable[..., Any], placeholder: str) -> None:
    """Default prefixes for the workspaces there are, numbers for their issues."""
    for workspace_id, slug in execute("SELECT id, slug FROM workspaces").fetchall():
        prefix = _default_prefix(slug)
        execute(f"UPDATE workspaces SET prefix = {placeholder} WHERE id = {placeholder}", (prefix, workspace_id))
        execute(
            f"INSERT INTO workspace_prefixes (workspace_id, prefix) VALUES ({placeholder}, {placeholder})",
            (workspace_id, prefix),
        )
    execute(
        "UPDATE issues SET number = numbered.n FROM ("
        " SELECT uuid AS id, ROW_NUMBER() OVER (PARTITION BY workspace_id ORDER BY created_at, uuid) AS n FROM issues"
        ") AS numbered WHERE issues.uuid = numbered.id"
    )
    execute("UPDATE workspaces SET issue_seq = (SELECT COUNT(*) FROM issues WHERE issues.workspace_id = workspaces.id)")
    execute("CREATE UNIQUE INDEX issues_workspace_number ON issues (workspace_id, number)")
