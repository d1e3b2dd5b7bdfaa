"""issuectl's command group: Click parses, cli.client calls, cli.views draws.

Why Click (and not Typer): usage errors exit 2 out of the box, the options
shared by every command are one decorator, it generates shell completion,
and it imports in ~40 ms, where a CLI's start-up is most of its run time;
Typer would add a layer over Click for nothing we need here. Rich draws
tables and the upload bar, imported only when stdout (or stderr, for the bar)
is a terminal.

The commands live in modules by what they act on (issue_list, issue_commands,
issue_edits, comment_commands, watch); this one holds the group and the
commands about the client itself. gRPC and the generated stubs are imported
inside the commands, so `--help` and usage errors answer before they load.
"""

from __future__ import annotations

import sys
from typing import Any

import click

from . import comment_commands, config, issue_commands, issue_edits, issue_list, webhooks
from .context import connection_options, expand_json_fields, opt, settings, show
from .watch import watch


class IssuectlGroup(click.Group):
    """The top group: reads gh's `--json FIELDS` wherever it appears, before Click parses."""

    def parse_args(self, ctx: click.Context, args: list[str]) -> list[str]:
        return super().parse_args(ctx, expand_json_fields(args))


@click.group(cls=IssuectlGroup, context_settings={"help_option_names": ["-h", "--help"]})
@click.version_option(package_name="issues-service", prog_name="issuectl", message="%(prog)s %(version)s")
@connection_options
def cli() -> None:
    """issuectl: issues from the command line, over the service's gRPC API."""


@cli.command()
@connection_options
def login() -> None:
    """Check a server and token and save them for later commands (token from stdin unless --token)."""
    from .client import Client, pb

    given = settings()
    token = opt("token")
    if token is None:
        token = click.prompt("Token", hide_input=True) if sys.stdin.isatty() else sys.stdin.readline().strip()
    if not token:
        raise click.UsageError("no token given: pass --token or write it to standard input")
    server = given.server
    if given.tls and "://" not in server:
        server = f"https://{server}"  # keep --tls for later commands
    with Client(config.Settings(server=server, token=token, tls=given.tls)) as connection:
        connection.call("ListIssues", pb.ListIssuesRequest(limit=1))  # refuses a bad token now, not later
    path = config.write_login(server, token)
    show(
        {"server": server, "login_file": str(path)},
        lambda out: out.line(out.styled(f"logged in to {server}; saved in {path}", None)),
    )


@cli.command()
@click.option("--days", type=click.IntRange(1, 366), help="Days in the opened-vs-resolved chart.")
@connection_options
def metrics(days: int | None) -> None:
    """The workspace's charts, as text bars."""
    from . import views
    from .client import pb
    from .context import client

    request = pb.GetIssueMetricsRequest()
    if days is not None:
        request.days = days
    with client() as connection:
        response = connection.call("GetIssueMetrics", request)
    show(response, lambda out: views.charts(out, response.metrics))


@cli.command()
@click.argument("shell", type=click.Choice(["bash", "zsh", "fish"]))
def completion(shell: str) -> None:
    """Print the shell's completion script: `eval "$(issuectl completion bash)"` (in ~/.bashrc to keep it)."""
    from click.shell_completion import get_completion_class

    completer: Any = get_completion_class(shell)
    click.echo(completer(cli, {}, "issuectl", "_ISSUECTL_COMPLETE").source())


for module in (issue_list, issue_commands, issue_edits, comment_commands, webhooks):
    module.register(cli)
cli.add_command(watch)

__all__ = ["cli", "connection_options"]
