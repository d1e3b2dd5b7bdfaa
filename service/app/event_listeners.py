"""Who hears what a commit made, after it commits: a wake-up only (the rows
stay the truth), called from the committing thread, so a listener must not
block.

- `on_commit(listener)`: the workspace has new events (this process's event
  hub, and the NOTIFY that wakes other replicas).
- `on_deliveries(listener)`: webhook deliveries became due (made with
  events, or a ping, a redelivery, a webhook made active again): this
  process's dispatcher. A commit in a workspace without webhooks wakes no
  dispatcher.
"""

from __future__ import annotations

from typing import Callable, Generic, Iterable, TypeVar

T = TypeVar("T")


class _Listeners(Generic[T]):
    def __init__(self) -> None:
        self._listeners: list[Callable[[T], None]] = []

    def add(self, listener: Callable[[T], None]) -> None:
        self._listeners.append(listener)

    def tell(self, value: T) -> None:
        for listener in list(self._listeners):
            listener(value)

    def clear(self) -> None:
        self._listeners.clear()


_events: _Listeners[int] = _Listeners()
_deliveries: _Listeners[None] = _Listeners()


def on_commit(listener: Callable[[int], None]) -> None:
    """Call `listener(workspace_id)` after each commit that wrote events to the workspace."""
    _events.add(listener)


def on_deliveries(listener: Callable[[], None]) -> None:
    """Call `listener()` after each commit that made webhook deliveries due."""
    _deliveries.add(lambda _: listener())


def committed(workspace_ids: Iterable[int], *, deliveries: bool = False) -> None:
    """A commit wrote events to `workspace_ids` (and made deliveries due, if `deliveries`)."""
    for workspace_id in set(workspace_ids):
        _events.tell(workspace_id)
    if deliveries:
        _deliveries.tell(None)


def deliveries_due() -> None:
    """A commit made deliveries due without writing events (a ping, a redelivery)."""
    _deliveries.tell(None)


def forget_listeners() -> None:
    _events.clear()
    _deliveries.clear()
