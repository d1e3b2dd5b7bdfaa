"""PostgreSQL LISTEN/NOTIFY as the wake-up of event watchers across replicas.

`Notifier` sends `NOTIFY issues_events, '<workspace id>'` after commits, from
a thread of its own (never in the committing transaction: a NOTIFY there
would serialise every commit of the database on the notification queue's
lock); a burst of commits to one workspace becomes one notification.
`Listener` holds one connection per process that LISTENs, and calls back
with the workspace id; when its connection breaks it reconnects and calls
back with None (anything may have been missed: look everywhere). A lost
notification costs latency only: the events table is the truth and watchers
also poll it.
"""

from __future__ import annotations

import logging
import select
import threading
import time
import urllib.parse
from typing import Callable

import psycopg2
import psycopg2.extensions

log = logging.getLogger("service.events")

CHANNEL = "issues_events"


def _connect(url: str) -> "psycopg2.extensions.connection":
    parts = urllib.parse.urlsplit(url)
    query = dict(urllib.parse.parse_qsl(parts.query))
    conn = psycopg2.connect(
        dbname=urllib.parse.unquote(parts.path.lstrip("/")) or "postgres",
        user=urllib.parse.unquote(parts.username) if parts.username else None,
        password=urllib.parse.unquote(parts.password) if parts.password else None,
        host=parts.hostname or "127.0.0.1", port=parts.port or 5432,
        connect_timeout=int(query.pop("connect_timeout", 5)), **query,
    )
    conn.set_isolation_level(psycopg2.extensions.ISOLATION_LEVEL_AUTOCOMMIT)
    return conn


class Notifier:
    def __init__(self, url: str) -> None:
        self._url = url
        self._pending: set[int] = set()
        self._lock = threading.Condition()
        self._stopped = False
        self._thread = threading.Thread(target=self._run, name="events-notify", daemon=True)
        self._thread.start()

    def notify(self, workspace_id: int) -> None:
        with self._lock:
            self._pending.add(workspace_id)
            self._lock.notify()

    def stop(self) -> None:
        with self._lock:
            self._stopped = True
            self._lock.notify()
        self._thread.join(5)

    def _run(self) -> None:
        conn = None
        while True:
            with self._lock:
                while not self._pending and not self._stopped:
                    self._lock.wait()
                if self._stopped and not self._pending:
                    break
                batch, self._pending = self._pending, set()
            try:
                if conn is None or conn.closed:
                    conn = _connect(self._url)
                with conn.cursor() as cursor:
                    cursor.execute("SELECT " + ", ".join(["pg_notify(%s, %s)"] * len(batch)),
                                   [v for w in sorted(batch) for v in (CHANNEL, str(w))])
            except psycopg2.Error:
                log.warning("could not notify the other replicas (they poll)", exc_info=True)
                if conn is not None:
                    conn.close()
                conn = None
                time.sleep(0.5)
        if conn is not None:
            conn.close()


class Listener:
    def __init__(self, url: str, callback: Callable[[int | None], None]) -> None:
        self._url = url
        self._callback = callback
        self._stopped = threading.Event()
        self._thread = threading.Thread(target=self._run, name="events-listen", daemon=True)
        self.ready = threading.Event()
        self._thread.start()

    def stop(self) -> None:
        self._stopped.set()
        self._thread.join(5)

    def _run(self) -> None:
        while not self._stopped.is_set():
            conn = None
            try:
                conn = _connect(self._url)
                with conn.cursor() as cursor:
                    cursor.execute(f"LISTEN {CHANNEL}")
                self.ready.set()
                self._callback(None)  # whatever committed while we were not listening
                while not self._stopped.is_set():
                    if select.select([conn], [], [], 1.0)[0]:
                        conn.poll()
                        seen: set[int] = set()
                        while conn.notifies:
                            note = conn.notifies.pop(0)
                            if note.payload.isdigit():
                                seen.add(int(note.payload))
                        for workspace_id in seen:
                            self._callback(workspace_id)
            except (psycopg2.Error, OSError):
                log.warning("the event listener lost its connection; reconnecting", exc_info=True)
                self._stopped.wait(1.0)
            finally:
                if conn is not None:
                    conn.close()
