"""`comment` (add, edit, delete) and `react`."""

from __future__ import annotations

import pathlib
from typing import Any

import click

from issues.v1 import comment_pb2

from .context import client, connection_options, show
from .errors import CliError
from .issue_commands import confirmed
from .pages import PAGE
from .text_input import body_text


class DefaultToAdd(click.Group):
    """`comment ID TEXT` is `comment add ID TEXT`: a first word that names no subcommand is the issue's ID
    (identifiers and uuids never read `add`, `edit` or `delete`)."""

    def parse_args(self, ctx: click.Context, args: list[str]) -> list[str]:
        if args and args[0] not in self.commands and args[0] not in ("-h", "--help"):
            args = ["add", *args]
        return super().parse_args(ctx, args)


def text_options(f: Any) -> Any:
    f = click.option("-F", "--body-file", metavar="FILE", help="Read the text from FILE (`-`: standard input).")(f)
    f = click.option("-b", "--body", metavar="TEXT", help="The text (as TEXT).")(f)
    return click.argument("text", required=False)(f)


def _text(text: str | None, body: str | None, body_file: str | None, initial: str = "") -> str:
    if text is not None and body is not None:
        raise click.UsageError("give the text once: TEXT or --body")
    return body_text(text if text is not None else body, body_file, initial)


@click.group(cls=DefaultToAdd)
def comment() -> None:
    """Comment on an issue (`comment ID TEXT`), or edit or delete a comment.

    TEXT `-` reads standard input; with no text on a terminal, $EDITOR opens.
    """


@comment.command("add")
@click.argument("issue_id", metavar="ID")
@text_options
@click.option(
    "--attach",
    "files",
    multiple=True,
    metavar="FILE",
    type=click.Path(exists=True, dir_okay=False, readable=True, path_type=pathlib.Path),
    help="Upload FILE and attach it (repeatable, at most 10).",
)
@connection_options
def add(
    issue_id: str, text: str | None, body: str | None, body_file: str | None, files: tuple[pathlib.Path, ...]
) -> None:
    """Comment on an issue, with files attached; prints the comment's uuid."""
    from .client import pb
    from .upload import upload

    content = _text(text, body, body_file)
    with client() as connection:
        issue = connection.call("GetIssue", pb.GetIssueRequest(issue_id=issue_id))  # before any upload
        attachment_ids = [upload(connection, path) for path in files]
        created = connection.call(
            "CreateComment",
            pb.CreateCommentRequest(issue_id=issue.uuid, content=content, attachment_ids=attachment_ids),
        )
    show(created, lambda out: out.line(created.uuid), comment_pb2.Comment)


def find_comment(connection: Any, issue_id: str, comment_id: str) -> Any:
    from .client import pb

    token = ""
    while True:
        page = connection.call("ListComments", pb.ListCommentsRequest(issue_id=issue_id, limit=PAGE, page_token=token))
        found = next((c for c in page.items if c.uuid == comment_id.lower()), None)
        if found is not None:
            return found
        token = page.next_page_token
        if not token:
            raise CliError(f"comment {comment_id} not found on {issue_id}")


@comment.command("edit")
@click.argument("issue_id", metavar="ID")
@click.argument("comment_id", metavar="COMMENT")
@text_options
@connection_options
def edit_comment(issue_id: str, comment_id: str, text: str | None, body: str | None, body_file: str | None) -> None:
    """Replace a comment's text (the editor starts from the current text); prints its uuid."""
    from .client import pb

    with client() as connection:
        current = (
            find_comment(connection, issue_id, comment_id)
            if text is None and body is None and body_file is None
            else None
        )
        content = _text(text, body, body_file, current.content if current is not None else "")
        request = pb.UpdateCommentRequest(issue_id=issue_id, comment_id=comment_id, content=content)
        request.update_mask.paths.append("content")
        if current is not None:
            request.etag = current.etag  # edited from what the editor showed, or refused
        updated = connection.call("UpdateComment", request)
    show(updated, lambda out: out.line(updated.uuid), comment_pb2.Comment)


@comment.command("delete")
@click.argument("issue_id", metavar="ID")
@click.argument("comment_id", metavar="COMMENT")
@click.option("-y", "--yes", is_flag=True, help="Do not ask for confirmation (required without a terminal).")
@connection_options
def delete_comment(issue_id: str, comment_id: str, yes: bool) -> None:
    """Delete a comment (your own; any, with an admin token)."""
    from .client import pb

    confirmed(f"Delete comment {comment_id}", yes)
    with client() as connection:
        response = connection.call("DeleteComment", pb.DeleteCommentRequest(issue_id=issue_id, comment_id=comment_id))
    show(response, lambda out: out.line(out.styled(f"deleted comment {comment_id}", None)))


@click.command()
@click.argument("issue_id", metavar="ID")
@click.argument("comment_id", metavar="COMMENT")
@click.argument("emoji")
@click.option("--remove", is_flag=True, help="Take your reaction back.")
@connection_options
def react(issue_id: str, comment_id: str, emoji: str, remove: bool) -> None:
    """React to a comment with an emoji (👍), or --remove your reaction."""
    from . import views
    from .client import pb

    with client() as connection:
        if remove:
            connection.call(
                "RemoveReaction", pb.RemoveReactionRequest(issue_id=issue_id, comment_id=comment_id, emoji=emoji)
            )
            reacted = find_comment(connection, issue_id, comment_id)
        else:
            reacted = connection.call(
                "AddReaction", pb.AddReactionRequest(issue_id=issue_id, comment_id=comment_id, emoji=emoji)
            )
    show(reacted, lambda out: out.line(views.reactions_line(reacted) or "no reactions"), comment_pb2.Comment)


def register(group: click.Group) -> None:
    group.add_command(comment)
    group.add_command(react)
