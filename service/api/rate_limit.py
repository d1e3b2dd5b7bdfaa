"""The per-token rate limit (ISSUES_RATE_LIMIT = RATE or RATE/BURST).

A token bucket per token: it holds at most BURST calls (default twice RATE)
and refills at RATE calls a second. A call that finds it empty is refused
with RESOURCE_EXHAUSTED and a `google.rpc.RetryInfo` saying when one call
will be admitted again; the gateway turns that into 429 and `Retry-After`.
Only the gRPC server counts, so a call through the gateway counts once.

Where the buckets live is behind `Buckets`: in this process for now; worker
processes of one host will share one store (shared memory or a small
file-backed table) that implements the same `take`.
"""

from __future__ import annotations

import math
import re
import threading
import time
from dataclasses import dataclass
from typing import Protocol

from google.protobuf import any_pb2, duration_pb2
from google.rpc import error_details_pb2

from ..app.tokens import hash_token
from ..domain.errors import ServiceError

_SPEC = re.compile(r"^\s*(?P<rate>\d+(?:\.\d+)?)\s*(?:/\s*(?P<burst>\d+)\s*)?$")


@dataclass(frozen=True)
class RateLimit:
    rate: float  # calls a second, refilled continuously
    burst: int  # calls a full bucket admits at once

    @classmethod
    def parse(cls, text: str) -> RateLimit | None:
        """`RATE` or `RATE/BURST`; "" is no limit. ValueError naming the variable otherwise."""
        if not text.strip():
            return None
        match = _SPEC.match(text)
        rate = float(match["rate"]) if match else 0.0
        burst = int(match["burst"]) if match and match["burst"] else max(1, math.ceil(2 * rate))
        if not match or rate <= 0 or burst < 1:
            raise ValueError(
                f"ISSUES_RATE_LIMIT: expected RATE or RATE/BURST (calls a second above 0, "
                f"and a whole number of calls of at least 1), got {text!r}"
            )
        return cls(rate, burst)


class Buckets(Protocol):
    def take(self, key: str, limit: RateLimit, now: float) -> float:
        """Take one call from `key`'s bucket: 0.0 if admitted, else the seconds
        until the bucket holds one again (nothing is taken then)."""
        ...


class InProcessBuckets:
    """Buckets in this process's memory, for one process."""

    def __init__(self, max_keys: int = 100_000) -> None:
        # key -> (calls available, when last refilled)
        self._state: dict[str, tuple[float, float]] = {}
        self._lock = threading.Lock()
        self._max_keys = max_keys

    def take(self, key: str, limit: RateLimit, now: float) -> float:
        with self._lock:
            available, at = self._state.get(key, (float(limit.burst), now))
            available = min(float(limit.burst), available + (now - at) * limit.rate)
            if available >= 1.0:
                if len(self._state) >= self._max_keys and key not in self._state:
                    self._forget_full(now, limit)
                self._state[key] = (available - 1.0, now)
                return 0.0
            self._state[key] = (available, now)
            return (1.0 - available) / limit.rate

    def _forget_full(self, now: float, limit: RateLimit) -> None:
        # A bucket that has refilled is the same as none: dropping it loses nothing.
        full_after = limit.burst / limit.rate
        self._state = {k: v for k, v in self._state.items() if now - v[1] < full_after}


class RateLimited(ServiceError):
    code = "RESOURCE_EXHAUSTED"

    def __init__(self, retry_after: float, limit: RateLimit) -> None:
        super().__init__(
            f"rate limit exceeded: {limit.rate:g} calls a second per token (bursts of {limit.burst}); "
            f"retry in {retry_after:.2f} s"
        )
        self.retry_after = retry_after

    def status_details(self) -> list[any_pb2.Any]:
        """`google.rpc.RetryInfo`, the standard detail clients (and the gateway) read the wait from."""
        delay = duration_pb2.Duration()
        delay.FromNanoseconds(math.ceil(self.retry_after * 1e9))
        packed = any_pb2.Any()
        packed.Pack(error_details_pb2.RetryInfo(retry_delay=delay))
        return [packed]


class RateLimiter:
    def __init__(self, limit: RateLimit, buckets: Buckets | None = None) -> None:
        self.limit = limit
        self._buckets = buckets if buckets is not None else InProcessBuckets()

    def admit(self, token: str) -> None:
        """Count one call of `token`; RateLimited if it is over its limit."""
        # Keyed by the hash, so that a shared store never holds a token.
        wait = self._buckets.take(hash_token(token), self.limit, time.monotonic())
        if wait > 0:
            raise RateLimited(wait, self.limit)
