"""issuectl itself: its help, version and completion, connection errors in one plain line, and watch naming
the issue of every event."""

from __future__ import annotations

import json
import subprocess

import pytest

from ..cli_run import Cli, account, assert_one_error_line, cli, http_json  # noqa: F401 - fixtures

COMMANDS = (
    "login",
    "list",
    "search",
    "view",
    "create",
    "edit",
    "close",
    "reopen",
    "comment",
    "react",
    "history",
    "delete",
    "metrics",
    "watch",
    "webhook",
    "completion",
)


def test_help_lists_every_command_and_version_prints_it(tmp_path):
    bare = Cli(tmp_path)

    listed = bare("--help")
    comment_help = bare("comment", "--help")
    version = bare("--version")

    assert listed.code == 0
    commands = listed.stdout.split("Commands:")[1]
    assert sorted(line.split()[0] for line in commands.strip().splitlines()) == sorted(COMMANDS)
    assert all(sub in comment_help.stdout for sub in ("add", "edit", "delete"))
    assert version.code == 0 and version.stdout.startswith("issuectl ") and version.stdout.split()[1][0].isdigit()


@pytest.mark.parametrize("shell", ["bash", "zsh", "fish"])
def test_completion_prints_a_script_the_shell_accepts(shell, tmp_path):
    script = Cli(tmp_path)("completion", shell)

    assert script.code == 0 and "_ISSUECTL_COMPLETE" in script.stdout
    if shell == "bash":  # the one shell certainly here: the script must at least parse and define its function
        checked = subprocess.run(
            ["bash", "-c", script.stdout + "\ncomplete -p issuectl"], capture_output=True, text=True, timeout=30
        )
        assert checked.returncode == 0 and "issuectl" in checked.stdout, checked.stderr


def test_completion_completes_commands_and_their_options(tmp_path):
    bare = Cli(tmp_path)

    words = bare(env={"_ISSUECTL_COMPLETE": "bash_complete", "COMP_WORDS": "issuectl cl", "COMP_CWORD": "1"})
    flags = bare(env={"_ISSUECTL_COMPLETE": "bash_complete", "COMP_WORDS": "issuectl close X --rea", "COMP_CWORD": "3"})

    assert words.code == 0 and "plain,close" in words.stdout.splitlines()
    assert "plain,--reason" in flags.stdout.splitlines()


def test_tls_against_a_plaintext_port_says_so_in_one_line(grpc_server, account, tmp_path):
    result = Cli(tmp_path, f"https://{grpc_server.target}", account)("list")

    assert_one_error_line(
        result, f"cannot reach the server at https://{grpc_server.target}", "TLS handshake failed", "drop https://"
    )


def test_the_http_port_given_for_the_grpc_one_says_so_in_one_line(grpc_server, account, tmp_path):
    result = Cli(tmp_path, f"127.0.0.1:{grpc_server.http_port}", account)("list")

    assert_one_error_line(result, "that is an HTTP/1 port", "not gRPC", "127.0.0.1:50051")


def test_watch_names_the_issue_of_comment_and_reaction_events(cli, grpc_server, account):
    issue_id = cli("create", "-t", "Watched").stdout.strip()
    comment_id = cli("comment", issue_id, "A comment").stdout.strip()
    cli("react", issue_id, comment_id, "👍")

    lines = cli("watch", "--after", "0", "--count", "3").stdout.splitlines()
    events = [json.loads(line) for line in cli("watch", "--after", "0", "--count", "3", "--json").stdout.splitlines()]

    assert [e["type"] for e in events] == ["issue.created", "comment.created", "reaction.added"]
    assert [line.split()[3] for line in lines] == [issue_id] * 3
    assert comment_id not in "\n".join(lines)
