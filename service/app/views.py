"""What the use cases return, and the one way they learn how it is shown.

History entries and events carry values "exactly as the issue JSON
shows them". Only the API layer knows that JSON, so it hands the use cases a
`Renderer` at startup (`use_renderer`); the use cases never import the API.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Protocol

from ..storage.models import Attachment, Comment, HistoryEntry, Issue, IssueFile


@dataclass(frozen=True)
class IssueView:
    """An issue as shown: its row (with the workspace's `prefix`) and its attachments, in order."""

    row: Issue
    attachments: list[Attachment]


@dataclass(frozen=True)
class CommentView:
    """A comment as shown: its row, attachments and reactions ((emoji, user) in reaction order)."""

    row: Comment
    attachments: list[Attachment]
    reactions: list[tuple[str, str]] = field(default_factory=list)


class Renderer(Protocol):
    """The HTTP contract's JSON of what history entries and events show."""

    def issue_json(self, view: IssueView) -> dict[str, Any]:
        """The issue exactly as the HTTP contract's JSON shows it."""

    def comment_json(self, view: CommentView) -> dict[str, Any]: ...

    def history_json(self, entry: HistoryEntry) -> dict[str, Any]: ...

    def file_json(self, row: IssueFile) -> dict[str, Any]: ...

    def workflow_json(self, transitions: dict[str, list[str]]) -> dict[str, Any]: ...


class _Unset:
    def __getattr__(self, name: str) -> Any:
        raise RuntimeError("no Renderer: call service.app.views.use_renderer at startup")


_renderer: Renderer = _Unset()


def use_renderer(renderer: Renderer) -> None:
    global _renderer
    _renderer = renderer


def renderer() -> Renderer:
    return _renderer
