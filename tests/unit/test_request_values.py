"""Unit tests of the request checks that need no server."""

from __future__ import annotations

import pytest
from google.protobuf import field_mask_pb2

from issues.v1 import issue_pb2, issue_service_pb2 as pb
from service.api import request_values as validation
from service.domain.errors import InvalidArgument


def test_enum_names_are_the_contracts_lower_case_names():
    assert validation.STATUS_NAMES == {1: "open", 2: "in_progress", 3: "resolved", 4: "rejected"}
    assert validation.PRIORITY_NAMES == {1: "low", 2: "medium", 3: "high"}


def test_an_empty_mask_means_the_fields_that_are_set():
    request = pb.UpdateIssueRequest(issue_id="x", title="t", tags=["a"], resolution_summary="")
    assert validation.update_paths(request, validation.ISSUE_FIELDS) == ["title", "tags", "resolution_summary"]


def test_an_explicit_mask_is_kept_and_deduplicated():
    request = pb.UpdateIssueRequest(update_mask=field_mask_pb2.FieldMask(paths=["owner", "owner", "tags"]))
    assert validation.update_paths(request, validation.ISSUE_FIELDS) == ["owner", "tags"]


def test_create_defaults_and_clears():
    values = validation.issue_values(pb.CreateIssueRequest(title="t"), validation.ISSUE_FIELDS, creating=True)
    assert values["status"] == "open" and values["priority"] == "low"
    assert values["owner"] == "Unassigned"
    assert values["resolution_summary"] is None and values["job_run_id"] is None


def test_duplicate_ids_are_kept_once_in_order():
    a, b = "0f6d6f74-7d92-4d20-bf6c-2e37d2c1d9c8", "b8c9d0e1-f2a3-4567-bcde-678901234567"
    request = pb.CreateIssueRequest(title="t", session_ids=[a, b, a])
    assert validation.issue_values(request, ["session_ids"], creating=True)["session_ids"] == [a, b]


def test_the_error_message_names_the_first_field_and_counts_the_rest():
    with pytest.raises(InvalidArgument) as error:
        validation.issue_values(
            pb.CreateIssueRequest(status=issue_pb2.Issue.Status.Value("STATUS_OPEN"), priority=9),
            ["title", "priority"],
            creating=True,
        )
    assert error.value.message == "title: is required (and 1 more)"
    assert [v.field for v in error.value.violations] == ["title", "priority"]
