"""Events, derived from a unit of work's changes (SPEC 8.12): what each
change emits, and its `data` as the HTTP contract's JSON shows it.

derived.py appends them to the outbox (storage/outbox.py) as the
transaction's last statements; the commit returns which workspaces have new
events (runner.Committed) and its caller wakes their watchers; the rows stay
the truth.
"""

from __future__ import annotations

import datetime
import json
from typing import Any, Sequence

from ..storage.models import HistoryEntry
from ..storage.outbox import NewEvent
from .changes import Change
from .views import Renderer

BULK_UPDATED = "issues.bulk_updated"

_COMMENT = {"created": "comment.created", "updated": "comment.updated", "deleted": "comment.deleted"}
_REACTION = {"created": "reaction.added", "deleted": "reaction.removed"}


def _dumps(data: Any) -> str:
    return json.dumps(data, ensure_ascii=False, separators=(",", ":"), allow_nan=False)


def derive(
    changes: Sequence[Change],
    history: Sequence[Sequence[HistoryEntry]],
    actor: str,
    at: datetime.datetime,
    renderer: Renderer,
) -> list[NewEvent]:
    """The events of `changes`; `history[i]` holds the entries written for `changes[i]`."""
    out: list[NewEvent] = []
    for change, entries in zip(changes, history):
        made = _event(change, entries, renderer)
        if made is not None:
            out.append(NewEvent(*made, actor, at))
    return out


def _event(change: Change, entries: Sequence[HistoryEntry], renderer: Renderer) -> tuple[str, Any, str] | None:
    entity, action = change.entity, change.action
    if entity == "issue":
        before, after = change.views
        if action == "created" and after is not None:
            return ("issue.created", change.id, _dumps(renderer.issue_json(after)))
        if action == "updated":
            if not entries or after is None:
                return None  # nothing the issue shows changed (a no-op update)
            data = renderer.issue_json(after)
            data["changes"] = [renderer.history_json(e) for e in entries]
            return ("issue.updated", change.id, _dumps(data))
        if action == "deleted" and before is not None:
            return ("issue.deleted", change.id, _dumps(renderer.issue_json(before)))
        raise ValueError(f"an issue change without its views: {change.action}")  # a bug in the command
    if entity == "comment" and change.view is not None:
        return (_COMMENT[action], change.issue_id, _dumps(renderer.comment_json(change.view)))
    if entity == "reaction":
        data = renderer.comment_json(change.view)
        data["reaction"] = dict(change.after or change.before or {})
        return (_REACTION[action], change.issue_id, _dumps(data))
    if entity == "file" and action == "created":
        return ("file.added", change.issue_id, _dumps(renderer.file_json(change.view)))
    if entity == "workflow":
        return ("workflow.updated", None, _dumps(renderer.workflow_json(change.view)))
    if entity == "bulk":
        return (BULK_UPDATED, None, _dumps(change.view))
    return None
