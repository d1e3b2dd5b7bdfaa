"""issues.v1.IssueService: the workspace's workflow."""

from __future__ import annotations

from issues.v1 import issue_service_pb2 as pb, workflow_pb2

from ..app import workflows
from ..app.runner import Runner
from ..domain.errors import Violations
from ..domain.workflow import STATUSES
from . import request_values
from .messages import workflow as _message
from .pipeline import Call


class WorkflowServicer:
    def __init__(self, runner: Runner) -> None:
        self._runner = runner

    def GetWorkflow(self, request: pb.GetWorkflowRequest, call: Call) -> workflow_pb2.Workflow:
        return _message(workflows.get_workflow(self._runner, call.principal))

    def UpdateWorkflow(self, request: pb.UpdateWorkflowRequest, call: Call) -> workflow_pb2.Workflow:
        v = Violations()
        wanted = {
            status: request_values.enum_filter(
                v, f"transitions.{status}", getattr(request.transitions, status), request_values.STATUS_NAMES
            )
            for status in STATUSES
        }
        v.check()
        return _message(workflows.update_workflow(self._runner, call.principal, wanted))
