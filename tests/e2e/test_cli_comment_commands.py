"""issuectl's comments against a real server: where the text comes from (argument, `-`, a file,
$EDITOR on a terminal), editing and deleting comments, reactions."""

from __future__ import annotations

import stat

from ..cli_run import Cli, account, assert_one_error_line, cli, http_json  # noqa: F401 - fixtures
from .test_cli_issue_commands import on_terminal


def contents(server, token: str, issue_id: str) -> list[str]:
    return [c["content"] for c in http_json(server, token, f"/api/v1/issues/{issue_id}/comments")["items"]]


def editor(tmp_path, name: str, shell: str) -> str:
    """An $EDITOR: a script that edits the file it is given ("$1") with `shell`."""
    script = tmp_path / name
    script.write_text(f"#!/bin/sh\n{shell}\n")
    script.chmod(script.stat().st_mode | stat.S_IXUSR)
    return str(script)


def test_text_comes_from_the_argument_stdin_or_a_file(cli, grpc_server, account, tmp_path):
    issue_id = cli("create", "-t", "Talked about").stdout.strip()
    body = tmp_path / "note.md"
    body.write_text("From a file\nwith two lines\n")

    cli("comment", issue_id, "As an argument")
    cli("comment", issue_id, "-", stdin="From standard input\n")
    cli("comment", issue_id, "--body-file", str(body))
    cli("comment", issue_id, "-b", "With -b")
    cli("comment", "add", issue_id, "-F", "-", stdin="Through add and -F -")

    assert contents(grpc_server, account, issue_id) == [
        "As an argument",
        "From standard input",
        "From a file\nwith two lines",
        "With -b",
        "Through add and -F -",
    ]


def test_no_text_without_a_terminal_is_a_usage_error_and_empty_text_sends_nothing(cli, grpc_server, account):
    issue_id = cli("create", "-t", "Quiet").stdout.strip()

    missing = cli("comment", issue_id)
    empty = cli("comment", issue_id, "-", stdin="  \n")
    both = cli("comment", issue_id, "text", "--body-file", "/dev/null")

    assert missing.code == 2 and "give TEXT, `-` to read standard input, or --body-file FILE" in missing.stderr
    assert_one_error_line(empty, "the text is empty")
    assert both.code == 2
    assert contents(grpc_server, account, issue_id) == []


def test_on_a_terminal_without_text_the_editor_writes_the_comment(cli, grpc_server, account, tmp_path):
    issue_id = cli("create", "-t", "Edited in vi").stdout.strip()
    write = editor(tmp_path, "write", "printf 'Written in the editor\\n' >> \"$1\"")
    cli.env["EDITOR"] = write

    code, screen = on_terminal(cli, "comment", issue_id)

    assert code == 0, screen
    assert contents(grpc_server, account, issue_id) == ["Written in the editor"]  # the '#' hint dropped


def test_comment_edit_starts_the_editor_from_the_current_text_and_delete_removes_it(
    cli, grpc_server, account, tmp_path
):
    issue_id = cli("create", "-t", "Typo").stdout.strip()
    comment_id = cli("comment", issue_id, "Voltage sag at C21").stdout.strip()
    cli.env["EDITOR"] = editor(tmp_path, "fix", "sed -i 's/C21/C12/' \"$1\"")

    code, screen = on_terminal(cli, "comment", "edit", issue_id, comment_id)
    edited = http_json(grpc_server, account, f"/api/v1/issues/{issue_id}/comments")["items"][0]
    replaced = cli("comment", "edit", issue_id, comment_id, "Replaced outright")
    refused = cli("comment", "delete", issue_id, comment_id)
    deleted = cli("comment", "delete", issue_id, comment_id, "--yes")

    assert code == 0, screen
    assert edited["content"] == "Voltage sag at C12" and edited["is_edited"]
    assert replaced.stdout.strip() == comment_id
    assert refused.code == 2 and "--yes" in refused.stderr
    assert deleted.code == 0 and f"deleted comment {comment_id}" in deleted.stdout
    after = http_json(grpc_server, account, f"/api/v1/issues/{issue_id}/comments")["items"]
    assert after[0]["is_deleted"]


def test_react_adds_and_removes_a_reaction(cli, grpc_server, account):
    issue_id = cli("create", "-t", "Liked").stdout.strip()
    comment_id = cli("comment", issue_id, "Good catch").stdout.strip()

    added = cli("react", issue_id, comment_id, "👍")
    as_json = cli("react", issue_id, comment_id, "🎉", "--json").json()
    removed = cli("react", issue_id, comment_id, "👍", "--remove")

    assert added.code == 0 and added.stdout.startswith("👍 1 (")
    assert [r["emoji"] for r in as_json["reactions"]] == ["👍", "🎉"]
    assert removed.code == 0 and removed.stdout.startswith("🎉 1 (") and "👍" not in removed.stdout
    assert cli("react", issue_id, comment_id, "🎉", "--json", "content,is_edited").json() == {
        "content": "Good catch",
        "is_edited": False,
    }
    assert_one_error_line(cli("react", issue_id, comment_id, "not-an-emoji"), "emoji")
