"""GetIssueMetrics and ListIssueFiles over gRPC."""

from __future__ import annotations

import datetime

import grpc
import pytest
from google.protobuf import field_mask_pb2

from issues.v1 import issue_pb2, metrics_pb2

Issue = issue_pb2.Issue
Chart = metrics_pb2.Chart


def test_an_empty_workspace_has_zero_counts_in_every_chart(workspace):
    active, by_status, trend = workspace.viewer.GetIssueMetrics().metrics

    assert active.chart_type == Chart.CHART_TYPE_PIE_CHART
    assert active.chart_data.title == "Active Issues"
    assert [(p.label, p.value) for p in active.chart_data.data] == [("high", 0), ("medium", 0), ("low", 0)]
    assert not active.chart_data.HasField("colors") and not active.chart_data.HasField("display_config")
    assert {p.label for p in by_status.chart_data.data} == {"open", "in_progress", "resolved", "rejected"}
    assert trend.chart_type == Chart.CHART_TYPE_MIXED_CHART
    assert len(trend.chart_data.labels) == 30
    assert all(v == 0 for s in trend.chart_data.series for v in s.values)


def test_active_issues_counts_open_and_in_progress_by_priority(workspace):
    api = workspace.member
    for status, priority in [
        (Issue.STATUS_OPEN, Issue.PRIORITY_HIGH),
        (Issue.STATUS_IN_PROGRESS, Issue.PRIORITY_HIGH),
        (Issue.STATUS_OPEN, Issue.PRIORITY_LOW),
        (Issue.STATUS_RESOLVED, Issue.PRIORITY_HIGH),  # not active
        (Issue.STATUS_REJECTED, Issue.PRIORITY_MEDIUM),  # not active
    ]:
        api.CreateIssue(title="t", status=status, priority=priority)

    active, by_status, trend = workspace.viewer.GetIssueMetrics().metrics

    assert [(p.label, p.value) for p in active.chart_data.data] == [("high", 2), ("medium", 0), ("low", 1)]
    assert {p.label: p.value for p in by_status.chart_data.data} == {
        "open": 2,
        "in_progress": 1,
        "resolved": 1,
        "rejected": 1,
    }
    today = datetime.datetime.now(datetime.UTC).date().isoformat()
    assert trend.chart_data.labels[-1] == today
    opened, resolved = trend.chart_data.series
    assert (opened.label, opened.values[-1]) == ("opened", 5)
    assert (resolved.label, resolved.values[-1]) == ("resolved", 1)


def test_resolving_later_counts_on_the_day_it_was_resolved(workspace):
    issue = workspace.member.CreateIssue(title="t")
    workspace.member.UpdateIssue(
        issue_id=issue.uuid, update_mask=field_mask_pb2.FieldMask(paths=["status"]), status=Issue.STATUS_RESOLVED
    )
    _, _, trend = workspace.viewer.GetIssueMetrics(days=7).metrics
    assert len(trend.chart_data.labels) == 7
    assert trend.chart_data.series[1].values[-1] == 1


def test_metrics_days_out_of_range_is_refused(workspace):
    with pytest.raises(grpc.RpcError) as error:
        workspace.viewer.GetIssueMetrics(days=0)
    assert error.value.code() == grpc.StatusCode.INVALID_ARGUMENT


def test_an_issue_without_files_lists_none(workspace):
    issue = workspace.member.CreateIssue(title="t")
    assert list(workspace.viewer.ListIssueFiles(issue_id=issue.uuid).files) == []
    assert list(workspace.viewer.ListIssueFiles(issue_id=issue.uuid, file_type="troubleshooting_plan").files) == []
