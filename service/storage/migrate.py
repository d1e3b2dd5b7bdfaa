"""Applying the versioned migrations in service/storage/migrations.

Safe when several servers start at once: on PostgreSQL the whole run holds a
transaction-scoped advisory lock, on SQLite a `BEGIN IMMEDIATE` write lock, so
one process migrates and the others then find nothing pending. DDL is
transactional on both, so a failed migration leaves no half-applied schema.
"""

from __future__ import annotations

import importlib
import pkgutil
import re
from dataclasses import dataclass, field
from typing import Callable

import peewee

from ..domain.times import utcnow
from . import migrations
from .database import is_postgres, require_writable

# Any fixed 64-bit number; names this lock in pg_locks.
_ADVISORY_LOCK_ID = 0x15_5E_5E_7A

_TYPES = {
    True: {"uuid": "UUID", "serial": "SERIAL", "json": "TEXT", "bytes": "BYTEA"},
    False: {"uuid": "TEXT", "serial": "INTEGER", "json": "TEXT", "bytes": "BLOB"},
}


@dataclass(frozen=True)
class Migration:
    version: int
    name: str
    statements: tuple[str, ...] = field(repr=False)
    # backfill(execute, placeholder): data changes that need Python, run
    # after the statements in the same transaction.
    backfill: Callable[..., None] | None = field(default=None, repr=False)


def available() -> list[Migration]:
    """Every migration module, in version order."""
    found = []
    for info in pkgutil.iter_modules(migrations.__path__):
        match = re.fullmatch(r"m(\d{4})_(\w+)", info.name)
        if not match:
            continue
        module = importlib.import_module(f"{migrations.__name__}.{info.name}")
        found.append(Migration(int(match[1]), match[2], tuple(module.STATEMENTS), getattr(module, "backfill", None)))
    return sorted(found, key=lambda m: m.version)


def outcome(applied: list[Migration]) -> tuple[str, dict[str, int]]:
    """The log line for what `migrate` did: a fresh database reads "schema created", not "up to date"."""
    fields = {"applied": len(applied), "version": available()[-1].version}
    if not applied:
        return "schema up to date", fields
    return ("schema created" if applied[0].version == 1 else "schema migrated"), fields


def applied_versions(db: peewee.Database) -> set[int]:
    if "schema_migrations" not in db.get_tables():
        return set()
    return {row[0] for row in db.execute_sql("SELECT version FROM schema_migrations")}


def migrate(db: peewee.Database) -> list[Migration]:
    """Apply pending migrations and return the ones this call applied.

    A read-only server (a standby) is ReadOnlyDatabase before anything is tried.
    """
    require_writable(db)
    postgres = is_postgres(db)
    types = _TYPES[postgres]
    done: list[Migration] = []
    with db.connection_context():
        with db.atomic(**({} if postgres else {"lock_type": "IMMEDIATE"})):
            if postgres:
                db.execute_sql("SELECT pg_advisory_xact_lock(%s)", (_ADVISORY_LOCK_ID,))
            db.execute_sql(
                "CREATE TABLE IF NOT EXISTS schema_migrations ("
                " version INTEGER PRIMARY KEY, name VARCHAR(200) NOT NULL,"
                " applied_at TIMESTAMP NOT NULL)"
            )
            already = applied_versions(db)
            for migration in available():
                if migration.version in already:
                    continue
                for statement in migration.statements:
                    db.execute_sql(statement.format(**types))
                if migration.backfill is not None:
                    migration.backfill(db.execute_sql, "%s" if postgres else "?")
                db.execute_sql(
                    "INSERT INTO schema_migrations (version, name, applied_at) VALUES (%s, %s, %s)"
                    if postgres
                    else "INSERT INTO schema_migrations (version, name, applied_at) VALUES (?, ?, ?)",
                    (migration.version, migration.name, utcnow()),
                )
                done.append(migration)
    return done
