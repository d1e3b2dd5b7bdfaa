"""Page tokens (AIP-158): where the next page of a list starts, opaque and tamper-evident.

A token is the position of the last item a page returned (the values of the
list's order, its unique tie-breaker last) and the walk's *parameters* (its
first request's filters, order and offset, as bytes the caller encoded:
api/list_parameters.py), signed with the server secret over those and the
list's *scope*: which list it is (its kind, workspace, parent). A token
altered, made up, or used on another list fails the signature and is
INVALID_ARGUMENT naming `page_token`; the scope itself is not in the token,
only in its signature. The parameters are in it so that a next request may
send the token alone (AIP-158) and still get the first request's list.

    where = page_tokens.scope("events", workspace_id)
    token = page_tokens.encode(where, page_tokens.position(created_at, event_id), parameters)
    found, parameters = page_tokens.decode(request.page_token, where)
    created_at, event_id = page_tokens.values(found, datetime.datetime, uuid.UUID)

`decode` raises InvalidArgument naming `page_token` for anything that is not
a token of that scope. Call `encode` and `decode` outside a unit of work:
the first call reads (or makes) the secret in a transaction of its own.
Positions are JSON arrays of strings, numbers and nulls; `position` writes
keys (datetimes, uuids, ints, strings) as those and `values` reads them back.
api/paging.py does all of this for a list method.
"""

from __future__ import annotations

import base64
import datetime
import hashlib
import hmac
import json
import uuid
from dataclasses import dataclass
from typing import Any, Generic, Sequence, TypeVar

from ..domain.errors import InvalidArgument
from .signing_keys import signing_key

Scalar = str | int | float | None
Position = list[Scalar]
T = TypeVar("T")

FIELD = "page_token"
_SECRET_NAME = "page_token_key"
_MAC_BYTES = 16  # 128 bits: forging one is out of reach, and tokens stay short
# Longer tokens are refused before anything is decoded. A token is about 4/3
# of its parameters' bytes plus ~130 characters: ~200 for a few filters, ~800
# for a `q` of 500 ASCII characters, at most ~3,600 (api/list_parameters.py
# carries no more than 2.5 KiB of parameters).
TOKEN_MAX = 4096


def _key() -> bytes:
    return signing_key(_SECRET_NAME, b"page-token")


def scope(*parts: object) -> str:
    """A list's scope from its parts (kind, workspace, parent), canonically spelled:
    JSON of strings, numbers, lists and nulls (anything else as its str)."""
    return json.dumps(list(parts), separators=(",", ":"), sort_keys=True, default=str)


def _mac(scope_text: str, body: bytes) -> bytes:
    message = scope_text.encode() + b"\x00" + body
    return hmac.new(_key(), message, hashlib.sha256).digest()[:_MAC_BYTES]


def encode(scope_text: str, position: Sequence[Scalar], parameters: bytes) -> str:
    """The token for the page after the item at `position` in the list
    `scope_text`, in a walk whose first request had `parameters`."""
    # JSON escapes every control character: the first NUL ends the position.
    body = json.dumps(list(position), separators=(",", ":")).encode() + b"\x00" + parameters
    return base64.urlsafe_b64encode(body + _mac(scope_text, body)).decode().rstrip("=")


def decode(token: str, scope_text: str) -> tuple[Position, bytes]:
    """The position and the parameters a token of the list `scope_text`
    carries, else INVALID_ARGUMENT naming page_token."""
    invalid = InvalidArgument.field(FIELD, "is not a page token of this list: it was altered, or made for another list")
    if len(token) > TOKEN_MAX:
        raise invalid
    try:
        raw = base64.urlsafe_b64decode(token + "=" * (-len(token) % 4))
    except ValueError:
        raise invalid from None
    body, mac = raw[:-_MAC_BYTES], raw[-_MAC_BYTES:]
    if len(raw) <= _MAC_BYTES or not hmac.compare_digest(mac, _mac(scope_text, body)):
        raise invalid
    position_text, separator, parameters = body.partition(b"\x00")
    found = json.loads(position_text) if separator else None  # signed by us: well-formed
    if not isinstance(found, list):
        raise invalid
    return found, parameters


def position(*values: object) -> Position:
    """A position from keys: datetimes as ISO text, uuids as text, numbers and strings as they are."""
    out: Position = []
    for value in values:
        if isinstance(value, datetime.datetime):
            out.append(value.isoformat())
        elif value is None or isinstance(value, (str, int, float)):
            out.append(value)
        else:
            out.append(str(value))
    return out


def values(found: Position, *types: type) -> tuple[Any, ...]:
    """A decoded position back as keys of `types` (datetime, uuid.UUID, int, str),
    as `position` wrote them; INVALID_ARGUMENT naming page_token if it does not fit."""
    if len(found) != len(types):
        raise InvalidArgument.field(FIELD, "is not a page token of this list")
    out: list[Any] = []
    try:
        for value, kind in zip(found, types):
            if kind is datetime.datetime:
                out.append(datetime.datetime.fromisoformat(str(value)))
            elif kind is uuid.UUID:
                out.append(uuid.UUID(str(value)))
            elif (kind is int and isinstance(value, int)) or (kind is str and isinstance(value, str)):
                out.append(value)
            else:
                raise ValueError(value)
    except ValueError:
        raise InvalidArgument.field(FIELD, "is not a page token of this list") from None
    return tuple(out)


@dataclass
class Page(Generic[T]):
    """One page of a list: its items, each item's position in the list's
    order, the total in all pages, and whether more follow the last item."""

    items: list[T]
    positions: list[Sequence[Any]]
    total: int
    more: bool
