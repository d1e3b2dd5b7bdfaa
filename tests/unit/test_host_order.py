"""New connections try first the host that answered last, whichever way the
connection string lists its hosts and ports."""

from __future__ import annotations

import pytest

from service.storage import conninfo


@pytest.mark.parametrize(
    "dsn",
    [
        "postgresql://u@h1:5432,h2:5432/db",  # a port per host
        "postgresql://u@h1,h2/db",  # no ports: libpq's default for each
        "host=h1,h2 dbname=db",
        "host=h1,h2 port=5432 dbname=db",  # one port for all
    ],
)
def test_the_host_that_answered_last_comes_first(dsn, monkeypatch):
    monkeypatch.delenv("PGPORT", raising=False)
    order = conninfo.HostOrder()
    given = conninfo.parse(dsn).connect_kwargs()
    assert order.apply(given)["host"] == "h1,h2"  # nothing answered yet: as given
    order.remember(given, "h2", "5432")
    assert order.apply(given)["host"] == "h2,h1"
