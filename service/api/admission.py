"""How many IssueService calls may hold a gRPC worker thread at once.

The server is grpc.aio's, but every handler except WatchEvents (health and
reflection included) is an ordinary function run on one thread pool
(runtime/server.py), and a call that finds no free thread queues. Were
IssueService calls allowed to take every thread (all of them stuck on a
database lock, say), `grpc.health.v1.Health/Check` would queue behind them
and orchestrators would kill a server that is merely busy.

So the pool is larger than what IssueService may use: `running` calls run,
up to `waiting` more wait (on a thread, which is why they are counted) at
most `wait_seconds`, or their deadline if sooner, for a slot, and any
further call is refused at once. Refusals are UNAVAILABLE, which clients
retry. The reserved threads beyond that are left to health and reflection
(and to refusing calls, which takes no time).

Streaming calls (a blob's bytes, for minutes on a slow link) have slots of
their own, so that a crowd of slow uploads cannot starve the unary API;
one that finds none free is refused at once.
"""

from __future__ import annotations

import contextlib
import threading
import time
from typing import Iterator

from google.protobuf.descriptor import MethodDescriptor

from ..domain.errors import Unavailable

# Waiting calls per running slot: bursts wait rather than fail.
WAITING_PER_SLOT = 4
# How long a call waits for a slot before it is refused.
WAIT_SECONDS = 5.0
# Threads IssueService never takes: health, reflection, refusals.
RESERVED_THREADS = 4


class CallSlots:
    def __init__(self, running: int, waiting: int, wait_seconds: float = WAIT_SECONDS) -> None:
        if running < 1 or waiting < 0:
            raise ValueError("need at least one running slot and no negative waiting")
        self.running = running
        self.waiting = waiting
        self.wait_seconds = wait_seconds
        self._busy = 0
        self._waiters = 0
        self._free = threading.Condition()

    @property
    def threads(self) -> int:
        """The threads these slots can occupy: every running and waiting call."""
        return self.running + self.waiting

    @contextlib.contextmanager
    def held(self, time_remaining: float | None) -> Iterator[None]:
        """Hold a slot for the block; Unavailable if none frees up in time."""
        self._acquire(time_remaining)
        try:
            yield
        finally:
            with self._free:
                self._busy -= 1
                self._free.notify()

    def _acquire(self, time_remaining: float | None) -> None:
        wait = self.wait_seconds if time_remaining is None else max(0.0, min(self.wait_seconds, time_remaining))
        with self._free:
            if self._busy < self.running:
                self._busy += 1
                return
            if self._waiters >= self.waiting:
                raise Unavailable("the server is busy: every call slot and waiting place is taken; retry later")
            self._waiters += 1
            try:
                deadline = time.monotonic() + wait
                while self._busy >= self.running:
                    left = deadline - time.monotonic()
                    if left <= 0 or not self._free.wait(left):
                        if self._busy < self.running:
                            break
                        raise Unavailable(f"the server is busy: no call slot freed up within {wait:.1f} s; retry later")
                self._busy += 1
            finally:
                self._waiters -= 1


class Admission:
    """The slots of unary calls and of streaming calls, and the pool they need."""

    def __init__(self, unary: CallSlots, streams: CallSlots) -> None:
        self.unary = unary
        self.streams = streams

    @classmethod
    def for_call_slots(cls, slots: int) -> Admission:
        """`slots` unary calls at once, four times as many waiting; as many streams, none waiting."""
        return cls(CallSlots(slots, WAITING_PER_SLOT * slots), CallSlots(slots, 0))

    @property
    def threads(self) -> int:
        """The thread pool this needs: every slot and waiting place, plus the reserve."""
        return self.unary.threads + self.streams.threads + RESERVED_THREADS

    def slots_for(self, method: MethodDescriptor) -> CallSlots:
        return self.streams if method.client_streaming or method.server_streaming else self.unary
