"""API tokens and workspaces: the only queries that run before the caller's
workspace is known, and the token administration of operators."""

from __future__ import annotations

import datetime
from typing import Iterable, NamedTuple

from . import prebuilt_sql, workspaces
from .database import database
from .models import ApiToken, Workspace


class TokenOwner(NamedTuple):
    token_id: int
    workspace_id: int
    workspace_slug: str
    email: str
    role: str
    expires_at: datetime.datetime | None
    revoked_at: datetime.datetime | None


class TokenRecord(NamedTuple):
    """What `token list` shows of a token: never the token or its hash."""

    id: int
    email: str
    role: str
    created_at: datetime.datetime
    last_used_at: datetime.datetime | None
    expires_at: datetime.datetime | None
    revoked_at: datetime.datetime | None


def find(token_hash: str) -> TokenOwner | None:
    """The token's owner and state, revoked or expired ones included (the caller says which)."""
    # SQL built once (a token's lookup runs on every cache miss of every token).
    text = prebuilt_sql.sql(
        "token-owner",
        lambda: (
            ApiToken.select(
                ApiToken.id,
                Workspace.id,
                Workspace.slug,
                ApiToken.email,
                ApiToken.role,
                ApiToken.expires_at,
                ApiToken.revoked_at,
            )
            .join(Workspace)
            .where(ApiToken.token_hash == "")
            .limit(1)
        ),
    )
    row = database.obj.execute_sql(text, (token_hash, 1)).fetchone()
    if row is None:
        return None
    token_id, workspace_id, slug, email, role, expires_at, revoked_at = row
    convert = ApiToken.expires_at.python_value  # SQLite gives the text of a datetime
    return TokenOwner(token_id, workspace_id, slug, email, role, convert(expires_at), convert(revoked_at))


def insert(
    workspace_slug: str,
    email: str,
    role: str,
    token_hash: str,
    default_prefix: str,
    expires_at: datetime.datetime | None = None,
) -> int:
    """Store a token's hash, creating its workspace (with `default_prefix`) if it is new; returns the token's id."""
    workspace = workspaces.ensure(workspace_slug, default_prefix)
    return ApiToken.create(workspace=workspace, email=email, role=role, token_hash=token_hash, expires_at=expires_at).id


def any_exist() -> bool:
    return ApiToken.select().exists()


def workspace_exists(slug: str) -> bool:
    return Workspace.select().where(Workspace.slug == slug).exists()


def in_workspace(slug: str) -> list[TokenRecord]:
    """Every token of the workspace, oldest first."""
    rows = (
        ApiToken.select(
            ApiToken.id,
            ApiToken.email,
            ApiToken.role,
            ApiToken.created_at,
            ApiToken.last_used_at,
            ApiToken.expires_at,
            ApiToken.revoked_at,
        )
        .join(Workspace)
        .where(Workspace.slug == slug)
        .order_by(ApiToken.id)
        .tuples()
    )
    return [TokenRecord(*row) for row in rows]


def revoke(token_id: int, at: datetime.datetime) -> datetime.datetime | None:
    """Mark the token revoked unless it already is; returns when it was revoked
    (None: no such token). A second revocation keeps the first time."""
    ApiToken.update(revoked_at=at).where((ApiToken.id == token_id) & ApiToken.revoked_at.is_null()).execute()
    row = ApiToken.select(ApiToken.revoked_at).where(ApiToken.id == token_id).tuples().first()
    return row[0] if row else None


def record_use(used: Iterable[tuple[int, datetime.datetime]]) -> None:
    """Move each token's `last_used_at` forward to the time given (never back:
    another replica may have written a later one)."""
    for token_id, at in used:
        ApiToken.update(last_used_at=at).where(
            (ApiToken.id == token_id) & (ApiToken.last_used_at.is_null() | (ApiToken.last_used_at < at))
        ).execute()
