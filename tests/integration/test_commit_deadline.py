"""A transaction whose call's deadline passed before its COMMIT does not
commit, whether or not the deadline watchdog has doomed it yet: the caller's
client reports DEADLINE_EXCEEDED at the deadline, and a call reported failed
never commits (seen in the in-process gateway's 504 test on a loaded host:
the lock released just after the 504, the write committed before the
watchdog's next round)."""

from __future__ import annotations

import time

import pytest

from service.domain.errors import DeadlineExceeded
from service.storage import database, inflight, migrate


def test_a_write_past_its_deadline_rolls_back_before_the_watchdog_comes_round(
    fresh_database_url: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    db = database.open_database(fresh_database_url, pool_size=1)
    database.bind(db)
    migrate.migrate(db)
    database.transaction(lambda: db.execute_sql("CREATE TABLE late_probe (x INTEGER)"), write=True)
    # The watchdog never dooms anything here: only the commit's own check can.
    monkeypatch.setattr(inflight.Running, "doom", lambda self, *, expired=False: None)

    def late_write() -> None:
        db.execute_sql("INSERT INTO late_probe (x) VALUES (1)")
        while (left := inflight.remaining()) is not None and left > 0:
            time.sleep(0.01)  # not a timed assert: waits until the deadline has passed

    try:
        with inflight.deadline(0.05), pytest.raises(DeadlineExceeded):
            database.transaction(late_write, write=True)
        count = database.transaction(lambda: db.execute_sql("SELECT count(*) FROM late_probe").fetchone()[0])
        assert count == 0
    finally:
        db.close_all()
