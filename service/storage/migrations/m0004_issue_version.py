"""A version per issue, moved by every change to what the issue shows.

`updated_at` says when the issue's own fields last changed; what a client is
shown also depends on other rows (later: sub-issue counts, the workflow), so
caches of built issues and entity tags key on this counter instead.
"""

STATEMENTS = [
    "ALTER TABLE issues ADD COLUMN version INTEGER NOT NULL DEFAULT 1",
]
