"""`view`, `create`, `delete` and `history`: one issue, whole."""

from __future__ import annotations

import sys
from typing import Any

import click

from issues.v1 import history_pb2, issue_pb2

from .context import PRIORITY, PRIORITY_CHOICE, client, connection_options, done, opt, show
from .errors import CliError
from .pages import PAGE, all_items, as_list


def ref_pairs(refs: tuple[str, ...]) -> dict[str, str]:
    """`--ref order=8001` (repeatable) as {"order": "8001"}."""
    pairs = {}
    for ref in refs:
        key, sep, value = ref.partition("=")
        if not sep or not key:
            raise click.BadParameter(f"{ref!r}: expected KEY=VALUE, e.g. order=8001", param_hint="--ref")
        pairs[key] = value
    return pairs


def history_of(connection: Any, issue_uuid: str) -> list[Any]:
    from .client import pb

    return all_items(
        lambda token: connection.call(
            "ListIssueHistory", pb.ListIssueHistoryRequest(issue_id=issue_uuid, limit=PAGE, page_token=token)
        )
    )


@click.command()
@click.argument("issue_id", metavar="ID")
@click.option("--history", "with_history", is_flag=True, help="Add the issue's history.")
@connection_options
def view(issue_id: str, with_history: bool) -> None:
    """An issue with everything it has: comments and their reactions, parent, sub-issues, refs."""
    from . import views
    from .client import pb

    with client() as connection:
        issue = connection.call("GetIssue", pb.GetIssueRequest(issue_id=issue_id))
        comments = all_items(
            lambda token: connection.call(
                "ListComments", pb.ListCommentsRequest(issue_id=issue.uuid, limit=PAGE, page_token=token)
            )
        )
        subs = (
            all_items(
                lambda token: connection.call(
                    "ListSubIssues", pb.ListSubIssuesRequest(issue_id=issue.uuid, limit=PAGE, page_token=token)
                )
            )
            if issue.sub_issues_count
            else []
        )
        parent = (
            connection.call("GetIssue", pb.GetIssueRequest(issue_id=issue.parent_id))
            if issue.HasField("parent_id")
            else None
        )
        history = history_of(connection, issue.uuid) if with_history else None
    from common.jsonout import to_json

    # With --json, each part exactly as its HTTP route answers it.
    whole = {"issue": to_json(issue), "comments": as_list(comments), "sub_issues": as_list(subs)}
    if history is not None:
        whole["history"] = as_list(history)
    show(
        issue if opt("json_fields") else whole,
        lambda out: views.issue_detail(out, issue, comments, parent, subs, history),
        issue_pb2.Issue,
    )


@click.command()
@click.option("-t", "--title", required=True, help="A short summary.")
@click.option("-b", "--body", "--description", "body", metavar="TEXT", help="The description, as one text block.")
@click.option("-p", "--priority", type=PRIORITY_CHOICE, help="Priority (the server's default: low).")
@click.option("-l", "--tag", "--label", "tag", multiple=True, help="A tag (repeatable).")
@click.option("-a", "--owner", "--assignee", "owner", metavar="EMAIL", help="Who owns it (default: Unassigned).")
@click.option("--parent", metavar="ID", help="Make it a sub-issue of this issue.")
@click.option("--ref", multiple=True, metavar="KEY=VALUE", help="A reference to another system (repeatable).")
@click.option("--comment", metavar="TEXT", help="The issue's first comment.")
@connection_options
def create(
    title: str,
    body: str | None,
    priority: str | None,
    tag: tuple[str, ...],
    owner: str | None,
    parent: str | None,
    ref: tuple[str, ...],
    comment: str | None,
) -> None:
    """Open a new issue; prints its ID."""
    from google.protobuf import struct_pb2

    from .client import pb

    request = pb.CreateIssueRequest(title=title, tags=list(tag), refs=ref_pairs(ref))
    if body:
        block = struct_pb2.Struct()
        block.update({"type": "text", "text": body})
        request.description.append(block)
    if priority:
        request.priority = PRIORITY[priority]
    for name, value in (("owner", owner), ("parent_id", parent), ("comment", comment)):
        if value is not None:
            setattr(request, name, value)
    with client() as connection:
        issue = connection.call("CreateIssue", request)
    done(issue, "created")


def confirmed(what: str, yes: bool) -> None:
    """Ask on a terminal unless --yes; without one, --yes is required (a script must say it means it)."""
    if yes:
        return
    if not sys.stdin.isatty():
        raise click.UsageError(f"{what} cannot be undone: pass --yes (there is no terminal to ask on)")
    if not click.confirm(f"{what}? It cannot be undone", default=False, err=True):
        raise CliError("nothing was deleted")


@click.command()
@click.argument("issue_id", metavar="ID")
@click.option("-y", "--yes", is_flag=True, help="Do not ask for confirmation (required without a terminal).")
@connection_options
def delete(issue_id: str, yes: bool) -> None:
    """Delete an issue (admin tokens only); asks first on a terminal."""
    from . import views
    from .client import pb

    with client() as connection:
        if not yes and sys.stdin.isatty():
            issue = connection.call("GetIssue", pb.GetIssueRequest(issue_id=issue_id))
            confirmed(f"Delete {views.issue_id(issue)} ({issue.title})", yes)
        else:
            confirmed(f"Deleting {issue_id}", yes)
        response = connection.call("DeleteIssue", pb.DeleteIssueRequest(issue_id=issue_id))
    show(response, lambda out: out.line(out.styled(f"deleted {issue_id}", None)))  # --json: {}, google.protobuf.Empty


@click.command()
@click.argument("issue_id", metavar="ID")
@connection_options
def history(issue_id: str) -> None:
    """Every change to an issue, oldest first: who changed which field from what to what."""
    from . import views
    from .client import pb

    with client() as connection:
        issue = connection.call("GetIssue", pb.GetIssueRequest(issue_id=issue_id))
        entries = history_of(connection, issue.uuid)
    show(as_list(entries), lambda out: views.history_table(out, entries), history_pb2.HistoryEntry)


def register(group: click.Group) -> None:
    for command in (view, create, delete, history):
        group.add_command(command)
