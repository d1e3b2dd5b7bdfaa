"""The operator commands, run as an operator would: `python -m service ...`."""

from __future__ import annotations

import os
import re
import subprocess
import sys

import grpc

from service.storage import migrate

from .. import harness

TOKEN = re.compile(r"^iss_[A-Za-z0-9_-]{43}$")


def run(*args: str, cwd=None) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-m", "service", *args], capture_output=True, text=True, timeout=60, cwd=cwd)


def test_token_create_prints_only_the_token_and_it_works(database_url, grpc_server):
    run("workspace", "create", "--slug", "acme", "--database-url", database_url)  # refused once it exists
    result = run(
        "token",
        "create",
        "--workspace",
        "acme",
        "--email",
        "ops@acme.test",
        "--role",
        "member",
        "--database-url",
        database_url,
    )

    assert result.returncode == 0, result.stderr
    assert TOKEN.match(result.stdout.strip()) and result.stdout.count("\n") == 1
    with grpc.insecure_channel(grpc_server.target) as channel:
        issue = harness.Api(channel, result.stdout.strip()).CreateIssue(title="via cli token")
    assert issue.created_by == "ops@acme.test"


def test_token_create_refuses_a_bad_role_or_workspace(database_url):
    assert (
        run(
            "token",
            "create",
            "--workspace",
            "acme",
            "--email",
            "a@b.c",
            "--role",
            "owner",
            "--database-url",
            database_url,
        ).returncode
        == 2
    )
    bad = run(
        "token",
        "create",
        "--workspace",
        "Not A Slug",
        "--email",
        "a@b.c",
        "--role",
        "admin",
        "--database-url",
        database_url,
    )
    assert bad.returncode == 2 and "workspace" in bad.stderr and bad.stdout == ""


def test_migrate_applies_once_and_then_finds_nothing(fresh_database_url):
    first = run("migrate", "--database-url", fresh_database_url)
    second = run("migrate", "--database-url", fresh_database_url)

    assert first.returncode == second.returncode == 0
    assert f'"applied": {len(migrate.available())}' in first.stderr and '"applied": 0' in second.stderr


def test_database_url_comes_from_the_environment_when_no_flag(tmp_path):
    env_db = tmp_path / "from-env.db"
    result = subprocess.run(
        [sys.executable, "-m", "service", "migrate"],
        capture_output=True,
        text=True,
        timeout=60,
        cwd=tmp_path,
        env={**os.environ, "DATABASE_URL": f"sqlite:///{env_db}"},
    )
    assert result.returncode == 0, result.stderr
    assert env_db.exists() and not (tmp_path / "issues.db").exists()


def test_first_start_prints_one_admin_token_once(fresh_database_url, tmp_path):
    server = harness.ServerProcess(fresh_database_url, tmp_path)
    try:
        first_output = server.stdout.read_text()
        server.restart()
        second_output = server.stdout.read_text()
        token = next(line.strip() for line in first_output.splitlines() if TOKEN.match(line.strip()))
        with grpc.insecure_channel(server.target) as channel:
            issue = harness.Api(channel, token).CreateIssue(title="bootstrap")
    finally:
        server.stop()

    assert "default" in first_output and "shown only this once" in first_output
    # The line for a second terminal, and how to mint another.
    assert f"source {sys.prefix}/bin/activate && export TOKEN={token} DATABASE_URL=" in first_output
    assert "token create --workspace default" in first_output
    assert second_output == ""
    assert issue.created_by == "admin@localhost"
