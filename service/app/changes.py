"""The record of what a command changed, from which the unit of work derives
everything else (counters, sub-issue counts, history, events)."""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from typing import Any, Literal, Mapping

from .views import IssueView

Entity = Literal["issue", "comment", "attachment", "file", "reaction", "workflow", "bulk"]
Action = Literal["created", "updated", "deleted"]


@dataclass(frozen=True)
class Change:
    """One resource a command created, updated or deleted.

    `before` and `after` are the resource's stored fields (None for the side
    that does not exist), so whatever is derived from a change (counters,
    history, events) reads the same record. An issue's change also carries
    the issue as shown before and after (`views`), for values in the
    contract's JSON; other changes carry the view their event shows (`view`).
    """

    entity: Entity
    action: Action
    id: uuid.UUID | None  # None for a workspace-wide change (workflow, bulk)
    issue_id: uuid.UUID | None
    before: Mapping[str, Any] | None
    after: Mapping[str, Any] | None
    views: tuple[IssueView | None, IssueView | None] = (None, None)
    # What an event shows of a change that is not an issue's: a CommentView,
    # an IssueFile, a workflow's transitions, a bulk update's JSON.
    view: Any = None

    @property
    def changed_fields(self) -> list[str]:
        """The fields whose value differs between before and after."""
        before, after = self.before or {}, self.after or {}
        return [name for name in after if before.get(name) != after[name]]


def fields_of(row: Any, fields: tuple[str, ...]) -> dict[str, Any]:
    """The named fields of a stored row, for a Change."""
    return {name: getattr(row, name) for name in fields}
