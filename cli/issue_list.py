"""`list` and `search`: the issues that match, a page at a time, saying how many more there are."""

from __future__ import annotations

import sys
from typing import Any

import click

from issues.v1 import issue_pb2

from .context import PRIORITY, PRIORITY_CHOICE, STATUS, STATUS_CHOICE, F, client, connection_options, set_filter, show
from .pages import PAGE as _PAGE, all_items  # --all walks the pages at the largest size


def list_filters(f: F) -> F:
    """The filters `list` and `search` share; gh's short flags and names where they mean the same."""
    options = [
        click.option("-s", "--status", multiple=True, type=STATUS_CHOICE, help="Only these statuses (repeatable)."),
        click.option(
            "-p", "--priority", multiple=True, type=PRIORITY_CHOICE, help="Only these priorities (repeatable)."
        ),
        click.option("-a", "--owner", "--assignee", "owner", metavar="EMAIL", help="Only issues this person owns."),
        click.option(
            "-l", "--tag", "--label", "tag", multiple=True, help="Only issues with all these tags (repeatable)."
        ),
        click.option("-A", "--author", metavar="EMAIL", multiple=True, help="Only issues these people created."),
        click.option("--parent", metavar="ID", help="Only the sub-issues of this issue."),
        click.option("--ref", metavar="KEY:VALUE", multiple=True, help="Only issues with this reference (repeatable)."),
        click.option(
            "-L", "--limit", type=click.IntRange(1, _PAGE), help="At most N issues a page (the server's default: 100)."
        ),
        click.option("--page-token", metavar="TOKEN", help="The page after the one that printed this token."),
        click.option("--all", "every_page", is_flag=True, help="Every page, not just the first."),
    ]
    for option in reversed(options):
        f = option(f)
    return f


@click.command("list")
@list_filters
@click.option("--search", metavar="Q", help="Full-text search (as `search Q`).")
@connection_options
def list_issues(search: str | None, **filters: Any) -> None:
    """Issues, newest first."""
    _list(search, filters)


@click.command()
@click.argument("query")
@list_filters
@connection_options
def search(query: str, **filters: Any) -> None:
    """Issues whose title, description or resolution contain every word of QUERY; takes the list filters too."""
    _list(query, filters)


def _list(query: str | None, filters: dict[str, Any]) -> None:
    from . import views
    from .client import pb

    if filters["every_page"] and filters["page_token"]:
        raise click.UsageError("--all starts at the first page; drop --page-token")
    request = pb.ListIssuesRequest(
        status=[STATUS[s] for s in filters["status"]], priority=[PRIORITY[p] for p in filters["priority"]]
    )
    if filters["every_page"] or filters["limit"]:
        request.limit = _PAGE if filters["every_page"] else filters["limit"]
    if filters["page_token"]:
        request.page_token = filters["page_token"]
    set_filter(request, "owner", "--owner", [filters["owner"]] if filters["owner"] else [])
    set_filter(request, "tag", "--tag", list(filters["tag"]))
    set_filter(request, "created_by", "--author", list(filters["author"]))
    set_filter(request, "parent_id", "--parent", [filters["parent"]] if filters["parent"] else [])
    set_filter(request, "ref", "--ref", list(filters["ref"]))
    set_filter(request, "q", "search", [query] if query else [])
    with client() as connection:
        if filters["every_page"]:
            items = all_items(lambda token: connection.call("ListIssues", _with_token(request, token)))
            response = pb.ListIssuesResponse(items=items, count=len(items))
        else:
            response = connection.call("ListIssues", request)
    show(response, lambda out: _draw(out, response, views), issue_pb2.Issue)


def _with_token(request: Any, token: str) -> Any:
    following = type(request)()
    following.CopyFrom(request)
    following.page_token = token
    return following


def _draw(out: Any, response: Any, views: Any) -> None:
    """The table, then how many more there are; piped, those notes go to stderr and stdout stays the table."""
    note = out.line if out.tty else (lambda text: sys.stderr.write(text + "\n"))
    if not response.items:
        note(out.styled("no issues match", "dim") if out.tty else "no issues match")
        return
    views.issue_table(out, response.items)
    if response.next_page_token:  # the last page has nothing more to say
        more = (
            f"showing {len(response.items)} of {response.count}; "
            f"the next page: --page-token {response.next_page_token} (or --all)"
        )
        note(out.styled(more, "dim") if out.tty else more)


def register(group: click.Group) -> None:
    group.add_command(list_issues)
    group.add_command(search)


__all__ = ["register"]
