"""How issues, comments and charts look on screen (the `--json` form is common.jsonout's)."""

from __future__ import annotations

import sys
from typing import Any, Callable, Sequence

from common.enums import enum_names
from common.jsonout import to_json
from issues.v1 import issue_pb2, metrics_pb2

from .output import Output, when

_STATUS = enum_names(issue_pb2.Issue.Status.DESCRIPTOR)
_PRIORITY = enum_names(issue_pb2.Issue.Priority.DESCRIPTOR)
_STATUS_STYLE = {"open": "green", "in_progress": "yellow", "resolved": "blue", "rejected": "dim"}
_PRIORITY_STYLE = {"high": "bold red", "medium": "yellow", "low": "dim"}
# The ID people use is `identifier` (ACM-42); stubs without the field (from before SPEC 8.1),
# or a server that sends none, leave the uuid as the ID.
_HAS_IDENTIFIER = "identifier" in issue_pb2.Issue.DESCRIPTOR.fields_by_name
_BAR = "█"
_BAR_WIDTH = 40


def issue_id(issue: issue_pb2.Issue) -> str:
    """What people call the issue: its identifier when the API has one, else its uuid."""
    if _HAS_IDENTIFIER and getattr(issue, "identifier", ""):
        return str(issue.identifier)  # type: ignore[attr-defined]
    return issue.uuid


def status_name(issue: issue_pb2.Issue) -> str:
    return _STATUS.get(issue.status, "")


def priority_name(issue: issue_pb2.Issue) -> str:
    return _PRIORITY.get(issue.priority, "")


def issue_table(out: Output, issues: Sequence[issue_pb2.Issue]) -> None:
    rows, styles = [], []
    for issue in issues:
        status, priority = status_name(issue), priority_name(issue)
        rows.append([issue_id(issue), issue.title, status, priority, issue.owner, when(issue.created_at, out.tty)])
        styles.append(["cyan", None, _STATUS_STYLE.get(status), _PRIORITY_STYLE.get(priority), None, "dim"])
    out.table(["ID", "TITLE", "STATUS", "PRIORITY", "OWNER", "CREATED"], rows, styles, shrink=1, droppable=(5, 4, 3))


def issue_detail(
    out: Output,
    issue: issue_pb2.Issue,
    comments: Sequence[Any],
    parent: Any = None,
    sub_issues: Sequence[issue_pb2.Issue] = (),
    history: Sequence[Any] | None = None,
) -> None:
    """The issue's fields, its description's text, attachments, sub-issues, every comment, and its history if given."""
    out.line(out.styled(f"{issue_id(issue)}  {issue.title}", "bold"))
    status, priority = status_name(issue), priority_name(issue)
    fields = [
        ("status", out.styled(status, _STATUS_STYLE.get(status))),
        ("priority", out.styled(priority, _PRIORITY_STYLE.get(priority))),
        ("owner", out.styled(issue.owner, None)),
        ("tags", out.styled(", ".join(issue.tags) or "-", None)),
        ("created", out.styled(f"{when(issue.created_at, out.tty)} by {issue.created_by}", None)),
        ("updated", out.styled(when(issue.updated_at, out.tty), None)),
    ]
    if _HAS_IDENTIFIER and issue_id(issue) != issue.uuid:
        fields.append(("uuid", issue.uuid))
    if issue.HasField("resolved_at"):
        fields.append(("resolved", out.styled(when(issue.resolved_at, out.tty), None)))
    if issue.HasField("resolution_summary"):
        fields.append(("resolution", out.styled(issue.resolution_summary, None)))
    if parent is not None:
        fields.append(("parent", f"{out.styled(issue_id(parent), 'cyan')}  {out.styled(parent.title, None)}"))
    for key, value in sorted(issue.refs.items()):
        fields.append(("ref", out.styled(f"{key}: {value}", None)))
    for name, value in fields:
        out.line(f"{out.styled(name.ljust(10), 'dim')}  {value}")
    text = description_text(issue)
    if text:
        out.line()
        for line in text.splitlines():
            out.line("  " + out.styled(line, None))
    for attachment in issue.attachments:
        out.line(
            f"{out.styled('attached'.ljust(10), 'dim')}  {out.styled(attachment.file_name, None)} ({attachment.uuid})"
        )
    if sub_issues:
        out.line()
        out.line(out.styled(f"{len(sub_issues)} sub-issue{'s' if len(sub_issues) != 1 else ''}", "bold"))
        for sub in sub_issues:
            status = status_name(sub)
            out.line(
                f"  {out.styled(issue_id(sub), 'cyan')}  {out.styled(status, _STATUS_STYLE.get(status))}  "
                f"{out.styled(sub.title, None)}"
            )
    out.line()
    out.line(out.styled(f"{len(comments)} comment{'s' if len(comments) != 1 else ''}", "bold"))
    for comment in comments:
        header = f"{comment.created_by}, {when(comment.created_at, out.tty)}" + (
            " (edited)" if comment.is_edited else ""
        )
        out.line(out.styled(header, "cyan") + out.styled(f"  {comment.uuid}", "dim"))
        if comment.is_deleted:
            out.line("  " + out.styled("(deleted)", "dim"))
            continue
        for line in comment.content.splitlines() or [""]:
            out.line("  " + out.styled(line, None))
        for attachment in comment.attachments:
            out.line("  " + out.styled(f"[{attachment.file_name}] {attachment.uuid}", "dim"))
        if comment.reactions:
            out.line("  " + out.styled(reactions_line(comment), None))
    if history is not None:
        out.line()
        out.line(out.styled("history", "bold"))
        history_table(out, history)


def reactions_line(comment: Any) -> str:
    """`👍 2 (ann@acme.co, bob@acme.co)  🎉 1 (ann@acme.co)`."""
    return "  ".join(f"{r.emoji} {r.count} ({', '.join(r.users)})" for r in comment.reactions)


def history_table(out: Output, entries: Sequence[Any]) -> None:
    """One row per change: when, who, what, and the field's old and new values."""
    rows = []
    for entry in entries:
        change = ""
        if entry.HasField("old_value") or entry.HasField("new_value"):
            change = f"{_value(entry.old_value)} -> {_value(entry.new_value)}"
        rows.append([when(entry.timestamp, out.tty), entry.actor, entry.action, change])
    out.table(["WHEN", "ACTOR", "ACTION", "CHANGE"], rows, shrink=3)


def _value(value: Any) -> str:
    """A history value as short text: strings bare, null as `-`, lists and objects as compact JSON."""
    import json

    data = to_json(value)
    if data is None:
        return "-"
    return data if isinstance(data, str) else json.dumps(data, ensure_ascii=False, separators=(",", ":"))


def description_text(issue: issue_pb2.Issue) -> str:
    """The text of the description's blocks; other kinds of block are named, not shown."""
    parts = []
    for block in issue.description:
        kind = block.fields["type"].string_value if "type" in block.fields else ""
        if "text" in block.fields and block.fields["text"].HasField("string_value"):
            parts.append(block.fields["text"].string_value)
        else:
            parts.append(f"[{kind or 'block'}]")
    return "\n".join(parts)


def charts(out: Output, charts: Sequence[metrics_pb2.Chart]) -> None:
    """Each chart as horizontal bars scaled to its largest value."""
    for i, chart in enumerate(charts):
        if i:
            out.line()
        data = chart.chart_data
        out.line(out.styled(data.title, "bold"))
        if data.series:
            _series_bars(out, data)
        else:
            _bars(out, [(p.label, p.value) for p in data.data])


def _bar(value: int, largest: int) -> str:
    length = round(_BAR_WIDTH * value / largest) if largest else 0
    return _BAR * (length or (1 if value else 0))


def _bars(out: Output, points: Sequence[tuple[str, int]]) -> None:
    largest = max((v for _, v in points), default=0)
    width = max((len(label) for label, _ in points), default=0)
    for label, value in points:
        out.line(f"  {label.ljust(width)}  {out.styled(_bar(value, largest), 'cyan')} {value}")


def _series_bars(out: Output, data: metrics_pb2.ChartData) -> None:
    """A mixed chart: one row per label (day), one bar per series, days with nothing left out."""
    largest = max((v for s in data.series for v in s.values), default=0)
    colours = ["cyan", "magenta", "yellow", "green"]
    legend = ", ".join(out.styled(s.label, colours[i % 4]) for i, s in enumerate(data.series))
    out.line(f"  per day: {legend}")
    shown = 0
    for row, label in enumerate(data.labels):
        values = [s.values[row] if row < len(s.values) else 0 for s in data.series]
        if not any(values):
            continue
        shown += 1
        bars = "  ".join(f"{out.styled(_bar(v, largest), colours[i % 4])} {v}" for i, v in enumerate(values))
        out.line(f"  {label}  {bars}")
    if not shown:
        out.line("  " + out.styled(f"nothing in these {len(data.labels)} days", "dim"))


def event_line(out: Output, event: Any, issue_name: Callable[[str], str] = str) -> None:
    """`#12  2026-04-13T10:30:00.000000Z  issue.updated  ACM-7  ann@acme.co  status, owner`.

    An issue's event carries the issue (its identifier); any other names its
    issue by `issue_name(uuid)`, never by the comment's or file's own uuid.
    """
    data = to_json(event.data) if event.HasField("data") else {}
    if event.type.startswith("issue.") and data.get("identifier"):
        subject = data["identifier"]
    elif event.HasField("issue_id"):
        subject = issue_name(event.issue_id)
    else:
        subject = ""
    if event.type == "issue.updated":
        detail = ", ".join(c.get("field") or c.get("action", "") for c in data.get("changes", []))
    elif event.type.startswith("issue."):
        detail = data.get("title", "")
    elif event.type.startswith("reaction."):
        detail = (data.get("reaction") or {}).get("emoji", "")
    elif event.type.startswith("comment."):
        detail = (data.get("content") or "").splitlines()[0][:60] if data.get("content") else ""
    elif event.type == "file.added":
        detail = data.get("file_name", "")
    else:
        detail = ""
    cells = [f"#{event.sequence}", when(event.occurred_at, out.tty), event.type, str(subject), event.actor, detail]
    out.line(out.styled("  ".join(c for c in cells if c), None))
    sys.stdout.flush()
