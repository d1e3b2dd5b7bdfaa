"""issues.v1.IssueService: validate the request, run one transaction, convert.

Authentication, role checks, error mapping and logging happen around these
handlers in `interceptors.py`; a handler sees an authenticated principal via
`auth.current()` and raises `errors.ServiceError` subclasses for the caller.
"""

from __future__ import annotations

import datetime
import uuid
from typing import Any

import grpc
from google.protobuf import empty_pb2

from issues.v1 import comment_pb2, issue_pb2, issue_service_pb2 as pb, issue_service_pb2_grpc, metrics_pb2

from . import auth, convert, validation
from .auth import Role
from .errors import FieldViolation, InvalidArgument, NotFound, PermissionDenied, FailedPrecondition
from .storage import comments as comments_store
from .storage import files as files_store
from .storage import issues as issues_store
from .storage.database import transaction
from .storage.models import Issue, utcnow
from .validation import PRIORITY_NAMES, STATUS_NAMES, Violations

METRICS_DAYS_DEFAULT = 30
METRICS_DAYS_MAX = 366


class IssueService(issue_service_pb2_grpc.IssueServiceServicer):
    # -- issues -------------------------------------------------------------

    def CreateIssue(self, request: pb.CreateIssueRequest, context: grpc.ServicerContext) -> issue_pb2.Issue:
        principal = auth.current()
        values = validation.issue_values(request, validation.ISSUE_FIELDS, creating=True)
        _require_attachments("attachment_ids", values["attachment_ids"])

        def work() -> issue_pb2.Issue:
            row = issues_store.create(principal.workspace_id, principal.email, values)
            return convert.issue(row)

        return transaction(work, write=True)

    def GetIssue(self, request: pb.GetIssueRequest, context: grpc.ServicerContext) -> issue_pb2.Issue:
        principal = auth.current()
        issue_id = validation.require_uuid("issue_id", request.issue_id)
        return transaction(lambda: convert.issue(_issue(principal.workspace_id, issue_id)))

    def ListIssues(self, request: pb.ListIssuesRequest, context: grpc.ServicerContext) -> pb.ListIssuesResponse:
        principal = auth.current()
        v = Violations()
        limit, offset = validation.page(v, request, default_limit=100)
        statuses = _enum_filter(v, "status", request.status, STATUS_NAMES)
        priorities = _enum_filter(v, "priority", request.priority, PRIORITY_NAMES)
        v.check()

        def work() -> pb.ListIssuesResponse:
            rows, total = issues_store.page(principal.workspace_id, statuses, priorities, limit, offset)
            return pb.ListIssuesResponse(items=[convert.issue(r) for r in rows], count=total)

        return transaction(work, snapshot=True)

    def UpdateIssue(self, request: pb.UpdateIssueRequest, context: grpc.ServicerContext) -> issue_pb2.Issue:
        principal = auth.current()
        issue_id = validation.require_uuid("issue_id", request.issue_id)
        paths = validation.update_paths(request, validation.ISSUE_FIELDS)
        values = validation.issue_values(request, paths, creating=False)
        _require_attachments("attachment_ids", values.get("attachment_ids", []))

        def work() -> issue_pb2.Issue:
            row = _issue(principal.workspace_id, issue_id, for_update=True)
            return convert.issue(issues_store.update(row, values))

        return transaction(work, write=True)

    def DeleteIssue(self, request: pb.DeleteIssueRequest, context: grpc.ServicerContext) -> empty_pb2.Empty:
        principal = auth.current()
        issue_id = validation.require_uuid("issue_id", request.issue_id)

        def work() -> empty_pb2.Empty:
            if not issues_store.delete(principal.workspace_id, issue_id):
                raise _issue_not_found(issue_id)
            return empty_pb2.Empty()

        return transaction(work, write=True)

    def GetIssueMetrics(
        self, request: pb.GetIssueMetricsRequest, context: grpc.ServicerContext
    ) -> pb.GetIssueMetricsResponse:
        principal = auth.current()
        days = request.days if request.HasField("days") else METRICS_DAYS_DEFAULT
        if not 1 <= days <= METRICS_DAYS_MAX:
            raise InvalidArgument([FieldViolation("days", f"must be between 1 and {METRICS_DAYS_MAX}, got {days}")])
        today = utcnow().date()
        first_day = today - datetime.timedelta(days=days - 1)
        since = datetime.datetime.combine(first_day, datetime.time())
        counts = transaction(lambda: issues_store.counts(principal.workspace_id, since), snapshot=True)
        return pb.GetIssueMetricsResponse(metrics=_charts(counts, first_day, days))

    # -- comments -----------------------------------------------------------

    def ListComments(self, request: pb.ListCommentsRequest, context: grpc.ServicerContext) -> pb.ListCommentsResponse:
        principal = auth.current()
        v = Violations()
        issue_id = validation.parse_uuid(v, "issue_id", request.issue_id)
        limit, offset = validation.page(v, request, default_limit=50)
        v.check()

        def work() -> pb.ListCommentsResponse:
            _issue(principal.workspace_id, issue_id)
            rows, total = comments_store.page(issue_id, limit, offset)
            return pb.ListCommentsResponse(items=[convert.comment(r) for r in rows], count=total)

        return transaction(work, snapshot=True)

    def CreateComment(self, request: pb.CreateCommentRequest, context: grpc.ServicerContext) -> comment_pb2.Comment:
        principal = auth.current()
        v = Violations()
        issue_id = validation.parse_uuid(v, "issue_id", request.issue_id)
        content = _comment_content(v, request.content)
        attachment_ids = validation.uuid_list(
            v, "attachment_ids", request.attachment_ids, max_items=validation.COMMENT_ATTACHMENTS_MAX
        )
        v.check()
        _require_attachments("attachment_ids", attachment_ids)

        def work() -> comment_pb2.Comment:
            _issue(principal.workspace_id, issue_id)
            return convert.comment(comments_store.create(issue_id, principal.email, content))

        return transaction(work, write=True)

    def UpdateComment(self, request: pb.UpdateCommentRequest, context: grpc.ServicerContext) -> comment_pb2.Comment:
        principal = auth.current()
        v = Violations()
        issue_id = validation.parse_uuid(v, "issue_id", request.issue_id)
        comment_id = validation.parse_uuid(v, "comment_id", request.comment_id)
        v.check()
        paths = validation.update_paths(request, ("content", "attachment_ids"))
        v = Violations()
        content = _comment_content(v, request.content) if "content" in paths else None
        attachment_ids = validation.uuid_list(
            v, "attachment_ids", request.attachment_ids, max_items=validation.COMMENT_ATTACHMENTS_MAX
        )
        v.check()
        _require_attachments("attachment_ids", attachment_ids)

        def work() -> comment_pb2.Comment:
            row = _own_comment(principal, issue_id, comment_id)
            if row.is_deleted:
                raise FailedPrecondition(f"comment {comment_id} is deleted and cannot be edited")
            if content is not None:
                comments_store.edit(row, content)
            return convert.comment(row)

        return transaction(work, write=True)

    def DeleteComment(self, request: pb.DeleteCommentRequest, context: grpc.ServicerContext) -> empty_pb2.Empty:
        principal = auth.current()
        v = Violations()
        issue_id = validation.parse_uuid(v, "issue_id", request.issue_id)
        comment_id = validation.parse_uuid(v, "comment_id", request.comment_id)
        v.check()

        def work() -> empty_pb2.Empty:
            row = _own_comment(principal, issue_id, comment_id)
            if not row.is_deleted:  # deleting twice is not an error
                comments_store.soft_delete(row)
            return empty_pb2.Empty()

        return transaction(work, write=True)

    # -- files --------------------------------------------------------------

    def ListIssueFiles(
        self, request: pb.ListIssueFilesRequest, context: grpc.ServicerContext
    ) -> pb.ListIssueFilesResponse:
        principal = auth.current()
        issue_id = validation.require_uuid("issue_id", request.issue_id)
        if len(request.file_type) > 64:
            raise InvalidArgument([FieldViolation("file_type", "must be at most 64 characters")])

        def work() -> pb.ListIssueFilesResponse:
            _issue(principal.workspace_id, issue_id)
            rows = files_store.for_issue(issue_id, request.file_type)
            return pb.ListIssueFilesResponse(files=[convert.issue_file(r) for r in rows])

        return transaction(work, snapshot=True)


# -- helpers ------------------------------------------------------------------


def _issue_not_found(issue_id: uuid.UUID) -> NotFound:
    # The same answer whether the issue never existed or is in another workspace.
    return NotFound(f"issue {issue_id} not found")


def _issue(workspace_id: int, issue_id: uuid.UUID, *, for_update: bool = False) -> Issue:
    row = issues_store.get(workspace_id, issue_id, for_update=for_update)
    if row is None:
        raise _issue_not_found(issue_id)
    return row


def _own_comment(principal: auth.Principal, issue_id: uuid.UUID, comment_id: uuid.UUID) -> Any:
    _issue(principal.workspace_id, issue_id)
    row = comments_store.get(principal.workspace_id, issue_id, comment_id)
    if row is None:
        raise NotFound(f"comment {comment_id} not found on issue {issue_id}")
    if row.created_by != principal.email and principal.role < Role.ADMIN:
        raise PermissionDenied("only the comment's author or an admin may change it")
    return row


def _comment_content(v: Violations, content: str) -> str:
    if not content.strip():
        v.add("content", "must not be empty")
    elif len(content) > validation.COMMENT_MAX:
        v.add("content", f"must be at most {validation.COMMENT_MAX} characters, got {len(content)}")
    return content


def _enum_filter(v: Violations, field: str, values: Any, names: dict[int, str]) -> list[str]:
    out = []
    for i, value in enumerate(values):
        name = validation.enum_value(v, f"{field}[{i}]", value, names)
        if name:
            out.append(name)
    return sorted(set(out))


def _require_attachments(field: str, ids: list[uuid.UUID]) -> None:
    """Referenced attachments must be ready files of the caller's workspace.

    No attachment can exist until the upload flow is built, so every id
    named here is unknown; refusing it keeps the contract's error behaviour.
    """
    if ids:
        raise InvalidArgument(
            [FieldViolation(f"{field}[{i}]", f"attachment {a} does not exist in this workspace") for i, a in enumerate(ids)]
        )


_ACTIVE = ("open", "in_progress")


def _charts(counts: issues_store.Counts, first_day: datetime.date, days: int) -> list[metrics_pb2.Chart]:
    by_priority = {p: 0 for p in ("high", "medium", "low")}
    by_status = {s: 0 for s in STATUS_NAMES.values()}
    for (status, priority), n in counts.by_status_priority.items():
        by_status[status] = by_status.get(status, 0) + n
        if status in _ACTIVE:
            by_priority[priority] = by_priority.get(priority, 0) + n

    def pie(title: str, values: dict[str, int]) -> metrics_pb2.Chart:
        return metrics_pb2.Chart(
            chart_type=metrics_pb2.Chart.CHART_TYPE_PIE_CHART,
            chart_data=metrics_pb2.ChartData(
                title=title,
                data=[metrics_pb2.ChartPoint(label=k, value=n) for k, n in values.items()],
            ),
        )

    labels = [(first_day + datetime.timedelta(days=i)).isoformat() for i in range(days)]
    trend = metrics_pb2.Chart(
        chart_type=metrics_pb2.Chart.CHART_TYPE_MIXED_CHART,
        chart_data=metrics_pb2.ChartData(
            title="Opened vs Resolved",
            labels=labels,
            series=[
                metrics_pb2.ChartSeries(label="opened", type="bar", values=[counts.opened_per_day.get(d, 0) for d in labels]),
                metrics_pb2.ChartSeries(label="resolved", type="line", values=[counts.resolved_per_day.get(d, 0) for d in labels]),
            ],
        ),
    )
    return [pie("Active Issues", by_priority), pie("Issues by Status", by_status), trend]
