"""The domain rules, in plain Python: no database, no server."""

from __future__ import annotations

import datetime
import uuid

import pytest

from common.enums import enum_names
from issues.v1 import issue_pb2, options_pb2
from service.domain import workflow
from service.domain.errors import InvalidArgument, Violations
from service.domain.identifiers import parse_uuid, require_uuid
from service.domain.roles import Principal, Role, may_change_comment

T0 = datetime.datetime(2026, 4, 13, 10, 30)
T1 = T0 + datetime.timedelta(hours=1)


def test_the_domain_statuses_and_priorities_are_the_contracts():
    assert tuple(enum_names(issue_pb2.Issue.Status.DESCRIPTOR).values()) == workflow.STATUSES
    assert tuple(enum_names(issue_pb2.Issue.Priority.DESCRIPTOR).values()) == workflow.PRIORITIES
    assert workflow.DEFAULT_STATUS in workflow.STATUSES and workflow.DEFAULT_PRIORITY in workflow.PRIORITIES
    assert set(workflow.ACTIVE) | set(workflow.RESOLVED) <= set(workflow.STATUSES)
    assert not set(workflow.ACTIVE) & set(workflow.RESOLVED)


def test_resolved_at_is_set_on_resolving_or_rejecting_kept_between_them_and_cleared_on_reopening():
    assert workflow.resolved_at("resolved", None, T1) == T1
    assert workflow.resolved_at("rejected", None, T1) == T1
    assert workflow.resolved_at("resolved", T0, T1) == T0  # rejected -> resolved keeps it
    assert workflow.resolved_at("rejected", T0, T1) == T0
    for status in ("open", "in_progress"):
        assert workflow.resolved_at(status, T0, T1) is None


def test_roles_are_the_contracts_role_numbers_and_ordered():
    assert [Role.VIEWER, Role.MEMBER, Role.ADMIN] == [
        options_pb2.ROLE_VIEWER,
        options_pb2.ROLE_MEMBER,
        options_pb2.ROLE_ADMIN,
    ]
    assert Role.VIEWER < Role.MEMBER < Role.ADMIN
    assert Role.parse("Admin") is Role.ADMIN and Role.ADMIN.label == "admin"
    with pytest.raises(ValueError, match="viewer, member, admin"):
        Role.parse("owner")


@pytest.mark.parametrize(
    ("email", "role", "allowed"),
    [
        ("author@x.co", Role.MEMBER, True),
        ("other@x.co", Role.MEMBER, False),
        ("other@x.co", Role.ADMIN, True),
        ("author@x.co", Role.VIEWER, True),
    ],
)
def test_a_comment_is_changed_by_its_author_or_an_admin(email, role, allowed):
    # The method's required_role keeps viewers out before this rule is asked.
    assert may_change_comment(Principal(1, "ws", email, role), "author@x.co") is allowed


@pytest.mark.parametrize("spelling", [str, lambda u: str(u).upper()])
def test_uuids_are_read_in_their_canonical_spelling_in_either_case(spelling):
    value = uuid.uuid4()
    assert require_uuid("issue_id", spelling(value)) == value


@pytest.mark.parametrize(
    "value",
    [
        "{12345678-1234-5678-1234-567812345678}",
        "urn:uuid:12345678-1234-5678-1234-567812345678",
        "12345678123456781234567812345678",
        "12345678-1234-5678-1234-56781234567",
        " 12345678-1234-5678-1234-567812345678",
        "12345678-1234-5678-1234-5678123456789",
        "not-a-uuid",
    ],
)
def test_other_uuid_spellings_are_refused_naming_the_field(value):
    with pytest.raises(InvalidArgument) as error:
        require_uuid("issue_id", value)
    assert [v.field for v in error.value.violations] == ["issue_id"]


def test_a_missing_id_is_required_and_violations_are_reported_together():
    v = Violations()
    assert parse_uuid(v, "issue_id", "") is None
    assert parse_uuid(v, "comment_id", "x" * 500) is None
    with pytest.raises(InvalidArgument) as error:
        v.check()
    assert [(x.field, x.description) for x in error.value.violations][0] == ("issue_id", "is required")
    assert error.value.message == "issue_id: is required (and 1 more)"
    assert len(error.value.violations[1].description) < 100  # a long value is shortened, not echoed whole
