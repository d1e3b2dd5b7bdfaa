"""History entries, derived from a unit of work's changes (SPEC 8.4).

One entry per changed key of an issue, with the values exactly as the issue
JSON shows that key (from the renderer the unit of work is given); none for a change that
changes nothing; the comment and file actions name the uuid concerned.
"""

from __future__ import annotations

from typing import Iterable

from ..storage.history import NewEntry
from .changes import Change
from .views import Renderer

# The issue's JSON keys whose changes are recorded, in the order entries are written.
TRACKED = (
    "title",
    "description",
    "status",
    "priority",
    "tags",
    "owner",
    "resolution_summary",
    "job_run_id",
    "attachments",
    "sessions",
    "parent_id",
    "refs",
)
# Stored fields every update moves, which no tracked JSON key shows.
_BOOKKEEPING = {"updated_at"}
_COMMENT_ACTIONS = {"created": "comment_added", "updated": "comment_edited", "deleted": "comment_deleted"}


def _action(key: str) -> str:
    return "parent_changed" if key == "parent_id" else f"{key}_changed"


def entries_by_change(changes: Iterable[Change], renderer: Renderer) -> list[list[NewEntry]]:
    """Each change's entries (an issue update's are its event's `changes`)."""
    return [_entries(change, renderer) for change in changes]


def _entries(change: Change, renderer: Renderer) -> list[NewEntry]:
    out: list[NewEntry] = []
    if change.entity == "issue" and change.action == "created":
        out.append(NewEntry(change.id, "created", None, None, None))
    elif change.entity == "issue" and change.action == "updated":
        if not set(change.changed_fields) - _BOOKKEEPING:
            return out  # no stored field moved: nothing the JSON shows can differ, skip rendering it
        before, after = change.views
        if before is None or after is None:
            raise ValueError("an issue update must carry its views")  # a bug in the command
        old, new = renderer.issue_json(before), renderer.issue_json(after)
        out += [NewEntry(change.id, _action(key), key, old[key], new[key]) for key in TRACKED if old[key] != new[key]]
    elif change.entity == "comment" and change.issue_id is not None:
        # An issue deleted with its comments records nothing: its history goes too.
        uuid_text = str(change.id)
        action = _COMMENT_ACTIONS[change.action]
        old_value = uuid_text if change.action != "created" else None
        new_value = uuid_text if change.action != "deleted" else None
        out.append(NewEntry(change.issue_id, action, None, old_value, new_value))
    elif change.entity == "file" and change.action == "created" and change.issue_id is not None:
        out.append(NewEntry(change.issue_id, "file_added", None, None, str(change.id)))
    return out
