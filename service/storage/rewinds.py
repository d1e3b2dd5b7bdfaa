"""Event sequences across a failover: a history that went back is detected,
and no sequence a client saw is given again (SPEC 9.5).

Physical replication copies the primary's history up to some point, so a
promoted standby holds a prefix of what the old primary had: with
asynchronous replication, maybe fewer events than a client already saw.
Left alone its counters would hand those sequences out again, for other
events, and a client resuming from one would silently miss the new ones.

The database records (in `event_history`) the system identifier and
timeline its counters last moved on in. Every new connection of this
process to a primary compares them with the server's own (a promotion
starts a new timeline; a restored backup is another system). When they
differ, before its first transaction, one transaction moves every
workspace's counter on by MARGIN and notes where it restarted
(`rewound_sequence`). Sequences a client saw on the old history are at most
MARGIN past what the new one kept, so none is given again; a cursor in
between names an event this history lacks and is refused as OUT_OF_RANGE
(app/event_reads.check_cursor), which also ends open watches (api/event_hub).
A pooler such as pgbouncer keeps connections open across a failover, so
the statement that gives out sequences also compares the timeline
(m0014's `event_append`); on a mismatch its transaction is run again after every
connection has checked (HistoryChanged).
A failover with synchronous replication moves the counters on too: a
server cannot tell afterwards that nothing was lost, and cursors that name
kept events stay good.
"""

from __future__ import annotations

import logging
from typing import Any

log = logging.getLogger("service.storage")

# How far counters move on when the history changes: more events than any
# workspace could have committed on the old primary beyond what its standby
# had received (an asynchronous standby's lag).
MARGIN = 1_000_000

# What the server is: in recovery?, its system identifier, its current
# timeline (the first 8 hex digits of the current WAL file's name), and
# whether this database has been migrated far enough to have the table.
_WHERE = (
    "SELECT pg_is_in_recovery(), (SELECT system_identifier FROM pg_control_system())::text,"
    " CASE WHEN pg_is_in_recovery() THEN 0"
    " ELSE ('x' || substr(pg_walfile_name(pg_current_wal_lsn()), 1, 8))::bit(32)::bigint END,"
    " to_regclass('event_history') IS NOT NULL"
)

# (system identifier, timeline) pairs this process has found recorded already.
_verified: set[tuple[str, int]] = set()
# Connections checked before this generation check again before their next
# transaction (a pooler such as pgbouncer keeps them open across a failover).
_generation = 1


class HistoryChanged(Exception):
    """Sequences were about to be given out on another timeline than recorded:
    the transaction rolls back, every connection checks again, and it is run
    again (storage/database.transaction)."""

    def __init__(self) -> None:
        global _generation
        _generation += 1
        _verified.clear()
        super().__init__("the database's timeline changed under an open connection")


def generation() -> int:
    """The current check generation: a connection checked at an older one checks again."""
    return _generation


def check(conn: Any) -> None:
    """On a new psycopg2 connection (autocommit): move the counters on if the
    database's history is not the one they were given in. Raises the
    driver's error if that cannot be decided (the connection is then not used)."""
    with conn.cursor() as cursor:
        cursor.execute(_WHERE)
        recovering, system, timeline, migrated = cursor.fetchone()
    key = (system, int(timeline))
    if recovering or not migrated or key in _verified:
        return
    # No process-wide lock: two connections checking at once are ordered by
    # the row lock, and the second finds the history recorded.
    _record(conn, *key)
    _verified.add(key)


def _record(conn: Any, system: str, timeline: int) -> None:
    with conn.cursor() as cursor:
        cursor.execute("BEGIN")
        try:
            cursor.execute("SELECT system_identifier, timeline FROM event_history WHERE id = 1 FOR UPDATE")
            found = cursor.fetchone()
            if found is None:
                cursor.execute(
                    "INSERT INTO event_history (id, system_identifier, timeline) VALUES (1, %s, %s)"
                    " ON CONFLICT (id) DO NOTHING",
                    (system, timeline),
                )
            elif (found[0], int(found[1])) != (system, timeline):
                # Both sides read the old last_sequence: the restart point is recorded exactly.
                cursor.execute(
                    "UPDATE event_counters SET last_sequence = last_sequence + %s,"
                    " rewound_sequence = last_sequence + %s",
                    (MARGIN, MARGIN),
                )
                moved = cursor.rowcount
                # A workspace whose first events never reached this host has no
                # counter here: it starts past the margin too, not at 1 again.
                cursor.execute(
                    "INSERT INTO event_counters (workspace_id, last_sequence, pruned_sequence,"
                    " rewound_sequence) SELECT id, %s, 0, %s FROM workspaces"
                    " ON CONFLICT (workspace_id) DO NOTHING",
                    (MARGIN, MARGIN),
                )
                moved += cursor.rowcount
                cursor.execute(
                    "UPDATE event_history SET system_identifier = %s, timeline = %s WHERE id = 1", (system, timeline)
                )
                log.warning(
                    "the database's history changed (a failover or a restored backup): event sequences moved on, "
                    "and cursors naming events this history lacks are OUT_OF_RANGE (clients resync)",
                    extra={
                        "was": f"{found[0]}/{found[1]}",
                        "now": f"{system}/{timeline}",
                        "workspaces": moved,
                        "margin": MARGIN,
                    },
                )
            cursor.execute("COMMIT")
        except BaseException:
            if not conn.closed:
                cursor.execute("ROLLBACK")
            raise
