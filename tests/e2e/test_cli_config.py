"""issuectl's configuration and failure modes: login, precedence, bad servers, bad tokens, bad usage."""

from __future__ import annotations

import json
import socket
import stat

import pytest

from ..cli_run import Cli, account, assert_one_error_line  # noqa: F401 - fixture


def test_login_saves_server_and_token_for_the_owner_only(grpc_server, account, tmp_path):
    cli = Cli(tmp_path)

    result = cli("login", "--server", grpc_server.target, "--token", account)

    assert result.code == 0, result.stderr
    assert stat.S_IMODE(cli.login_file.stat().st_mode) == 0o600
    assert json.loads(cli.login_file.read_text()) == {"server": grpc_server.target, "token": account}
    assert cli("list", "--json").json() == {"items": [], "count": 0, "next_page_token": ""}  # no flags, no environment


def test_login_reads_the_token_from_standard_input(grpc_server, account, tmp_path):
    cli = Cli(tmp_path)

    result = cli("login", "--server", grpc_server.target, stdin=account + "\n")

    assert result.code == 0, result.stderr
    assert json.loads(cli.login_file.read_text())["token"] == account
    assert account not in result.stdout + result.stderr


def test_login_refuses_a_bad_token_and_saves_nothing(grpc_server, tmp_path):
    cli = Cli(tmp_path)

    result = cli("login", "--server", grpc_server.target, "--token", "iss_not-a-real-token")

    assert_one_error_line(result, "refused the token")
    assert not cli.login_file.exists()


def test_a_relogin_keeps_the_file_private(grpc_server, account, tmp_path):
    cli = Cli(tmp_path)
    cli("login", "--server", grpc_server.target, "--token", account)
    cli.login_file.chmod(0o644)

    assert cli("login", "--server", grpc_server.target, "--token", account).code == 0
    assert stat.S_IMODE(cli.login_file.stat().st_mode) == 0o600


def test_precedence_is_flag_then_environment_then_login_file(grpc_server, make_token, tmp_path):
    file_token, _ = make_token("admin")
    env_token, _ = make_token("admin")
    flag_token, _ = make_token("admin")
    cli = Cli(tmp_path)
    cli("login", "--server", grpc_server.target, "--token", file_token)
    for token, title in ((file_token, "in file ws"), (env_token, "in env ws"), (flag_token, "in flag ws")):
        Cli(tmp_path / title, grpc_server.target, token)("create", "--title", title)

    def titles(*args: str, env: dict[str, str] | None = None) -> list[str]:
        return [i["title"] for i in cli("list", "--json", *args, env=env).json()["items"]]

    assert titles() == ["in file ws"]
    assert titles(env={"ISSUES_TOKEN": env_token}) == ["in env ws"]
    assert titles("--token", flag_token, env={"ISSUES_TOKEN": env_token}) == ["in flag ws"]
    # The server too: a dead environment server loses to the flag, and beats the file.
    dead = f"127.0.0.1:{_closed_port()}"
    assert_one_error_line(cli("list", env={"ISSUES_SERVER": dead}), "cannot reach", dead)
    assert titles("--server", grpc_server.target, env={"ISSUES_SERVER": dead}) == ["in file ws"]


def _closed_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def test_an_unreachable_server_is_one_line(tmp_path):
    port = _closed_port()

    result = Cli(tmp_path, f"127.0.0.1:{port}", "iss_whatever")("list")

    assert_one_error_line(result, f"cannot reach the server at 127.0.0.1:{port}", "connection refused")


def test_the_default_server_is_the_local_one_and_https_means_tls(tmp_path, monkeypatch):
    from cli import config

    monkeypatch.setenv("XDG_CONFIG_HOME", str(tmp_path))
    monkeypatch.delenv("ISSUES_SERVER", raising=False)
    monkeypatch.delenv("ISSUES_TOKEN", raising=False)

    assert config.resolve(None, None, False) == config.Settings("127.0.0.1:50051", None, False)
    secure = config.resolve("https://issues.example.com:443", "t", False)
    assert secure.tls and secure.target == "issues.example.com:443"
    assert config.resolve("issues.example.com:443", "t", True).tls
    assert not config.resolve("http://127.0.0.1:50051", "t", False).tls


def test_a_refused_token_is_one_line(grpc_server, tmp_path):
    result = Cli(tmp_path, grpc_server.target, "iss_revoked-or-made-up")("list")

    assert_one_error_line(result, "refused the token", "issuectl login")


def test_no_token_anywhere_says_where_to_put_one(grpc_server, tmp_path):
    result = Cli(tmp_path, grpc_server.target)("list")

    assert_one_error_line(result, "no token", "ISSUES_TOKEN", "issuectl login")


@pytest.mark.parametrize(
    "args",
    [
        ["list", "--no-such-flag"],
        ["create"],  # --title is required
        ["list", "--status", "done"],
        ["list", "--limit", "0"],
        ["no-such-command"],
        ["view"],
        ["comment", "some-id", "text", "--attach", "/no/such/file"],
    ],
)
def test_usage_errors_exit_2_without_calling_anything(args, tmp_path):
    result = Cli(tmp_path, "127.0.0.1:1", "iss_x")(*args)

    assert result.code == 2, result
    assert "Usage:" in result.stderr and "Traceback" not in result.stderr and result.stdout == ""


def test_help_needs_no_server(tmp_path):
    result = Cli(tmp_path)("--help")

    assert result.code == 0
    for name in ("login", "list", "view", "create", "edit", "comment", "delete", "metrics"):
        assert name in result.stdout
