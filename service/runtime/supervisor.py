"""A small process supervisor: forks its children, restarts any that dies
(backing off when one keeps dying), and at SIGTERM or SIGINT drains them all.

It knows nothing of gRPC or HTTP: a child is a name and a body that runs in
the forked process. It must be forked before the parent creates any gRPC
object (grpc's own multiprocessing example shows the order), so the parent
here never does: it forks, waits and reaps.

The body of a child gets an event set at SIGTERM/SIGINT and a `ready()` to
call once it serves; it returns its exit status. The supervisor:

- at start, waits for every child's `ready()`; a child that dies before it is
  a failed start (a port in use, a database refused): the others are drained
  and `run` returns 1;
- afterwards, restarts a child that exits, at once if it had run at least
  `STABLE_SECONDS`, else after 0.5 s, 1 s, 2 s ... up to `MAX_BACKOFF_SECONDS`,
  so a crash loop does not spin;
- at SIGTERM or SIGINT, sends SIGTERM to every child (each drains on its own),
  waits up to `drain_seconds`, SIGKILLs what is left and returns 0 if every
  child exited 0 by itself, else 1.

Children get SIGTERM if the supervisor dies (PR_SET_PDEATHSIG), so a killed
supervisor leaves no orphans serving.
"""

from __future__ import annotations

import ctypes
import logging
import os
import selectors
import signal
import sys
import threading
import time
from dataclasses import dataclass, field
from typing import Callable

from common import logs
from common.stop_signals import stop_event

log = logging.getLogger("service.supervisor")

STABLE_SECONDS = 10.0
FIRST_BACKOFF_SECONDS = 0.5
MAX_BACKOFF_SECONDS = 30.0
STARTUP_TIMEOUT_SECONDS = 60.0
_SIGNALS = {signal.SIGTERM, signal.SIGINT, signal.SIGCHLD}

Body = Callable[[threading.Event, Callable[[], None]], int]


@dataclass
class Child:
    name: str
    body: Body
    # File descriptors the parent keeps that this child must not hold (other
    # children's sockets); each child closes them right after the fork.
    close_in_child: tuple[int, ...] = ()
    pid: int = 0
    started_at: float = 0.0
    ready: bool = False
    restarts: int = 0
    failures: int = 0  # deaths in a row, each within STABLE_SECONDS of its start
    restart_at: float | None = None
    exit_code: int | None = None
    _ready_fd: int = field(default=-1, repr=False)

    def backoff(self) -> float:
        return 0.0 if self.failures == 0 else min(MAX_BACKOFF_SECONDS, FIRST_BACKOFF_SECONDS * 2 ** (self.failures - 1))


class Supervisor:
    def __init__(
        self,
        children: list[Child],
        *,
        drain_seconds: float,
        on_exit: Callable[[Child, int], None] | None = None,
        on_ready: Callable[[], None] | None = None,
        on_restart: Callable[[Child], None] | None = None,
        on_drain: Callable[[], None] | None = None,
    ) -> None:
        self.children = children
        self.drain_seconds = drain_seconds
        self._on_exit = on_exit  # (child, pid) after a child is reaped
        self._on_ready = on_ready  # once every child has started
        self._on_restart = on_restart
        self._on_drain = on_drain  # first thing when draining begins
        self._selector = selectors.DefaultSelector()
        self._stopping = False
        self._wakeup_r = self._wakeup_w = -1
        self._pid = 0

    # -- the parent's loop --------------------------------------------------------

    def run(self) -> int:
        self._pid = os.getpid()
        self._wakeup_r, self._wakeup_w = os.pipe2(os.O_NONBLOCK | os.O_CLOEXEC)
        self._selector.register(self._wakeup_r, selectors.EVENT_READ)
        previous = {sig: signal.signal(sig, self._note_signal) for sig in _SIGNALS}
        previous_wakeup = signal.set_wakeup_fd(self._wakeup_w, warn_on_full_buffer=False)
        try:
            return self._run()
        finally:
            signal.set_wakeup_fd(previous_wakeup)
            for sig, handler in previous.items():
                signal.signal(sig, handler)
            self._selector.close()
            os.close(self._wakeup_r)
            os.close(self._wakeup_w)

    def _note_signal(self, signum: int, frame: object) -> None:
        if signum in (signal.SIGTERM, signal.SIGINT):
            self._stopping = True

    def _run(self) -> int:
        for child in self.children:
            self._start(child)
        starting = True
        deadline = time.monotonic() + STARTUP_TIMEOUT_SECONDS
        while not self._stopping:
            self._wait(self._next_timeout(deadline if starting else None))
            failed = self._reap(starting)
            if failed is not None:
                log.error(
                    "a process failed to start; stopping the others",
                    extra={"child": failed.name, "exit_code": failed.exit_code},
                )
                self._drain()
                return 1
            if starting and all(c.ready for c in self.children):
                starting = False
                if self._on_ready is not None:
                    self._on_ready()
            elif starting and time.monotonic() > deadline:
                log.error(
                    "processes did not start in time",
                    extra={"children": [c.name for c in self.children if not c.ready]},
                )
                self._drain()
                return 1
            now = time.monotonic()
            for child in self.children:
                if child.pid == 0 and child.restart_at is not None and child.restart_at <= now:
                    child.restarts += 1
                    if self._on_restart is not None:
                        self._on_restart(child)
                    self._start(child)
        return self._drain()

    def _next_timeout(self, deadline: float | None) -> float:
        now = time.monotonic()
        due = [c.restart_at for c in self.children if c.pid == 0 and c.restart_at is not None]
        if deadline is not None:
            due.append(deadline)
        return max(0.0, min([*due, now + 1.0]) - now)

    def _wait(self, timeout: float) -> None:
        for key, _ in self._selector.select(timeout):
            if key.fd == self._wakeup_r:
                try:
                    os.read(self._wakeup_r, 512)  # signal numbers; the handlers kept what matters
                except BlockingIOError:
                    pass
                continue
            child = key.data
            try:
                said = os.read(key.fd, 16)
            except OSError:
                said = b""
            self._close_ready_pipe(child)
            if said and not child.ready:
                child.ready = True
                log.info("process serving", extra={"child": child.name, "pid": child.pid})

    def _close_ready_pipe(self, child: Child) -> None:
        if child._ready_fd >= 0:
            self._selector.unregister(child._ready_fd)
            os.close(child._ready_fd)
            child._ready_fd = -1

    def _reap(self, starting: bool) -> Child | None:
        """Collect every child that has exited; schedule its restart. Returns a
        child that died before it was ready during the first start, if any."""
        failed = None
        while True:
            try:
                pid, status = os.waitpid(-1, os.WNOHANG)
            except ChildProcessError:
                return failed
            if pid == 0:
                return failed
            child = next((c for c in self.children if c.pid == pid), None)
            if child is None:
                continue
            code = os.waitstatus_to_exitcode(status)
            self._close_ready_pipe(child)
            child.pid, child.exit_code = 0, code
            if self._on_exit is not None:
                self._on_exit(child, pid)
            if self._stopping:
                continue
            if starting and not child.ready:
                failed = child
                continue
            lived = time.monotonic() - child.started_at
            child.failures = 0 if lived >= STABLE_SECONDS else child.failures + 1
            child.ready = False
            child.restart_at = time.monotonic() + child.backoff()
            log.warning(
                "process exited; restarting it",
                extra={
                    "child": child.name,
                    "pid": pid,
                    "exit_code": code,
                    "signal": signal.Signals(-code).name if code < 0 else None,
                    "ran_seconds": round(lived, 1),
                    "restart_in_seconds": child.backoff(),
                },
            )

    # -- draining ----------------------------------------------------------------

    def _drain(self) -> int:
        self._stopping = True
        if self._on_drain is not None:
            self._on_drain()
        live = [c for c in self.children if c.pid]
        log.info("draining", extra={"children": [c.name for c in live], "seconds": self.drain_seconds})
        for child in live:
            child.exit_code = None
            _signal(child.pid, signal.SIGTERM)
        deadline = time.monotonic() + self.drain_seconds
        while any(c.pid for c in self.children) and time.monotonic() < deadline:
            self._wait(min(0.2, max(0.0, deadline - time.monotonic())))
            self._reap(False)
        killed = [c for c in self.children if c.pid]
        for child in killed:
            log.error("process did not drain in time; killing it", extra={"child": child.name, "pid": child.pid})
            _signal(child.pid, signal.SIGKILL)
            try:
                os.waitpid(child.pid, 0)
            except ChildProcessError:
                pass
            pid, child.pid = child.pid, 0
            if self._on_exit is not None:
                self._on_exit(child, pid)
        unclean = [c.name for c in live if c.exit_code not in (0, None)]
        if unclean:
            log.warning("processes exited with an error while draining", extra={"children": unclean})
        return 1 if killed or unclean else 0

    # -- the fork ------------------------------------------------------------------

    def _start(self, child: Child) -> None:
        ready_r, ready_w = os.pipe2(os.O_CLOEXEC)
        # Blocked across the fork: a SIGTERM meant for the new child waits until
        # it has its own handler (a child does not inherit pending signals).
        signal.pthread_sigmask(signal.SIG_BLOCK, _SIGNALS)
        pid = -1
        try:
            pid = os.fork()
            if pid == 0:
                os.close(ready_r)
                self._become(child, ready_w)  # never returns
            child.pid, child.started_at, child.ready, child.restart_at = pid, time.monotonic(), False, None
        finally:
            if pid != 0:
                signal.pthread_sigmask(signal.SIG_UNBLOCK, _SIGNALS)
        os.close(ready_w)
        child._ready_fd = ready_r
        self._selector.register(ready_r, selectors.EVENT_READ, child)
        log.info("process started", extra={"child": child.name, "pid": pid})

    def _become(self, child: Child, ready_w: int) -> None:
        """The forked child: its own signals, its own file descriptors, then its body."""
        code = 1
        try:
            signal.set_wakeup_fd(-1)
            signal.signal(signal.SIGCHLD, signal.SIG_DFL)
            stopping = stop_event()  # the body waits with wait_until_set
            for fd in (
                self._wakeup_r,
                self._wakeup_w,
                self._selector.fileno(),
                *child.close_in_child,
                *(c._ready_fd for c in self.children if c._ready_fd >= 0),
            ):
                try:
                    os.close(fd)
                except OSError:
                    pass
            die_with_parent(self._pid)
            signal.pthread_sigmask(signal.SIG_UNBLOCK, _SIGNALS)

            def ready() -> None:
                os.write(ready_w, b"1")
                os.close(ready_w)

            code = child.body(stopping, ready)
        except SystemExit as exc:
            code = exc.code if isinstance(exc.code, int) else 1
        except BaseException:  # noqa: BLE001 - whatever it was, the child ends here
            log.exception("process failed", extra={"child": child.name})
        finally:
            logs.flush()  # os._exit skips atexit, which writes the pending access lines
            for stream in (sys.stdout, sys.stderr):
                try:
                    stream.flush()
                except Exception:  # noqa: BLE001
                    pass
            os._exit(code)


def _signal(pid: int, sig: int) -> None:
    try:
        os.kill(pid, sig)
    except ProcessLookupError:
        pass


_PR_SET_PDEATHSIG = 1


def die_with_parent(parent: int, sig: int = signal.SIGTERM) -> None:
    """Linux: send this process `sig` when the supervisor dies, so none outlives it."""
    if not sys.platform.startswith("linux"):
        return
    ctypes.CDLL(None, use_errno=True).prctl(_PR_SET_PDEATHSIG, sig)
    if os.getppid() != parent:  # the supervisor died before the prctl took hold
        os.kill(os.getpid(), sig)
