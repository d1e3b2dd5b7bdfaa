"""Page tokens on the list methods (AIP-158): reading `page_token`, writing `next_page_token`.

A list method names its scope (which list: kind, workspace, parent) and
the types of its position; this module does the rest the same way for
every list:

    walk = paging.Walk.resume(request, page_tokens.scope("deliveries", workspace_id, webhook_id))
    statuses = ...parse the filters of walk.request...
    at = walk.page(v, (datetime, uuid.UUID), default_limit=50)
    rows = use_case(..., at.limit + 1, at.offset, at.after)    # one more: are there more?
    items, token = walk.respond(messages_of(rows[:at.limit]), positions, len(rows) > at.limit)

`walk.request` is the request with the parameters a next request left out
taken from its token (list_parameters.py): a token sent alone pages the
first request's list, with its filters, order and count.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Callable, Generic, Sequence, TypeVar

from google.protobuf.message import Message

from ..app import page_tokens
from ..domain.errors import Violations
from ..domain.identifiers import IssueRef, parse_issue_ref
from . import list_parameters, messages, request_values

T = TypeVar("T")
R = TypeVar("R")
M = TypeVar("M", bound=Message)


@dataclass(frozen=True)
class PageRequest:
    """Where a list request's page starts."""

    limit: int
    offset: int
    # The position to start after (from the token), or None.
    after: tuple[Any, ...] | None


@dataclass(frozen=True)
class Walk(Generic[M]):
    """One request of a walk through a list's pages."""

    # Which list (page_tokens.scope).
    scope: str
    # The request, with the parameters it left out taken from its token.
    request: M
    # Where the previous page ended, as the token spelled it; None on a first request.
    position: page_tokens.Position | None

    @classmethod
    def resume(cls, request: M, scope: str, named: Violations | None = None) -> Walk[M]:
        """A list request of the list `scope`; INVALID_ARGUMENT naming page_token
        for a token that is not this list's or a parameter that differs from it.

        `named` holds the problems of the fields that name the list (its issue
        or webhook), raised first: without them there is no list to read a token of.
        """
        if named is not None:
            named.check()
        if not request.page_token:
            return cls(scope, request, None)
        position, first_parameters = page_tokens.decode(request.page_token, scope)
        return cls(scope, list_parameters.completed(request, first_parameters), position)

    def page(self, v: Violations, types: tuple[type, ...], *, default_limit: int) -> PageRequest:
        """Where the page starts, the position's values of `types`.

        Adds the page's problems to `v` and raises them all (with any the caller
        added before) when there are any. A token's page starts after its
        position: the first request's `offset` (which may come again) is behind it.
        """
        limit, offset = request_values.page(v, self.request, default_limit=default_limit)
        v.check()
        if self.position is None:
            return PageRequest(limit, offset, None)
        return PageRequest(limit, 0, page_tokens.values(self.position, *types))

    def respond(self, items: list[T], positions: Sequence[Sequence[Any]], more: bool) -> tuple[list[T], str]:
        """The items that fit one response, and the token of the page after them
        ("" when nothing follows)."""
        fitted = messages.fit(items)
        if not fitted or (len(fitted) == len(items) and not more):
            return fitted, ""
        position = page_tokens.position(*positions[len(fitted) - 1])
        return fitted, page_tokens.encode(self.scope, position, list_parameters.carried(self.request))


def under_issue(
    request: Message,
    workspace_id: int,
    kind: str,
    types: tuple[type, ...],
    *,
    default_limit: int,
    fetch: Callable[[IssueRef, int, int, tuple[Any, ...] | None], tuple[list[R], int]],
    build: Callable[[R], T],
    position: Callable[[R], Sequence[Any]],
) -> tuple[list[T], int, str]:
    """A list under one issue (comments, history, sub-issues): (items, count, next_page_token).

    `fetch(issue, limit, offset, after)` is the use case, asked for one item
    more than the page so the token is given only when more follow; `build`
    makes an item's message and `position` its keys in the list's order, of `types`.
    """
    v = Violations()
    ref = parse_issue_ref(v, "issue_id", request.issue_id)
    walk = Walk.resume(request, page_tokens.scope(kind, workspace_id, str(ref)), v)  # bound to the issue as named
    at = walk.page(v, types, default_limit=default_limit)
    assert ref is not None
    rows, total = fetch(ref, at.limit + 1, at.offset, at.after)
    shown = rows[: at.limit]
    items, token = walk.respond([build(r) for r in shown], [position(r) for r in shown], len(rows) > at.limit)
    return items, total, token
