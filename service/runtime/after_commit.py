"""What this process does once a commit is durable (runner.Committed): the
rows stay the truth, these are wake-ups only, made from the committing
thread, so none of them blocks.

- new events in a workspace: this process's event hub wakes its watchers,
  and, on PostgreSQL, a NOTIFY wakes the other replicas';
- webhook deliveries became due (with events, or a ping, a redelivery, a
  webhook made active again): the dispatcher looks for them (in this
  process on SQLite; on PostgreSQL a NOTIFY wakes its own process). A
  commit in a workspace without webhooks wakes no dispatcher.
"""

from __future__ import annotations

from typing import Any, Callable

from ..app.runner import Committed


class AfterCommit:
    """The Runner's `after_commit`, wired to the process's hub and dispatcher."""

    def __init__(self, wake_watchers: Callable[[int], None]) -> None:
        self._wake_watchers = [wake_watchers]
        self._wake_dispatchers: list[Callable[[], None]] = []

    def also_wake_watchers(self, wake: Callable[[int], None]) -> None:
        """Also call `wake(workspace_id)` for new events (the NOTIFY to other replicas)."""
        self._wake_watchers.append(wake)

    def also_wake_dispatchers(self, wake: Callable[[], None]) -> None:
        """Also call `wake()` when deliveries became due (this process's
        dispatcher once it runs, the NOTIFY to the dispatcher process)."""
        self._wake_dispatchers.append(wake)

    def __call__(self, committed: Committed[Any]) -> None:
        for workspace_id in committed.event_workspaces:
            for wake in self._wake_watchers:
                wake(workspace_id)
        if committed.deliveries_due:
            for wake_dispatcher in self._wake_dispatchers:
                wake_dispatcher()
