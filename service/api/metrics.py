"""issues.v1.IssueService: GetIssueMetrics, the charts built from the counters."""

from __future__ import annotations

import datetime

from issues.v1 import issue_service_pb2 as pb, metrics_pb2

from ..app import issues
from ..app.issues import Counts
from ..app.runner import Runner
from ..domain import workflow
from ..domain.errors import InvalidArgument
from ..domain.limits import METRICS_DAYS_DEFAULT, METRICS_DAYS_MAX
from .pipeline import Call


class MetricsServicer:
    def __init__(self, runner: Runner) -> None:
        self._runner = runner

    def GetIssueMetrics(self, request: pb.GetIssueMetricsRequest, call: Call) -> pb.GetIssueMetricsResponse:
        days = request.days if request.HasField("days") else METRICS_DAYS_DEFAULT
        if not 1 <= days <= METRICS_DAYS_MAX:
            raise InvalidArgument.field("days", f"must be between 1 and {METRICS_DAYS_MAX}, got {days}")
        today = datetime.datetime.now(datetime.UTC).date()
        first_day = today - datetime.timedelta(days=days - 1)
        counts = issues.issue_counts(self._runner, call.principal, first_day)
        return pb.GetIssueMetricsResponse(metrics=build(counts, first_day, days))


def build(counts: Counts, first_day: datetime.date, days: int) -> list[metrics_pb2.Chart]:
    """ "Active Issues" by priority, issues by status, then opened vs resolved per day."""
    # The contract orders the "Active Issues" slices high, medium, low.
    by_priority = {p: 0 for p in reversed(workflow.PRIORITIES)}
    by_status = {s: 0 for s in workflow.STATUSES}
    for (status, priority), n in counts.by_status_priority.items():
        by_status[status] = by_status.get(status, 0) + n
        if status in workflow.ACTIVE:
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
                metrics_pb2.ChartSeries(
                    label="opened", type="bar", values=[counts.opened_per_day.get(d, 0) for d in labels]
                ),
                metrics_pb2.ChartSeries(
                    label="resolved", type="line", values=[counts.resolved_per_day.get(d, 0) for d in labels]
                ),
            ],
        ),
    )
    return [pie("Active Issues", by_priority), pie("Issues by Status", by_status), trend]
