"""A few values remembered by the identity of what they were made from.

For fan-out: one event goes to many watchers as the very same object (the
hub's encoded bytes, then the message decoded from them), so whatever is
derived from it per watcher (its decoding, its Server-Sent Events frame) can
be made once and shared. Each entry holds its key object, so an id is never
reused while it is remembered; a key seen once (a replayed event, a message
from a gRPC channel) costs one dict lookup and is soon forgotten.
"""

from __future__ import annotations

from typing import Callable, Generic, TypeVar

K = TypeVar("K")
V = TypeVar("V")

__all__ = ["IdentityCache"]


class IdentityCache(Generic[K, V]):
    """`get(key, make)`: make(key) once per key object while among the last `size` made.

    Shared between threads it stays correct (at worst a value is made twice,
    or the cache holds a few more than `size` for a moment)."""

    __slots__ = ("_entries", "_size")

    def __init__(self, size: int = 64) -> None:
        self._size = size
        self._entries: dict[int, tuple[K, V]] = {}

    def get(self, key: K, make: Callable[[K], V]) -> V:
        entry = self._entries.get(id(key))
        if entry is not None and entry[0] is key:
            return entry[1]
        value = make(key)
        if len(self._entries) >= self._size:
            try:
                del self._entries[next(iter(self._entries))]  # the oldest
            except (RuntimeError, KeyError, StopIteration):  # another thread changed it meanwhile
                pass
        self._entries[id(key)] = (key, value)
        return value
