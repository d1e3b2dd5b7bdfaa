"""DATABASE_URL as libpq reads it (SPEC 9.5): every form of connection string
serves (URL, key=value, several hosts, query parameters, PG* variables, a
service file), the LISTEN connection included; bad settings stop `serve` and
`migrate` with one line naming the variable, exit 2."""

from __future__ import annotations

import os
import pathlib
import subprocess
import sys
import urllib.request
from typing import Iterator

import grpc
import pytest

from .. import harness

pytestmark = pytest.mark.postgres


@pytest.fixture
def target_db(postgres_admin_url: str) -> Iterator[tuple[str, str, int, str]]:
    """A fresh database: (its plain url, host, port, name)."""
    url, name = harness.create_database(postgres_admin_url)
    host, port = harness.database_host_port(postgres_admin_url)
    try:
        yield url, host, port, name
    finally:
        harness.close_databases()
        harness.drop_database(postgres_admin_url, name)


def _forms(host: str, port: int, name: str, dead: int, tmp: pathlib.Path) -> dict[str, tuple[str, dict[str, str]]]:
    """Each form of connection string, with the environment it needs."""
    service_file = tmp / "pg_service.conf"
    service_file.write_text(f"[issues]\nhost={host}\nport={port}\nuser=postgres\ndbname={name}\n")
    return {
        "multi-host URL, first host down": (
            f"postgresql://postgres@{host}:{dead},{host}:{port}/{name}?target_session_attrs=read-write&connect_timeout=2",
            {},
        ),
        "key=value, several hosts": (
            f"host={host},{host} port={dead},{port} user=postgres dbname={name} sslmode=prefer target_session_attrs=read-write",
            {},
        ),
        "URL with host and port as parameters": (f"postgresql:///{name}?host={host}&port={port}&user=postgres", {}),
        "PG* variables fill in what the string leaves out": (
            f"postgres:///{name}",
            {"PGHOST": host, "PGPORT": str(port), "PGUSER": "postgres"},
        ),
        "a service name": ("service=issues", {"PGSERVICEFILE": str(service_file)}),
    }


FORMS = [
    "multi-host URL, first host down",
    "key=value, several hosts",
    "URL with host and port as parameters",
    "PG* variables fill in what the string leaves out",
    "a service name",
]


@pytest.mark.parametrize("form", FORMS)
def test_every_form_of_connection_string_serves(form: str, target_db, tmp_path: pathlib.Path) -> None:
    plain_url, host, port, name = target_db
    dead = harness._free_port()  # nothing listens there: refused at once
    url, env = _forms(host, port, name, dead, tmp_path)[form]
    server = harness.ServerProcess(url, tmp_path, env=env)
    try:
        token, _ = harness.mint_token(plain_url)
        with grpc.insecure_channel(server.target) as channel:
            created = harness.Api(channel, token).CreateIssue(title=f"via {form}", description=[])
        # It went to the database the string names.
        from service.storage import models

        stored = harness.in_database(plain_url, lambda: models.Issue.get(models.Issue.uuid == created.uuid).title)
        assert stored == f"via {form}"
        # The listener parsed the same string and heard its own NOTIFY.
        assert any(e.get("msg", "").startswith("LISTEN works") for e in server.log_entries()), server.log.read_text()
    finally:
        assert server.stop() == 0


def _run(args: list[str], env: dict[str, str], cwd: pathlib.Path) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "service", *args],
        capture_output=True,
        text=True,
        timeout=60,
        env={**os.environ, **env},
        cwd=cwd,
    )


BAD_SETTINGS = [
    ({"DATABASE_URL": "mysql://u@h/db"}, "DATABASE_URL", "unsupported scheme 'mysql'"),
    ({"DATABASE_URL": "issues.db"}, "DATABASE_URL", 'missing "=" after "issues.db"'),
    ({"DATABASE_URL": "host='unterminated"}, "DATABASE_URL", "unterminated quoted string"),
    ({"DATABASE_URL": "postgresql://h/db?sslmod=require"}, "DATABASE_URL", 'invalid URI query parameter: "sslmod"'),
    ({"DATABASE_URL": "postgresql://u@127.0.0.1:notaport/db"}, "DATABASE_URL", 'invalid integer value "notaport"'),
    (
        {"DATABASE_URL": "host=127.0.0.1 dbname=db sslmode=sometimes"},
        "DATABASE_URL",
        'invalid sslmode value: "sometimes"',
    ),
    ({"DATABASE_URL": "sqlite:///x.db", "ISSUES_DB_POOL_SIZE": "0"}, "ISSUES_DB_POOL_SIZE", "from 1 to"),
    ({"DATABASE_URL": "sqlite:///x.db", "ISSUES_DB_POOL_SIZE": "lots"}, "ISSUES_DB_POOL_SIZE", "'lots'"),
    (
        {"DATABASE_URL": "sqlite:///x.db", "ISSUES_LISTEN_DATABASE_URL": "port=5432 nonsense"},
        "ISSUES_LISTEN_DATABASE_URL",
        'missing "=" after "nonsense"',
    ),
]
# `migrate` reads only DATABASE_URL.
CASES = [("serve", *case) for case in BAD_SETTINGS] + [
    ("migrate", *case) for case in BAD_SETTINGS if case[1] == "DATABASE_URL"
]


@pytest.mark.parametrize("command, env, variable, says", CASES)
def test_bad_settings_stop_with_one_line_naming_the_variable(command, env, variable, says, tmp_path) -> None:
    done = _run([command, *(["--no-http"] if command == "serve" else [])], env, tmp_path)
    assert done.returncode == 2, done.stderr
    lines = done.stderr.strip().splitlines()
    assert len(lines) == 1, done.stderr
    assert variable in lines[0] and says in lines[0]


def test_the_pool_size_is_the_operators(target_db, tmp_path: pathlib.Path) -> None:
    plain_url = target_db[0]
    server = harness.ServerProcess(plain_url, tmp_path, http=True, env={"ISSUES_DB_POOL_SIZE": "3"})
    try:
        metrics = urllib.request.urlopen(f"{server.http_url}/metrics", timeout=10).read().decode()
        assert "issues_db_pool_connections_max 3.0" in metrics
    finally:
        assert server.stop() == 0


def test_a_hung_first_host_costs_one_connect_timeout_not_one_per_connection(target_db, tmp_path: pathlib.Path) -> None:
    """A first host that accepts TCP but never answers (a failed primary's
    machine gone) holds each attempt for connect_timeout; after one
    connection found the live host, new connections go there first."""
    import concurrent.futures
    import socket
    import time

    import psycopg2

    plain_url, host, port, name = target_db
    with socket.socket() as hung:
        hung.bind(("127.0.0.1", 0))
        hung.listen(64)  # the kernel completes handshakes; nothing ever answers
        url = (
            f"postgresql://postgres@127.0.0.1:{hung.getsockname()[1]},{host}:{port}/{name}"
            "?target_session_attrs=read-write&connect_timeout=2"
        )
        server = harness.ServerProcess(url, tmp_path, env={"ISSUES_DB_POOL_SIZE": "8"})
        blocker = None
        try:
            token, _ = harness.mint_token(plain_url)
            harness.close_databases()
            with grpc.insecure_channel(server.target) as channel:
                api = harness.Api(channel, token)
                api.CreateIssue(title="first", description=[])
                # Eight calls at once need eight connections: the pool opens new ones.
                blocker = psycopg2.connect(plain_url)
                blocker.cursor().execute("BEGIN; LOCK TABLE issues IN ACCESS EXCLUSIVE MODE")

                def list_issues(_: int) -> float:
                    started = time.monotonic()
                    api.ListIssues(limit=5)
                    return time.monotonic() - started

                with concurrent.futures.ThreadPoolExecutor(8) as pool:
                    calls = [pool.submit(list_issues, i) for i in range(8)]
                    time.sleep(1.0)
                    blocker.rollback()
                    took = [c.result() for c in calls]
            # Serialised two-second timeouts would have taken 14 s or more.
            assert max(took) < 5.0, took
        finally:
            if blocker is not None:
                blocker.close()
            assert server.stop() == 0
