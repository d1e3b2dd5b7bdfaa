"""Operator commands a newcomer gets wrong: the wrong directory, a typo, a port in use.

Each answers one line naming what it looked at, and changes nothing.
"""

from __future__ import annotations

import json
import os
import socket
import subprocess
import sys

import pytest


def service(*args: str, cwd=None, env: dict[str, str] | None = None) -> subprocess.CompletedProcess[str]:
    environment = {k: v for k, v in os.environ.items() if k != "DATABASE_URL" and not k.startswith("ISSUES_")}
    return subprocess.run(
        [sys.executable, "-m", "service", *args],
        capture_output=True,
        text=True,
        timeout=60,
        cwd=cwd,
        env={**environment, **(env or {})},
    )


@pytest.mark.parametrize(
    "command",
    [
        ("token", "list", "--workspace", "acme"),
        ("token", "create", "--workspace", "acme", "--email", "a@example.com", "--role", "admin"),
        ("token", "revoke", "1"),
        ("workspace", "list"),
        ("workspace", "create", "--slug", "acme"),
        ("gc",),
    ],
)
def test_an_operator_command_never_creates_a_database_it_was_not_asked_to(command, tmp_path):
    done = service(*command, cwd=tmp_path)

    assert done.returncode == 1 and done.stdout == ""
    assert done.stderr.splitlines() == [
        f"error: no database at {tmp_path / 'issues.db'}: set DATABASE_URL or --database-url to the server's "
        "(`serve` and `migrate` create one)"
    ]
    assert list(tmp_path.iterdir()) == []


@pytest.fixture
def database(tmp_path) -> str:
    url = f"sqlite:///{tmp_path / 'ops.db'}"
    migrated = service("migrate", "--database-url", url)
    assert migrated.returncode == 0, migrated.stderr
    assert '"msg": "schema created"' in migrated.stderr  # not "up to date" on a fresh database
    created = service("workspace", "create", "--slug", "acme", "--database-url", url)
    assert created.returncode == 0, created.stderr
    return url


def workspaces(url: str) -> list[str]:
    return [w["slug"] for w in json.loads(service("workspace", "list", "--json", "--database-url", url).stdout)]


def test_token_create_for_a_mistyped_workspace_suggests_the_one_there_is_and_mints_nothing(database, tmp_path):
    done = service(
        "token",
        "create",
        "--workspace",
        "acmee",
        "--email",
        "a@example.com",
        "--role",
        "admin",
        "--database-url",
        database,
    )

    assert done.returncode == 1 and done.stdout == ""
    assert done.stderr == f"error: no workspace 'acmee' in {tmp_path / 'ops.db'}; did you mean 'acme'?\n"
    assert workspaces(database) == ["acme"]
    listed = service("token", "list", "--workspace", "acme", "--json", "--database-url", database)
    assert json.loads(listed.stdout) == []


def test_an_unknown_workspace_with_nothing_close_says_how_to_create_it(database, tmp_path):
    listed = service("token", "list", "--workspace", "zeta", "--database-url", database)
    updated = service("workspace", "update", "--slug", "zeta", "--prefix", "ZZ", "--database-url", database)

    for done in (listed, updated):
        assert done.returncode == 1
        assert done.stderr == (
            f"error: no workspace 'zeta' in {tmp_path / 'ops.db'}; create it with `workspace create --slug zeta`\n"
        )


def test_token_create_works_once_the_workspace_exists(database):
    done = service(
        "token",
        "create",
        "--workspace",
        "acme",
        "--email",
        "a@example.com",
        "--role",
        "admin",
        "--database-url",
        database,
    )

    assert done.returncode == 0, done.stderr
    assert done.stdout.startswith("iss_") and workspaces(database) == ["acme"]


@pytest.mark.parametrize("taken", ["gRPC", "HTTP"])
def test_a_port_in_use_is_one_line_naming_the_address_and_the_flag(taken, tmp_path):
    holder = socket.socket()
    holder.bind(("127.0.0.1", 0))
    holder.listen()
    busy = f"127.0.0.1:{holder.getsockname()[1]}"
    with socket.socket() as spare:
        spare.bind(("127.0.0.1", 0))
        free = f"127.0.0.1:{spare.getsockname()[1]}"
    grpc_listen, http_listen = (busy, free) if taken == "gRPC" else (free, busy)
    try:
        done = service(
            "serve",
            "--database-url",
            f"sqlite:///{tmp_path / 'x.db'}",
            "--grpc-listen",
            grpc_listen,
            "--http-listen",
            http_listen,
        )
    finally:
        holder.close()

    flag = "--grpc-listen" if taken == "gRPC" else "--http-listen"
    assert done.returncode == 2 and done.stdout == ""
    assert done.stderr == (
        f"error: cannot serve {taken} on {busy}: address already in use; "
        f"choose another address with {flag} HOST:PORT (or ISSUES_{taken.upper()}_LISTEN)\n"
    )
    assert not (tmp_path / "x.db").exists()  # it stopped before opening anything
