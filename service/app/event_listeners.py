"""Who hears, after commit, that a workspace has new events: this process's
event hub and webhook dispatcher, and the NOTIFY that wakes other replicas.
A wake-up only: the outbox rows stay the truth."""

from __future__ import annotations

from typing import Callable, Iterable

_listeners: list[Callable[[int], None]] = []


def on_commit(listener: Callable[[int], None]) -> None:
    """Call `listener(workspace_id)` after each commit that wrote events to the
    workspace (from the committing thread; it must not block)."""
    _listeners.append(listener)


def committed(workspace_ids: Iterable[int]) -> None:
    for workspace_id in set(workspace_ids):
        for listener in _listeners:
            listener(workspace_id)


def forget_listeners() -> None:
    _listeners.clear()
