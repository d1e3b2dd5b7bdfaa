"""PostgreSQL: the webhook dispatcher's claim and record as functions,
`webhook_claim` and `webhook_finish`, and a write's queueing of its events'
deliveries, `webhook_queue`.

The claim (storage/webhook_leases.py) is one statement of five CTEs, sent
as text (psycopg2 has no prepared statements, and a prepared statement
would not survive a pgbouncer in transaction mode): PostgreSQL planned it
at every call, ~0.2-0.5 ms of a backend's CPU, more than running it took
(pg_stat_statements, bench.webhooks' phase with a webhook). PL/pgSQL keeps
a function's plans per connection, so each call plans a one-line SELECT
and reuses the claim's plan; a function is part of the schema, not of a
session, so a pooler in transaction mode does not lose it.

What it does is the statement it replaces, unchanged: lock up to `scan`
due rows of active webhooks not in `full`, oldest due first, skipping rows
another replica's claim holds; keep at most each webhook's room (the
per-webhook bound less what is in flight to it: `busy`, `busy_n`) and
`total` in all; lease those to `lease_id` until `until`, and return them
with their webhook and event. A later change to the claim is a new
migration that replaces the function. SQLite has no such functions and
claims as before.

`webhook_finish` is the record's statement (webhook_leases.finish_all), as
a function for the same reason (the UPDATE ... FROM VALUES was planned at
every batch, and was a new statement text for each batch size): each
delivery's outcome written where the row still carries the attempt's
lease, `delivered_at` kept where the new one is NULL; with `reset_`, the
failures in a row of each webhook with an outcome written are reset (a
batch of successes). Returns the (id, lease_id) pairs written.

`webhook_queue` is what a write that appended events in a workspace with an
active webhook did in two round trips under the event counter's lock (read
the active webhooks, then insert the deliveries built in Python): one
pending delivery per (event, active webhook of `ws` taking its type; an
empty list of types takes every type), the events' sequences from
`first_`, due at `at_`. Returns how many it queued. It runs after the
counter's upsert, in a statement of its own, so it reads the webhooks as
committed once that lock was held, as the read it replaces did.
"""

from __future__ import annotations

from typing import Any, Callable

STATEMENTS: list[str] = []

_FUNCTION = """
CREATE OR REPLACE FUNCTION webhook_claim(
    now_ timestamp, full_ uuid[], scan_ integer, per_webhook_ integer, busy_ uuid[], busy_n_ integer[],
    total_ integer, until_ timestamp, lease_id_ uuid
) RETURNS TABLE (
    id uuid, workspace_id integer, webhook_id uuid, event_type text, attempts integer, created_at timestamp,
    url text, secret text, previous_secret text, previous_secret_until timestamp, failures_in_row integer,
    sequence bigint, type text, issue_uuid uuid, actor text, occurred_at timestamp, data text, payload text
) LANGUAGE plpgsql AS $claim$
#variable_conflict use_column
BEGIN
RETURN QUERY
WITH locked AS (
    SELECT d.id, d.webhook_id, d.next_attempt_at FROM webhook_deliveries AS d
    JOIN webhooks AS w ON w.id = d.webhook_id
    WHERE d.status = 'pending' AND d.next_attempt_at <= now_
      AND (d.leased_until IS NULL OR d.leased_until <= now_) AND w.active
      AND NOT (d.webhook_id = ANY(full_))
    ORDER BY d.next_attempt_at LIMIT scan_
    FOR UPDATE OF d SKIP LOCKED
), ranked AS (
    SELECT l.id, l.next_attempt_at, row_number() OVER (PARTITION BY l.webhook_id ORDER BY l.next_attempt_at) AS n,
           per_webhook_ - COALESCE((SELECT f.n FROM unnest(busy_, busy_n_) AS f(id, n) WHERE f.id = l.webhook_id), 0)
           AS room
    FROM locked AS l
), chosen AS (
    SELECT r.id FROM ranked AS r WHERE r.n <= r.room ORDER BY r.next_attempt_at LIMIT total_
), leased AS (
    UPDATE webhook_deliveries AS d SET leased_until = until_, lease_id = lease_id_
    FROM chosen WHERE d.id = chosen.id
    RETURNING d.id, d.workspace_id, d.webhook_id, d.event_type, d.attempts, d.created_at,
              d.event_sequence, d.payload
)
SELECT l.id, l.workspace_id, l.webhook_id, l.event_type::text, l.attempts, l.created_at,
       w.url::text, w.secret::text, w.previous_secret::text, w.previous_secret_until, w.failures_in_row,
       e.sequence, e.type::text, e.issue_uuid, e.actor::text, e.occurred_at, e.data, l.payload
FROM leased AS l JOIN webhooks AS w ON w.id = l.webhook_id
LEFT JOIN events AS e ON e.workspace_id = l.workspace_id AND e.sequence = l.event_sequence;
END
$claim$
"""


_FINISH = """
CREATE OR REPLACE FUNCTION webhook_finish(
    ids_ uuid[], leases_ uuid[], statuses_ text[], attempts_ integer[], next_ timestamp[], delivered_ timestamp[],
    codes_ integer[], errors_ text[], durations_ integer[], reset_ boolean
) RETURNS TABLE (id uuid, lease_id uuid) LANGUAGE plpgsql AS $finish$
#variable_conflict use_column
BEGIN
RETURN QUERY
WITH v AS (
    SELECT * FROM unnest(ids_, leases_, statuses_, attempts_, next_, delivered_, codes_, errors_, durations_)
        AS v(id, lease_id, status, attempts, next_attempt_at, delivered_at, last_status_code, last_error,
             last_duration_ms)
), done AS (
    UPDATE webhook_deliveries AS d SET leased_until = NULL, lease_id = NULL, status = v.status,
        attempts = v.attempts, next_attempt_at = v.next_attempt_at,
        delivered_at = COALESCE(v.delivered_at, d.delivered_at), last_status_code = v.last_status_code,
        last_error = v.last_error, last_duration_ms = v.last_duration_ms
    FROM v WHERE d.id = v.id AND d.lease_id = v.lease_id
    RETURNING v.id, v.lease_id, d.webhook_id
), reset AS (
    UPDATE webhooks AS w SET failures_in_row = 0, failing_since = NULL
    WHERE reset_ AND w.id IN (SELECT done.webhook_id FROM done) AND w.failures_in_row <> 0
)
SELECT done.id, done.lease_id FROM done;
END
$finish$
"""


_QUEUE = """
CREATE OR REPLACE FUNCTION webhook_queue(ws_ integer, first_ bigint, types_ text[], at_ timestamp)
RETURNS integer LANGUAGE plpgsql AS $queue$
DECLARE queued integer;
BEGIN
INSERT INTO webhook_deliveries (id, workspace_id, webhook_id, event_sequence, event_type, status, attempts,
                                next_attempt_at, created_at)
SELECT gen_random_uuid(), ws_, w.id, first_ + e.i - 1, e.type, 'pending', 0, at_, at_
FROM unnest(types_) WITH ORDINALITY AS e(type, i)
JOIN webhooks AS w ON w.workspace_id = ws_ AND w.active
WHERE jsonb_array_length(w.events::jsonb) = 0 OR w.events::jsonb ? e.type
ORDER BY e.i, w.id;
GET DIAGNOSTICS queued = ROW_COUNT;
RETURN queued;
END
$queue$
"""


def backfill(execute: Callable[..., Any], placeholder: str) -> None:
    if placeholder == "%s":  # PostgreSQL
        execute(_FUNCTION)
        execute(_FINISH)
        execute(_QUEUE)
