"""The wake-ups of event watchers and of the webhook dispatcher across
processes on PostgreSQL: NOTIFY after this process's commits (through
DATABASE_URL), LISTEN for everyone's (through ISSUES_LISTEN_DATABASE_URL,
else DATABASE_URL). The dispatcher runs in a process of its own there
(webhook_process.py) and hears only the commits that made deliveries due.

At start the listener checks that it hears a NOTIFY of its own; when it does
not (a pgbouncer in transaction mode drops LISTEN), the server says so in
one warning and its watchers poll the table more often instead.
"""

from __future__ import annotations

import logging
from typing import Any, Callable, Protocol

from ..api.event_hub import EventHub
from ..config import Settings
from ..storage import conninfo
from ..storage.notify import PROBE_SECONDS, Listener, Notifier
from .after_commit import AfterCommit

log = logging.getLogger("service.events")

# How often watchers look at the table when no NOTIFY can reach them.
FALLBACK_POLL_SECONDS = 0.5


class WakeupTargets(Protocol):
    database_url: str
    listen_database_url: str


def listen_target(settings: Settings | WakeupTargets) -> conninfo.Target:
    """Where the listener connects; BadConnectionString naming the variable at fault."""
    if not settings.listen_database_url:
        return conninfo.parse(settings.database_url)
    target = conninfo.parse(settings.listen_database_url, "ISSUES_LISTEN_DATABASE_URL")
    if target.is_sqlite:
        raise conninfo.BadConnectionString(
            "ISSUES_LISTEN_DATABASE_URL: must be a PostgreSQL connection string, not sqlite"
        )
    return target


def start_wakeups(settings: Settings, hub: EventHub, after_commit: AfterCommit) -> list[Any]:
    """Start the notifier (woken by `after_commit`) and the listener, check
    LISTEN, and return both (to stop).

    A notification pokes the hub (for its watchers). Commits that made
    webhook deliveries due also NOTIFY the dispatcher process.
    """
    target = conninfo.parse(settings.database_url)
    listening = listen_target(settings)
    variable = "ISSUES_LISTEN_DATABASE_URL" if settings.listen_database_url else "DATABASE_URL"
    notifier = Notifier(target)
    after_commit.also_wake_watchers(notifier.notify)
    after_commit.also_wake_dispatchers(notifier.notify_deliveries)  # the dispatcher process
    listener = Listener(listening, target, hub.poke)
    # Connecting may take libpq's connect timeout per host, then the check itself.
    decided = listener.checked.wait(PROBE_SECONDS + 15)
    if decided and listener.listen_works:
        log.info("LISTEN works: other replicas' events wake this one's watchers at once", extra={"listen": variable})
    else:
        hub.poll_every(FALLBACK_POLL_SECONDS)
        log.warning(
            f"LISTEN through {variable} ({listening.describe()}) did not hear this server's own NOTIFY"
            f"{'' if decided else ' (it could not connect)'}: events committed through other replicas reach "
            f"this one's watchers by polling, every {FALLBACK_POLL_SECONDS} s. A pgbouncer in transaction mode "
            "cannot carry LISTEN: set ISSUES_LISTEN_DATABASE_URL to a direct or session-mode connection",
            extra={"listen": variable},
        )
    return [notifier, listener]


def listen_for_deliveries(targets: WakeupTargets, poke: Callable[[], None], settle: float = 0.0) -> Listener:
    """The dispatcher process's listener: `poke` when any process's commit made
    deliveries due, and after each (re)connection (something may have been
    missed). When LISTEN cannot work the dispatcher's poll still finds them.

    It hears every commit of every workspace (one channel); `settle`: after a
    wake-up it reads again only that much later, so a burst of commits costs
    it one wake-up (and the dispatcher one poke), not one each. The
    dispatcher waits at least that long after a poke anyway."""
    target = conninfo.parse(targets.database_url)

    def reconnected(workspace_id: int | None) -> None:
        if workspace_id is None:
            poke()

    listener = Listener(
        listen_target(targets),
        target,
        reconnected,
        on_deliveries=poke,
        name="the webhook dispatcher's listener",
        meanwhile="the dispatcher polls meanwhile",
        settle=settle,
    )
    if not listener.checked.wait(PROBE_SECONDS + 15) or not listener.listen_works:
        log.warning(
            "the webhook dispatcher's LISTEN did not hear its own NOTIFY: it finds due deliveries by "
            "its poll (ISSUES_WEBHOOK_POLL) instead; see ISSUES_LISTEN_DATABASE_URL"
        )
    return listener
