"""A transaction's interrupt and cut never reach its connection once it has
ended: by then the pool may have handed the connection to another call."""

from __future__ import annotations

import socket

from service.storage import inflight


class Connection:
    """What the watchdog sees of a psycopg2 connection: cancel() and fileno()."""

    def __init__(self) -> None:
        self.ours, self.server = socket.socketpair()
        self.cancels = 0

    def cancel(self) -> None:
        self.cancels += 1

    def fileno(self) -> int:
        return self.ours.fileno()


def test_an_ended_transaction_is_neither_interrupted_nor_cut():
    conn = Connection()
    with inflight.running(conn) as entry:
        pass
    entry.interrupt()
    entry.sever()
    assert conn.cancels == 0
    conn.ours.sendall(b"x")  # the socket still works: it was not shut down
    assert conn.server.recv(1) == b"x"


def test_a_running_transaction_is_interrupted_and_cut():
    conn = Connection()
    with inflight.running(conn) as entry:
        entry.interrupt()
        entry.sever()
        assert conn.cancels == 1
        assert conn.server.recv(1) == b""  # shut down: the peer reads end of file
