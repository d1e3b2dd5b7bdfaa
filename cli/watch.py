"""`watch`: the workspace's events as they happen, resuming after a dropped connection."""

from __future__ import annotations

import sys
import time
from typing import Any

import click

from .context import as_json, client, connection_options, output
from .errors import CliError

# Ended by the server, or the connection lost: resume from the last sequence seen.
_RESUMABLE = ("UNAVAILABLE", "RESOURCE_EXHAUSTED", "INTERNAL", "UNKNOWN", "CANCELLED")


class IssueNames:
    """An issue's identifier (ACM-7) from its uuid, asked of the server once per issue.

    Comment and reaction events carry the comment, not the issue; the line
    names the issue as people do. A deleted issue keeps its uuid.
    """

    def __init__(self, connection: Any) -> None:
        self._connection = connection
        self._names: dict[str, str] = {}

    def __call__(self, issue_uuid: str) -> str:
        from .client import pb

        if issue_uuid not in self._names:
            try:
                found = self._connection.call("GetIssue", pb.GetIssueRequest(issue_id=issue_uuid))
                self._names[issue_uuid] = found.identifier or issue_uuid
            except CliError:
                self._names[issue_uuid] = issue_uuid
        return self._names[issue_uuid]


@click.command()
@click.option(
    "--after",
    type=click.IntRange(0),
    metavar="SEQUENCE",
    help="Replay the events after this sequence first (0: everything kept); default: from now on.",
)
@click.option(
    "--type", "types", multiple=True, metavar="TYPE", help="Only events of this type (repeatable), e.g. issue.created."
)
@click.option("--count", type=click.IntRange(1), help="Stop after this many events.")
@connection_options
def watch(after: int | None, types: tuple[str, ...], count: int | None) -> None:
    """Events as they happen, one a line (--json: one JSON object a line); resumes after a dropped connection."""
    import grpc

    from . import views
    from .client import describe, pb

    out = output()
    seen = 0
    delay = 0.5
    with client() as connection:
        names = IssueNames(connection)
        while True:
            request = pb.WatchEventsRequest(types=list(types))
            if after is not None:
                request.after_sequence = after
            try:
                for event in connection.stream("WatchEvents", request):
                    after = event.sequence
                    delay = 0.5
                    if as_json():
                        out.json_line(event)
                    else:
                        views.event_line(out, event, names)
                    seen += 1
                    if count is not None and seen >= count:
                        return
                raise CliError("the server ended the stream")  # a watch never ends on its own
            except grpc.RpcError as error:
                if error.code().name not in _RESUMABLE:
                    raise CliError(describe(error, connection.settings)) from None
                # Nothing seen yet (no --after): it resumes from now on, the cursor it never had.
                sys.stderr.write(
                    f"issuectl: {describe(error, connection.settings)}; resuming"
                    f"{f' after {after}' if after is not None else ''} in {delay:.1f} s\n"
                )
                time.sleep(delay)
                delay = min(delay * 2, 10.0)
