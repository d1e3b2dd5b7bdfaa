"""How busy the connection pool is, for the metrics."""

from __future__ import annotations

from typing import NamedTuple

from .database import database


class PoolUsage(NamedTuple):
    in_use: int
    size: int  # the most connections the pool opens


def usage() -> PoolUsage:
    db = database.obj
    # peewee's PooledDatabase keeps these private; reading two attributes is
    # cheaper than wrapping every checkout to count.
    return PoolUsage(len(getattr(db, "_in_use", {})), int(getattr(db, "_max_connections", 0) or 0))
