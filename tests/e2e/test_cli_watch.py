"""`issuectl watch` (SPEC 9.1): events as they happen, through the process
boundary; `--json` prints each event as the HTTP API shows it; a dropped
connection is resumed from the last sequence seen."""

from __future__ import annotations

import json
import subprocess

from .. import harness
from ..cli_run import Cli, account, assert_one_error_line, cli, command, http_json  # noqa: F401 - fixtures


def _create(server: harness.ServerProcess, token: str, title: str) -> dict:
    import httpx

    response = httpx.post(
        f"{server.http_url}/api/v1/issues",
        json={"title": title, "description": []},
        headers={"Authorization": f"Bearer {token}"},
    )
    assert response.status_code == 201, response.text
    return response.json()


def test_watch_prints_one_event_a_line_and_json_lines_as_the_api_shows_them(cli, grpc_server, account):
    issue = _create(grpc_server, account, "watched")
    _create(grpc_server, account, "watched too")
    as_json = cli("watch", "--after", "0", "--count", "2", "--json")
    assert as_json.code == 0, as_json.stderr
    lines = [json.loads(line) for line in as_json.stdout.splitlines()]
    assert lines == http_json(grpc_server, account, "/api/v1/events", after=0)["items"]
    plain = cli("watch", "--after", "0", "--count", "1")
    assert plain.code == 0 and plain.stdout.startswith("#1  ")
    assert "issue.created" in plain.stdout and issue["identifier"] in plain.stdout and "watched" in plain.stdout
    only = cli("watch", "--after", "0", "--count", "1", "--type", "issue.created", "--json")
    assert json.loads(only.stdout)["sequence"] == 1


def test_watch_refusals_are_one_line(cli, grpc_server, account):
    _create(grpc_server, account, "one")
    assert_one_error_line(cli("watch", "--after", "99"), "after_sequence")
    assert_one_error_line(cli("watch", "--type", "issue.exploded"), "types[0]")
    assert cli("watch", "--after", "-1").code == 2


def test_watch_resumes_after_the_server_goes_away(fresh_database_url, make_token, tmp_path):
    port = harness._free_port()
    server = harness.ServerProcess(fresh_database_url, tmp_path, http=True, grpc_port=port)
    try:
        token, _ = harness.mint_token(fresh_database_url, "admin")
        cli = Cli(tmp_path, server.target, token)
        watching = subprocess.Popen(
            [*command(), "watch", "--after", "0", "--count", "4", "--json"],
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            env=cli.env,
            text=True,
        )
        _create(server, token, "before 1")
        _create(server, token, "before 2")
        first = [watching.stdout.readline(), watching.stdout.readline()]
        server.restart()  # the connection drops; the same port afterwards
        assert server.port == port
        _create(server, token, "after 1")
        _create(server, token, "after 2")
        out, err = watching.communicate(timeout=60)
        events = [json.loads(line) for line in first + out.splitlines()]
        assert watching.returncode == 0, err
        assert [e["sequence"] for e in events] == [1, 2, 3, 4]
        assert [e["data"]["title"] for e in events] == ["before 1", "before 2", "after 1", "after 2"]
        assert "resuming after 2" in err and "Traceback" not in err
    finally:
        server.stop()
        harness.close_databases()
