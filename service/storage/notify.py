"""PostgreSQL LISTEN/NOTIFY as the wake-up of event watchers across replicas.

`Notifier` sends `NOTIFY issues_events, '<workspace id>'` after commits, from
a thread of its own (never in the committing transaction: a NOTIFY there
would serialise every commit of the database on the notification queue's
lock); a burst of commits to one workspace becomes one notification.
`Listener` holds one connection per process that LISTENs, and calls back
with the workspace id; when its connection breaks it reconnects and calls
back with None (anything may have been missed: look everywhere). The
payload `deliveries` (`notify_deliveries`) says a commit made webhook
deliveries due: it wakes the dispatcher process (runtime/webhook_process.py),
which listens for nothing else, so writes without webhooks never wake it. A lost
notification costs latency only: the events table is the truth and watchers
also poll it.

Both connect with the parsed connection strings (conninfo): the notifier
through DATABASE_URL, the listener through ISSUES_LISTEN_DATABASE_URL when
set (a pgbouncer in transaction mode cannot carry a LISTEN). At its first
connection the listener checks that it hears a NOTIFY sent the notifier's
way, and says so plainly when it does not. A database restart is expected:
each logs one warning when it loses the database and one line when back,
not a traceback per attempt.
"""

from __future__ import annotations

import logging
import select
import threading
import time
import uuid
from typing import Callable

import psycopg2
import psycopg2.extensions

from .conninfo import Target, connect

log = logging.getLogger("service.events")

CHANNEL = "issues_events"
# The payload of a commit that made webhook deliveries due.
DELIVERIES = "deliveries"
# How long the start-up check waits to hear its own NOTIFY.
PROBE_SECONDS = 3.0
# Between reconnection attempts.
RETRY_SECONDS = 1.0


def _connect(target: Target) -> psycopg2.extensions.connection:
    conn = connect(target)
    conn.set_isolation_level(psycopg2.extensions.ISOLATION_LEVEL_AUTOCOMMIT)
    return conn


def _reason(exc: BaseException) -> str:
    text = str(exc).strip()
    return text.splitlines()[0] if text else type(exc).__name__


class _Outage:
    """One warning when the database is lost, one line when it is back."""

    def __init__(self, lost: str, back: str) -> None:
        self._lost, self._back = lost, back
        self.down = False

    def failed(self, exc: BaseException) -> None:
        if not self.down:
            self.down = True
            log.warning(self._lost, extra={"error": _reason(exc)})

    def recovered(self) -> None:
        if self.down:
            self.down = False
            log.info(self._back)


class Notifier:
    def __init__(self, target: Target) -> None:
        self._target = target
        self._pending: set[str] = set()
        self._lock = threading.Condition()
        self._stopped = False
        self._outage = _Outage(
            "the notifier lost the database; it reconnects with the next commit (at most once a second), and other replicas' watchers poll meanwhile",
            "the notifier reconnected",
        )
        self._thread = threading.Thread(target=self._run, name="events-notify", daemon=True)
        self._thread.start()

    def notify(self, workspace_id: int) -> None:
        self._send(str(workspace_id))

    def notify_deliveries(self) -> None:
        self._send(DELIVERIES)

    def _send(self, payload: str) -> None:
        with self._lock:
            self._pending.add(payload)
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
                    conn = _connect(self._target)
                with conn.cursor() as cursor:
                    cursor.execute(
                        "SELECT " + ", ".join(["pg_notify(%s, %s)"] * len(batch)),
                        [v for payload in sorted(batch) for v in (CHANNEL, payload)],
                    )
                self._outage.recovered()
            except psycopg2.Error as exc:
                self._outage.failed(exc)
                if conn is not None:
                    conn.close()
                conn = None
                if self._stopped:
                    break  # nobody is left to wake
                time.sleep(RETRY_SECONDS)
        if conn is not None:
            conn.close()


def send_probe(target: Target, payload: str) -> None:
    """NOTIFY `payload` on the channel through `target`, on a connection of its own."""
    conn = _connect(target)
    try:
        with conn.cursor() as cursor:
            cursor.execute("SELECT pg_notify(%s, %s)", (CHANNEL, payload))
    finally:
        conn.close()


class Listener:
    """LISTENs through `target`; the first time it is connected it checks that a
    NOTIFY sent through `notify_target` reaches it (`listen_works` says)."""

    def __init__(
        self,
        target: Target,
        notify_target: Target,
        callback: Callable[[int | None], None],
        on_deliveries: Callable[[], None] | None = None,
        *,
        name: str = "the event listener",
        meanwhile: str = "watchers poll meanwhile",
        settle: float = 0.0,
    ) -> None:
        self._target = target
        # After what it heard is handled, wait this long before reading again,
        # so that the notifications of a burst of commits come as one wake-up.
        self._settle = settle
        self._notify_target = notify_target
        self._callback = callback
        self._on_deliveries = on_deliveries
        self._stopped = threading.Event()
        # `name` and `meanwhile` tell the serving process's listener from the
        # webhook dispatcher process's in the log.
        self._outage = _Outage(
            f"{name} lost the database; it reconnects every second, and {meanwhile}",
            f"{name} reconnected",
        )
        self._probe: str | None = "probe:" + uuid.uuid4().hex
        self._probe_deadline = 0.0
        # Set once the start-up check is decided; `listen_works` is its answer.
        self.checked = threading.Event()
        self.listen_works = False
        self._thread = threading.Thread(target=self._run, name="events-listen", daemon=True)
        self._thread.start()

    def stop(self) -> None:
        self._stopped.set()
        self._thread.join(5)

    def _start_probe(self) -> None:
        if self._probe is None:
            return
        try:
            send_probe(self._notify_target, self._probe)
        except psycopg2.Error as exc:
            log.warning("could not send the LISTEN check's NOTIFY", extra={"error": _reason(exc)})
            self._decide(False)
            return
        self._probe_deadline = time.monotonic() + PROBE_SECONDS

    def _decide(self, works: bool) -> None:
        self._probe = None
        self.listen_works = works
        self.checked.set()

    def _heard(self, payloads: list[str]) -> None:
        if self._probe is not None and self._probe in payloads:
            self._decide(True)
        seen = {int(p) for p in payloads if p.isdigit()}
        for workspace_id in seen:
            self._callback(workspace_id)
        if self._on_deliveries is not None and DELIVERIES in payloads:
            self._on_deliveries()

    def _run(self) -> None:
        while not self._stopped.is_set():
            conn = None
            try:
                conn = _connect(self._target)
                with conn.cursor() as cursor:
                    cursor.execute(f"LISTEN {CHANNEL}")
                self._outage.recovered()
                self._start_probe()
                self._callback(None)  # whatever committed while we were not listening
                while not self._stopped.is_set():
                    wait = 1.0 if self._probe is None else max(0.0, min(1.0, self._probe_deadline - time.monotonic()))
                    if select.select([conn], [], [], wait)[0]:
                        conn.poll()
                        payloads = []
                        while conn.notifies:
                            payloads.append(conn.notifies.pop(0).payload)
                        self._heard(payloads)
                        if self._settle and self._probe is None:
                            self._stopped.wait(self._settle)
                    if self._probe is not None and time.monotonic() >= self._probe_deadline:
                        self._decide(False)
            except (psycopg2.Error, OSError) as exc:
                self._outage.failed(exc)
                self._stopped.wait(RETRY_SECONDS)
            finally:
                if conn is not None:
                    conn.close()
