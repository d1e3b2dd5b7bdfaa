"""What the use cases return, and the one way they learn how it is shown.

History entries (and, later, events) carry values "exactly as the issue JSON
shows them". Only the API layer knows that JSON, so it hands the use cases a
`Renderer` at startup (`use_renderer`); the use cases never import the API.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Protocol

from ..storage.models import Attachment, Comment, Issue


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
    def issue_json(self, view: IssueView) -> dict[str, Any]:
        """The issue exactly as the HTTP contract's JSON shows it."""


class _Unset:
    def issue_json(self, view: IssueView) -> dict[str, Any]:
        raise RuntimeError("no Renderer: call service.app.views.use_renderer at startup")


_renderer: Renderer = _Unset()


def use_renderer(renderer: Renderer) -> None:
    global _renderer
    _renderer = renderer


def renderer() -> Renderer:
    return _renderer
