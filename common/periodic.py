"""A background thread that calls one function every so many seconds.

The server's housekeeping (the health check, the pool gauges, writing
tokens' "last used") is each a function to call periodically on a daemon
thread that a stop ends at once, not after a last full interval.
"""

from __future__ import annotations

import threading
from typing import Callable


class Periodic:
    """Call `tick()` every `interval` seconds on a daemon thread named `name`,
    from `start()` until `stop()`. The first call comes one interval after
    `start()`: callers that need a first reading at once make it themselves."""

    def __init__(self, name: str, interval: float, tick: Callable[[], object]) -> None:
        self.name = name
        self.interval = interval
        self._tick = tick
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None

    def start(self) -> None:
        self._thread = threading.Thread(target=self._run, name=self.name, daemon=True)
        self._thread.start()

    def _run(self) -> None:
        while not self._stop.wait(self.interval):
            self._tick()

    def stop(self, *, wait: bool = False) -> None:
        """End the loop; with `wait`, also wait for a tick in progress to return."""
        self._stop.set()
        if wait and self._thread is not None and self._thread is not threading.current_thread():
            self._thread.join()
