"""Open streams' token rechecks, coalesced.

Every open WatchEvents stream checks every RECHECK_SECONDS (event_hub.py)
that its token still holds. One thread hop per check was most of what a
thousand idle watchers cost the server (200 `run_in_executor` a second).
The hub marks them all due on one tick, so their checks are asked for in the
same turn of the loop: here they become one job on the pool, one check per
distinct token, each answer given to every stream that asked about it.
"""

from __future__ import annotations

import asyncio
import copy
import logging
from typing import Callable

log = logging.getLogger("service.api")


class TokenRechecks:
    """`await holds(token)`: returns if `check(token)` passes, else raises what it raised."""

    def __init__(self, check: Callable[[str], None]) -> None:
        self._check = check
        self._pending: dict[str, list[asyncio.Future[None]]] = {}

    async def holds(self, token: str) -> None:
        loop = asyncio.get_running_loop()
        waiting: asyncio.Future[None] = loop.create_future()
        if not self._pending:
            loop.call_soon(self._flush, loop)  # after everything else woken in this turn has asked
        self._pending.setdefault(token, []).append(waiting)
        await waiting

    def _flush(self, loop: asyncio.AbstractEventLoop) -> None:
        pending, self._pending = self._pending, {}
        job = loop.run_in_executor(None, self._run, list(pending))
        job.add_done_callback(lambda done: _settle(done, pending))

    def _run(self, tokens: list[str]) -> dict[str, BaseException | None]:
        answers: dict[str, BaseException | None] = {}
        for token in tokens:
            try:
                self._check(token)
                answers[token] = None
            except Exception as exc:  # noqa: BLE001 - each token's own answer, given to its streams
                answers[token] = exc
        return answers


def _settle(
    job: asyncio.Future[dict[str, BaseException | None]], pending: dict[str, list[asyncio.Future[None]]]
) -> None:
    failure = None if job.cancelled() else job.exception()
    answers = {} if job.cancelled() or failure is not None else job.result()
    for token, waiting in pending.items():
        error = failure if failure is not None else answers.get(token)
        for future in waiting:
            if future.done():  # its stream was cancelled meanwhile
                continue
            if job.cancelled():
                future.cancel()
            elif error is not None:
                # A copy each: raised in many tasks, one exception would gather all their tracebacks.
                future.set_exception(copy.copy(error))
            else:
                future.set_result(None)
