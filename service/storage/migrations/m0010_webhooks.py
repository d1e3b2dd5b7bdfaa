"""Webhooks (SPEC 8.13): the endpoints, their deliveries, and per workspace
how many are active.

A delivery is written in the transaction of the event it delivers (see
app/derived.py), so a committed event that matches an active webhook always
has its delivery and a rolled-back one never does. `event_counters.
active_webhooks` lets that transaction skip the webhook lookup when the
workspace has none: it is read from the counter row the transaction locks
anyway for its sequences, and moved by webhook changes under the same lock,
so the two are ordered by commit like the events themselves.
"""

STATEMENTS = [
    "ALTER TABLE event_counters ADD COLUMN active_webhooks INTEGER NOT NULL DEFAULT 0",
    """
    CREATE TABLE webhooks (
        id {uuid} PRIMARY KEY,
        workspace_id INTEGER NOT NULL REFERENCES workspaces (id) ON DELETE CASCADE,
        url VARCHAR(2048) NOT NULL,
        events TEXT NOT NULL,
        description TEXT NOT NULL,
        active BOOLEAN NOT NULL,
        disabled_reason TEXT,
        secret VARCHAR(128) NOT NULL,
        -- The secret before the last rotation, still signing until then.
        previous_secret VARCHAR(128),
        previous_secret_until TIMESTAMP,
        -- Since when every attempt has failed, and how many in a row (auto-disable).
        failing_since TIMESTAMP,
        failures_in_row INTEGER NOT NULL DEFAULT 0,
        created_at TIMESTAMP NOT NULL,
        updated_at TIMESTAMP NOT NULL
    )
    """,
    "CREATE INDEX webhooks_workspace ON webhooks (workspace_id, created_at, id)",
    """
    CREATE TABLE webhook_deliveries (
        id {uuid} PRIMARY KEY,
        workspace_id INTEGER NOT NULL REFERENCES workspaces (id) ON DELETE CASCADE,
        -- No foreign key: an event's transaction adds deliveries while it
        -- holds the event counter lock, and a key check would lock the
        -- webhook's row after it (a deadlock with a webhook change, which
        -- locks that row first). Deleting a webhook deletes its deliveries;
        -- one added by a race with the delete is never claimed (claims join
        -- the webhook) and goes with its events (gc).
        webhook_id {uuid} NOT NULL,
        -- Null for a ping, whose body is kept in payload instead.
        event_sequence BIGINT,
        event_type VARCHAR(64) NOT NULL,
        payload TEXT,
        status VARCHAR(16) NOT NULL,
        attempts INTEGER NOT NULL DEFAULT 0,
        last_status_code INTEGER,
        last_error TEXT,
        last_duration_ms INTEGER,
        next_attempt_at TIMESTAMP,
        -- A replica attempting it holds it until then (lease_id names the holder).
        leased_until TIMESTAMP,
        lease_id {uuid},
        created_at TIMESTAMP NOT NULL,
        delivered_at TIMESTAMP
    )
    """,
    "CREATE INDEX webhook_deliveries_log ON webhook_deliveries (webhook_id, created_at, id)",
    # What the dispatchers claim from: only pending rows are in it.
    "CREATE INDEX webhook_deliveries_due ON webhook_deliveries (next_attempt_at) WHERE status = 'pending'",
    "CREATE INDEX webhook_deliveries_created ON webhook_deliveries (created_at)",
]
