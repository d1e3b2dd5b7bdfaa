"""Transactions in flight: bounded by their call's deadline, and cancellable.

A call that its client has given up on, or that the server has reported as
failed at shutdown, must not commit afterwards. One mechanism serves both:
a transaction in flight can be doomed, which interrupts the statement it is
running (psycopg2's `cancel()`, sqlite3's `interrupt()`) and makes it roll
back instead of committing. The commit itself runs under the transaction's
lock, so a doom lands either before it (the work is rolled back and the call
fails) or after it (the work committed and the call succeeds), never between.

- `deadline(seconds)` gives the transactions run inside it a deadline; a
  watchdog thread dooms those still running when it passes (no statement
  per transaction: setting statement_timeout cost a round trip on every
  write).
- `cancel_all()` dooms every transaction in flight, and every later one,
  for shutdown.
"""

from __future__ import annotations

import contextlib
import contextvars
import os
import socket
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

    __slots__ = ("connection", "deadline", "doomed", "doomed_at", "expired", "finished", "guard", "lock", "severed")

    def __init__(self, connection: Any, deadline: float | None) -> None:
        self.connection = connection
        self.deadline = deadline
        self.lock = threading.Lock()
        self.doomed = False
        self.doomed_at = 0.0
        # Doomed because its deadline passed (rather than for shutdown).
        self.expired = False
        self.severed = False
        # Set once the transaction has ended: from then on its connection may
        # serve another call, so nothing may interrupt or cut it on this one's
        # behalf. `guard` makes that check and the interrupt one step.
        self.finished = False
        self.guard = threading.Lock()

    def doom(self, *, expired: bool = False) -> None:
        with self.lock:  # a commit in progress finishes first
            if self.doomed:
                return
            self._mark_doomed(expired)
        self.interrupt()

    def _mark_doomed(self, expired: bool) -> None:
        # Holding `lock`.
        self.doomed, self.expired, self.doomed_at = True, expired, time.monotonic()

    def expire_if_late(self) -> bool:
        """Whether it is doomed, dooming it now if its deadline has passed.
        For the commit, holding `lock`: the watchdog dooms a late transaction
        up to an INTERVAL (more on a loaded host) after its deadline, while
        its caller's client already reports DEADLINE_EXCEEDED at it."""
        if not self.doomed and self.deadline is not None and self.deadline <= time.monotonic():
            self._mark_doomed(True)
        return self.doomed

    def interrupt(self) -> None:
        # psycopg2 connections have cancel(), sqlite3 ones interrupt(); both
        # may be called from another thread while a statement runs.
        stop = getattr(self.connection, "cancel", None) or getattr(self.connection, "interrupt", None)
        if stop is None:
            return
        with self.guard:
            if self.finished:
                return
            try:
                stop()
            except Exception:  # noqa: BLE001 - the connection may be closing; the flag suffices
                pass

    def sever(self) -> None:
        """Cut a PostgreSQL connection whose cancel did not land.

        A statement queued in a pooler (pgbouncer waiting for a server
        connection) may never see the cancel; shutting the socket down makes
        the blocked driver call fail at once, and the connection is discarded.
        The socket is shut down, not closed: psycopg2 still owns the descriptor.
        """
        self.severed = True
        fileno = getattr(self.connection, "fileno", None)
        if fileno is None or getattr(self.connection, "cancel", None) is None:
            return  # SQLite: interrupt() always lands
        with self.guard:
            if self.finished:
                return  # it ended meanwhile: the connection may be another call's now
            try:
                with socket.socket(fileno=os.dup(fileno())) as sock:
                    sock.shutdown(socket.SHUT_RDWR)
            except (OSError, ValueError, AttributeError):
                pass  # already closed


_running: set[Running] = set()
_registry = threading.Lock()
# Set by cancel_all: from then on every new transaction is doomed at once, so
# work a handler starts after its call was given up on cannot commit either.
_closed = False


@contextlib.contextmanager
def running(connection: Any) -> Iterator[Running]:
    entry = Running(connection, _deadline.get())
    if entry.deadline is not None:
        _watchdog.ensure_started()
        if entry.deadline <= time.monotonic():
            entry.doomed = entry.expired = True  # its call has already given up
    with _registry:
        entry.doomed = entry.doomed or _closed
        if entry.doomed:
            entry.doomed_at = time.monotonic()
        _running.add(entry)
    try:
        yield entry
    finally:
        with entry.guard:  # waits for an interrupt or a cut in progress
            entry.finished = True
        with _registry:
            _running.discard(entry)


def cancel_all() -> int:
    """Doom and interrupt every transaction in flight, and every later one;
    returns how many were in flight. For shutdown: there is no undoing it."""
    global _closed
    with _registry:
        _closed = True
        entries = list(_running)
    _watchdog.ensure_started()  # it keeps interrupting them until they are gone
    for entry in entries:
        entry.doom()
    return len(entries)


# A doomed transaction still running this long after its cancel has its connection cut.
SEVER_AFTER_SECONDS = 0.5


class _Watchdog:
    """One thread a process: dooms transactions whose call deadline has passed,
    and interrupts doomed ones again until they end. An interrupt stops only
    the statement running at that moment; a transaction caught between two
    statements would otherwise start the next and could wait on a lock for
    ever. One whose cancel has not landed SEVER_AFTER_SECONDS after its doom
    (its statement queued in a pooler) has its connection cut."""

    INTERVAL = 0.1  # how late past its deadline a transaction may be cut off

    def __init__(self) -> None:
        self._thread: threading.Thread | None = None
        self._start = threading.Lock()

    def ensure_started(self) -> None:
        if self._thread is not None:
            return
        with self._start:
            if self._thread is None:
                self._thread = threading.Thread(target=self._run, name="txn-deadlines", daemon=True)
                self._thread.start()

    def _run(self) -> None:
        while True:
            time.sleep(self.INTERVAL)
            now = time.monotonic()
            with _registry:
                late = [e for e in _running if e.deadline is not None and e.deadline < now and not e.doomed]
                lingering = [e for e in _running if e.doomed]
            for entry in lingering:
                if not entry.severed and now - entry.doomed_at > SEVER_AFTER_SECONDS:
                    entry.sever()
                else:
                    entry.interrupt()
            for entry in late:
                entry.doom(expired=True)


_watchdog = _Watchdog()
