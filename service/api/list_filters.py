"""ListIssuesRequest's filters and order (SPEC 8.8) as an IssueFilter, every problem named."""

from __future__ import annotations

import datetime
import re

from issues.v1 import issue_service_pb2 as pb

from ..domain.errors import Violations
from ..domain.identifiers import parse_issue_ref
from ..domain.issue_filters import DEFAULT_ORDER, ORDERS, IssueFilter
from ..domain.limits import SHORT_MAX, TAG_MAX
from ..domain.search import query_words
from . import request_values

# The pattern the contract declares on the timestamp filters (one for all three).
TIMESTAMP = request_values.declared(pb.ListIssuesRequest, "created_after")
QUERY_MAX = 500
# Repeated filters: the most values each.
FILTER_VALUES_MAX = 20
_MICRO = datetime.timedelta(microseconds=1)


def timestamp(v: Violations, field: str, value: str, *, round_up: bool) -> datetime.datetime | None:
    """An RFC 3339 timestamp as naive UTC at the microseconds storage keeps.

    Nanoseconds round down for a strict `after` bound and up for a strict
    `before` one: `t > T` and `t < T` then hold for stored times exactly as
    for the instant given.
    """
    match = TIMESTAMP.fullmatch(value)
    if match is None:
        v.add(
            field,
            "must be an RFC 3339 timestamp like 2026-04-13T10:30:00Z (an offset such as +02:00 instead of Z,"
            " up to 9 decimals)",
        )
        return None
    date, _, rest = value.partition("T")
    clock = rest[:8]
    fraction = re.match(r"\.([0-9]+)", rest[8:])
    digits = fraction.group(1) if fraction else ""
    zone = rest[8 + (len(digits) + 1 if digits else 0) :]
    try:
        local = datetime.datetime.fromisoformat(f"{date}T{clock}{'+00:00' if zone == 'Z' else zone}")
    except ValueError:
        v.add(field, f"{value!r} is not a time that exists")
        return None
    try:
        moment = local.astimezone(datetime.UTC).replace(tzinfo=None)
        moment += datetime.timedelta(microseconds=int((digits + "000000")[:6]))
        if round_up and digits[6:].strip("0"):
            moment += _MICRO
    except OverflowError:
        # Year 1 or 9999 moved past the calendar's end by its offset: earlier
        # (or later) than any stored time, as a bound it is the calendar's end.
        moment = datetime.datetime.min if local.year == 1 else datetime.datetime.max
    return moment


def _strings(v: Violations, field: str, values: list[str], *, max_len: int) -> tuple[str, ...]:
    if len(values) > FILTER_VALUES_MAX:
        v.add(field, f"must have at most {FILTER_VALUES_MAX} items, got {len(values)}")
        return ()
    for i, value in enumerate(values):
        request_values.text(v, f"{field}[{i}]", value, max_len=max_len)
    return tuple(sorted(set(values)))


def issue_filter(v: Violations, request: pb.ListIssuesRequest) -> tuple[IssueFilter, str]:
    """The filters and the order_by of a ListIssues request; problems go to `v`."""
    parent = parse_issue_ref(v, "parent_id", request.parent_id) if request.HasField("parent_id") else None
    bounds = {}
    for name in ("created_after", "created_before", "updated_after"):
        if request.HasField(name):
            bounds[name] = timestamp(v, name, getattr(request, name), round_up=name.endswith("before"))
    words: tuple[str, ...] = ()
    if request.HasField("q"):
        q = request.q
        if not q:
            v.add("q", "must not be empty")
        elif len(q) > QUERY_MAX:
            v.add("q", f"must be at most {QUERY_MAX} characters, got {len(q)}")
        elif "\x00" in q:
            v.add("q", "must not contain NUL characters")
        else:
            words = tuple(query_words(q))
    order_by = request.order_by if request.HasField("order_by") else DEFAULT_ORDER
    if order_by not in ORDERS:
        v.add("order_by", f"must be one of {', '.join(repr(o) for o in ORDERS)}, got {order_by[:80]!r}")
        order_by = DEFAULT_ORDER
    f = IssueFilter(
        statuses=tuple(request_values.enum_filter(v, "status", request.status, request_values.STATUS_NAMES)),
        priorities=tuple(request_values.enum_filter(v, "priority", request.priority, request_values.PRIORITY_NAMES)),
        refs=tuple(request_values.ref_filters(v, request.ref)),
        owners=_strings(v, "owner", list(request.owner), max_len=SHORT_MAX),
        created_by=_strings(v, "created_by", list(request.created_by), max_len=SHORT_MAX),
        tags=_strings(v, "tag", list(request.tag), max_len=TAG_MAX),
        parent=parent,
        created_after=bounds.get("created_after"),
        created_before=bounds.get("created_before"),
        updated_after=bounds.get("updated_after"),
        words=words,
    )
    return f, order_by
