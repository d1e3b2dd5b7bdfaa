"""Page tokens on the list methods (AIP-158): reading `page_token`, writing `next_page_token`.

A list method names its scope (what the list is: kind, workspace, parent,
filters, order) and the types of its position; this module does the rest
the same way for every list:

    limit, offset, after = paging.read(request, v, scope, (datetime, uuid.UUID), default_limit=50)
    rows = use_case(..., limit + 1, offset, after)             # one more: are there more?
    items, token = paging.respond(messages_of(rows[:limit]), positions, len(rows) > limit, scope)
"""

from __future__ import annotations

from typing import Any, Sequence, TypeVar

from google.protobuf.message import Message

from ..app import page_tokens
from ..domain.errors import Violations
from . import messages, requests

T = TypeVar("T")


def read(
    request: Message, v: Violations, scope: str, types: tuple[type, ...], *, default_limit: int
) -> tuple[int, int, tuple[Any, ...] | None]:
    """(limit, offset, the position to start after) of a list request.

    Adds the page's problems to `v` and raises them all (with any the caller
    added before) when there are any; then decodes the token.
    """
    limit, offset = requests.page(v, request, default_limit=default_limit)
    token = request.page_token
    if token and request.HasField("offset"):
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
