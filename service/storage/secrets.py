"""Secrets every replica must share, kept in the database."""

from __future__ import annotations

import secrets

from ..domain.times import utcnow
from .models import ServerSecret


def server_secret(name: str) -> str:
    """A random secret shared by every replica through the database, made on first use."""
    found = ServerSecret.get_or_none(ServerSecret.name == name)
    if found:
        return found.value
    value = secrets.token_urlsafe(32)
    ServerSecret.insert(name=name, value=value, created_at=utcnow()).on_conflict_ignore().execute()
    return ServerSecret.get(ServerSecret.name == name).value
