"""A call waiting for a pooled connection waits no longer than its deadline
(SPEC 9.5): every connection busy, the wait ends DEADLINE_EXCEEDED at the
deadline instead of after the pool's own 10 s."""

from __future__ import annotations

import threading
import time

import pytest

from service.domain.errors import DeadlineExceeded
from service.storage import database, inflight, migrate


def test_a_pool_wait_ends_at_the_calls_deadline(fresh_database_url: str) -> None:
    db = database.open_database(fresh_database_url, pool_size=1)
    database.bind(db)
    migrate.migrate(db)
    held, release = threading.Event(), threading.Event()

    def hold() -> None:
        def work() -> None:
            held.set()
            release.wait(30)

        database.transaction(work)

    holder = threading.Thread(target=hold)
    holder.start()
    try:
        assert held.wait(10)
        started = time.monotonic()
        with inflight.deadline(0.5), pytest.raises(DeadlineExceeded):
            database.transaction(lambda: db.execute_sql("SELECT 1").fetchone())
        waited = time.monotonic() - started
        # Not early, and not the pool's own 10 s: bounds a loaded host cannot break.
        assert 0.45 <= waited < 9, waited
    finally:
        release.set()
        holder.join(30)
    # The connection is free again: the next call gets it.
    assert database.transaction(lambda: db.execute_sql("SELECT 1").fetchone())[0] == 1
    db.close_all()
