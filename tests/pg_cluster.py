"""Throwaway PostgreSQL topologies for the `pg_cluster` tests: a primary with a
streaming standby (synchronous or lagging), promotion, and a pgbouncer in
front, all on free ports in temporary directories."""

from __future__ import annotations

import os
import pathlib
import shutil
import subprocess
import tempfile
import time
from typing import Any, Callable, NoReturn

import psycopg2
import pytest

from . import harness


def unavailable(reason: str) -> NoReturn:
    """Skip, loudly: fail instead when PostgreSQL is required (ISSUES_REQUIRE_POSTGRES=1, as in CI)."""
    if os.environ.get("ISSUES_REQUIRE_POSTGRES") == "1":
        pytest.fail(reason + " (ISSUES_REQUIRE_POSTGRES=1)", pytrace=False)
    pytest.skip(reason)


def sql(port: int, statement: str, params: tuple[Any, ...] = (), *, dbname: str = "postgres") -> list[tuple[Any, ...]]:
    """Run one statement in autocommit on 127.0.0.1:`port` and return its rows (if any)."""
    conn = psycopg2.connect(host="127.0.0.1", port=port, user="postgres", dbname=dbname, connect_timeout=5)
    try:
        conn.autocommit = True
        with conn.cursor() as cursor:
            cursor.execute(statement, params)
            return cursor.fetchall() if cursor.description else []
    finally:
        conn.close()


def wait_for(condition: Callable[[], Any], timeout: float, what: str, step: float = 0.05) -> Any:
    """Poll `condition` until it returns something true; AssertionError naming `what` after `timeout`."""
    deadline = time.monotonic() + timeout
    while True:
        try:
            value = condition()
            if value:
                return value
        except (psycopg2.Error, OSError):
            pass
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out after {timeout} s waiting for {what}")
        time.sleep(step)


class Pair:
    """A primary and a streaming standby of it; `synchronous` makes every commit wait for the standby."""

    def __init__(self, *, synchronous: bool) -> None:
        if harness.ThrowawayPostgres.find_bindir() is None:
            unavailable("no initdb/pg_ctl/pg_basebackup found for a primary and a standby")
        self.primary = harness.ThrowawayPostgres()
        try:
            self.standby = harness.ThrowawayPostgres(standby_of=self.primary)
            if synchronous:
                sql(self.primary.port, "ALTER SYSTEM SET synchronous_standby_names = '*'")
                sql(self.primary.port, "SELECT pg_reload_conf()")
                wait_for(
                    lambda: sql(self.primary.port, "SELECT sync_state FROM pg_stat_replication")[0][0] == "sync",
                    30,
                    "the standby to become synchronous",
                )
            else:
                wait_for(
                    lambda: sql(self.primary.port, "SELECT count(*) FROM pg_stat_replication")[0][0] == 1,
                    30,
                    "the standby to stream",
                )
        except BaseException:
            self.primary.stop()
            raise

    def url(self, dbname: str) -> str:
        """The multi-host string the docs recommend: both hosts, read-write only."""
        return (
            f"postgresql://postgres@127.0.0.1:{self.primary.port},127.0.0.1:{self.standby.port}/{dbname}"
            "?target_session_attrs=read-write&connect_timeout=2"
        )

    def cut_replication(self) -> None:
        """Once the standby has everything committed so far, stop it receiving more: from here on it lags."""
        lsn = sql(self.primary.port, "SELECT pg_current_wal_lsn()::text")[0][0]
        wait_for(
            lambda: sql(self.standby.port, "SELECT pg_last_wal_replay_lsn() >= %s::pg_lsn", (lsn,))[0][0],
            30,
            "the standby to catch up",
        )
        sql(self.standby.port, "ALTER SYSTEM SET primary_conninfo = ''")
        sql(self.standby.port, "SELECT pg_reload_conf()")
        wait_for(
            lambda: sql(self.standby.port, "SELECT count(*) FROM pg_stat_wal_receiver")[0][0] == 0,
            30,
            "replication to stop",
        )

    def promote_standby(self) -> None:
        self.standby.run_tool("pg_ctl", "-D", str(self.standby.dir / "data"), "-w", "promote")

    def stop(self) -> None:
        self.standby.stop()
        self.primary.stop()


def pgbouncer_binary() -> str | None:
    return shutil.which("pgbouncer") or ("/usr/sbin/pgbouncer" if os.path.exists("/usr/sbin/pgbouncer") else None)


class Pgbouncer:
    """pgbouncer in `mode` in front of the PostgreSQL at 127.0.0.1:`pg_port`, `pool_size` server connections a database."""

    def __init__(self, pg_port: int, *, mode: str, pool_size: int) -> None:
        binary = pgbouncer_binary()
        if binary is None:
            unavailable("pgbouncer is not installed (apt-get install pgbouncer; .ci/run does)")
        self.dir = pathlib.Path(tempfile.mkdtemp(prefix="issues-pgbouncer-"))
        self.port = harness._free_port()
        self.mode, self.pool_size = mode, pool_size
        run_as = ["runuser", "-u", "postgres", "--"] if os.geteuid() == 0 else []
        self._configure(pg_port)
        if run_as:
            shutil.chown(self.dir, "postgres")
            shutil.chown(self.dir / "pgbouncer.ini", "postgres")
        self.process = subprocess.Popen(
            [*run_as, binary, str(self.dir / "pgbouncer.ini")], stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL
        )
        try:
            wait_for(lambda: self.show("pools") is not None, 15, "pgbouncer to accept connections", step=0.1)
        except AssertionError:
            self.stop()
            raise

    def _configure(self, pg_port: int) -> None:
        (self.dir / "pgbouncer.ini").write_text(
            "[databases]\n"
            f"* = host=127.0.0.1 port={pg_port} user=postgres\n"
            "[pgbouncer]\n"
            f"listen_addr = 127.0.0.1\nlisten_port = {self.port}\nunix_socket_dir =\n"
            f"auth_type = any\npool_mode = {self.mode}\ndefault_pool_size = {self.pool_size}\n"
            "max_client_conn = 500\nadmin_users = postgres\nignore_startup_parameters = extra_float_digits\n"
            f"logfile = {self.dir / 'pgbouncer.log'}\n"
        )

    def point_at(self, pg_port: int) -> None:
        """Send new server connections to another PostgreSQL (a failover behind the pooler): clients stay connected."""
        self._configure(pg_port)
        self._admin("RELOAD")

    def url(self, dbname: str) -> str:
        return f"postgresql://postgres@127.0.0.1:{self.port}/{dbname}"

    def _admin(self, command: str) -> None:
        conn = psycopg2.connect(
            host="127.0.0.1", port=self.port, user="postgres", dbname="pgbouncer", connect_timeout=2
        )
        try:
            conn.autocommit = True
            conn.cursor().execute(command)
        finally:
            conn.close()

    def show(self, what: str) -> list[dict[str, Any]]:
        """`SHOW what` on pgbouncer's admin console, as dicts."""
        conn = psycopg2.connect(
            host="127.0.0.1", port=self.port, user="postgres", dbname="pgbouncer", connect_timeout=2
        )
        try:
            conn.autocommit = True
            with conn.cursor() as cursor:
                cursor.execute(f"SHOW {what}")
                names = [c.name for c in cursor.description]
                return [dict(zip(names, row)) for row in cursor.fetchall()]
        finally:
            conn.close()

    def stop(self) -> None:
        if self.process.poll() is None:
            self.process.terminate()
            try:
                self.process.wait(10)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait()
        shutil.rmtree(self.dir, ignore_errors=True)
