"""DATABASE_URL (and ISSUES_LISTEN_DATABASE_URL) as libpq itself reads them.

`sqlite:///PATH` is the embedded database. Anything else is a libpq
connection string, a URL (`postgresql://`, `postgres://`) or `key=value`
pairs, parsed by libpq (`psycopg2.extensions.parse_dsn`): several hosts and
ports, `target_session_attrs`, `sslmode`, `service=` and the rest. Only what
the string holds is passed on to `psycopg2.connect`, so libpq fills in the
rest from the `PG*` variables and the service file, as psql would.
"""

from __future__ import annotations

import math
import os
import re
import urllib.parse
from dataclasses import dataclass, field
from typing import Any

import psycopg2
import psycopg2.extensions

# Seconds a connection attempt to one host may take, unless the string or
# PGCONNECT_TIMEOUT says otherwise: libpq's default is to wait for ever.
DEFAULT_CONNECT_TIMEOUT = "5"

_SCHEME = re.compile(r"^([A-Za-z][A-Za-z0-9+.-]*)://")


class BadConnectionString(ValueError):
    """A connection setting libpq (or this service) cannot use; its text is one line naming the variable."""


@dataclass(frozen=True)
class Target:
    """Where a connection string points: a SQLite file, or libpq's keywords."""

    sqlite_path: str | None = None
    # libpq keywords and values, exactly as the string gave them.
    params: dict[str, str] = field(default_factory=dict)

    @property
    def is_sqlite(self) -> bool:
        return self.sqlite_path is not None

    def connect_kwargs(self) -> dict[str, str]:
        """What to hand psycopg2.connect: the string's own keywords, plus a connect timeout."""
        kwargs = dict(self.params)
        if "connect_timeout" not in kwargs and not os.environ.get("PGCONNECT_TIMEOUT"):
            kwargs["connect_timeout"] = DEFAULT_CONNECT_TIMEOUT
        return kwargs

    def describe(self) -> str:
        """Hosts and database, for log lines (never the password)."""
        hosts = self.params.get("host") or os.environ.get("PGHOST") or "(libpq default)"
        ports = self.params.get("port") or os.environ.get("PGPORT") or "5432"
        return f"host={hosts} port={ports} dbname={self.params.get('dbname') or os.environ.get('PGDATABASE') or '(default)'}"


def parse(text: str, variable: str = "DATABASE_URL") -> Target:
    """The target `text` names; BadConnectionString naming `variable` when it is not one."""
    text = text.strip()
    scheme = _SCHEME.match(text)
    if scheme and scheme[1].lower() == "sqlite":
        return Target(sqlite_path=_sqlite_path(text, variable))
    if scheme and scheme[1].lower() not in ("postgresql", "postgres"):
        raise BadConnectionString(
            f"{variable}: unsupported scheme {scheme[1]!r}: use sqlite:///PATH or a PostgreSQL connection string "
            "(postgresql://... or key=value pairs)"
        )
    if not text:
        raise BadConnectionString(f"{variable}: is empty; use sqlite:///PATH or a PostgreSQL connection string")
    try:
        params = psycopg2.extensions.parse_dsn(text)
    except psycopg2.ProgrammingError as exc:
        reason = str(exc).strip().splitlines()[0] if str(exc).strip() else "not a connection string"
        reason = reason.removeprefix("invalid dsn: ")
        raise BadConnectionString(f"{variable}: not a PostgreSQL connection string libpq accepts: {reason}") from None
    return Target(params=params)


def _sqlite_path(text: str, variable: str) -> str:
    parts = urllib.parse.urlsplit(text)
    path = urllib.parse.unquote(parts.path[1:] if parts.path.startswith("/") else parts.path)
    if not path or path == ":memory:":
        raise BadConnectionString(f"{variable}: sqlite needs a file path, e.g. sqlite:///issues.db")
    return path


def connect(
    target: Target, connection_factory: Any = None, *, order: HostOrder | None = None, within: float | None = None
) -> psycopg2.extensions.connection:
    """A new psycopg2 connection to `target` (a PostgreSQL one); with `order`,
    trying the host that answered last time first; with `within` (the seconds
    left to a call's deadline), waiting for each host no longer than that
    (libpq's floor is 2 s)."""
    assert not target.is_sqlite
    kwargs = target.connect_kwargs()
    if within is not None:
        given = int(kwargs.get("connect_timeout") or os.environ.get("PGCONNECT_TIMEOUT") or 0)
        bound = max(2, math.ceil(within))
        kwargs["connect_timeout"] = str(min(given, bound) if given > 0 else bound)
    if order is not None:
        kwargs = order.apply(kwargs)
    conn = psycopg2.connect(connection_factory=connection_factory, **kwargs)
    if order is not None:
        order.remember(kwargs, conn.info.host, str(conn.info.port))
    return conn


# Keywords that list one value per host (or one for all).
_PER_HOST = ("host", "hostaddr", "port")


class HostOrder:
    """With several hosts, libpq tries them in the order given, every time: a
    dead first host (a failed primary whose machine is gone) would cost every
    new connection its connect_timeout. This starts the list at the host that
    answered last, keeping the others in their order after it."""

    def __init__(self) -> None:
        self._first: tuple[str, str] | None = None  # (host, port) that answered last

    def apply(self, kwargs: dict[str, str]) -> dict[str, str]:
        hosts = kwargs.get("host", "").split(",")
        if len(hosts) < 2 or self._first is None:
            return kwargs
        lists = {k: kwargs[k].split(",") for k in _PER_HOST if k in kwargs and "," in kwargs[k]}
        ports = [_port_or_default(p) for p in lists.get("port") or [kwargs.get("port", "")] * len(hosts)]
        start = next((i for i, hp in enumerate(zip(hosts, ports)) if hp == self._first), 0)
        return {**kwargs, **{k: ",".join(v[start:] + v[:start]) for k, v in lists.items()}}

    def remember(self, kwargs: dict[str, str], host: str, port: str) -> None:
        if "," in kwargs.get("host", ""):
            self._first = (host, _port_or_default(port))


def _port_or_default(port: str) -> str:
    """A host's port as libpq uses it: an empty one (`h1,h2` with no ports) is PGPORT's or 5432."""
    return port or os.environ.get("PGPORT") or "5432"
