"""issuectl's commands: Click parses, cli.client calls, cli.views draws.

Why Click (and not Typer): usage errors exit 2 out of the box, the options
shared by every command are one decorator, and it imports in ~40 ms, where a
CLI's start-up is most of its run time; Typer would add a layer over Click
for nothing we need here. Rich draws tables and the upload bar, imported only
when stdout (or stderr, for the bar) is a terminal.

gRPC and the generated stubs are imported inside the commands, so `--help`
and usage errors answer before they load.
"""

from __future__ import annotations

import pathlib
import sys
from typing import Any, Callable, TypeVar

import click

from common.enums import enum_numbers
from issues.v1 import issue_pb2

from . import config
from .errors import CliError

F = TypeVar("F", bound=Callable[..., Any])

_STATUS = enum_numbers(issue_pb2.Issue.Status.DESCRIPTOR)
_PRIORITY = enum_numbers(issue_pb2.Issue.Priority.DESCRIPTOR)
_STATUS_CHOICE = click.Choice(list(_STATUS))
_PRIORITY_CHOICE = click.Choice(list(_PRIORITY))
_META = "issuectl."


def _remember(ctx: click.Context, param: click.Parameter, value: Any) -> None:
    # Given before or after the command name; the later one (the command's) wins.
    if value is not None and value is not False:
        ctx.meta[_META + str(param.name)] = value


def connection_options(f: F) -> F:
    """--server, --token, --tls and --json, on the group and on every command."""
    options = [
        click.option("--server", metavar="HOST:PORT", expose_value=False, callback=_remember,
                     help=f"gRPC server: host:port, or https://host:port for TLS [env {config.SERVER_ENV}; "
                          f"default {config.DEFAULT_SERVER}]"),
        click.option("--token", metavar="TOKEN", expose_value=False, callback=_remember,
                     help=f"API token [env {config.TOKEN_ENV}; else the one `login` saved]"),
        click.option("--tls", is_flag=True, expose_value=False, callback=_remember, help="Connect with TLS."),
        click.option("--json", "as_json", is_flag=True, expose_value=False, callback=_remember,
                      help="Print the HTTP API's JSON instead."),
    ]
    for option in reversed(options):
        f = option(f)
    return f


def _opt(name: str) -> Any:
    return click.get_current_context().meta.get(_META + name)


def _settings() -> config.Settings:
    return config.resolve(_opt("server"), _opt("token"), bool(_opt("tls")))


def _client() -> Any:
    from .client import Client

    return Client(_settings())


def _output() -> Any:
    from .output import Output

    return Output()


def _json() -> bool:
    return bool(_opt("as_json"))


def _show(result: Any, draw: Callable[[Any], None]) -> None:
    """`result`'s JSON with --json, else what `draw(output)` writes."""
    out = _output()
    if _json():
        out.json(result)
    else:
        draw(out)


@click.group(context_settings={"help_option_names": ["-h", "--help"]})
@connection_options
def cli() -> None:
    """issuectl: issues from the command line, over the service's gRPC API."""


@cli.command()
@connection_options
def login() -> None:
    """Check a server and token and save them for later commands (token from stdin unless --token)."""
    from .client import Client, pb

    settings = _settings()
    token = _opt("token")
    if token is None:
        token = click.prompt("Token", hide_input=True) if sys.stdin.isatty() else sys.stdin.readline().strip()
    if not token:
        raise click.UsageError("no token given: pass --token or write it to standard input")
    server = settings.server
    if settings.tls and "://" not in server:
        server = f"https://{server}"  # keep --tls for later commands
    settings = config.Settings(server=server, token=token, tls=settings.tls)
    with Client(settings) as client:
        client.call("ListIssues", pb.ListIssuesRequest(limit=1))  # refuses a bad token now, not later
    path = config.write_login(server, token)
    _show({"server": server, "login_file": str(path)},
          lambda out: out.line(out.styled(f"logged in to {server}; saved in {path}", None)))


@cli.command("list")
@click.option("--status", multiple=True, type=_STATUS_CHOICE, help="Only these statuses (repeatable).")
@click.option("--priority", multiple=True, type=_PRIORITY_CHOICE, help="Only these priorities (repeatable).")
@click.option("--owner", help="Only issues this person owns.")
@click.option("--tag", multiple=True, help="Only issues with all these tags (repeatable).")
@click.option("--search", metavar="Q", help="Full-text search.")
@click.option("--limit", type=click.IntRange(1, 1000), help="At most N issues (the server's default: 100).")
@connection_options
def list_issues(status: tuple[str, ...], priority: tuple[str, ...], owner: str | None, tag: tuple[str, ...],
                search: str | None, limit: int | None) -> None:
    """Issues, newest first."""
    from . import views
    from .client import pb

    request = pb.ListIssuesRequest(status=[_STATUS[s] for s in status], priority=[_PRIORITY[p] for p in priority])
    if limit is not None:
        request.limit = limit
    # Filters of later API versions: sent when this build's request has the field, never dropped.
    _set_filter(request, "owner", "--owner", [owner] if owner else [])
    _set_filter(request, "tag", "--tag", list(tag))
    _set_filter(request, "q", "--search", [search] if search else [])
    with _client() as client:
        response = client.call("ListIssues", request)
    _show(response, lambda out: views.issue_table(out, response.items, response.count))


def _set_filter(request: Any, field: str, flag: str, values: list[str]) -> None:
    from .client import CliError, has_field

    if not values:
        return
    if not has_field(type(request), field):
        raise CliError(f"{flag}: the server does not support this filter yet")
    target = request.DESCRIPTOR.fields_by_name[field]
    if target.is_repeated:
        getattr(request, field).extend(values)
    else:
        setattr(request, field, values[0])


@cli.command()
@click.argument("issue_id", metavar="ID")
@connection_options
def view(issue_id: str) -> None:
    """An issue with all its comments."""
    from . import views
    from .client import pb

    with _client() as client:
        issue = client.call("GetIssue", pb.GetIssueRequest(issue_id=issue_id))
        comments: list[Any] = []
        token = ""
        while True:  # every page: a long thread is shown whole
            page = client.call("ListComments", pb.ListCommentsRequest(issue_id=issue.uuid, limit=1000, page_token=token))
            comments += page.items
            token = page.next_page_token
            if not token:
                break
    from common.jsonout import to_json

    # With --json, each part exactly as its HTTP route answers it.
    both = {"issue": to_json(issue), "comments": {"items": [to_json(c) for c in comments], "count": len(comments),
                                                                           "next_page_token": ""}}
    _show(both, lambda out: views.issue_detail(out, issue, comments))


@cli.command()
@click.option("--title", required=True, help="A short summary.")
@click.option("--description", metavar="TEXT", help="The description, as one text block.")
@click.option("--priority", type=_PRIORITY_CHOICE, help="Priority (the server's default: low).")
@click.option("--tag", multiple=True, help="A tag (repeatable).")
@click.option("--comment", metavar="TEXT", help="The issue's first comment.")
@connection_options
def create(title: str, description: str | None, priority: str | None, tag: tuple[str, ...],
           comment: str | None) -> None:
    """Open a new issue; prints its ID."""
    from google.protobuf import struct_pb2

    from .client import CliError, has_field, pb

    request = pb.CreateIssueRequest(title=title, tags=list(tag))
    if description:
        block = struct_pb2.Struct()
        block.update({"type": "text", "text": description})
        request.description.append(block)
    if priority:
        request.priority = _PRIORITY[priority]
    atomic_comment = comment is not None and has_field(pb.CreateIssueRequest, "comment")
    if atomic_comment:
        request.comment = comment  # one transaction on servers that have it
    with _client() as client:
        issue = client.call("CreateIssue", request)
        if comment is not None and not atomic_comment:
            try:
                client.call("CreateComment", pb.CreateCommentRequest(issue_id=issue.uuid, content=comment))
            except CliError as exc:
                raise CliError(f"created issue {issue.uuid}, but its comment was refused: {exc}") from None
    _done(issue, "created")


def _done(issue: Any, verb: str) -> None:
    """The issue's JSON, or its ID (alone when piped, for `ID=$(issuectl create ...)`)."""
    from . import views

    def draw(out: Any) -> None:
        if out.tty:
            out.line(f"{verb} {out.styled(views.issue_id(issue), 'cyan')}  {out.styled(issue.title, None)}")
        else:
            out.line(views.issue_id(issue))

    _show(issue, draw)


@cli.command()
@click.argument("issue_id", metavar="ID")
@click.option("--title", help="A new title.")
@click.option("--status", type=_STATUS_CHOICE, help="A new status.")
@click.option("--priority", type=_PRIORITY_CHOICE, help="A new priority.")
@click.option("--owner", help="A new owner.")
@click.option("--tag", multiple=True, help="The tags (repeatable; replaces them all).")
@connection_options
def edit(issue_id: str, title: str | None, status: str | None, priority: str | None, owner: str | None,
         tag: tuple[str, ...]) -> None:
    """Change an issue: only the fields given."""
    from .client import pb

    request = pb.UpdateIssueRequest(issue_id=issue_id)
    if title is not None:
        request.title = title
    if status is not None:
        request.status = _STATUS[status]
    if priority is not None:
        request.priority = _PRIORITY[priority]
    if owner is not None:
        request.owner = owner
    request.tags.extend(tag)
    given = {"title": title, "status": status, "priority": priority, "owner": owner, "tags": tag or None}
    paths = [name for name, value in given.items() if value is not None]
    if not paths:
        raise click.UsageError("nothing to change: give --title, --status, --priority, --owner or --tag")
    request.update_mask.paths.extend(paths)
    with _client() as client:
        issue = client.call("UpdateIssue", request)
    _done(issue, "updated")


@cli.command()
@click.argument("issue_id", metavar="ID")
@click.argument("text")
@click.option("--attach", "files", multiple=True, metavar="FILE",
              type=click.Path(exists=True, dir_okay=False, readable=True, path_type=pathlib.Path),
              help="Upload FILE and attach it (repeatable, at most 10).")
@connection_options
def comment(issue_id: str, text: str, files: tuple[pathlib.Path, ...]) -> None:
    """Comment on an issue, with files attached; prints the comment's uuid."""
    from .client import pb
    from .upload import upload

    with _client() as client:
        issue = client.call("GetIssue", pb.GetIssueRequest(issue_id=issue_id))  # before any upload
        attachment_ids = [upload(client, path) for path in files]
        created = client.call("CreateComment", pb.CreateCommentRequest(
            issue_id=issue.uuid, content=text, attachment_ids=attachment_ids))
    _show(created, lambda out: out.line(created.uuid))


@cli.command()
@click.argument("issue_id", metavar="ID")
@connection_options
def delete(issue_id: str) -> None:
    """Delete an issue (admin tokens only)."""
    from .client import pb

    with _client() as client:
        response = client.call("DeleteIssue", pb.DeleteIssueRequest(issue_id=issue_id))
    _show(response, lambda out: out.line(out.styled(f"deleted {issue_id}", None)))  # --json: {}, google.protobuf.Empty


@cli.command()
@click.option("--days", type=click.IntRange(1, 366), help="Days in the opened-vs-resolved chart.")
@connection_options
def metrics(days: int | None) -> None:
    """The workspace's charts, as text bars."""
    from . import views
    from .client import pb

    request = pb.GetIssueMetricsRequest()
    if days is not None:
        request.days = days
    with _client() as client:
        response = client.call("GetIssueMetrics", request)
    _show(response, lambda out: views.charts(out, response.metrics))


# Ended by the server, or the connection lost: resume from the last sequence seen.
_RESUMABLE = ("UNAVAILABLE", "RESOURCE_EXHAUSTED", "INTERNAL", "UNKNOWN", "CANCELLED")


@cli.command()
@click.option("--after", type=click.IntRange(0), metavar="SEQUENCE",
              help="Replay the events after this sequence first (0: everything kept); default: from now on.")
@click.option("--type", "types", multiple=True, metavar="TYPE", help="Only events of this type (repeatable), e.g. issue.created.")
@click.option("--count", type=click.IntRange(1), help="Stop after this many events.")
@connection_options
def watch(after: int | None, types: tuple[str, ...], count: int | None) -> None:
    """Events as they happen, one a line (--json: one JSON object a line); resumes after a dropped connection."""
    import time

    import grpc

    from . import views
    from .client import describe, pb

    out = _output()
    seen = 0
    delay = 0.5
    with _client() as client:
        while True:
            request = pb.WatchEventsRequest(types=list(types))
            if after is not None:
                request.after_sequence = after
            try:
                for event in client.stream("WatchEvents", request):
                    after = event.sequence
                    delay = 0.5
                    if _json():
                        out.json_line(event)
                    else:
                        views.event_line(out, event)
                    seen += 1
                    if count is not None and seen >= count:
                        return
                raise CliError("the server ended the stream")  # a watch never ends on its own
            except grpc.RpcError as error:
                if error.code().name not in _RESUMABLE:
                    raise CliError(describe(error, client.settings)) from None
                # Nothing seen yet (no --after): it resumes from now on, the cursor it never had.
                sys.stderr.write(f"issuectl: {describe(error, client.settings)}; resuming"
                                 f"{f' after {after}' if after is not None else ''} in {delay:.1f} s\n")
                time.sleep(delay)
                delay = min(delay * 2, 10.0)


__all__ = ["cli"]

# Commands of their own modules (they import the helpers above).
from . import webhooks  # noqa: E402

webhooks.register(cli)
