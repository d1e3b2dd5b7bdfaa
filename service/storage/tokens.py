"""API tokens and workspaces: the only queries that run before the caller's
workspace is known."""

from __future__ import annotations

from typing import NamedTuple

from . import workspaces
from .models import ApiToken, Workspace


class TokenOwner(NamedTuple):
    workspace_id: int
    workspace_slug: str
    email: str
    role: str


def find(token_hash: str) -> TokenOwner | None:
    row = (
        ApiToken.select(Workspace.id, Workspace.slug, ApiToken.email, ApiToken.role)
        .join(Workspace)
        .where(ApiToken.token_hash == token_hash)
        .tuples()
        .first()
    )
    return TokenOwner(*row) if row else None


def insert(workspace_slug: str, email: str, role: str, token_hash: str, default_prefix: str) -> None:
    """Store a token's hash, creating its workspace (with `default_prefix`) if it is new."""
    workspace = workspaces.ensure(workspace_slug, default_prefix)
    ApiToken.create(workspace=workspace, email=email, role=role, token_hash=token_hash)


def any_exist() -> bool:
    return ApiToken.select().exists()
