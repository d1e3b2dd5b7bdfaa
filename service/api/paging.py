"""Page tokens on the list methods (AIP-158): reading `page_token`, writing `next_page_token`.

A list method names its scope (what the list is: kind, workspace, parent,
filters, order) and the types of its position; this module does the rest
the same way for every list:

    limit, offset, after = paging.read(request, v, scope, (datetime, uuid.UUID), default_limit=50)
    rows = use_case(..., limit + 1, offset, after)             # one more: are there more?
    items, token = paging.respond(messages_of(rows[:limit]), positions, len(rows) > limit, scope)
"""

from __future__ import annotations

from typing import Any, Callable, Sequence, TypeVar

from google.protobuf.message import Message

from ..app import page_tokens
from ..domain.errors import Violations
from ..domain.identifiers import IssueRef, parse_issue_ref
from . import messages, requests

T = TypeVar("T")
R = TypeVar("R")


def read(
    request: Message, v: Violations, scope: str, types: tuple[type, ...], *, default_limit: int
) -> tuple[int, int, tuple[Any, ...] | None]:
    """(limit, offset, the position to start after) of a list request.

    Adds the page's problems to `v` and raises them all (with any the caller
    added before) when there are any; then decodes the token.
    """
    limit, offset = requests.page(v, request, default_limit=default_limit)
    token = request.page_token
    if token and "offset" in request.DESCRIPTOR.fields_by_name and request.HasField("offset"):
        v.add("page_token", "cannot be given together with offset: a token already says where the page starts")
    v.check()
    if not token:
        return limit, offset, None
    return limit, 0, page_tokens.values(page_tokens.decode(token, scope), *types)


def respond(
    items: list[T], positions: Sequence[Sequence[Any]], more: bool, scope: str
) -> tuple[list[T], str]:
    """The items that fit one response, and the token of the page after them
    ("" when nothing follows)."""
    fitted = messages.fit(items)
    if not fitted or (len(fitted) == len(items) and not more):
        return fitted, ""
    return fitted, page_tokens.encode(scope, page_tokens.position(*positions[len(fitted) - 1]))


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
    limit, offset, after = read(request, v, scope, types, default_limit=default_limit)
    assert ref is not None
    rows, total = fetch(ref, limit + 1, offset, after)
    shown = rows[:limit]
    items, token = respond([build(r) for r in shown], [position(r) for r in shown], len(rows) > limit, scope)
    return items, total, token
