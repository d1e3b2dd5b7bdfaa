"""Unit tests of what a page token carries: its walk's first parameters (SPEC 8.9)."""

from __future__ import annotations

import pytest

from common.descriptors import SERVICE, field_rules
from issues.v1 import issue_pb2, issue_service_pb2 as pb, webhook_pb2
from service.api import list_parameters
from service.app import page_tokens
from service.domain.errors import InvalidArgument

Issue = issue_pb2.Issue


def names(request_type) -> list[str]:
    return [f.name for f in list_parameters.parameters(request_type.DESCRIPTOR)]


def test_a_lists_parameters_are_its_optional_and_repeated_fields_but_limit():
    assert names(pb.ListIssuesRequest) == [
        "status",
        "priority",
        "offset",
        "ref",
        "owner",
        "created_by",
        "tag",
        "parent_id",
        "created_after",
        "created_before",
        "updated_after",
        "q",
        "order_by",
    ]
    assert names(pb.ListCommentsRequest) == names(pb.ListIssueHistoryRequest) == ["offset"]  # issue_id names the list
    assert names(pb.ListEventsRequest) == ["after_sequence", "types"]
    assert names(webhook_pb2.ListWebhookDeliveriesRequest) == ["status"]
    assert names(webhook_pb2.ListWebhooksRequest) == []


def complete(first: pb.ListIssuesRequest, following: pb.ListIssuesRequest) -> pb.ListIssuesRequest:
    return list_parameters.completed(following, list_parameters.carried(first))


FIRST = pb.ListIssuesRequest(
    status=[Issue.STATUS_RESOLVED, Issue.STATUS_OPEN],
    tag=["b", "a", "a"],
    q="pump",
    order_by="priority",
    limit=5,
    page_token="ignored",
)


def test_a_request_leaving_parameters_out_gets_the_first_requests():
    done = complete(FIRST, pb.ListIssuesRequest(limit=2, page_token="t"))
    assert list(done.status) == [Issue.STATUS_OPEN, Issue.STATUS_RESOLVED] and list(done.tag) == ["a", "b"]
    assert done.q == "pump" and done.order_by == "priority"
    assert not done.HasField("offset") and not done.HasField("parent_id")  # absent in both: still absent
    assert done.limit == 2 and done.page_token == "t"  # its own page size and token


def test_parameters_sent_again_must_be_equal_repeated_ones_as_sets():
    again = pb.ListIssuesRequest(status=[Issue.STATUS_OPEN, Issue.STATUS_RESOLVED, Issue.STATUS_OPEN], tag=["a", "b"])
    assert complete(FIRST, again).q == "pump"
    # The default spelled out equals a parameter left out: the walks that began without an offset.
    assert complete(pb.ListIssuesRequest(), pb.ListIssuesRequest(offset=0)).offset == 0


@pytest.mark.parametrize(
    "following,named",
    [
        (pb.ListIssuesRequest(tag=["a"]), "tag"),
        (pb.ListIssuesRequest(order_by="priority desc", q="valve"), "q, order_by"),
        (pb.ListIssuesRequest(offset=3), "offset"),
        (pb.ListIssuesRequest(owner=["x@example.com"]), "owner"),  # absent from the first request
    ],
)
def test_a_parameter_of_another_value_is_refused_naming_page_token(following, named):
    with pytest.raises(InvalidArgument) as refused:
        complete(FIRST, following)
    (violation,) = refused.value.violations
    assert violation.field == "page_token"
    assert violation.description.startswith(f"was made for other parameters ({named}):")


def test_a_parameter_read_from_a_query_parameter_of_another_name_is_named_both_ways():
    first = list_parameters.carried(pb.ListEventsRequest(after_sequence=1))
    with pytest.raises(InvalidArgument, match=r"\(after_sequence \(\?after=\)\)"):
        list_parameters.completed(pb.ListEventsRequest(after_sequence=2), first)


def test_the_contract_bounds_every_page_token_as_the_server_does():
    lists = [m.input_type for m in SERVICE.methods if "page_token" in m.input_type.fields_by_name]
    assert len(lists) >= 5
    for request in lists:
        bound = field_rules(request.fields_by_name["page_token"]).max_length
        assert bound in (None, page_tokens.TOKEN_MAX), request.full_name


WIDE = "\U0001d11e"  # four bytes of UTF-8
POSITION = page_tokens.position(3, "2026-04-13T10:30:00.123456", "8e0c7c1c-6b0b-4c47-9d3f-3f1e1a0f0a0a")
LARGEST = pb.ListIssuesRequest(
    status=list(range(1, 5)),
    priority=list(range(1, 4)),
    offset=2**31 - 1,
    ref=[f"{i:064d}:" + WIDE * 256 for i in range(20)],
    owner=[f"{i:02d}" + WIDE * 318 for i in range(20)],
    created_by=[f"{i:02d}" + WIDE * 318 for i in range(20)],
    tag=[f"{i:02d}" + WIDE * 98 for i in range(20)],
    parent_id="ABCDEFGHIJ-2147483647",
    q=WIDE * 500,
    order_by="priority desc",
    **{name: "2026-04-13T10:30:00.123456789+02:00" for name in ("created_after", "created_before", "updated_after")},
)


@pytest.fixture
def token_of(monkeypatch):
    monkeypatch.setattr(page_tokens, "_key", lambda: b"k" * 32)
    return lambda request: page_tokens.encode("scope", POSITION, list_parameters.carried(request))


def test_a_token_is_short_for_a_few_filters_and_fits_its_bound_for_any_q(token_of):
    assert len(token_of(pb.ListIssuesRequest(tag=["pump"], order_by="priority desc"))) < 200
    assert len(token_of(pb.ListIssuesRequest(q="x" * 500, tag=["pump"], order_by="priority desc"))) < 900
    longest_q = pb.ListIssuesRequest(
        q=WIDE * 500, tag=["pump"], order_by="priority desc", created_after=LARGEST.created_after
    )
    token = token_of(longest_q)
    assert len(token) <= page_tokens.TOKEN_MAX
    _, carried = page_tokens.decode(token, "scope")
    assert list_parameters.completed(pb.ListIssuesRequest(), carried).q == longest_q.q  # carried in full


def test_parameters_too_long_to_carry_are_carried_as_their_digest_and_must_come_again(token_of):
    token = token_of(LARGEST)
    assert len(token) < 200
    _, carried = page_tokens.decode(token, "scope")
    again = pb.ListIssuesRequest()
    again.CopyFrom(LARGEST)
    again.tag.reverse()  # as a set, the same
    assert list_parameters.completed(again, carried) == again
    with pytest.raises(InvalidArgument, match="too long for a token to carry them"):
        list_parameters.completed(pb.ListIssuesRequest(), carried)
