"""issuectl's commands against a real server on both databases, through the process boundary.

Each `--json` output is compared with what the HTTP gateway answers for the
same resource: the CLI must print the contract's JSON, byte-for-byte shapes.
"""

from __future__ import annotations

import os
import pty
import re
import subprocess

import pytest

from ..cli_run import Cli, account, assert_one_error_line, cli, command, http_json  # noqa: F401 - fixtures

ISO = re.compile(r"^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{6}Z$")
UUID = re.compile(r"^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$")
IDENTIFIER = re.compile(r"^[A-Z][A-Z0-9]{1,9}-[1-9][0-9]*$")


def test_create_prints_the_id_and_json_is_the_issue_as_the_api_returns_it(cli, grpc_server, account):
    created = cli(
        "create",
        "--title",
        "Power rail undervoltage",
        "--description",
        "Seen on board 3",
        "--priority",
        "high",
        "--tag",
        "power",
        "--tag",
        "startup",
    )

    assert created.code == 0 and created.stderr == ""
    issue_id = created.stdout.strip()
    assert IDENTIFIER.match(issue_id)  # the identifier, which every route takes
    api = http_json(grpc_server, account, f"/api/v1/issues/{issue_id}")
    assert api["identifier"] == issue_id
    assert api["description"] == [{"type": "text", "text": "Seen on board 3"}]
    assert api["priority"] == "high" and api["tags"] == ["power", "startup"]

    as_json = cli("create", "--title", "Second", "--json").json()
    assert as_json == http_json(grpc_server, account, f"/api/v1/issues/{as_json['uuid']}")
    assert as_json["description"] == [] and as_json["status"] == "open" and as_json["resolution_summary"] is None
    assert ISO.match(as_json["created_at"])


def test_create_with_a_comment_makes_it_the_first_comment(cli, grpc_server, account):
    issue_id = cli("create", "--title", "With a note", "--comment", "Reproduced on bench").stdout.strip()

    comments = http_json(grpc_server, account, f"/api/v1/issues/{issue_id}/comments")
    assert [c["content"] for c in comments["items"]] == ["Reproduced on bench"]


def test_list_prints_a_plain_table_when_piped_and_json_matches_the_api(cli, grpc_server, account):
    first = cli("create", "--title", "Brown-out on rev 4", "--priority", "high").stdout.strip()
    second = cli("create", "--title", "C12 footprint").stdout.strip()

    table = cli("list")

    assert table.code == 0 and table.stderr == ""
    lines = table.stdout.splitlines()
    assert lines[0].split() == ["ID", "TITLE", "STATUS", "PRIORITY", "OWNER", "CREATED"]
    assert "\x1b[" not in table.stdout  # no colour in a pipe
    assert lines[1].startswith(second) and "C12 footprint" in lines[1] and "open" in lines[1]
    assert lines[2].startswith(first) and "high" in lines[2] and "Unassigned" in lines[2]
    assert ISO.match(lines[1].split()[-1])  # ISO times when piped
    assert cli("list", "--json").json() == http_json(grpc_server, account, "/api/v1/issues")


def test_list_filters_by_status_and_priority_and_limits(cli, grpc_server, account):
    high = cli("create", "--title", "hot", "--priority", "high").stdout.strip()
    cli("create", "--title", "cold", "--priority", "low")
    cli("edit", high, "--status", "in_progress")

    got = cli("list", "--status", "in_progress", "--status", "resolved", "--priority", "high", "--json").json()
    assert [i["identifier"] for i in got["items"]] == [high] and got["count"] == 1
    limited = cli("list", "--limit", "1", "--json").json()
    assert len(limited["items"]) == 1 and limited["count"] == 2
    assert limited == http_json(grpc_server, account, "/api/v1/issues", limit=1)


@pytest.mark.parametrize("flag", [["--owner", "me@example.com"], ["--tag", "power"], ["--search", "rail"]])
def test_owner_tag_and_search_filters_reach_the_server(cli, flag):
    # Once "not supported yet" errors; the server has them since SPEC 8.8.
    wanted = cli("create", "--title", "Power rail sag", "--tag", "power").stdout.strip()
    cli("edit", wanted, "--owner", "me@example.com")
    cli("create", "--title", "Other")

    got = cli("list", *flag, "--json").json()

    assert [i["identifier"] for i in got["items"]] == [wanted] and got["count"] == 1


def test_view_shows_the_issue_with_its_comments(cli, grpc_server, account):
    issue_id = cli("create", "--title", "Brown-out", "--description", "Sag at C12", "--comment", "first").stdout.strip()
    cli("comment", issue_id, "second")

    text = cli("view", issue_id)

    assert text.code == 0
    for expected in (issue_id, "Brown-out", "Sag at C12", "open", "low", "Unassigned", "2 comments", "first", "second"):
        assert expected in text.stdout
    assert text.stdout.index("first") < text.stdout.index("second")
    as_json = cli("view", issue_id, "--json").json()
    assert as_json["issue"] == http_json(grpc_server, account, f"/api/v1/issues/{issue_id}")
    assert as_json["comments"] == http_json(grpc_server, account, f"/api/v1/issues/{issue_id}/comments")


def test_edit_updates_only_the_fields_given(cli, grpc_server, account):
    issue_id = cli("create", "--title", "Before", "--priority", "medium", "--tag", "a").stdout.strip()

    edited = cli("edit", issue_id, "--status", "in_progress", "--owner", "engineer@example.com", "--json").json()

    assert edited == http_json(grpc_server, account, f"/api/v1/issues/{issue_id}")
    assert edited["status"] == "in_progress" and edited["owner"] == "engineer@example.com"
    assert edited["title"] == "Before" and edited["priority"] == "medium" and edited["tags"] == ["a"]
    retagged = cli("edit", issue_id, "--tag", "x", "--tag", "y", "--title", "After", "--json").json()
    assert (
        retagged["tags"] == ["x", "y"] and retagged["title"] == "After" and retagged["owner"] == "engineer@example.com"
    )


def test_edit_with_nothing_to_change_is_a_usage_error(cli):
    result = cli("edit", "00000000-0000-0000-0000-000000000000")

    assert result.code == 2 and "nothing to change" in result.stderr and result.stdout == ""


def test_comment_prints_its_uuid_and_json_is_the_comment(cli, grpc_server, account):
    issue_id = cli("create", "--title", "t").stdout.strip()

    plain = cli("comment", issue_id, "Reproduced")
    as_json = cli("comment", issue_id, "Again", "--json").json()

    assert plain.code == 0 and UUID.match(plain.stdout.strip())
    listed = http_json(grpc_server, account, f"/api/v1/issues/{issue_id}/comments")
    assert [c["uuid"] for c in listed["items"]] == [plain.stdout.strip(), as_json["uuid"]]
    assert as_json == listed["items"][1]


def test_delete_removes_the_issue(cli, grpc_server, account):
    issue_id = cli("create", "--title", "doomed").stdout.strip()

    deleted = cli("delete", issue_id, "--yes")
    again = cli("view", issue_id)

    assert deleted.code == 0 and issue_id in deleted.stdout
    assert_one_error_line(again, "not found")
    other = cli("create", "--title", "doomed too").stdout.strip()
    assert cli("delete", other, "--json", "-y").json() == {}


def test_delete_by_a_member_is_refused_in_one_line(grpc_server, make_token, tmp_path):
    admin, slug = make_token("admin")
    member, _ = make_token("member", workspace=slug)
    cli = Cli(tmp_path, grpc_server.target, admin)
    issue_id = cli("create", "--title", "kept").stdout.strip()

    result = cli("delete", issue_id, "--token", member, "--yes")

    assert_one_error_line(result, "permission denied")
    assert cli("view", issue_id).code == 0


def test_metrics_draws_bars_and_json_matches_the_api(cli, grpc_server, account):
    cli("create", "--title", "a", "--priority", "high")
    cli("create", "--title", "b", "--priority", "high")
    cli("create", "--title", "c", "--priority", "low")

    text = cli("metrics")

    assert text.code == 0
    assert "Active Issues" in text.stdout and "Issues by Status" in text.stdout
    high = next(line for line in text.stdout.splitlines() if line.strip().startswith("high"))
    low = next(line for line in text.stdout.splitlines() if line.strip().startswith("low"))
    assert high.count("█") == 40 and low.count("█") == 20 and high.rstrip().endswith(" 2")
    assert cli("metrics", "--json").json() == http_json(grpc_server, account, "/api/v1/issues/metrics")


def test_a_refused_field_is_one_line_naming_it(cli):
    result = cli("create", "--title", "   ")

    assert_one_error_line(result, "error: title: ")


def test_json_and_connection_flags_are_accepted_before_and_after_the_command(grpc_server, account, tmp_path):
    bare = Cli(tmp_path)  # no server, no token in the environment

    after = bare("list", "--server", grpc_server.target, "--token", account, "--json")
    before = bare("--server", grpc_server.target, "--token", account, "--json", "list")

    assert after.json() == before.json() == {"items": [], "count": 0, "next_page_token": ""}


def test_on_a_terminal_the_table_has_colour_relative_times_and_fits(cli, grpc_server):
    """Run under a pseudo-terminal 100 columns wide: titles truncated, nothing wider than the terminal."""
    cli("create", "--title", "A title long enough that a hundred column terminal has to cut it short somewhere")
    primary, secondary = pty.openpty()
    process = subprocess.Popen(
        [*command(), "list"],
        stdin=subprocess.DEVNULL,
        stdout=secondary,
        stderr=subprocess.PIPE,
        env={**cli.env, "COLUMNS": "100", "TERM": "xterm-256color"},
    )
    os.close(secondary)
    chunks = []
    while True:
        try:
            chunk = os.read(primary, 65536)
        except OSError:  # the child closed its end
            break
        if not chunk:
            break
        chunks.append(chunk)
    assert process.wait(30) == 0, process.stderr.read()
    os.close(primary)
    screen = b"".join(chunks).decode()

    assert "\x1b[" in screen  # colour
    plain = re.sub(r"\x1b\[[0-9;]*m", "", screen)
    lines = [line for line in plain.splitlines() if line.strip()]
    assert lines[0].split() == ["ID", "TITLE", "STATUS", "PRIORITY", "OWNER", "CREATED"]
    assert "…" in lines[1] and "just now" in lines[1]
    assert all(len(line.rstrip()) <= 100 for line in lines)
