"""What every command shares: the connection options, the client, and printing a result.

`--server`, `--token`, `--tls` and `--json` go on the group and on every
command (before or after the command name); the later one wins. `--json`
alone prints the whole JSON; `--json FIELDS` (comma-separated, as gh's)
keeps only those fields of each issue, comment or entry.
"""

from __future__ import annotations

from typing import Any, Callable, Sequence, TypeVar

import click

from common.enums import enum_numbers
from issues.v1 import issue_pb2

from . import config
from .errors import CliError

F = TypeVar("F", bound=Callable[..., Any])

STATUS = enum_numbers(issue_pb2.Issue.Status.DESCRIPTOR)
PRIORITY = enum_numbers(issue_pb2.Issue.Priority.DESCRIPTOR)
STATUS_CHOICE = click.Choice(list(STATUS))
PRIORITY_CHOICE = click.Choice(list(PRIORITY))
_META = "issuectl."


def _remember(ctx: click.Context, param: click.Parameter, value: Any) -> None:
    # Given before or after the command name; the later one (the command's) wins.
    if value is not None and value is not False:
        ctx.meta[_META + str(param.name)] = value


def connection_options(f: F) -> F:
    """--server, --token, --tls and --json, on the group and on every command."""
    options = [
        click.option(
            "--server",
            metavar="HOST:PORT",
            expose_value=False,
            callback=_remember,
            help=f"gRPC server: host:port, or https://host:port for TLS [env {config.SERVER_ENV}; "
            f"default {config.DEFAULT_SERVER}]",
        ),
        click.option(
            "--token",
            metavar="TOKEN",
            expose_value=False,
            callback=_remember,
            help=f"API token [env {config.TOKEN_ENV}; else the one `login` saved]",
        ),
        click.option("--tls", is_flag=True, expose_value=False, callback=_remember, help="Connect with TLS."),
        click.option(
            "--json",
            "as_json",
            is_flag=True,
            expose_value=False,
            callback=_remember,
            help="Print the HTTP API's JSON instead; `--json FIELDS` (e.g. identifier,title) keeps those.",
        ),
        click.option("--json-fields", "json_fields", hidden=True, expose_value=False, callback=_remember),
    ]
    for option in reversed(options):
        f = option(f)
    return f


def opt(name: str) -> Any:
    return click.get_current_context().meta.get(_META + name)


def settings() -> config.Settings:
    return config.resolve(opt("server"), opt("token"), bool(opt("tls")))


def client() -> Any:
    from .client import Client

    return Client(settings())


def output() -> Any:
    from .output import Output

    return Output()


def as_json() -> bool:
    return bool(opt("as_json")) or bool(opt("json_fields"))


def show(result: Any, draw: Callable[[Any], None], fields_of: Any = None) -> None:
    """`result`'s JSON with --json, else what `draw(output)` writes.

    With `--json FIELDS`, `fields_of` (a message class) names the fields there
    are; `result`'s items (or `result` itself) keep only those asked for.
    """
    out = output()
    if not as_json():
        draw(out)
        return
    wanted = opt("json_fields")
    if wanted:
        out.json(select_fields(result, wanted.split(","), fields_of))
    else:
        out.json(result)


def select_fields(result: Any, wanted: Sequence[str], fields_of: Any) -> Any:
    from common.jsonout import to_json

    if fields_of is None:
        raise click.UsageError("--json FIELDS: this command prints one whole result; use --json alone")
    known = [f.name for f in fields_of.DESCRIPTOR.fields]
    unknown = [w for w in wanted if w not in known]
    if unknown:
        raise click.UsageError(f"--json: unknown field {unknown[0]!r}; the fields are {', '.join(known)}")
    data = to_json(result) if not isinstance(result, dict) else result
    if isinstance(data, dict) and isinstance(data.get("items"), list):
        return [{w: item.get(w) for w in wanted} for item in data["items"]]
    return {w: data.get(w) for w in wanted}


def done(issue: Any, verb: str) -> None:
    """The issue's JSON, or its ID (alone when piped, for `ID=$(issuectl create ...)`)."""
    from . import views

    def draw(out: Any) -> None:
        if out.tty:
            out.line(f"{verb} {out.styled(views.issue_id(issue), 'cyan')}  {out.styled(issue.title, None)}")
        else:
            out.line(views.issue_id(issue))

    show(issue, draw, issue_pb2.Issue)


def expand_json_fields(args: list[str]) -> list[str]:
    """gh's `--json FIELDS` and `--json=FIELDS` as `--json --json-fields FIELDS`.

    `--json` stays a flag (so `issuectl --json view ID` keeps meaning what it
    did); the word after it is taken as fields only when it is a comma-separated
    list of lower-case field names, which no command name or issue id is.
    """
    names = _field_names()
    expanded: list[str] = []
    i = 0
    while i < len(args):
        arg = args[i]
        if arg.startswith("--json="):
            expanded += ["--json", "--json-fields", arg.split("=", 1)[1]]
        elif arg == "--json" and i + 1 < len(args) and all(w in names for w in args[i + 1].split(",")):
            expanded += ["--json", "--json-fields", args[i + 1]]
            i += 1
        else:
            expanded.append(arg)
        i += 1
    return expanded


def _field_names() -> set[str]:
    from issues.v1 import comment_pb2, history_pb2

    messages = (issue_pb2.Issue, comment_pb2.Comment, history_pb2.HistoryEntry)
    return {f.name for m in messages for f in m.DESCRIPTOR.fields}


def set_filter(request: Any, field: str, flag: str, values: list[str]) -> None:
    """A filter of later API versions: sent when this build's request has the field, never dropped."""
    from .client import has_field

    if not values:
        return
    if not has_field(type(request), field):
        raise CliError(f"{flag}: the server does not support this filter yet")
    target = request.DESCRIPTOR.fields_by_name[field]
    if target.is_repeated:
        getattr(request, field).extend(values)
    else:
        setattr(request, field, values[0])
