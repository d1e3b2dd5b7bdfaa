"""Token administration (SPEC 9.2) through real processes: `token create
--expires-in`, `token list`, `token revoke`, and what servers make of them."""

from __future__ import annotations

import datetime
import json
import os
import subprocess
import sys
import time

import grpc
import httpx
import pytest

from service.app import tokens
from service.storage.models import ApiToken

from .. import harness


def service_cli(database_url: str, *args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "service", *args],
        capture_output=True,
        text=True,
        timeout=60,
        env={**os.environ, "DATABASE_URL": database_url},
    )


def create(database_url: str, workspace: str, *extra: str, email: str = "ops@example.com") -> str:
    """A token of `workspace`, which `workspace create` makes first if it is new."""
    if workspace not in service_cli(database_url, "workspace", "list").stdout.split():
        made = service_cli(database_url, "workspace", "create", "--slug", workspace)
        assert made.returncode == 0, made.stderr
    done = service_cli(
        database_url, "token", "create", "--workspace", workspace, "--email", email, "--role", "member", *extra
    )
    assert done.returncode == 0, done.stderr
    return done.stdout.strip()


def listed(database_url: str, workspace: str) -> list[dict]:
    done = service_cli(database_url, "token", "list", "--workspace", workspace, "--json")
    assert done.returncode == 0, done.stderr
    return json.loads(done.stdout)


def refusal(target: str | grpc.Channel, token: str) -> grpc.RpcError | None:
    """The error a ListIssues call with `token` gets, or None if it succeeds."""
    if not isinstance(target, str):
        try:
            harness.Api(target, token).ListIssues(limit=1)
        except grpc.RpcError as exc:
            return exc
        return None
    with grpc.insecure_channel(target) as channel:
        return refusal(channel, token)


def test_list_shows_every_token_of_the_workspace_but_never_a_token(grpc_server):
    url = grpc_server.database_url
    first = create(url, "admin-list", email="one@example.com")
    second = create(url, "admin-list", "--expires-in", "30", email="two@example.com")
    create(url, "admin-list-other", email="elsewhere@example.com")

    rows = listed(url, "admin-list")
    table = service_cli(url, "token", "list", "--workspace", "admin-list")

    assert [r["email"] for r in rows] == ["one@example.com", "two@example.com"]
    assert rows[0]["expires_at"] is None and rows[0]["status"] == "active"
    expires = datetime.datetime.fromisoformat(rows[1]["expires_at"].rstrip("Z"))
    created = datetime.datetime.fromisoformat(rows[1]["created_at"].rstrip("Z"))
    assert abs((expires - created) - datetime.timedelta(days=30)) < datetime.timedelta(seconds=5)
    assert table.returncode == 0
    assert table.stdout.split("\n")[0].split() == [
        "ID",
        "EMAIL",
        "ROLE",
        "CREATED",
        "LAST",
        "USED",
        "EXPIRES",
        "STATUS",
    ]
    assert "two@example.com" in table.stdout and "elsewhere@example.com" not in table.stdout
    for secret in (first, second, tokens.hash_token(first), tokens.hash_token(second)):
        assert secret not in table.stdout and secret not in json.dumps(rows)


def test_list_of_an_unknown_workspace_is_an_error(grpc_server):
    done = service_cli(grpc_server.database_url, "token", "list", "--workspace", "no-such-workspace")
    assert done.returncode == 1 and "no workspace 'no-such-workspace'" in done.stderr


@pytest.mark.parametrize("days", ["0", "-3", "1.5", "soon"])
def test_expires_in_must_be_a_positive_whole_number_of_days(grpc_server, days):
    done = service_cli(
        grpc_server.database_url,
        "token",
        "create",
        "--workspace",
        "admin-bad",
        "--email",
        "a@example.com",
        "--role",
        "viewer",
        "--expires-in",
        days,
    )
    assert done.returncode == 2 and "--expires-in" in done.stderr and done.stdout == ""


def test_revoke_of_an_unknown_id_is_an_error(grpc_server):
    done = service_cli(grpc_server.database_url, "token", "revoke", "987654")
    assert done.returncode == 1 and "no token with id 987654" in done.stderr


def test_an_expired_token_is_refused_with_a_clear_message(grpc_server):
    url = grpc_server.database_url
    token = create(url, "admin-expired", "--expires-in", "1")
    assert refusal(grpc_server.target, token) is None
    past = datetime.datetime(2020, 1, 2, 3, 4, 5)
    harness.in_database(
        url,
        lambda: ApiToken.update(expires_at=past).where(ApiToken.token_hash == tokens.hash_token(token)).execute(),
        write=True,
    )
    time.sleep(0.6)  # past the server's cache of the token

    error = refusal(grpc_server.target, token)
    http = httpx.get(f"{grpc_server.http_url}/api/v1/issues", headers={"Authorization": f"Bearer {token}"})

    assert error is not None and error.code() == grpc.StatusCode.UNAUTHENTICATED
    assert error.details() == "the token expired at 2020-01-02T03:04:05Z"
    assert http.status_code == 401
    assert http.json()["error"]["message"] == "the token expired at 2020-01-02T03:04:05Z"
    assert listed(url, "admin-expired")[0]["status"] == "expired"


def test_a_revoked_token_is_refused_over_grpc_and_http(grpc_server):
    url = grpc_server.database_url
    token = create(url, "admin-revoked")
    kept = create(url, "admin-revoked", email="kept@example.com")
    assert refusal(grpc_server.target, token) is None
    token_id = listed(url, "admin-revoked")[0]["id"]

    done = service_cli(url, "token", "revoke", str(token_id))
    again = service_cli(url, "token", "revoke", str(token_id))
    time.sleep(1.0)
    error = refusal(grpc_server.target, token)
    http = httpx.get(f"{grpc_server.http_url}/api/v1/issues", headers={"Authorization": f"Bearer {token}"})

    assert done.returncode == 0 and f"token {token_id} revoked at" in done.stdout
    assert again.returncode == 0 and again.stdout == done.stdout  # idempotent: the first time stays
    assert error is not None and error.code() == grpc.StatusCode.UNAUTHENTICATED
    assert error.details().startswith("the token was revoked at ")
    assert http.status_code == 401 and http.json()["error"]["message"].startswith("the token was revoked at ")
    assert refusal(grpc_server.target, kept) is None
    assert [r["status"] for r in listed(url, "admin-revoked")] == ["revoked", "active"]


def test_revocation_reaches_every_replica_within_a_second(fresh_database_url, tmp_path):
    """Two `serve` processes on one database (PostgreSQL, or one SQLite file),
    each with the token cached, and the revocation made by a third process."""
    replicas = [harness.ServerProcess(fresh_database_url, tmp_path) for _ in range(2)]
    channels = [grpc.insecure_channel(replica.target) for replica in replicas]
    try:
        token = create(fresh_database_url, "replicas")
        for channel in channels:
            assert refusal(channel, token) is None  # warm: each has it cached now
        token_id = listed(fresh_database_url, "replicas")[0]["id"]

        assert service_cli(fresh_database_url, "token", "revoke", str(token_id)).returncode == 0
        revoked = time.monotonic()
        refused_after: dict[int, float] = {}
        while len(refused_after) < 2 and time.monotonic() - revoked < 5:
            for i, channel in enumerate(channels):
                if i not in refused_after and refusal(channel, token) is not None:
                    refused_after[i] = time.monotonic() - revoked
            time.sleep(0.02)
    finally:
        for channel in channels:
            channel.close()
        for replica in replicas:
            replica.stop()
    assert sorted(refused_after) == [0, 1], refused_after
    assert max(refused_after.values()) < 1.0, refused_after


def test_last_used_is_recorded_without_a_write_per_call(fresh_database_url, tmp_path):
    server = harness.ServerProcess(fresh_database_url, tmp_path)
    try:
        token = create(fresh_database_url, "usage")
        unused = create(fresh_database_url, "usage", email="idle@example.com")
        for _ in range(5):
            assert refusal(server.target, token) is None
        # Noted in memory only: nothing is written while the server runs (within its minute).
        assert [r["last_used_at"] for r in listed(fresh_database_url, "usage")] == [None, None]
    finally:
        assert server.stop() == 0  # SIGTERM writes what was noted
    rows = listed(fresh_database_url, "usage")
    used = datetime.datetime.fromisoformat(rows[0]["last_used_at"].rstrip("Z"))
    now = datetime.datetime.now(datetime.UTC).replace(tzinfo=None)
    assert datetime.timedelta(0) <= now - used < datetime.timedelta(minutes=1)
    assert rows[1]["last_used_at"] is None
    assert unused  # minted, never used
