"""Which database an operator command opens, and how it names it to the operator.

`serve` and `migrate` create the database they are pointed at; every other
operator command only opens one that exists: run from the wrong directory,
`token list` with the default `sqlite:///issues.db` would otherwise answer
"no workspace" from an empty file it just made there.
"""

from __future__ import annotations

import pathlib
import urllib.parse

import peewee

from .storage import database, migrate


class MissingDatabase(LookupError):
    pass


def sqlite_path(url: str) -> pathlib.Path | None:
    """The absolute path of a `sqlite:///` URL's file; None for other databases."""
    parts = urllib.parse.urlsplit(url)
    if parts.scheme != "sqlite":
        return None
    return pathlib.Path(urllib.parse.unquote(parts.path[1:] if parts.path.startswith("/") else parts.path)).absolute()


def shown(url: str) -> str:
    """The database as an operator recognises it: the SQLite file's absolute path, or the URL without its password."""
    path = sqlite_path(url)
    if path is not None:
        return str(path)
    parts = urllib.parse.urlsplit(url)
    if parts.password:
        parts = parts._replace(netloc=parts.netloc.replace(f":{parts.password}@", ":***@", 1))
    return urllib.parse.urlunsplit(parts)


def open_existing(url: str) -> peewee.Database:
    """Open, bind and migrate the database at `url`; MissingDatabase if it is a SQLite file that does not exist."""
    path = sqlite_path(url)
    if path is not None and not path.exists():
        raise MissingDatabase(
            f"no database at {path}: set DATABASE_URL or --database-url to the server's "
            "(`serve` and `migrate` create one)")
    db = database.open_database(url)
    database.bind(db)
    migrate.migrate(db)
    return db
