"""On PostgreSQL the webhook dispatcher runs in a process of its own, at a
lower CPU priority (nice `NICE`), one per `serve` (SPEC 8.13, issue 20).

Why: on a small host a delivery (the dispatcher's Python, the receiver,
PostgreSQL's work) costs about as much CPU as a write, and in the serving
process the dispatcher also takes the GIL from the calls. Niced in a process
of its own it uses the CPU the calls leave: under a write load that
saturates the CPU deliveries fall behind and catch up in the gaps (priority
to the calls, by design; bench/RESULTS.md has the measured lag).

- `serve --workers N` runs it as one more supervised child (workers.py): one
  dispatcher, not N. A single-process `serve` spawns it (`DispatcherProcess`)
  and restarts it when it dies, with the supervisor's backoff.
- It is woken by NOTIFY 'deliveries', sent after any process's commit that
  made deliveries due (runtime/wakeups.py), and polls (ISSUES_WEBHOOK_POLL)
  for retries coming due. Leases (storage/webhook_leases.py) keep several
  replicas' dispatchers apart, as before.
- At SIGTERM attempts in flight get the shutdown grace (their outcomes
  recorded), then are cancelled: their leases run out and the next claim
  retries them.

SQLite keeps the dispatcher in each serving process (server.start): no
NOTIFY reaches another process there, so a child would find new deliveries
only by its poll, and SQLite's one writer would still serialise its
records with the calls' writes.
"""

from __future__ import annotations

import dataclasses
import logging
import os
import signal
import subprocess
import sys
import threading
import time
from typing import Callable

from common import logs
from common.stop_signals import stop_event, wait_until_set

from ..config import Settings
from ..storage import conninfo, database
from .supervisor import FIRST_BACKOFF_SECONDS, MAX_BACKOFF_SECONDS, STABLE_SECONDS, die_with_parent

log = logging.getLogger("service.webhooks")

# 19 is the lowest priority: the calls take whatever CPU they need first.
NICE = 19
# Its two database threads, and one spare.
POOL_SIZE = 3
# How long past the grace a stop waits before it kills the process.
STOP_MARGIN_SECONDS = 5.0
# The environment variable that names the spawning process (to die with it).
_PARENT_VARIABLE = "ISSUES_WEBHOOK_PARENT_PID"


@dataclasses.dataclass(frozen=True)
class DispatcherConfig:
    """What the dispatcher process needs of the server's settings."""

    database_url: str
    listen_database_url: str
    shutdown_grace_seconds: float

    @classmethod
    def of(cls, settings: Settings) -> DispatcherConfig:
        return cls(settings.database_url, settings.listen_database_url, settings.shutdown_grace_seconds)

    def environment(self) -> dict[str, str]:
        """The variables that give a spawned process this configuration."""
        return {
            "DATABASE_URL": self.database_url,
            "ISSUES_LISTEN_DATABASE_URL": self.listen_database_url,
            "ISSUES_SHUTDOWN_GRACE": repr(self.shutdown_grace_seconds),
        }

    @classmethod
    def from_environment(cls) -> DispatcherConfig:
        return cls(
            os.environ["DATABASE_URL"],
            os.environ.get("ISSUES_LISTEN_DATABASE_URL", ""),
            float(os.environ.get("ISSUES_SHUTDOWN_GRACE", "10")),
        )


def in_own_process(database_url: str) -> bool:
    """Whether `serve` runs the dispatcher in a process of its own (PostgreSQL)."""
    return not conninfo.parse(database_url).is_sqlite


def run_dispatcher(config: DispatcherConfig, stopping: threading.Event, ready: Callable[[], None]) -> int:
    """The dispatcher process's body: deliver until `stopping`, then drain."""
    # First, before any thread exists: Linux keeps a niceness per thread, and new threads inherit it.
    os.setpriority(os.PRIO_PROCESS, 0, max(NICE, os.getpriority(os.PRIO_PROCESS, 0)))
    from ..api.webhook_dispatch import COALESCE_SECONDS, Dispatcher  # it imports prometheus_client: after the spawn
    from ..webhook_config import WebhookSettings
    from .wakeups import listen_for_deliveries

    logs.tag(role="webhooks")
    db = database.open_database(config.database_url, pool_size=POOL_SIZE)
    database.bind(db)
    dispatcher = Dispatcher(WebhookSettings.from_env())
    listener = listen_for_deliveries(config, dispatcher.poke, settle=COALESCE_SECONDS)
    dispatcher.start()
    log.info("delivering webhooks", extra={"nice": os.getpriority(os.PRIO_PROCESS, 0)})
    ready()
    wait_until_set(stopping)
    dispatcher.finish_stop(config.shutdown_grace_seconds)
    listener.stop()
    db.close_all()
    log.info("stopped delivering webhooks")
    return 0


class DispatcherProcess:
    """A single-process `serve`'s dispatcher: spawned (a fork of a process
    with gRPC's threads would not be safe), restarted when it dies, stopped
    with the server. Its metrics go to `metrics_dir`, which the server's
    /metrics reads."""

    def __init__(self, config: DispatcherConfig, metrics_dir: str) -> None:
        self._config = config
        self._metrics_dir = metrics_dir
        self._stopping = threading.Event()
        self._process: subprocess.Popen[bytes] | None = None
        self._lock = threading.Lock()
        self._watcher = threading.Thread(target=self._watch, name="webhook-process", daemon=True)

    def start(self) -> None:
        self._spawn()
        self._watcher.start()

    def _spawn(self) -> None:
        env = {
            **os.environ,
            **self._config.environment(),
            "PROMETHEUS_MULTIPROC_DIR": self._metrics_dir,
            _PARENT_VARIABLE: str(os.getpid()),
        }
        with self._lock:
            if self._stopping.is_set():
                return
            level = logging.getLevelName(logging.getLogger().getEffectiveLevel())
            self._process = subprocess.Popen([sys.executable, "-m", "service.runtime.webhook_process", level], env=env)
        log.info("webhook dispatcher started", extra={"pid": self._process.pid})

    def _watch(self) -> None:
        failures = 0
        while not self._stopping.is_set():
            process, started = self._process, time.monotonic()
            assert process is not None
            code = process.wait()
            if self._stopping.is_set():
                return
            failures = 0 if time.monotonic() - started >= STABLE_SECONDS else failures + 1
            backoff = 0.0 if not failures else min(MAX_BACKOFF_SECONDS, FIRST_BACKOFF_SECONDS * 2 ** (failures - 1))
            log.warning(
                "the webhook dispatcher exited; restarting it",
                extra={"pid": process.pid, "exit_code": code, "restart_in_seconds": backoff},
            )
            if self._stopping.wait(backoff):
                return
            self._spawn()

    def begin_stop(self) -> None:
        """SIGTERM: it claims nothing more and drains within the grace."""
        with self._lock:
            self._stopping.set()
            process = self._process
        if process is not None and process.poll() is None:
            process.send_signal(signal.SIGTERM)

    def finish_stop(self) -> None:
        """Wait for it to drain (the grace and a margin), else kill it."""
        process = self._process
        if process is None:
            return
        try:
            process.wait(self._config.shutdown_grace_seconds + STOP_MARGIN_SECONDS)
        except subprocess.TimeoutExpired:
            log.error("the webhook dispatcher did not stop in time; killing it", extra={"pid": process.pid})
            process.kill()
            process.wait()


def main() -> int:
    """`python -m service.runtime.webhook_process LEVEL`: what DispatcherProcess spawns."""
    logs.configure(sys.argv[1] if len(sys.argv) > 1 else "INFO")
    stopping = stop_event()
    parent = os.environ.get(_PARENT_VARIABLE)
    if parent:
        # The replica died (killed, crashed): its dispatcher ends with it, as
        # an in-process one would; attempts cut short are retried after their lease.
        die_with_parent(int(parent), signal.SIGKILL)
    return run_dispatcher(DispatcherConfig.from_environment(), stopping, lambda: None)


if __name__ == "__main__":
    sys.exit(main())
