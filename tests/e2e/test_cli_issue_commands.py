"""issuectl's gh-like issue commands against a real server: close, reopen, search, pages, --json FIELDS,
edits that clear, sub-issues, view and history, delete's confirmation."""

from __future__ import annotations

import os
import pty
import select
import subprocess
import time

from ..cli_run import Cli, account, assert_one_error_line, cli, command, http_json  # noqa: F401 - fixtures


def on_terminal(cli: Cli, *args: str, answer: str = "") -> tuple[int, str]:
    """Run issuectl with a pseudo-terminal for stdin, stdout and stderr; type `answer` at it."""
    primary, secondary = pty.openpty()
    process = subprocess.Popen(
        [*command(), *args], stdin=secondary, stdout=secondary, stderr=secondary, env={**cli.env, "TERM": "dumb"}
    )
    os.close(secondary)
    if answer:
        time.sleep(0.2)  # typed ahead is fine too: the terminal buffers it until the prompt reads
        os.write(primary, answer.encode())
    chunks = []
    deadline = time.monotonic() + 60  # a command stuck waiting for input fails the test, never hangs it
    while time.monotonic() < deadline:
        if not select.select([primary], [], [], 0.5)[0]:
            continue
        try:
            chunk = os.read(primary, 65536)
        except OSError:  # the child closed its end
            break
        if not chunk:
            break
        chunks.append(chunk)
    else:
        process.kill()
    code = process.wait(10)
    os.close(primary)
    return code, b"".join(chunks).decode()


def test_close_with_a_reason_and_comment_then_reopen(cli, grpc_server, account):
    issue_id = cli("create", "-t", "Duplicate of PWR-1").stdout.strip()

    closed = cli("close", issue_id, "--reason", "rejected", "--comment", "Same as PWR-1.")
    after_close = http_json(grpc_server, account, f"/api/v1/issues/{issue_id}")
    reopened = cli("reopen", issue_id)
    after_reopen = http_json(grpc_server, account, f"/api/v1/issues/{issue_id}")

    assert closed.code == 0 and closed.stdout.strip() == issue_id
    assert after_close["status"] == "rejected" and after_close["resolved_at"] is not None
    comments = http_json(grpc_server, account, f"/api/v1/issues/{issue_id}/comments")
    assert [c["content"] for c in comments["items"]] == ["Same as PWR-1."]
    assert reopened.code == 0 and after_reopen["status"] == "open" and after_reopen["resolved_at"] is None
    resolved = cli("close", issue_id, "--resolution", "Fixed in rev 5", "--json").json()
    assert resolved["status"] == "resolved" and resolved["resolution_summary"] == "Fixed in rev 5"


def test_search_is_full_text_with_the_list_filters(cli):
    wanted = cli("create", "-t", "Pump cavitation", "-b", "Impeller pitting at 3 bar", "-l", "pump").stdout.strip()
    cli("create", "-t", "Impeller pitting on the spare", "-l", "spare")
    cli("create", "-t", "Valve chatter", "-l", "pump")

    found = cli("search", "PITTING impeller", "-l", "pump", "--json").json()

    assert [i["identifier"] for i in found["items"]] == [wanted] and found["count"] == 1
    assert cli("search", "pitting", "--json").json()["count"] == 2


def test_list_pages_says_how_many_more_and_says_when_nothing_matches(cli):
    made = [cli("create", "-t", f"issue {n}").stdout.strip() for n in range(3)]

    first = cli("list", "-L", "2")
    token = first.stderr.split("--page-token ")[1].split()[0]
    second = cli("list", "-L", "2", "--page-token", token)
    every = cli("list", "-L", "1", "--all", "--json").json()
    nothing = cli("list", "-s", "rejected")

    assert [line.split()[0] for line in first.stdout.splitlines()[1:]] == made[:0:-1]
    assert first.stderr.startswith("showing 2 of 3; the next page: --page-token ")
    assert [line.split()[0] for line in second.stdout.splitlines()[1:]] == made[:1] and second.stderr == ""
    assert [i["identifier"] for i in every["items"]] == made[::-1] and every["next_page_token"] == ""
    assert nothing.code == 0 and nothing.stdout == "" and nothing.stderr == "no issues match\n"
    assert cli("list", "--all", "--page-token", token).code == 2


def test_json_fields_selects_like_gh(cli):
    issue_id = cli("create", "-t", "Selected", "-p", "high", "-a", "ann@example.com").stdout.strip()

    listed = cli("list", "--json", "identifier,priority,owner").json()
    viewed = cli("view", issue_id, "--json=title,status").json()
    before = cli("--json", "view", issue_id).json()  # a command name after --json is not a field list

    assert listed == [{"identifier": issue_id, "priority": "high", "owner": "ann@example.com"}]
    assert viewed == {"title": "Selected", "status": "open"}
    assert before["issue"]["identifier"] == issue_id
    unknown = cli("list", "--json=identifier,colour")
    assert (
        unknown.code == 2
        and "unknown field 'colour'" in unknown.stderr
        and "uuid, title, description" in unknown.stderr
    )


def test_edit_sets_and_clears_owner_tags_resolution_parent_and_refs(cli, grpc_server, account):
    parent = cli("create", "-t", "Parent").stdout.strip()
    issue_id = cli(
        "create", "-t", "Child", "-a", "ann@example.com", "-l", "a", "-l", "b", "--ref", "order=1", "--parent", parent
    ).stdout.strip()

    cli(
        "edit",
        issue_id,
        "--remove-owner",
        "--add-tag",
        "c",
        "--remove-tag",
        "a",
        "--resolution",
        "Done",
        "--remove-parent",
        "--ref",
        "ticket=9",
        "--remove-ref",
        "order",
    )
    cleared = http_json(grpc_server, account, f"/api/v1/issues/{issue_id}")
    cli("edit", issue_id, "--remove-resolution", "--parent", parent)
    again = http_json(grpc_server, account, f"/api/v1/issues/{issue_id}")

    assert cleared["owner"] == "Unassigned" and cleared["tags"] == ["b", "c"]
    assert cleared["resolution_summary"] == "Done" and cleared["parent_id"] is None
    assert cleared["refs"] == {"ticket": "9"}
    assert (
        again["resolution_summary"] is None
        and again["parent_id"] == http_json(grpc_server, account, f"/api/v1/issues/{parent}")["uuid"]
    )
    contradiction = cli("edit", issue_id, "--owner", "x@example.com", "--remove-owner")
    assert contradiction.code == 2 and "contradict" in contradiction.stderr
    assert_one_error_line(cli("edit", issue_id, "--owner", ""), "owner: ")


def test_view_shows_everything_and_history_lists_every_change(cli, grpc_server, account):
    parent = cli("create", "-t", "Conveyor jam", "--ref", "order=8001", "--comment", "Seen twice.").stdout.strip()
    child = cli("create", "-t", "Replace the belt", "--parent", parent).stdout.strip()
    comment = http_json(grpc_server, account, f"/api/v1/issues/{parent}/comments")["items"][0]["uuid"]
    cli("react", parent, comment, "🎉")
    cli("close", parent, "--resolution", "Belt re-tensioned.")

    text = cli("view", parent, "--history").stdout
    child_text = cli("view", child).stdout
    as_json = cli("view", parent, "--history", "--json").json()
    history = cli("history", parent)

    for expected in (
        "resolved  ",
        "resolution  Belt re-tensioned.",
        "ref         order: 8001",
        "1 sub-issue",
        f"{child}  open  Replace the belt",
        comment,
        "🎉 1 (",
    ):
        assert expected in text, expected
    assert any("status_changed" in line and line.endswith("open -> resolved") for line in text.splitlines())
    assert f"parent      {parent}  Conveyor jam" in child_text
    assert as_json["sub_issues"]["items"][0]["identifier"] == child
    assert as_json["history"] == http_json(grpc_server, account, f"/api/v1/issues/{parent}/history")
    assert history.code == 0 and history.stdout.splitlines()[0].split() == ["WHEN", "ACTOR", "ACTION", "CHANGE"]
    assert [line.split()[2] for line in history.stdout.splitlines()[1:]] == [
        e["action"] for e in as_json["history"]["items"]
    ]


def test_delete_asks_on_a_terminal_and_needs_yes_without_one(cli, grpc_server, account):
    issue_id = cli("create", "-t", "Doomed").stdout.strip()

    piped = cli("delete", issue_id)
    declined, declined_screen = on_terminal(cli, "delete", issue_id, answer="n\n")
    still_there = cli("view", issue_id).code
    accepted, accepted_screen = on_terminal(cli, "delete", issue_id, answer="y\n")

    assert piped.code == 2 and "--yes" in piped.stderr and "no terminal" in piped.stderr
    assert declined == 1 and f"Delete {issue_id} (Doomed)? It cannot be undone" in declined_screen
    assert still_there == 0
    assert accepted == 0 and f"deleted {issue_id}" in accepted_screen
    assert_one_error_line(cli("view", issue_id), "not found")
