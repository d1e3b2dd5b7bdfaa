"""API tokens: minting, listing, revoking, and resolving a bearer token to a Principal.

A token is shown once, when minted; the database keeps only its sha256 (a
token has 256 bits of entropy, so a slow password hash would add nothing).
"""

from __future__ import annotations

import datetime
import hashlib
import re
import secrets
import threading
import time
from typing import NamedTuple

from ..domain.errors import Unauthenticated
from ..domain.identifiers import SLUG, default_prefix
from ..domain.roles import Principal, Role
from ..domain.times import iso_seconds, utcnow
from ..storage import tokens as tokens_store
from ..storage.database import transaction
from ..storage.tokens import TokenRecord
from .token_usage import UsageRecorder
from .workspaces import unknown_workspace

TOKEN_PREFIX = "iss_"
_EMAIL = re.compile(r"^[^@\s]+@[^@\s]+$")
# A century; anything longer is a typo.
MAX_EXPIRY_DAYS = 36_500


def hash_token(token: str) -> str:
    return hashlib.sha256(token.encode()).hexdigest()


def create_token(
    workspace_slug: str, email: str, role: str, expires_in_days: int | None = None, *, create_workspace: bool = False
) -> str:
    """Mint a token and return it.

    `expires_in_days`: a positive number of days it stays valid; None: until revoked.
    An unknown workspace is a LookupError suggesting the closest slug (a typo
    must not mint a token for a new, empty workspace), unless `create_workspace`.
    """
    if not SLUG.match(workspace_slug):
        raise ValueError("workspace must be lower-case letters, digits and dashes (1-64)")
    if not _EMAIL.match(email) or len(email) > 320:
        raise ValueError(f"email {email!r} is not an email address")
    if expires_in_days is not None and not 0 < expires_in_days <= MAX_EXPIRY_DAYS:
        raise ValueError(f"expires-in must be a whole number of days from 1 to {MAX_EXPIRY_DAYS}")
    parsed = Role.parse(role)
    expires_at = utcnow() + datetime.timedelta(days=expires_in_days) if expires_in_days else None
    token = TOKEN_PREFIX + secrets.token_urlsafe(32)
    prefix = default_prefix(workspace_slug)

    def work() -> None:
        if not create_workspace and not tokens_store.workspace_exists(workspace_slug):
            raise unknown_workspace(workspace_slug)
        tokens_store.insert(workspace_slug, email, parsed.label, hash_token(token), prefix, expires_at)

    transaction(work, write=True)
    return token


def bootstrap_admin_token() -> str | None:
    """On a database with no tokens, mint an admin token for workspace `default`.

    Returns None when tokens already exist; the check and the insert are one
    write transaction.
    """

    def work() -> str | None:
        if tokens_store.any_exist():
            return None
        token = TOKEN_PREFIX + secrets.token_urlsafe(32)
        tokens_store.insert(
            "default", "admin@localhost", Role.ADMIN.label, hash_token(token), default_prefix("default")
        )
        return token

    return transaction(work, write=True)


def list_tokens(workspace_slug: str) -> list[TokenRecord]:
    """The workspace's tokens, revoked and expired ones included; LookupError for an unknown workspace."""

    def work() -> list[TokenRecord] | None:
        if not tokens_store.workspace_exists(workspace_slug):
            return None
        return tokens_store.in_workspace(workspace_slug)

    found = transaction(work, snapshot=True)
    if found is None:
        raise transaction(lambda: unknown_workspace(workspace_slug))
    return found


def revoke_token(token_id: int) -> datetime.datetime:
    """Revoke the token (idempotent) and return when it was revoked; LookupError if there is none.

    Every server refuses it within `Authenticator.CACHE_SECONDS`.
    """
    revoked_at = transaction(lambda: tokens_store.revoke(token_id, utcnow()), write=True)
    if revoked_at is None:
        raise LookupError(f"no token with id {token_id}")
    return revoked_at


class _Entry(NamedTuple):
    fresh_until: float  # time.monotonic()
    principal: Principal
    token_id: int
    expires_at: datetime.datetime | None


class Authenticator:
    """Resolves bearer tokens, remembering each for under a second so that
    most calls skip a query.

    Why so short: a revocation must be refused within a second on every
    replica and worker process, and a cache this short needs no channel
    between them (LISTEN/NOTIFY would, and SQLite has none); it costs one
    indexed query per busy token per `CACHE_SECONDS` per process. Expiry is
    checked on every call, cached or not.
    """

    CACHE_SECONDS = 0.5

    def __init__(
        self, ttl: float = CACHE_SECONDS, max_entries: int = 10_000, usage: UsageRecorder | None = None
    ) -> None:
        self._ttl = ttl
        self._max = max_entries
        self._usage = usage
        self._entries: dict[str, _Entry] = {}
        self._lock = threading.Lock()

    def principal(self, token: str) -> Principal:
        """The principal `token` stands for; Unauthenticated if it stands for none."""
        return self.principal_by_key(hash_token(token))

    def principal_by_key(self, key: str) -> Principal:
        """The principal of the token whose hash is `key` (a stream ticket names its token so)."""
        with self._lock:
            entry = self._entries.get(key)
        if entry is None or entry.fresh_until <= time.monotonic():
            entry = self._lookup(key)
        if entry.expires_at is not None and entry.expires_at <= utcnow():
            raise Unauthenticated(f"the token expired at {iso_seconds(entry.expires_at)}")
        if self._usage is not None:
            self._usage.note(entry.token_id)
        return entry.principal

    def _lookup(self, key: str) -> _Entry:
        owner = transaction(lambda: tokens_store.find(key))
        if owner is None:
            raise Unauthenticated("the token is not valid")
        if owner.revoked_at is not None:
            raise Unauthenticated(f"the token was revoked at {iso_seconds(owner.revoked_at)}")
        principal = Principal(owner.workspace_id, owner.workspace_slug, owner.email, Role.parse(owner.role))
        entry = _Entry(time.monotonic() + self._ttl, principal, owner.token_id, owner.expires_at)
        with self._lock:
            if len(self._entries) >= self._max:
                self._entries.clear()
            self._entries[key] = entry
        return entry
