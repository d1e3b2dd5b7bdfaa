"""API tokens: minting, and resolving a bearer token to a Principal.

A token is shown once, when minted; the database keeps only its sha256 (a
token has 256 bits of entropy, so a slow password hash would add nothing).
"""

from __future__ import annotations

import hashlib
import re
import secrets
import threading
import time

from ..domain.errors import Unauthenticated
from ..domain.identifiers import SLUG, default_prefix
from ..domain.roles import Principal, Role
from ..storage import tokens as tokens_store
from ..storage.database import transaction

TOKEN_PREFIX = "iss_"
_EMAIL = re.compile(r"^[^@\s]+@[^@\s]+$")


def hash_token(token: str) -> str:
    return hashlib.sha256(token.encode()).hexdigest()


def create_token(workspace_slug: str, email: str, role: str) -> str:
    """Mint a token (creating the workspace if needed) and return it."""
    if not SLUG.match(workspace_slug):
        raise ValueError("workspace must be lower-case letters, digits and dashes (1-64)")
    if not _EMAIL.match(email) or len(email) > 320:
        raise ValueError(f"email {email!r} is not an email address")
    parsed = Role.parse(role)
    token = TOKEN_PREFIX + secrets.token_urlsafe(32)
    prefix = default_prefix(workspace_slug)
    transaction(lambda: tokens_store.insert(workspace_slug, email, parsed.label, hash_token(token), prefix), write=True)
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
        tokens_store.insert("default", "admin@localhost", Role.ADMIN.label, hash_token(token), default_prefix("default"))
        return token

    return transaction(work, write=True)


class Authenticator:
    """Resolves bearer tokens, remembering them for a few seconds so that
    most calls skip a query.

    Keyed by the token's hash; a revoked token stays usable for at most `ttl`.
    """

    def __init__(self, ttl: float = 10.0, max_entries: int = 10_000) -> None:
        self._ttl = ttl
        self._max = max_entries
        self._entries: dict[str, tuple[float, Principal]] = {}
        self._lock = threading.Lock()

    def principal(self, token: str) -> Principal:
        """The principal `token` stands for; Unauthenticated if it stands for none."""
        key = hash_token(token)
        with self._lock:
            hit = self._entries.get(key)
        if hit and hit[0] > time.monotonic():
            return hit[1]
        owner = transaction(lambda: tokens_store.find(key))
        if owner is None:
            raise Unauthenticated("the token is not valid")
        principal = Principal(owner.workspace_id, owner.workspace_slug, owner.email, Role.parse(owner.role))
        with self._lock:
            if len(self._entries) >= self._max:
                self._entries.clear()
            self._entries[key] = (time.monotonic() + self._ttl, principal)
        return principal
