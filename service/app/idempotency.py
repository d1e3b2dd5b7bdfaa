"""Safe retries of creates (SPEC 8.10, AIP-155): what a request_id carries.

A create given an `Idempotency` runs in a unit of work that first looks the
request_id up: a repeat of the same request within a day gets the first
response (`Replayed`, which the call pipeline sends as the call's answer),
another request with the same id is refused (`RequestIdReused`), and a new
one runs and stores its response in its own transaction, derived from its
result (unit_of_work.py). A refused create stores nothing.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Callable

from ..storage.request_ids import Stored

__all__ = ["Idempotency", "Replayed", "Stored"]


@dataclass(frozen=True)
class Idempotency:
    """A create's request_id, and what makes a repeat the same request."""

    request_id: str
    # A hash of the whole request but its request_id.
    fingerprint: str
    # The response the caller is sent for the command's result, serialized:
    # what a repeat is answered with.
    encode: Callable[[Any], bytes]


class Replayed(Exception):
    """A repeat of a create already done: the first response, to send as it is."""

    def __init__(self, response: bytes) -> None:
        super().__init__("a repeated request; answered with the first response")
        self.response = response
