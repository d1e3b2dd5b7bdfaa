"""A call's new connection waits for a silent host no longer than the call's
deadline allows (libpq's floor being 2 s), not the full connect timeout."""

from __future__ import annotations

import socket
import threading
import time

import psycopg2
import pytest

from service.storage import conninfo


@pytest.fixture
def silent_port():
    """A loopback port that accepts connections and never answers (a hung host)."""
    server = socket.socket()
    server.bind(("127.0.0.1", 0))
    server.listen(16)
    held: list = []
    threading.Thread(target=lambda: [held.append(server.accept()) for _ in range(8)], daemon=True).start()
    yield server.getsockname()[1]
    server.close()


def test_a_connect_waits_no_longer_than_the_deadline_allows(silent_port, monkeypatch):
    monkeypatch.delenv("PGCONNECT_TIMEOUT", raising=False)
    target = conninfo.parse(f"host=127.0.0.1 port={silent_port} dbname=issues")  # connect_timeout 5 by default
    started = time.monotonic()
    with pytest.raises(psycopg2.OperationalError, match="timeout"):
        conninfo.connect(target, within=0.3)
    assert time.monotonic() - started < 4.5  # libpq's 2 s floor, not the default 5 s
