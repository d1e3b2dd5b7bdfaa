"""What the use cases return, and how it is shown.

The words: a *view* is a resource as a use case returns it, with what it is
shown with (an issue's attachments, a comment's reactions); *rendering* is
turning a view into the contract's JSON, which only a `Renderer` does.

History entries and events carry values "exactly as the issue JSON
shows them". Only the API layer knows that JSON, so the runtime gives the
Runner a `Renderer` at startup, which passes it to each unit of work; the
use cases never import the API.
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
    # The issue's JSON once rendered (RenderedOnce): history and event reuse it.
    rendered: dict[str, Any] = field(default_factory=dict, compare=False, repr=False)


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


class RenderedOnce:
    """A Renderer that renders each IssueView once: an update's history
    entries and its event show the same before and after states, so each is
    rendered once and the JSON reused (a copy each time: callers add keys)."""

    def __init__(self, renderer: Renderer) -> None:
        self._renderer = renderer

    def issue_json(self, view: IssueView) -> dict[str, Any]:
        if "json" not in view.rendered:
            view.rendered["json"] = self._renderer.issue_json(view)
        return dict(view.rendered["json"])

    def comment_json(self, view: CommentView) -> dict[str, Any]:
        return self._renderer.comment_json(view)

    def history_json(self, entry: HistoryEntry) -> dict[str, Any]:
        return self._renderer.history_json(entry)

    def file_json(self, row: IssueFile) -> dict[str, Any]:
        return self._renderer.file_json(row)

    def workflow_json(self, transitions: dict[str, list[str]]) -> dict[str, Any]:
        return self._renderer.workflow_json(transitions)
