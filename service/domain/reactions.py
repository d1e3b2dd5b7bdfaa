"""What may be a reaction: exactly one emoji."""

from __future__ import annotations

import emoji as emoji_data

from .errors import InvalidArgument


def check_emoji(value: str) -> str:
    """One emoji grapheme, skin tones and joined sequences included.

    The Unicode emoji data comes from the `emoji` package rather than a
    hand-kept table, so new emoji arrive with its releases.
    """
    if not emoji_data.is_emoji(value):
        raise InvalidArgument.field("emoji", "must be exactly one emoji, such as 👍")
    return value
