"""Safe retries of creates (SPEC 8.10, AIP-155): the request_id vocabulary.

- `RequestId`: a create's request_id (the key), what makes a repeat the
  same request (its fingerprint), and how its answer is encoded to store.
- claim: a create first claims its request_id in its own transaction
  (storage/request_ids.py); `ClaimTaken` when a concurrent transaction
  claimed it first, `ClaimedInBatch` when an earlier create of the same
  transaction (a batch) holds the claim.
- `StoredAnswer`: what the first request was answered with, stored with the
  claim just before commit (`AnswerToStore`).
- replay: a repeat within a day is answered with the stored answer
  (`Replay`, which the call pipeline sends as the call's answer); another
  request with the same request_id is refused (`RequestIdReused`). A
  refused create stores nothing.
"""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from typing import Any, Callable, NamedTuple

from ..storage.request_ids import ClaimTaken, StoredAnswer

__all__ = ["AnswerToStore", "ClaimTaken", "ClaimedInBatch", "Replay", "RequestId", "StoredAnswer"]


@dataclass(frozen=True)
class RequestId:
    """A create's request_id, and what makes a repeat the same request."""

    key: str
    # A hash of the whole request but its request_id.
    fingerprint: str
    # The answer the caller is sent for the command's result, serialized:
    # what a repeat is answered with.
    encode: Callable[[Any], bytes]


class AnswerToStore(NamedTuple):
    """What to store for a claimed request_id: what was created, and the answer."""

    key: str
    resource_id: uuid.UUID | None
    encode: Callable[[], bytes]


class Replay(Exception):
    """A repeat of a create already done: the stored answer, to send as it is."""

    def __init__(self, response: bytes) -> None:
        super().__init__("a repeated request; answered with the stored answer")
        self.response = response


class ClaimedInBatch(Exception):
    """The request_id was claimed by an earlier create of the same transaction
    (a batch): this one is a repeat of it, answered as it is."""

    def __init__(self, key: str) -> None:
        super().__init__(key)
        self.key = key
