"""The metrics charts, built from the aggregate counts storage returns."""

from __future__ import annotations

import datetime

from issues.v1 import metrics_pb2

from .storage.issues import Counts
from .validation import STATUS_NAMES

_ACTIVE = ("open", "in_progress")


def build(counts: Counts, first_day: datetime.date, days: int) -> list[metrics_pb2.Chart]:
    """"Active Issues" by priority, issues by status, then opened vs resolved per day."""
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
