"""issues.v1.IssueService: the issue methods, bulk updates, sub-issues and history."""

from __future__ import annotations

import datetime
import uuid

from google.protobuf import empty_pb2

from issues.v1 import issue_pb2, issue_service_pb2 as pb

from ..app import history, issues, page_tokens
from ..app.runner import Runner
from ..blobs import BlobStore
from ..domain.errors import Violations
from ..domain.identifiers import parse_issue_ref, require_issue_ref
from ..domain.issue_filters import ORDERS
from ..domain.limits import HISTORY_PAGE_DEFAULT, ISSUES_PAGE_DEFAULT
from . import list_filters, messages, paging, request_values
from .pipeline import Call

_OUTCOMES = {
    "updated": pb.BulkUpdateResult.OUTCOME_UPDATED,
    "unchanged": pb.BulkUpdateResult.OUTCOME_UNCHANGED,
    "failed": pb.BulkUpdateResult.OUTCOME_FAILED,
}


class IssuesServicer:
    def __init__(self, runner: Runner, blobs: BlobStore) -> None:
        self._runner = runner
        self._blobs = blobs
        self._messages = messages.IssueMessages()

    def CreateIssue(self, request: pb.CreateIssueRequest, call: Call) -> issue_pb2.Issue:
        v = Violations()  # the issue's fields and its first comment, refused together
        values = request_values.issue_values(request, request_values.ISSUE_FIELDS, creating=True, v=v)
        comment = request_values.initial_comment(v, request)
        request_id = request_values.request_id(v, request, messages.issue)
        v.check()
        parent = values.pop("parent_id", None)
        view = issues.create_issue(
            self._runner, call.principal, self._blobs, values, comment=comment, parent=parent, request_id=request_id
        )
        return messages.issue(view)

    def GetIssue(self, request: pb.GetIssueRequest, call: Call) -> issue_pb2.Issue:
        ref = require_issue_ref("issue_id", request.issue_id)
        return messages.issue(issues.get_issue(self._runner, call.principal, ref))

    def ListIssues(self, request: pb.ListIssuesRequest, call: Call) -> bytes:
        """The ListIssuesResponse, encoded: its items are the cache's encoded
        entries, concatenated (messages.IssueMessages)."""
        walk = paging.Walk.resume(request, page_tokens.scope("issues", call.principal.workspace_id))
        v = Violations()
        f, order_by = list_filters.issue_filter(v, walk.request)
        at = walk.page(v, _ISSUE_POSITIONS[ORDERS[order_by][0]], default_limit=ISSUES_PAGE_DEFAULT)
        page = issues.list_issues(
            self._runner, call.principal, self._messages, f, order_by, limit=at.limit, offset=at.offset, after=at.after
        )
        items, token = walk.respond(page.items, page.positions, page.more)
        return messages.list_response(items, pb.ListIssuesResponse(count=page.total, next_page_token=token))

    def UpdateIssue(self, request: pb.UpdateIssueRequest, call: Call) -> issue_pb2.Issue:
        v = Violations()
        ref = parse_issue_ref(v, "issue_id", request.issue_id)
        v.check()
        assert ref is not None
        paths = request_values.update_paths(request, request_values.ISSUE_FIELDS)
        values = request_values.issue_values(request, paths, creating=False)
        view = issues.update_issue(self._runner, call.principal, self._blobs, ref, values, etag=request.etag or None)
        return messages.issue(view)

    def DeleteIssue(self, request: pb.DeleteIssueRequest, call: Call) -> empty_pb2.Empty:
        ref = require_issue_ref("issue_id", request.issue_id)
        issues.delete_issue(self._runner, call.principal, ref, etag=request.etag or None)
        return empty_pb2.Empty()

    def BulkUpdateIssues(self, request: pb.BulkUpdateIssuesRequest, call: Call) -> pb.BulkUpdateIssuesResponse:
        refs, values = request_values.bulk_update(request)
        results = issues.bulk_update(self._runner, call.principal, refs, values, asked=list(request.ids))
        response = pb.BulkUpdateIssuesResponse(updated=sum(r.outcome == "updated" for r in results))
        for requested, result in zip(request.ids, results):
            item = response.results.add(id=requested, outcome=_OUTCOMES[result.outcome])
            shown = result.error_shown()
            if shown is not None:
                item.error.CopyFrom(pb.BulkUpdateError(**shown))
        return response

    def ListSubIssues(self, request: pb.ListSubIssuesRequest, call: Call) -> pb.ListSubIssuesResponse:
        principal = call.principal
        items, total, token = paging.under_issue(
            request,
            principal.workspace_id,
            "sub_issues",
            (datetime.datetime, uuid.UUID),
            default_limit=ISSUES_PAGE_DEFAULT,
            fetch=lambda ref, limit, offset, after: issues.list_sub_issues(
                self._runner, principal, ref, limit, offset, after
            ),
            build=messages.issue,
            position=lambda view: (view.row.created_at, view.row.uuid),
        )
        return pb.ListSubIssuesResponse(items=items, count=total, next_page_token=token)

    def ListIssueHistory(self, request: pb.ListIssueHistoryRequest, call: Call) -> pb.ListIssueHistoryResponse:
        principal = call.principal
        items, total, token = paging.under_issue(
            request,
            principal.workspace_id,
            "history",
            (datetime.datetime, int, uuid.UUID),
            default_limit=HISTORY_PAGE_DEFAULT,
            fetch=lambda ref, limit, offset, after: history.list_history(
                self._runner, principal, ref, limit, offset, after
            ),
            build=messages.history_entry,
            position=lambda row: (row.created_at, row.position, row.uuid),
        )
        return pb.ListIssueHistoryResponse(items=items, count=total, next_page_token=token)


# The types of an issue's position in each order (storage/issue_lists.py).
_ISSUE_POSITIONS: dict[str, tuple[type, ...]] = {
    "created_at": (datetime.datetime, uuid.UUID),
    "updated_at": (datetime.datetime, uuid.UUID),
    "priority": (int, datetime.datetime, uuid.UUID),
}
