"""One access-log line per request: method, path, status, duration.

A plain ASGI middleware rather than Starlette's BaseHTTPMiddleware, which
would buffer every response through an extra task. The line is written with
`common.logs.access_line` (the same JSON as every other log line, one
write(2), no LogRecord), which profiling showed to matter per request.
Requests to `quiet_paths` (the probes) are logged only when they fail.
`observers` see every request, quiet or not, at the same moment (the
metrics), so that one wrapper per request does both.
"""

from __future__ import annotations

import logging
import time
from typing import Callable, Iterable, Sequence

from starlette.types import ASGIApp, Message, Receive, Scope, Send

from common.logs import access_line

__all__ = ["AccessLog", "Observer"]

# Called with the request's scope, its status and its duration in seconds.
Observer = Callable[[Scope, int, float], None]

log = logging.getLogger("gateway.access")


class AccessLog:
    def __init__(
        self,
        app: ASGIApp,
        logger: logging.Logger = log,
        quiet_paths: Iterable[str] = (),
        observers: Sequence[Observer] = (),
    ) -> None:
        self.app = app
        self.log = logger
        self.quiet_paths = frozenset(quiet_paths)
        self.observers = tuple(observers)

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        started = time.perf_counter()
        status = 500  # what the client gets if the app fails before answering
        logged = False

        async def send_and_note(message: Message) -> None:
            nonlocal status, logged
            if message["type"] == "http.response.start":
                status = message["status"]
            elif message["type"] == "http.response.body" and not message.get("more_body", False):
                # Logged before the last chunk goes out, so the line exists by
                # the time the client has its answer.
                logged = True
                self._line(scope, status, started)
            await send(message)

        try:
            await self.app(scope, receive, send_and_note)
        finally:
            if not logged:
                self._line(scope, status, started)

    def _line(self, scope: Scope, status: int, started: float) -> None:
        elapsed = time.perf_counter() - started
        for observe in self.observers:
            observe(scope, status, elapsed)
        if status < 400 and scope["path"] in self.quiet_paths:
            return
        access_line(
            self.log,
            "http",
            method=scope["method"],
            path=scope["path"],
            status=status,
            duration_ms=round(elapsed * 1000, 3),
        )
