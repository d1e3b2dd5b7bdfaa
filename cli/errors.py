"""The one exception the commands raise for the user: printed as `error: <message>`, exit 1."""

from __future__ import annotations


class CliError(Exception):
    """A failure to report in one line; the message says what went wrong and, if it can, what to do."""
