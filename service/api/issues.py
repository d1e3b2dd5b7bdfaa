"""issues.v1.IssueService: the issue methods."""

from __future__ import annotations

from google.protobuf import empty_pb2

from issues.v1 import issue_pb2, issue_service_pb2 as pb

from ..app import issues
from ..blobs import BlobStore
from ..domain.errors import Violations
from ..domain.identifiers import parse_uuid, require_uuid
from ..domain.limits import ISSUES_PAGE_DEFAULT
from . import messages, requests
from .pipeline import Call


class IssuesServicer:
    def __init__(self, blobs: BlobStore) -> None:
        self._blobs = blobs
        self._messages = messages.IssueMessages()

    def CreateIssue(self, request: pb.CreateIssueRequest, call: Call) -> issue_pb2.Issue:
        values = requests.issue_values(request, requests.ISSUE_FIELDS, creating=True)
        return messages.issue(issues.create_issue(call.principal, self._blobs, values))

    def GetIssue(self, request: pb.GetIssueRequest, call: Call) -> issue_pb2.Issue:
        issue_id = require_uuid("issue_id", request.issue_id)
        return messages.issue(issues.get_issue(call.principal, issue_id))

    def ListIssues(self, request: pb.ListIssuesRequest, call: Call) -> pb.ListIssuesResponse:
        v = Violations()
        limit, offset = requests.page(v, request, default_limit=ISSUES_PAGE_DEFAULT)
        statuses = requests.enum_filter(v, "status", request.status, requests.STATUS_NAMES)
        priorities = requests.enum_filter(v, "priority", request.priority, requests.PRIORITY_NAMES)
        v.check()
        items, total = issues.list_issues(
            call.principal, self._messages, statuses=statuses, priorities=priorities, limit=limit, offset=offset
        )
        return pb.ListIssuesResponse(items=messages.fit(items), count=total)

    def UpdateIssue(self, request: pb.UpdateIssueRequest, call: Call) -> issue_pb2.Issue:
        v = Violations()
        issue_id = parse_uuid(v, "issue_id", request.issue_id)
        v.check()
        assert issue_id is not None
        paths = requests.update_paths(request, requests.ISSUE_FIELDS)
        values = requests.issue_values(request, paths, creating=False)
        return messages.issue(issues.update_issue(call.principal, self._blobs, issue_id, values))

    def DeleteIssue(self, request: pb.DeleteIssueRequest, call: Call) -> empty_pb2.Empty:
        issues.delete_issue(call.principal, require_uuid("issue_id", request.issue_id))
        return empty_pb2.Empty()
