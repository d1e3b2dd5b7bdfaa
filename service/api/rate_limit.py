"""The per-token rate limit (ISSUES_RATE_LIMIT = RATE or RATE/BURST).

A token bucket per token: it holds at most BURST calls (default twice RATE)
and refills at RATE calls a second. A call that finds it empty is refused
with RESOURCE_EXHAUSTED and a `google.rpc.RetryInfo` saying when one call
will be admitted again; the gateway turns that into 429 and `Retry-After`.
Only the gRPC server counts, so a call through the gateway counts once.

Where the buckets live is behind `Buckets`: `InProcessBuckets` for one
process; `SharedBuckets`, a table in a memory-mapped file, for the worker
processes of `serve --workers N`, so that the host admits the rate once, not
once per worker.
"""

from __future__ import annotations

import fcntl
import hashlib
import math
import mmap
import os
import re
import struct
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


class SharedBuckets:
    """Buckets in a memory-mapped file that every worker process of one host
    maps (the supervisor creates it with `create`; each worker opens it after
    the fork, since an inherited open file would share the lock between them).

    The file is a hash table of fixed-size slots: a 16-byte digest of the key
    (itself the token's sha256: the file never holds a token), the calls available and when they were last refilled
    (`time.monotonic()`, one clock for every process of the host). A lookup
    probes at most `PROBES` slots from the key's home; when all are taken by
    other keys, the one idle longest gives way (a bucket idle for BURST/RATE
    seconds is full, the same as none, so this loses nothing until more than
    `PROBES` busy tokens share a home).

    One `flock` on the file orders the processes (the kernel drops it if its
    holder dies, even by SIGKILL), and a thread lock the threads of one
    process, since a flock is shared by the threads that hold one open file.
    A slot that a killed process left half-written is clamped back into range.
    """

    _HEADER = struct.Struct("<8sI")
    _MAGIC = b"ISSRLB01"
    _HEADER_SIZE = 64
    _SLOT = struct.Struct("<16sdd")  # key, calls available, when refilled
    PROBES = 16
    _EMPTY = bytes(16)

    def __init__(self, path: str | os.PathLike[str]) -> None:
        self._fd = os.open(path, os.O_RDWR | os.O_CLOEXEC)
        try:
            size = os.fstat(self._fd).st_size
            self._map = mmap.mmap(self._fd, size)
        except BaseException:
            os.close(self._fd)
            raise
        magic, slots = self._HEADER.unpack_from(self._map, 0)
        if magic != self._MAGIC or size != self._HEADER_SIZE + slots * self._SLOT.size:
            self.close()
            raise ValueError(f"{path} is not a rate-limit table")
        self._slots = slots
        self._lock = threading.Lock()

    @classmethod
    def create(cls, path: str | os.PathLike[str], slots: int = 1 << 16) -> None:
        """A new, empty table at `path` (2 MiB for the default 65,536 slots)."""
        with open(path, "wb") as f:
            f.write(cls._HEADER.pack(cls._MAGIC, slots).ljust(cls._HEADER_SIZE, b"\0"))
            f.truncate(cls._HEADER_SIZE + slots * cls._SLOT.size)

    def take(self, key: str, limit: RateLimit, now: float) -> float:
        digest = hashlib.blake2b(key.encode(), digest_size=16).digest()
        home = int.from_bytes(digest[:8], "little") % self._slots
        with self._lock:
            fcntl.flock(self._fd, fcntl.LOCK_EX)
            try:
                offset = self._find(digest, home, now, limit)
                stored, available, at = self._SLOT.unpack_from(self._map, offset)
                if stored != digest:
                    available, at = float(limit.burst), now
                # Clamped: a slot torn by a killed writer, or a clock read before another's.
                elapsed = max(0.0, now - at) if at == at else 0.0
                if not 0.0 <= available <= limit.burst:
                    available = float(limit.burst)
                available = min(float(limit.burst), available + elapsed * limit.rate)
                if available >= 1.0:
                    self._SLOT.pack_into(self._map, offset, digest, available - 1.0, now)
                    return 0.0
                self._SLOT.pack_into(self._map, offset, digest, available, now)
                return (1.0 - available) / limit.rate
            finally:
                fcntl.flock(self._fd, fcntl.LOCK_UN)

    def _find(self, digest: bytes, home: int, now: float, limit: RateLimit) -> int:
        """The offset of `digest`'s slot, of an empty one, or of the one idle longest."""
        slot_size, base, victim, oldest = self._SLOT.size, self._HEADER_SIZE, -1, math.inf
        view = self._map
        for probe in range(self.PROBES):
            offset = base + ((home + probe) % self._slots) * slot_size
            stored = view[offset : offset + 16]
            if stored == digest or stored == self._EMPTY:
                return offset
            _, _, at = self._SLOT.unpack_from(view, offset)
            if not at >= oldest:  # NaN from a torn slot gives way first
                victim, oldest = offset, at
        return victim

    def close(self) -> None:
        self._map.close()
        os.close(self._fd)


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
        self.admit_key(hash_token(token))

    def admit_key(self, key: str) -> None:
        """Count one call of the token whose hash is `key` (a stream ticket's
        token: tickets share their token's bucket)."""
        wait = self._buckets.take(key, self.limit, time.monotonic())
        if wait > 0:
            raise RateLimited(wait, self.limit)
