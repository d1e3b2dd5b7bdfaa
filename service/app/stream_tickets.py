"""Stream tickets: how a browser's EventSource, which cannot send an
`Authorization` header, opens an event stream without a long-lived token in
its URL.

`CreateEventsTicket` (with the token, as any call) mints a ticket that

- lives `LIFETIME_SECONDS`: it must open a stream by then (a stream it
  opened runs on, as long as the token that minted it holds: it is checked
  like a token's stream, every few seconds, for revocation and expiry);
- is read-only and single-workspace: it acts as a viewer of the minting
  token's workspace, and only for the methods that declare the
  `stream_ticket` option (the event streams); anything else is refused;
- is signed with a server secret every replica shares, so any replica
  accepts it, and names the minting token by its hash (never the token).

It is sent where the token would be (`authorization: Bearer evt_...`); the
gateway takes it from `?ticket=` for the methods that allow one.
"""

from __future__ import annotations

import base64
import datetime
import hashlib
import hmac
import json
import time

from ..domain.errors import Unauthenticated
from .signing_keys import signing_key
from .tokens import hash_token

PREFIX = "evt_"
LIFETIME_SECONDS = 60
_MAC_BYTES = 16
_MAX_LENGTH = 256


def is_ticket(credential: str) -> bool:
    return credential.startswith(PREFIX)


def _mac(body: bytes) -> bytes:
    return hmac.new(signing_key("stream_ticket_key", b"stream-ticket"), body, hashlib.sha256).digest()[:_MAC_BYTES]


def mint(token: str, now: float | None = None) -> tuple[str, datetime.datetime]:
    """A ticket standing for `token` (read-only), and when it stops opening streams."""
    expires = int(now if now is not None else time.time()) + LIFETIME_SECONDS
    body = json.dumps([hash_token(token), expires], separators=(",", ":")).encode()
    ticket = PREFIX + base64.urlsafe_b64encode(body + _mac(body)).decode().rstrip("=")
    return ticket, datetime.datetime.fromtimestamp(expires, datetime.UTC).replace(tzinfo=None)


def token_key(ticket: str, *, opening: bool, now: float | None = None) -> str:
    """The hash of the token a ticket stands for; Unauthenticated if it is no
    ticket of ours, or (`opening` a stream) if it has expired."""
    invalid = Unauthenticated("the stream ticket is not valid")
    raw_text = ticket[len(PREFIX) :]
    if not is_ticket(ticket) or len(ticket) > _MAX_LENGTH:
        raise invalid
    try:
        raw = base64.urlsafe_b64decode(raw_text + "=" * (-len(raw_text) % 4))
    except ValueError:
        raise invalid from None
    body, mac = raw[:-_MAC_BYTES], raw[-_MAC_BYTES:]
    if len(raw) <= _MAC_BYTES or not hmac.compare_digest(mac, _mac(body)):
        raise invalid
    key, expires = json.loads(body)  # signed by us: well-formed
    if opening and expires <= (now if now is not None else time.time()):
        raise Unauthenticated("the stream ticket has expired: get a new one from POST /api/v1/events:ticket")
    return str(key)
