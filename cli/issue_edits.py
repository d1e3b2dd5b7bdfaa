"""`edit`, `close` and `reopen`: changing an issue, including clearing what it has."""

from __future__ import annotations

from typing import Any

import click

from .context import PRIORITY, PRIORITY_CHOICE, STATUS, STATUS_CHOICE, client, connection_options, done
from .errors import CliError
from .issue_commands import ref_pairs


@click.command()
@click.argument("issue_id", metavar="ID")
@click.option("-t", "--title", help="A new title.")
@click.option("-b", "--body", "--description", "body", metavar="TEXT", help="A new description (one text block).")
@click.option("-s", "--status", type=STATUS_CHOICE, help="A new status.")
@click.option("-p", "--priority", type=PRIORITY_CHOICE, help="A new priority.")
@click.option("-a", "--owner", "--assignee", "owner", metavar="EMAIL", help="A new owner.")
@click.option("--remove-owner", is_flag=True, help="Unassign it (the owner becomes Unassigned).")
@click.option("-l", "--tag", "--label", "tag", multiple=True, help="The tags (repeatable; replaces them all).")
@click.option("--add-tag", "--add-label", "add_tag", multiple=True, metavar="TAG", help="Add a tag (repeatable).")
@click.option(
    "--remove-tag", "--remove-label", "remove_tag", multiple=True, metavar="TAG", help="Remove a tag (repeatable)."
)
@click.option("--resolution", metavar="TEXT", help="The resolution summary.")
@click.option("--remove-resolution", is_flag=True, help="Clear the resolution summary.")
@click.option("--parent", metavar="ID", help="Make it a sub-issue of this issue.")
@click.option("--remove-parent", is_flag=True, help="Detach it from its parent.")
@click.option("--ref", multiple=True, metavar="KEY=VALUE", help="Set a reference (repeatable).")
@click.option("--remove-ref", multiple=True, metavar="KEY", help="Remove a reference (repeatable).")
@connection_options
def edit(issue_id: str, **given: Any) -> None:
    """Change an issue: only the fields given; --remove-* clear."""
    for name in ("owner", "resolution", "parent"):
        if given[name] is not None and given[f"remove_{name}"]:
            raise click.UsageError(f"--{name} and --remove-{name} contradict each other")
    if given["tag"] and (given["add_tag"] or given["remove_tag"]):
        raise click.UsageError("--tag replaces every tag; use it alone, or --add-tag and --remove-tag")
    if all(v is None or v is False or v == () for v in given.values()):  # "" is a value: the server names it
        raise click.UsageError(
            "nothing to change: give a field to set (--title, --status, --owner, --tag, ...) "
            "or to clear (--remove-owner, --remove-tag, ...)"
        )
    with client() as connection:
        issue = update(connection, issue_id, given)
    done(issue, "updated")


def update(connection: Any, issue_id: str, given: dict[str, Any]) -> Any:
    """One UpdateIssue with the fields given. Adding or removing tags and refs starts from the issue as
    read, and sends its etag: a change made meanwhile by someone else is refused, not overwritten."""
    from google.protobuf import struct_pb2

    from .client import pb

    request = pb.UpdateIssueRequest(issue_id=issue_id)
    paths = []

    def set_field(path: str, value: Any) -> None:
        paths.append(path)
        if value is not None:
            setattr(request, path, value)  # None: in the mask but unset, which clears it

    if given.get("title") is not None:
        set_field("title", given["title"])
    if given.get("body") is not None:
        block = struct_pb2.Struct()
        block.update({"type": "text", "text": given["body"]})
        request.description.append(block)
        paths.append("description")
    if given.get("status") is not None:
        set_field("status", STATUS[given["status"]])
    if given.get("priority") is not None:
        set_field("priority", PRIORITY[given["priority"]])
    for name, path in (("owner", "owner"), ("resolution", "resolution_summary"), ("parent", "parent_id")):
        if given.get(name) is not None:
            set_field(path, given[name])
        elif given.get(f"remove_{name}"):
            set_field(path, None)
    current = None
    if given.get("add_tag") or given.get("remove_tag") or given.get("ref") or given.get("remove_ref"):
        current = connection.call("GetIssue", pb.GetIssueRequest(issue_id=issue_id))
        request.etag = current.etag
    if given.get("tag"):
        request.tags.extend(given["tag"])
        paths.append("tags")
    elif current is not None and (given.get("add_tag") or given.get("remove_tag")):
        tags = [t for t in current.tags if t not in given["remove_tag"]]
        request.tags.extend(tags + [t for t in given["add_tag"] if t not in tags])
        paths.append("tags")
    if current is not None and (given.get("ref") or given.get("remove_ref")):
        refs = {k: v for k, v in current.refs.items() if k not in given["remove_ref"]}
        request.refs.update({**refs, **ref_pairs(given["ref"])})
        paths.append("refs")
    request.update_mask.paths.extend(paths)
    try:
        return connection.call("UpdateIssue", request)
    except CliError as exc:
        if current is not None and "etag" in str(exc).lower():
            raise CliError(f"{issue_id} changed while it was being edited; run the command again") from None
        raise


@click.command()
@click.argument("issue_id", metavar="ID")
@click.option(
    "-r",
    "--reason",
    type=click.Choice(["resolved", "rejected"]),
    default="resolved",
    show_default=True,
    help="resolved (done) or rejected (won't do).",
)
@click.option("-c", "--comment", metavar="TEXT", help="Leave a comment as well.")
@click.option("--resolution", metavar="TEXT", help="The resolution summary.")
@connection_options
def close(issue_id: str, reason: str, comment: str | None, resolution: str | None) -> None:
    """Close an issue: resolved, or rejected."""
    from .client import pb

    with client() as connection:
        issue = update(connection, issue_id, {"status": reason, "resolution": resolution})
        if comment is not None:
            try:
                connection.call("CreateComment", pb.CreateCommentRequest(issue_id=issue.uuid, content=comment))
            except CliError as exc:
                raise CliError(f"closed {issue_id}, but the comment was refused: {exc}") from None
    done(issue, reason)


@click.command()
@click.argument("issue_id", metavar="ID")
@connection_options
def reopen(issue_id: str) -> None:
    """Open a closed issue again."""
    with client() as connection:
        issue = update(connection, issue_id, {"status": "open"})
    done(issue, "reopened")


def register(group: click.Group) -> None:
    for command in (edit, close, reopen):
        group.add_command(command)
