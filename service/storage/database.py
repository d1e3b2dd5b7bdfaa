"""Opening the database named by DATABASE_URL and running one transaction.

SQLite (the embedded default) and PostgreSQL share one schema. Every RPC runs
its database work through `transaction()`, which retries once when the
connection turns out to be dead (a PostgreSQL restart) and reports an
unreachable database as `DatabaseUnavailable` and a busy one (a lock timeout)
as `DatabaseBusy`, both the domain's UNAVAILABLE, rather than driver
exceptions.
"""

from __future__ import annotations

import contextlib
import logging
import pathlib
import re
import time
from typing import Any, Callable, Iterator, TypeVar

import peewee
import psycopg2.extensions
from playhouse.pool import MaxConnectionsExceeded, PooledDatabase, PooledSqliteDatabase, _PooledPostgresqlDatabase

from ..domain.errors import DeadlineExceeded, Unavailable
from . import conninfo, inflight, rewinds

T = TypeVar("T")

log = logging.getLogger("service.storage")

# Every model binds to this proxy; `open_database` points it at a database.
database = peewee.DatabaseProxy()

# Connections a process keeps at most (ISSUES_DB_POOL_SIZE).
POOL_SIZE = 16
# How long a SQLite writer waits for the write lock before the call fails.
SQLITE_BUSY_MS = 10_000


class _LibpqPostgres(peewee.PostgresqlDatabase):
    """PostgreSQL reached with exactly the keywords the connection string holds.

    Peewee's own connect would add a dbname; libpq takes it from the string,
    PGDATABASE or the service file, as psql does.
    """

    def __init__(self, target: conninfo.Target, **kwargs: Any) -> None:
        self.target = target
        self._hosts = conninfo.HostOrder()
        # Peewee wants some name (an empty one means "not configured yet").
        super().__init__(target.params.get("dbname") or "postgres", **kwargs)

    def _connect(self) -> Any:
        # A call's connect waits no longer than its deadline allows (for each host).
        conn = conninfo.connect(
            self.target, connection_factory=_Connection, order=self._hosts, within=inflight.remaining()
        )
        conn.autocommit = True
        return conn


class _Connection(psycopg2.extensions.connection):
    """A connection that remembers when its server's history was checked (storage/rewinds.py)."""

    history_checked = 0  # the check generation; 0: never


def _check_history(conn: Any) -> None:
    """Before a new connection's first transaction (and again after an append
    found the timeline changed): move the event counters on if the server is
    a promoted standby. Inside the transaction's deadline (a pooler may queue
    it), with the driver's errors as peewee's."""
    if isinstance(conn, _Connection) and conn.history_checked != rewinds.generation():
        generation = rewinds.generation()
        with peewee.__exception_wrapper__:
            rewinds.check(conn)
        conn.history_checked = generation


class _WaitWithinDeadline:
    """A pool whose wait for a free connection ends at the call's deadline.

    Peewee's pool waits its whole `timeout` for a connection; a call past its
    deadline must not hold its thread that long. An exhausted pool is the
    domain's DEADLINE_EXCEEDED or UNAVAILABLE, never a driver error.
    """

    _wait_timeout: float

    def connect(self, reuse_if_open: bool = False) -> bool:
        left = inflight.remaining()
        bounded = left is not None and left < self._wait_timeout
        give_up = time.monotonic() + (max(0.0, left) if bounded else self._wait_timeout)  # type: ignore[arg-type]
        while True:
            try:
                return super(PooledDatabase, self).connect(reuse_if_open)  # type: ignore[misc]
            except MaxConnectionsExceeded as exc:
                wait = give_up - time.monotonic()
                if wait <= 0:
                    raise (DeadlineExceeded() if bounded else DatabaseBusy()) from exc
                with self._pool_available:  # type: ignore[attr-defined]
                    self._pool_available.wait(timeout=min(wait, 0.5))  # type: ignore[attr-defined]


class _SqlitePool(_WaitWithinDeadline, PooledSqliteDatabase):
    pass


class _PostgresPool(_WaitWithinDeadline, _PooledPostgresqlDatabase, _LibpqPostgres):
    """The pool without peewee's `SELECT 1` on every checkout.

    That ping costs a round trip per RPC; a connection that died while idle
    is instead detected by its first statement and replaced by the retry in
    `transaction()`.
    """

    def _is_closed(self, conn: object) -> bool:
        return bool(conn.closed) or self._adapter.txn_status(conn) == self._adapter.txn_unknown


class DatabaseUnavailable(Unavailable):
    """The database could not be reached; the caller may retry later."""

    def __init__(self, reason: str) -> None:
        super().__init__("the database is unavailable; retry later")
        self.reason = reason


class DatabaseBusy(Unavailable):
    """A lock timeout or similar transient refusal, not a bug."""

    def __init__(self) -> None:
        super().__init__("the database is busy; retry later")


class ShuttingDown(Unavailable):
    """The server cancelled the transaction while shutting down; nothing was committed."""

    def __init__(self) -> None:
        super().__init__("the server is shutting down; retry on another")


def open_database(url: str, *, pool_size: int = POOL_SIZE) -> peewee.Database:
    """A pooled database for `sqlite:///path` or any libpq connection string (see conninfo).

    BadConnectionString (a ValueError naming DATABASE_URL) when `url` is neither.
    """
    target = conninfo.parse(url)
    if target.sqlite_path is not None:
        pathlib.Path(target.sqlite_path).parent.mkdir(parents=True, exist_ok=True)
        return _SqlitePool(
            target.sqlite_path,
            max_connections=pool_size,
            timeout=10,
            check_same_thread=False,
            pragmas={
                # First (they apply in order): switching a new file to WAL needs a
                # lock that another process starting at the same time may hold.
                "busy_timeout": SQLITE_BUSY_MS,  # wait for the write lock instead of failing
                "journal_mode": "wal",  # readers never block the writer
                "synchronous": "normal",  # durable across process crashes in WAL mode
                "foreign_keys": 1,
            },
        )
    return _PostgresPool(target, max_connections=pool_size, stale_timeout=300, timeout=10)


# libpq's words for a connection string value it will not use (checked before connecting).
_REFUSED_OPTION = re.compile(r"^invalid (\S+ )?(value|connection option)")


class ReadOnlyDatabase(Exception):
    """DATABASE_URL reached a server that cannot write (a standby): an operator error."""


def require_writable(db: peewee.Database) -> None:
    """Connect once; ReadOnlyDatabase if the server is a standby or read-only,
    DatabaseUnavailable (one line) if it cannot be reached at all."""
    if not is_postgres(db):
        return
    try:
        with db.connection_context():
            recovering, read_only = db.execute_sql(
                "SELECT pg_is_in_recovery(), current_setting('transaction_read_only')"
            ).fetchone()
    except (peewee.OperationalError, peewee.InterfaceError) as exc:
        reason = str(exc).strip().splitlines()[0] if str(exc).strip() else "cannot connect"
        if _REFUSED_OPTION.match(reason):  # libpq refused a value of the string itself: the operator's to fix
            raise conninfo.BadConnectionString(f"DATABASE_URL: libpq refuses it: {reason}") from None
        raise DatabaseUnavailable(reason) from None
    if recovering or read_only == "on":
        where = db.target.describe() if isinstance(db, _LibpqPostgres) else "the server"
        kind = "a standby (in recovery)" if recovering else "read-only (default_transaction_read_only)"
        raise ReadOnlyDatabase(
            f"DATABASE_URL: {where} is {kind}, so nothing can be written; point it at the primary, "
            "or list every host with target_session_attrs=read-write"
        )


def bind(db: peewee.Database) -> None:
    """Point every model at `db`."""
    database.initialize(db)


def is_postgres(db: peewee.Database | None = None) -> bool:
    target = db if db is not None else database.obj
    return isinstance(target, peewee.PostgresqlDatabase)


def _is_disconnect(exc: Exception) -> bool:
    if isinstance(exc, peewee.InterfaceError):
        return True
    if isinstance(exc, peewee.OperationalError):
        text = str(exc).lower()
        return any(
            s in text
            for s in (
                "server closed the connection",
                "connection already closed",
                "terminating connection",
                "could not connect",
                "connection refused",
                "connection to server",
                "no connection to the server",
                "ssl syscall",
                "the database system is",  # starting up / shutting down
                "unable to open database",
            )
        )
    return False


def _pgcode(exc: BaseException) -> str | None:
    """PostgreSQL's error code, wherever peewee's wrapping put the driver error.

    Peewee 4 raises its own error with only the message, from inside the
    handler of psycopg2's, so the driver error is the wrapper's __context__.
    """
    seen: BaseException | None = exc
    for _ in range(4):
        if seen is None:
            return None
        code = getattr(seen, "pgcode", None)
        if code:
            return code
        seen = seen.__cause__ or seen.__context__
    return None


def _went_read_only(exc: BaseException) -> bool:
    """The server refused a write as read-only: the host was demoted to a standby."""
    return _pgcode(exc) == "25006"


def _is_conflict(exc: BaseException) -> bool:
    """A deadlock or serialization failure: PostgreSQL aborted the whole transaction."""
    return _pgcode(exc) in ("40P01", "40001")


# A deadlock or serialization failure rolls the whole transaction back, so it
# is run again, up to this many times in all; a dead connection, once.
_ATTEMPTS = 3


def _doomed(entry: inflight.Running) -> Exception:
    return DeadlineExceeded() if entry.expired else ShuttingDown()


def _begin(db: peewee.Database, write: bool, snapshot: bool, entry: inflight.Running) -> Any:
    """The transaction a unit of work needs, or None for a single-statement read."""
    if write:
        if is_postgres(db):
            return db.atomic()
        return _sqlite_write(db, entry)
    if snapshot:
        # Several reads that must agree (a count and its page): PostgreSQL's
        # default READ COMMITTED would give each statement its own snapshot.
        return db.atomic(**({"isolation_level": "REPEATABLE READ"} if is_postgres(db) else {}))
    # One statement is its own transaction; BEGIN/COMMIT would only add two
    # round trips.
    return contextlib.nullcontext()


# How often a SQLite writer waiting for the write lock looks up from waiting.
_SQLITE_STEP_MS = 50


@contextlib.contextmanager
def _sqlite_write(db: peewee.Database, entry: inflight.Running) -> Iterator[None]:
    """A SQLite write transaction, its write lock taken up front.

    BEGIN IMMEDIATE makes two writers queue instead of deadlocking when a
    reader upgrades. SQLite's own busy wait cannot be interrupted, so the lock
    is waited for in short steps here, giving up when the transaction is
    cancelled (shutdown), its call's deadline passes, or SQLITE_BUSY_MS is up.
    """
    atomic = db.atomic(lock_type="IMMEDIATE")
    left = inflight.remaining()
    give_up = time.monotonic() + min(SQLITE_BUSY_MS / 1000, left if left is not None else float("inf"))
    with contextlib.ExitStack() as stack:
        db.execute_sql(f"PRAGMA busy_timeout = {_SQLITE_STEP_MS}")
        try:
            while True:
                try:
                    stack.enter_context(atomic)  # BEGIN IMMEDIATE; on failure nothing was begun
                    break
                except peewee.OperationalError as exc:
                    if "locked" not in str(exc) and "busy" not in str(exc):
                        raise
                    if entry.doomed:
                        raise _doomed(entry) from exc
                    if time.monotonic() >= give_up:
                        raise (
                            DeadlineExceeded() if left is not None and left * 1000 < SQLITE_BUSY_MS else DatabaseBusy()
                        ) from exc
        finally:
            db.execute_sql(f"PRAGMA busy_timeout = {SQLITE_BUSY_MS}")
        yield


def transaction(fn: Callable[[], T], *, write: bool = False, snapshot: bool = False) -> T:
    """Run `fn` as one transaction on a pooled connection and return its result.

    `write=True` for anything that changes data; `snapshot=True` for reads of
    more than one statement; neither for a single-statement read.
    A dead connection found before commit is dropped and the work retried on a
    fresh one; if the database stays unreachable, or the commit itself was cut
    off (its outcome unknown), DatabaseUnavailable is raised.
    """
    db = database.obj
    for attempt in range(1, _ATTEMPTS + 1):
        committing = False
        entry: inflight.Running | None = None
        try:
            with db.connection_context(), inflight.running(db.connection()) as entry:
                _check_history(entry.connection)
                holding = False
                try:
                    with _begin(db, write, snapshot, entry):
                        if entry.doomed:  # shutting down, or the deadline passed already
                            raise _doomed(entry)
                        result = fn()
                        # Held through COMMIT, so a cancel lands before or after it.
                        entry.lock.acquire()
                        holding = True
                        if entry.expire_if_late():  # its call has given up: must not commit
                            raise _doomed(entry)  # rolls back
                        committing = write
                finally:
                    if holding:
                        entry.lock.release()
            return result
        except Exception as exc:
            if entry is not None and entry.doomed:
                if isinstance(exc, (ShuttingDown, DeadlineExceeded)):
                    raise
                raise _doomed(entry) from exc
            if (_is_conflict(exc) or isinstance(exc, rewinds.HistoryChanged)) and attempt < _ATTEMPTS:
                continue  # nothing was committed: run the transaction again
            if isinstance(exc, rewinds.HistoryChanged):
                raise DatabaseUnavailable(str(exc)) from exc
            if not (_is_disconnect(exc) or _went_read_only(exc)):
                if not isinstance(exc, (peewee.OperationalError, peewee.InterfaceError)):
                    raise
                log.warning("database busy", exc_info=True)
                raise DatabaseBusy() from exc
            # Idle pooled connections died with the one we used (or reach a
            # host that is a standby now): drop them all; libpq picks the
            # primary for the fresh one.
            db.close_idle()
            if committing or attempt >= 2:
                raise DatabaseUnavailable(
                    str(exc).strip().splitlines()[0] if str(exc) else "database unavailable"
                ) from exc
    raise AssertionError("unreachable")


def savepoint() -> Any:
    """A savepoint inside the current transaction: what fails in it rolls back alone."""
    return database.obj.atomic()


def ping() -> bool:
    """True when a trivial query succeeds."""
    try:
        transaction(lambda: database.obj.execute_sql("SELECT 1").fetchone())
        return True
    except (Unavailable, peewee.DatabaseError):
        return False
