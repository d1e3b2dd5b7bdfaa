"""What full-text search sees of an issue, and the words of a query (SPEC 8.8).

One definition for both databases: the text is reduced here to its words
(runs of letters and digits) joined by spaces, so PostgreSQL's `simple`
parser and SQLite FTS5's `unicode61` tokenizer find exactly the same words in
it, and a query's words are found the same way. Matching is whole words,
case-insensitive, every word of the query.
"""

from __future__ import annotations

import re
from typing import Any, Iterable, Iterator

# Letters and digits of any script; `_` and punctuation separate words.
_WORD = re.compile(r"[^\W_]+")


def block_text(block: Any) -> Iterator[str]:
    """The text of a description block: every string under a `text` key, at any depth
    (`{"type": "text", "text": ...}`, and rich blocks whose children carry `text`)."""
    if isinstance(block, dict):
        for key, value in block.items():
            if key == "text" and isinstance(value, str):
                yield value
            else:
                yield from block_text(value)
    elif isinstance(block, list):
        for item in block:
            yield from block_text(item)


def search_text(title: str, description: Iterable[Any], resolution_summary: str | None) -> str:
    """The words an issue is found by, lower-cased, one space apart."""
    parts = [title, *(t for block in description for t in block_text(block)), resolution_summary or ""]
    return " ".join(_WORD.findall(" ".join(parts).lower()))


def query_words(q: str) -> list[str]:
    """The distinct words of a query, lower-cased, in order."""
    return list(dict.fromkeys(_WORD.findall(q.lower())))
