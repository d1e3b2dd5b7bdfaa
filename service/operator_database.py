"""Which database an operator command opens, and how it names it to the operator.

`serve` and `migrate` create the database they are pointed at; every other
operator command only opens one that exists: run from the wrong directory,
`token list` with the default `sqlite:///issues.db` would otherwise answer
"no workspace" from an empty file it just made there.
"""

from __future__ import annotations

import pathlib

import peewee

from .storage import conninfo, database, migrate


class MissingDatabase(LookupError):
    pass


def sqlite_path(url: str) -> pathlib.Path | None:
    """The absolute path of a `sqlite:///` URL's file; None for other databases."""
    path = conninfo.parse(url).sqlite_path
    return None if path is None else pathlib.Path(path).absolute()


def shown(url: str) -> str:
    """The database as an operator recognises it: the SQLite file's absolute
    path, or PostgreSQL's hosts and database (never a password, whichever
    form of connection string holds it)."""
    path = sqlite_path(url)
    return str(path) if path is not None else conninfo.parse(url).describe()


def open_existing(url: str) -> peewee.Database:
    """Open, bind and migrate the database at `url`; MissingDatabase if it is a SQLite file that does not exist."""
    path = sqlite_path(url)
    if path is not None and not path.exists():
        raise MissingDatabase(
            f"no database at {path}: set DATABASE_URL or --database-url to the server's "
            "(`serve` and `migrate` create one)"
        )
    db = database.open_database(url)
    database.bind(db)
    migrate.migrate(db)
    return db
