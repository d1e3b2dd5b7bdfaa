"""The wake-ups of event watchers across replicas on PostgreSQL: NOTIFY after
this process's commits (through DATABASE_URL), LISTEN for everyone's
(through ISSUES_LISTEN_DATABASE_URL, else DATABASE_URL).

At start the listener checks that it hears a NOTIFY of its own; when it does
not (a pgbouncer in transaction mode drops LISTEN), the server says so in
one warning and its watchers poll the table more often instead.
"""

from __future__ import annotations

import logging
from typing import Any, Callable

from ..api.event_hub import EventHub
from ..config import Settings
from .after_commit import AfterCommit
from ..storage import conninfo
from ..storage.notify import PROBE_SECONDS, Listener, Notifier

log = logging.getLogger("service.events")

# How often watchers look at the table when no NOTIFY can reach them.
FALLBACK_POLL_SECONDS = 0.5


def listen_target(settings: Settings) -> conninfo.Target:
    """Where the listener connects; BadConnectionString naming the variable at fault."""
    if not settings.listen_database_url:
        return conninfo.parse(settings.database_url)
    target = conninfo.parse(settings.listen_database_url, "ISSUES_LISTEN_DATABASE_URL")
    if target.is_sqlite:
        raise conninfo.BadConnectionString("ISSUES_LISTEN_DATABASE_URL: must be a PostgreSQL connection string, not sqlite")
    return target


def start_wakeups(settings: Settings, hub: EventHub, after_commit: AfterCommit,
                  also: Callable[[], None] = lambda: None) -> list[Any]:
    """Start the notifier (woken by `after_commit`) and the listener, check
    LISTEN, and return both (to stop).

    A notification pokes the hub (for its watchers) and `also` (the webhook
    dispatcher: other replicas' events may be due for delivery here too).
    """
    target = conninfo.parse(settings.database_url)
    listening = listen_target(settings)
    variable = "ISSUES_LISTEN_DATABASE_URL" if settings.listen_database_url else "DATABASE_URL"
    notifier = Notifier(target)
    after_commit.also_wake_watchers(notifier.notify)

    def woken(workspace_id: int | None) -> None:
        hub.poke(workspace_id)
        also()

    listener = Listener(listening, target, woken)
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
