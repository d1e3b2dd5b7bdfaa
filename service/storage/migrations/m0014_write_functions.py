"""PostgreSQL: two statements every write transaction runs, as PL/pgSQL
functions whose plans PostgreSQL keeps per connection: `issue_numbers` (a
create's numbering) and `event_append` (the event counter's upsert).

pg_stat_statements on bench.run's CreateIssue and UpdateIssue rows (a
throwaway cluster, track_planning) showed both planned at every call, as
m0013's webhook statements were: the numbering 0.15-0.33 ms of planning
against 0.15-0.7 of execution, and a new statement text for each batch
size (its uuid array was spelled out); the counter's upsert 0.06 ms of
planning against 0.06 of execution. Both run under a row lock held until
commit (the workspace's row, the counter's row), so planning there also
lengthened the wait of the next writer of the workspace. A function is part
of the schema, not of a session, so a pooler in transaction mode keeps it
(a prepared statement would be lost).

`issue_numbers(ws_, uuids_)` is workspaces.number_issues' statement,
unchanged in effect: move the workspace's `issue_seq` on by as many issues
(locking its row until the transaction ends), number the issues `uuids_`
in order from the first new number, and return that first number and the
workspace's prefix (no row if there is no such workspace).

`event_append(ws_, n_)` is outbox.append's upsert: move the workspace's
event counter on by `n_` (creating it), locking its row until the
transaction ends, and return the last sequence, the active webhooks, and
whether the server is still on the timeline the counters belong to (the
expression lives only here: a change to it is a new migration that replaces
the function).

SQLite has no such functions and keeps its statements.
"""

from __future__ import annotations

from typing import Any, Callable

STATEMENTS: list[str] = []

_NUMBERS = """
CREATE OR REPLACE FUNCTION issue_numbers(ws_ integer, uuids_ uuid[])
RETURNS TABLE (first_number integer, prefix text) LANGUAGE plpgsql AS $numbers$
DECLARE
    k integer := cardinality(uuids_);
    last_ integer;
    prefix_ text;
BEGIN
UPDATE workspaces AS w SET issue_seq = w.issue_seq + k WHERE w.id = ws_ RETURNING w.issue_seq, w.prefix
    INTO last_, prefix_;
IF NOT FOUND THEN
    RETURN;
END IF;
UPDATE issues AS i SET number = last_ - k + u.ord
FROM unnest(uuids_) WITH ORDINALITY AS u(uuid, ord) WHERE i.uuid = u.uuid;
first_number := last_ - k + 1;
prefix := prefix_;
RETURN NEXT;
END
$numbers$
"""

_APPEND = """
CREATE OR REPLACE FUNCTION event_append(ws_ integer, n_ integer)
RETURNS TABLE (last_sequence bigint, active_webhooks integer, same_history boolean)
LANGUAGE plpgsql AS $append$
#variable_conflict use_column
BEGIN
RETURN QUERY
WITH c AS (
    INSERT INTO event_counters AS ec (workspace_id, last_sequence, pruned_sequence) VALUES (ws_, n_, 0)
    ON CONFLICT (workspace_id) DO UPDATE SET last_sequence = ec.last_sequence + excluded.last_sequence
    RETURNING ec.last_sequence, ec.active_webhooks
)
SELECT c.last_sequence, c.active_webhooks,
       COALESCE((SELECT h.timeline = ('x' || substr(pg_walfile_name(pg_current_wal_lsn()), 1, 8))::bit(32)::bigint
                 FROM event_history AS h WHERE h.id = 1), TRUE)
FROM c;
END
$append$
"""


def backfill(execute: Callable[..., Any], placeholder: str) -> None:
    if placeholder == "%s":  # PostgreSQL
        execute(_NUMBERS)
        execute(_APPEND)
