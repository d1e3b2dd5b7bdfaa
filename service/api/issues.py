"""issues.v1.IssueService: the issue methods, sub-issues and history."""

from __future__ import annotations

from google.protobuf import empty_pb2

from issues.v1 import issue_pb2, issue_service_pb2 as pb

from ..app import history, issues
from ..blobs import BlobStore
from ..domain.errors import Violations
from ..domain.identifiers import parse_issue_ref, require_issue_ref
from ..domain.limits import HISTORY_PAGE_DEFAULT, ISSUES_PAGE_DEFAULT
from . import messages, requests
from .pipeline import Call


class IssuesServicer:
    def __init__(self, blobs: BlobStore) -> None:
        self._blobs = blobs
        self._messages = messages.IssueMessages()

    def CreateIssue(self, request: pb.CreateIssueRequest, call: Call) -> issue_pb2.Issue:
        v = Violations()  # the issue's fields and its first comment, refused together
        values = requests.issue_values(request, requests.ISSUE_FIELDS, creating=True, v=v)
        comment = requests.initial_comment(v, request)
        v.check()
        parent = values.pop("parent_id", None)
        view = issues.create_issue(call.principal, self._blobs, values, comment=comment, parent=parent)
        return messages.issue(view)

    def GetIssue(self, request: pb.GetIssueRequest, call: Call) -> issue_pb2.Issue:
        return messages.issue(issues.get_issue(call.principal, require_issue_ref("issue_id", request.issue_id)))

    def ListIssues(self, request: pb.ListIssuesRequest, call: Call) -> pb.ListIssuesResponse:
        v = Violations()
        limit, offset = requests.page(v, request, default_limit=ISSUES_PAGE_DEFAULT)
        statuses = requests.enum_filter(v, "status", request.status, requests.STATUS_NAMES)
        priorities = requests.enum_filter(v, "priority", request.priority, requests.PRIORITY_NAMES)
        refs = requests.ref_filters(v, request.ref)
        v.check()
        items, total = issues.list_issues(
            call.principal, self._messages, statuses=statuses, priorities=priorities, refs=refs,
            limit=limit, offset=offset,
        )
        return pb.ListIssuesResponse(items=messages.fit(items), count=total)

    def UpdateIssue(self, request: pb.UpdateIssueRequest, call: Call) -> issue_pb2.Issue:
        v = Violations()
        ref = parse_issue_ref(v, "issue_id", request.issue_id)
        v.check()
        assert ref is not None
        paths = requests.update_paths(request, requests.ISSUE_FIELDS)
        values = requests.issue_values(request, paths, creating=False)
        return messages.issue(issues.update_issue(call.principal, self._blobs, ref, values))

    def DeleteIssue(self, request: pb.DeleteIssueRequest, call: Call) -> empty_pb2.Empty:
        issues.delete_issue(call.principal, require_issue_ref("issue_id", request.issue_id))
        return empty_pb2.Empty()

    def ListSubIssues(self, request: pb.ListSubIssuesRequest, call: Call) -> pb.ListSubIssuesResponse:
        ref, limit, offset = requests.issue_page(request, default_limit=ISSUES_PAGE_DEFAULT)
        views, total = issues.list_sub_issues(call.principal, ref, limit, offset)
        return pb.ListSubIssuesResponse(items=messages.fit([messages.issue(i) for i in views]), count=total)

    def ListIssueHistory(self, request: pb.ListIssueHistoryRequest, call: Call) -> pb.ListIssueHistoryResponse:
        ref, limit, offset = requests.issue_page(request, default_limit=HISTORY_PAGE_DEFAULT)
        rows, total = history.list_history(call.principal, ref, limit, offset)
        return pb.ListIssueHistoryResponse(items=messages.fit([messages.history_entry(r) for r in rows]), count=total)
