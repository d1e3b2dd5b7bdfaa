"""Waiting for SIGTERM or SIGINT in a process full of threads.

Python runs signal handlers in the main thread only, and only when it
executes bytecode. A process-directed signal is delivered to any thread that
does not block it, often one of gRPC's or the event loop's; the main thread,
blocked without a timeout in `Event.wait()`, is then never interrupted, the
handler never runs, and the process ignores the signal. Waiting in short
steps lets the main thread run a pending handler within one step.
"""

from __future__ import annotations

import signal
import threading

# How long a pending SIGTERM may wait before the main thread runs its handler.
STEP_SECONDS = 0.2


def stop_event(signals: tuple[signal.Signals, ...] = (signal.SIGTERM, signal.SIGINT)) -> threading.Event:
    """An event set when one of `signals` arrives (handlers installed now)."""
    stopping = threading.Event()
    for sig in signals:
        signal.signal(sig, lambda *_: stopping.set())
    return stopping


def wait_until_set(event: threading.Event) -> None:
    """Block the main thread until `event` is set, running signal handlers as they come."""
    while not event.wait(STEP_SECONDS):
        pass
