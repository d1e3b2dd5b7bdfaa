"""Lists the server pages (`next_page_token`): every page, for the commands that show a whole thing."""

from __future__ import annotations

from typing import Any, Callable

# The server's largest page.
PAGE = 1000


def all_items(fetch: Callable[[str], Any]) -> list[Any]:
    """The items of every page; `fetch(page_token)` returns one page ("" for the first)."""
    items: list[Any] = []
    token = ""
    while True:
        page = fetch(token)
        items += page.items
        token = page.next_page_token
        if not token:
            return items


def as_list(items: list[Any]) -> dict[str, Any]:
    """A whole list as its route answers it when it fits one page: items, count, no next page."""
    from common.jsonout import to_json

    return {"items": [to_json(i) for i in items], "count": len(items), "next_page_token": ""}
