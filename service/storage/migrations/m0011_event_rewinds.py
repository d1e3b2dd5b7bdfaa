"""Event sequences across a failover (SPEC 9.5): the database history the
sequences were given in, and per workspace where the last rewind left off.

`event_history` (one row) records the PostgreSQL system identifier and
timeline the counters last moved on in. A server that finds itself on
another (a promoted standby, a restored backup) moves every counter on by a
margin before anything else, so no sequence a client saw on the old history
is given again, and remembers the new start in `rewound_sequence`: a cursor
between the last event this history kept and that start names an event this
history lacks, and is OUT_OF_RANGE (see storage/rewinds.py).
"""

STATEMENTS = [
    "ALTER TABLE event_counters ADD COLUMN rewound_sequence BIGINT NOT NULL DEFAULT 0",
    """
    CREATE TABLE event_history (
        id INTEGER PRIMARY KEY,
        system_identifier VARCHAR(40) NOT NULL,
        timeline BIGINT NOT NULL
    )
    """,
]
