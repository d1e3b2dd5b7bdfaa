"""The contract's JSON <-> protobuf messages, driven by descriptors (no server needed)."""

from __future__ import annotations

import json

import pytest
from google.protobuf import field_mask_pb2, struct_pb2, timestamp_pb2, wrappers_pb2

from gateway.codec import InvalidJson, enum_names, merge_object, merge_path, merge_query, to_json
from issues.v1 import comment_pb2, issue_file_pb2, issue_pb2, issue_service_pb2 as pb, metrics_pb2

from .test_gateway_contract import ACTIVE_ISSUES_CHART, ISSUE_RESPONSE, ISSUE_TYPES

Issue = issue_pb2.Issue
LIST_ISSUES_QUERY = pb.ListIssuesRequest.DESCRIPTOR.fields

ISSUE_KEYS = list(ISSUE_TYPES)


def ts(text: str) -> timestamp_pb2.Timestamp:
    out = timestamp_pb2.Timestamp()
    out.FromJsonString(text)
    return out


def struct(**fields) -> struct_pb2.Struct:
    out = struct_pb2.Struct()
    out.update(fields)
    return out


# -- writing ------------------------------------------------------------------


def test_an_unset_issue_has_every_key_with_nulls_where_nullable():
    out = to_json(Issue())
    assert list(out)[: len(ISSUE_KEYS)] == ISSUE_KEYS
    assert out == {
        "uuid": "",
        "title": "",
        "description": [],
        "status": None,
        "priority": None,
        "tags": [],
        "owner": "",
        "resolution_summary": None,
        "created_by": "",
        "created_at": None,
        "sessions": [],
        "attachments": [],
        "session_attachments": [],
        "job_run_id": None,
        "updated_at": None,
        "number": 0,
        "identifier": "",
        "resolved_at": None,
        "parent_id": None,
        "sub_issues_count": 0,
        "refs": {},
        "etag": "",
    }


def test_the_contracts_create_response_comes_out_of_the_equivalent_message():
    issue = Issue(
        uuid=ISSUE_RESPONSE["uuid"],
        title=ISSUE_RESPONSE["title"],
        status=Issue.STATUS_OPEN,
        priority=Issue.PRIORITY_HIGH,
        tags=ISSUE_RESPONSE["tags"],
        owner="Unassigned",
        created_by=ISSUE_RESPONSE["created_by"],
        created_at=ts("2026-04-13T10:30:00Z"),
        updated_at=ts("2026-04-13T10:30:00Z"),
        number=42,
        identifier="ENG-42",
        etag=ISSUE_RESPONSE["etag"],
    )
    out = to_json(issue)
    assert json.loads(json.dumps(out)) == out == ISSUE_RESPONSE


def test_optional_strings_print_their_value_once_set_even_when_empty():
    out = to_json(Issue(resolution_summary="", job_run_id="run-1"))
    assert out["resolution_summary"] == "" and out["job_run_id"] == "run-1"


@pytest.mark.parametrize(
    ("enum", "expected"),
    [
        (Issue.Status, {1: "open", 2: "in_progress", 3: "resolved", 4: "rejected"}),
        (Issue.Priority, {1: "low", 2: "medium", 3: "high"}),
        (metrics_pb2.Chart.ChartType, {1: "pie_chart", 2: "mixed_chart"}),
    ],
)
def test_enum_names_drop_the_prefix_and_value_zero(enum, expected):
    assert enum_names(enum.DESCRIPTOR) == expected


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("2026-04-13T10:30:00Z", "2026-04-13T10:30:00.000000Z"),
        ("2026-04-13T10:30:00.123456789Z", "2026-04-13T10:30:00.123456Z"),
        ("2026-04-13T12:30:00.5+02:00", "2026-04-13T10:30:00.500000Z"),
        ("1970-01-01T00:00:00Z", "1970-01-01T00:00:00.000000Z"),
        ("0001-01-01T00:00:00Z", "0001-01-01T00:00:00.000000Z"),
    ],
)
def test_timestamps_are_utc_with_six_fractional_digits_and_z(text, expected):
    assert to_json(comment_pb2.Comment(created_at=ts(text)))["created_at"] == expected


def test_content_blocks_come_back_as_given():
    block = {
        "type": "text",
        "text": "hi",
        "level": 2,
        "ratio": 0.5,
        "ok": True,
        "none": None,
        "nested": {"a": [1, "x", {"b": -3}], "big": 2**53},
    }
    out = to_json(Issue(description=[struct(**block)]))["description"]
    assert out == [block]
    assert isinstance(out[0]["level"], int) and isinstance(out[0]["nested"]["a"][0], int)
    assert isinstance(out[0]["ratio"], float)


def test_metrics_chart_has_the_contract_shape_and_additive_keys():
    chart = metrics_pb2.Chart(
        chart_type=metrics_pb2.Chart.CHART_TYPE_PIE_CHART,
        chart_data=metrics_pb2.ChartData(
            title="Active Issues",
            data=[metrics_pb2.ChartPoint(label=p, value=n) for p, n in (("high", 5), ("medium", 3), ("low", 1))],
        ),
    )
    out = to_json(pb.GetIssueMetricsResponse(metrics=[chart]))
    expected = {**ACTIVE_ISSUES_CHART, "chart_data": {**ACTIVE_ISSUES_CHART["chart_data"], "labels": [], "series": []}}
    assert out == {"metrics": [expected]}


def test_an_unset_chart_data_is_null_and_a_set_struct_is_an_object():
    assert to_json(metrics_pb2.Chart())["chart_data"] is None
    out = to_json(metrics_pb2.ChartData(colors=struct(high="#f00")))
    assert out["colors"] == {"high": "#f00"} and out["display_config"] is None


def test_list_envelope_count_is_a_number():
    out = to_json(pb.ListIssuesResponse(items=[Issue(uuid="a")], count=7))
    assert out["count"] == 7 and isinstance(out["count"], int)
    assert [i["uuid"] for i in out["items"]] == ["a"]


def test_comment_and_file_record_keys():
    assert list(to_json(comment_pb2.Comment())) == [
        "uuid",
        "content",
        "attachments",
        "created_by",
        "created_at",
        "updated_at",
        "is_edited",
        "is_deleted",
        "reactions",
        "etag",
    ]
    assert list(to_json(issue_file_pb2.IssueFile())) == [
        "uuid",
        "file_name",
        "file_type",
        "attachment_id",
        "created_at",
    ]


def test_well_known_types_as_plain_values():
    assert to_json(wrappers_pb2.Int32Value(value=3)) == 3
    assert to_json(field_mask_pb2.FieldMask(paths=["a", "b_c"])) == "a,b_c"
    assert to_json(struct_pb2.ListValue(values=[struct_pb2.Value(number_value=2.0)])) == [2]
    assert to_json(struct_pb2.Value(number_value=float("nan"))) is None  # JSON has no NaN


# -- reading ------------------------------------------------------------------


def violations(exc: pytest.ExceptionInfo[InvalidJson]) -> dict[str, str]:
    return {v.field: v.description for v in exc.value.violations}


def test_a_create_body_fills_the_request():
    request = pb.CreateIssueRequest()
    merge_object(
        request,
        {
            "title": "Power rail undervoltage at startup",
            "description": [{"type": "text", "n": 1}],
            "status": "in_progress",
            "priority": "high",
            "tags": ["power", "startup"],
            "owner": None,
            "resolution_summary": None,
            "job_run_id": "run-1",
        },
    )
    assert request.title == "Power rail undervoltage at startup"
    assert request.status == Issue.STATUS_IN_PROGRESS and request.priority == Issue.PRIORITY_HIGH
    assert list(request.tags) == ["power", "startup"]
    assert request.description[0]["type"] == "text"
    assert not request.HasField("owner") and not request.HasField("resolution_summary")
    assert request.job_run_id == "run-1"


def test_unknown_keys_are_named():
    with pytest.raises(InvalidJson) as exc:
        merge_object(pb.CreateIssueRequest(), {"title": "t", "description": [], "colour": "red", "Title": "x"})
    assert violations(exc) == {"colour": "is not a known field", "Title": "is not a known field"}


@pytest.mark.parametrize(
    ("body", "field", "description"),
    [
        ({"title": 5}, "title", "must be a string"),
        ({"title": ["t"]}, "title", "must be a string"),
        ({"description": {}}, "description", "must be an array"),
        ({"description": ["text"]}, "description[0]", "must be a JSON object"),
        ({"description": [None]}, "description[0]", "must not be null"),
        ({"tags": "power"}, "tags", "must be an array"),
        ({"tags": ["ok", 3]}, "tags[1]", "must be a string"),
        ({"status": "OPEN"}, "status", "must be one of open, in_progress, resolved, rejected"),
        ({"status": "STATUS_OPEN"}, "status", "must be one of open, in_progress, resolved, rejected"),
        ({"status": 1}, "status", "must be one of open, in_progress, resolved, rejected"),
        ({"priority": "urgent"}, "priority", "must be one of low, medium, high"),
    ],
)
def test_wrong_types_are_named(body, field, description):
    with pytest.raises(InvalidJson) as exc:
        merge_object(pb.CreateIssueRequest(), body)
    assert violations(exc) == {field: description}
    assert str(exc.value) == f"{field}: {description}"


@pytest.mark.parametrize("body", [[], "x", 3, None, True])
def test_a_body_that_is_not_an_object(body):
    with pytest.raises(InvalidJson) as exc:
        merge_object(pb.CreateIssueRequest(), body)
    assert violations(exc) == {"body": "must be a JSON object"}


def test_every_violation_is_reported_at_once():
    with pytest.raises(InvalidJson) as exc:
        merge_object(pb.CreateIssueRequest(), {"title": 1, "status": "x", "nope": 1})
    assert set(violations(exc)) == {"title", "status", "nope"}
    assert str(exc.value).endswith("(and 2 more)")


def test_integer_fields_check_type_and_range():
    request = pb.ListIssuesRequest()
    merge_object(request, {"limit": 5, "offset": 2.0})
    assert request.limit == 5 and request.offset == 2
    for bad, why in (
        (True, "must be an integer"),
        ("5", "must be an integer"),
        (1.5, "must be an integer"),
        (2**31, "must be between 1 and 1000, got 2147483648"),
    ):
        with pytest.raises(InvalidJson) as exc:
            merge_object(pb.ListIssuesRequest(), {"limit": bad})
        assert violations(exc) == {"limit": why}
    # Past the type, a field with only a declared minimum names the type's maximum.
    with pytest.raises(InvalidJson) as exc:
        merge_object(pb.ListIssuesRequest(), {"offset": -(2**31) - 1})
    assert violations(exc) == {"offset": "must be between 0 and 2147483647, got -2147483649"}


def test_int64_accepts_numbers_and_decimal_strings():
    from google.protobuf import wrappers_pb2 as w

    box = w.Int64Value()
    merge_object(box, "9007199254740993")
    assert box.value == 9007199254740993


def test_skipped_and_required_keys():
    with pytest.raises(InvalidJson) as exc:
        merge_object(
            pb.UpdateIssueRequest(), {"issue_id": "x", "update_mask": "title"}, skip=("issue_id", "update_mask")
        )
    assert violations(exc) == {"issue_id": "cannot be set in the body", "update_mask": "cannot be set in the body"}
    with pytest.raises(InvalidJson) as exc:
        merge_object(pb.CreateIssueRequest(), {"title": None}, required=("title", "description"))
    assert violations(exc) == {"title": "is required", "description": "is required"}


def test_struct_numbers_too_large_for_a_double_are_refused():
    with pytest.raises(InvalidJson) as exc:
        merge_object(pb.CreateIssueRequest(), {"description": [{"n": 10**400}]})
    assert violations(exc) == {"description[0]": "holds a number too large for a double"}


def test_well_known_types_are_read_from_their_json_forms():
    request = pb.UpdateIssueRequest()
    merge_object(request, {"update_mask": "title,tags"})
    assert list(request.update_mask.paths) == ["title", "tags"]
    stamp = timestamp_pb2.Timestamp()
    merge_object(stamp, "2026-04-13T10:30:00.000000Z")
    assert stamp.seconds == ts("2026-04-13T10:30:00Z").seconds
    with pytest.raises(InvalidJson) as exc:
        merge_object(timestamp_pb2.Timestamp(), "yesterday")
    assert "RFC 3339" in str(exc.value)


# -- query parameters -----------------------------------------------------------


def test_repeated_query_parameters_match_any():
    request = pb.ListIssuesRequest()
    merge_query(
        request,
        [("status", "open"), ("status", "in_progress"), ("priority", "high"), ("limit", "10")],
        LIST_ISSUES_QUERY,
    )
    assert list(request.status) == [Issue.STATUS_OPEN, Issue.STATUS_IN_PROGRESS]
    assert list(request.priority) == [Issue.PRIORITY_HIGH]
    assert request.HasField("limit") and request.limit == 10
    assert not request.HasField("offset")


@pytest.mark.parametrize(
    ("items", "field", "description"),
    [
        ([("status", "opened")], "status", "must be one of open, in_progress, resolved, rejected"),
        ([("limit", "ten")], "limit", "must be an integer"),
        ([("limit", "")], "limit", "must be an integer"),
        ([("limit", "99999999999")], "limit", "must be between 1 and 1000, got 99999999999"),
        ([("limit", "1"), ("limit", "2")], "limit", "may be given only once"),
        ([("colour", "red")], "colour", "is not a known query parameter"),
    ],
)
def test_bad_query_parameters_are_named(items, field, description):
    with pytest.raises(InvalidJson) as exc:
        merge_query(pb.ListIssuesRequest(), items, LIST_ISSUES_QUERY)
    assert violations(exc) == {field: description}


def test_query_parameters_outside_the_allowed_fields_are_unknown():
    with pytest.raises(InvalidJson) as exc:
        merge_query(
            pb.ListCommentsRequest(), [("issue_id", "x")], [pb.ListCommentsRequest.DESCRIPTOR.fields_by_name["limit"]]
        )
    assert violations(exc) == {"issue_id": "is not a known query parameter"}


def test_path_variables_are_converted_by_field_type():
    request = pb.UpdateCommentRequest()
    merge_path(request, {"issue_id": "a", "comment_id": "b"})
    assert (request.issue_id, request.comment_id) == ("a", "b")
    limited = pb.ListIssuesRequest()
    merge_path(limited, {"limit": "7"})  # a non-string variable, as a future rule might bind
    assert limited.limit == 7
    with pytest.raises(InvalidJson) as exc:
        merge_path(pb.ListIssuesRequest(), {"limit": "seven"})
    assert violations(exc) == {"limit": "must be an integer"}


def test_dotted_path_variables_reach_nested_fields():
    chart = metrics_pb2.Chart()
    merge_path(chart, {"chart_data.title": "Active Issues"})
    assert chart.chart_data.title == "Active Issues"
