"""Transactions in flight: bounded by their call's deadline, and cancellable.

A call that its client has given up on, or that the server has reported as
failed at shutdown, must not commit afterwards. Two things ensure it:

- `deadline(seconds)` bounds the write transactions run inside it: on
  PostgreSQL each gets `SET LOCAL statement_timeout` for the time left, so a
  statement stuck behind a lock fails when the call would have.
- `cancel_all()` dooms every transaction in flight and interrupts the
  statement it is running (psycopg2's `cancel()`, sqlite3's `interrupt()`).
  A doomed transaction rolls back instead of committing. The commit itself
  runs under the transaction's lock, so a cancel either lands before it (the
  work is rolled back and the call fails) or after it (the work committed and
  the call succeeds), never in between.
"""

from __future__ import annotations

import contextlib
import contextvars
import threading
import time
from typing import Any, Iterator

_deadline: contextvars.ContextVar[float | None] = contextvars.ContextVar("call_deadline", default=None)


# A call without a deadline reports an effectively infinite time remaining.
_UNBOUNDED = 86_400.0


@contextlib.contextmanager
def deadline(seconds: float | None) -> Iterator[None]:
    """Bound the transactions run inside by `seconds` from now (None, or more
    than a day: no bound)."""
    bounded = seconds is not None and seconds < _UNBOUNDED
    token = _deadline.set(time.monotonic() + seconds if bounded else None)
    try:
        yield
    finally:
        _deadline.reset(token)


def remaining() -> float | None:
    """Seconds left to the current deadline, or None without one."""
    at = _deadline.get()
    return None if at is None else at - time.monotonic()


class Running:
    """One transaction in flight."""

    __slots__ = ("connection", "lock", "doomed")

    def __init__(self, connection: Any) -> None:
        self.connection = connection
        self.lock = threading.Lock()
        self.doomed = False

    def interrupt(self) -> None:
        # psycopg2 connections have cancel(), sqlite3 ones interrupt(); both
        # may be called from another thread while a statement runs.
        stop = getattr(self.connection, "cancel", None) or getattr(self.connection, "interrupt", None)
        if stop is not None:
            try:
                stop()
            except Exception:  # noqa: BLE001 - the connection may be closing; the flag suffices
                pass


_running: set[Running] = set()
_registry = threading.Lock()
# Set by cancel_all: from then on every new transaction is doomed at once, so
# work a handler starts after its call was given up on cannot commit either.
_closed = False


@contextlib.contextmanager
def running(connection: Any) -> Iterator[Running]:
    entry = Running(connection)
    with _registry:
        entry.doomed = _closed
        _running.add(entry)
    try:
        yield entry
    finally:
        with _registry:
            _running.discard(entry)


def in_flight() -> int:
    with _registry:
        return len(_running)


def cancel_all() -> int:
    """Doom and interrupt every transaction in flight, and every later one;
    returns how many were in flight. For shutdown: there is no undoing it."""
    global _closed
    with _registry:
        _closed = True
        entries = list(_running)
    for entry in entries:
        with entry.lock:  # a commit in progress finishes first
            entry.doomed = True
        entry.interrupt()
    return len(entries)
