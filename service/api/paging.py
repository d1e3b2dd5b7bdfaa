"""Page tokens on the list methods (AIP-158): reading `page_token`, writing `next_page_token`.

A list method names its scope (what the list is: kind, workspace, parent,
filters, order) and the types of its position; this module does the rest
the same way for every list:

    at = paging.read(request, v, scope, (datetime, uuid.UUID), default_limit=50)
    rows = use_case(..., at.limit + 1, at.offset, at.after)    # one more: are there more?
    items, token = paging.respond(messages_of(rows[:at.limit]), positions, len(rows) > at.limit, scope, at.origin)

A next request may repeat the first one's `offset` with the token (AIP-158:
the first request's parameters again, plus `page_token`); another offset is
refused, as other filters are.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Callable, Sequence, TypeVar

from google.protobuf.message import Message

from ..app import page_tokens
from ..domain.errors import Violations
from ..domain.identifiers import IssueRef, parse_issue_ref
from . import messages, requests

T = TypeVar("T")
R = TypeVar("R")


@dataclass(frozen=True)
class PageRequest:
    """Where a list request's page starts."""

    limit: int
    offset: int
    # The position to start after (from the token), or None.
    after: tuple[Any, ...] | None
    # The offset the walk's first request started at, carried by each token.
    origin: int


def read(request: Message, v: Violations, scope: str, types: tuple[type, ...], *, default_limit: int) -> PageRequest:
    """Where the page of a list request starts.

    Adds the page's problems to `v` and raises them all (with any the caller
    added before) when there are any; then decodes the token.
    """
    limit, offset = requests.page(v, request, default_limit=default_limit)
    token = request.page_token
    v.check()
    if not token:
        return PageRequest(limit, offset, None, offset)
    found, origin = page_tokens.decode(token, scope)
    after = page_tokens.values(found, *types)
    given = offset if "offset" in request.DESCRIPTOR.fields_by_name and request.HasField("offset") else None
    page_tokens.check_origin(origin, given, "offset")
    return PageRequest(limit, 0, after, origin)


def respond(
    items: list[T], positions: Sequence[Sequence[Any]], more: bool, scope: str, origin: int
) -> tuple[list[T], str]:
    """The items that fit one response, and the token of the page after them
    ("" when nothing follows)."""
    fitted = messages.fit(items)
    if not fitted or (len(fitted) == len(items) and not more):
        return fitted, ""
    return fitted, page_tokens.encode(scope, page_tokens.position(*positions[len(fitted) - 1]), origin)


def under_issue(
    request: Message, workspace_id: int, kind: str, types: tuple[type, ...], *, default_limit: int,
    fetch: Callable[[IssueRef, int, int, tuple[Any, ...] | None], tuple[list[R], int]],
    build: Callable[[R], T], position: Callable[[R], Sequence[Any]],
) -> tuple[list[T], int, str]:
    """A list under one issue (comments, history, sub-issues): (items, count, next_page_token).

    `fetch(issue, limit, offset, after)` is the use case, asked for one item
    more than the page so the token is given only when more follow; `build`
    makes an item's message and `position` its keys in the list's order, of `types`.
    """
    v = Violations()
    ref = parse_issue_ref(v, "issue_id", request.issue_id)
    scope = page_tokens.scope(kind, workspace_id, str(ref))  # bound to the issue as named
    at = read(request, v, scope, types, default_limit=default_limit)
    assert ref is not None
    rows, total = fetch(ref, at.limit + 1, at.offset, at.after)
    shown = rows[:at.limit]
    items, token = respond([build(r) for r in shown], [position(r) for r in shown], len(rows) > at.limit, scope, at.origin)
    return items, total, token
