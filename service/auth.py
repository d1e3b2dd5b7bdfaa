"""API tokens: minting, hashing, and resolving a bearer token to a Principal.

A token is shown once, when minted; the database keeps only its sha256 (a
token has 256 bits of entropy, so a slow password hash would add nothing).
"""

from __future__ import annotations

import contextvars
import enum
import hashlib
import re
import secrets
import threading
import time
from dataclasses import dataclass

from issues.v1 import options_pb2

from .storage.models import ApiToken, Workspace

TOKEN_PREFIX = "iss_"
_SLUG = re.compile(r"^[a-z0-9](?:[a-z0-9-]{0,62}[a-z0-9])?$")
_EMAIL = re.compile(r"^[^@\s]+@[^@\s]+$")


class Role(enum.IntEnum):
    """Token roles; a higher role can do everything a lower one can."""

    VIEWER = options_pb2.ROLE_VIEWER
    MEMBER = options_pb2.ROLE_MEMBER
    ADMIN = options_pb2.ROLE_ADMIN

    @classmethod
    def parse(cls, name: str) -> "Role":
        try:
            return cls[name.upper()]
        except KeyError:
            raise ValueError(f"role must be one of viewer, member, admin; got {name!r}") from None


@dataclass(frozen=True)
class Principal:
    """Who is calling: resolved from the bearer token."""

    workspace_id: int
    workspace_slug: str
    email: str
    role: Role


def hash_token(token: str) -> str:
    return hashlib.sha256(token.encode()).hexdigest()


def create_token(workspace_slug: str, email: str, role: str) -> str:
    """Mint a token (creating the workspace if needed) and return it.

    Call inside a write transaction.
    """
    if not _SLUG.match(workspace_slug):
        raise ValueError("workspace must be lower-case letters, digits and dashes (1-64)")
    if not _EMAIL.match(email) or len(email) > 320:
        raise ValueError(f"email {email!r} is not an email address")
    parsed = Role.parse(role)
    workspace, _ = Workspace.get_or_create(slug=workspace_slug)
    token = TOKEN_PREFIX + secrets.token_urlsafe(32)
    ApiToken.create(
        workspace=workspace, email=email, role=parsed.name.lower(), token_hash=hash_token(token)
    )
    return token


def bootstrap_admin_token() -> str | None:
    """On a database with no tokens, mint an admin token for workspace `default`.

    Call inside a write transaction; returns None when tokens already exist.
    """
    if ApiToken.select().exists():
        return None
    return create_token("default", "admin@localhost", "admin")


def lookup(token: str) -> Principal | None:
    """The principal a token stands for, or None. Call inside a transaction."""
    row = (
        ApiToken.select(ApiToken.email, ApiToken.role, Workspace.id, Workspace.slug)
        .join(Workspace)
        .where(ApiToken.token_hash == hash_token(token))
        .tuples()
        .first()
    )
    if row is None:
        return None
    email, role, workspace_id, slug = row
    return Principal(workspace_id=workspace_id, workspace_slug=slug, email=email, role=Role.parse(role))


class PrincipalCache:
    """Remembers resolved tokens for a few seconds, so most calls skip a query.

    Keyed by the token's hash; a revoked token stays usable for at most `ttl`.
    """

    def __init__(self, ttl: float = 10.0, max_entries: int = 10_000) -> None:
        self._ttl = ttl
        self._max = max_entries
        self._entries: dict[str, tuple[float, Principal]] = {}
        self._lock = threading.Lock()

    def get(self, token: str) -> Principal | None:
        key = hash_token(token)
        with self._lock:
            hit = self._entries.get(key)
        if hit and hit[0] > time.monotonic():
            return hit[1]
        return None

    def put(self, token: str, principal: Principal) -> None:
        key = hash_token(token)
        with self._lock:
            if len(self._entries) >= self._max:
                self._entries.clear()
            self._entries[key] = (time.monotonic() + self._ttl, principal)


# The principal of the call being handled, set by the interceptor around
# each handler (which runs in one worker thread from start to end).
_current: contextvars.ContextVar[Principal] = contextvars.ContextVar("principal")


def current() -> Principal:
    return _current.get()


def bind(principal: Principal) -> contextvars.Token:
    return _current.set(principal)


def unbind(token: contextvars.Token) -> None:
    _current.reset(token)
