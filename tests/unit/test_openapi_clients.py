"""The OpenAPI document as client generators and fuzzers read it (no server
needed): Location and links on creates, enums as named components, nullable
only where the server prints null, formats on timestamps, and description
blocks and event data that admit what the server admits."""

from __future__ import annotations

import pytest

from gateway.app import SERVICE
from gateway.openapi import build_openapi
from gateway.routing import RouteTable


@pytest.fixture(scope="module")
def doc() -> dict:
    return build_openapi(SERVICE, RouteTable.for_service(SERVICE))


def operations(doc: dict) -> dict[str, dict]:
    return {op["operationId"]: op for item in doc["paths"].values() for op in item.values()}


def test_each_create_names_its_item_and_links_to_the_operations_on_it(doc):
    ops = operations(doc)
    created = {name: op["responses"]["201"] for name, op in ops.items() if "201" in op["responses"]}
    assert set(created) == {"CreateIssue", "CreateComment", "CreateAttachment", "AddIssueFile"}
    for name in ("CreateIssue", "CreateComment", "CreateAttachment"):
        assert created[name]["headers"]["Location"]["required"] is True
    # An issue's files have no item path: no Location, no links.
    assert "headers" not in created["AddIssueFile"] and "links" not in created["AddIssueFile"]

    issue_links = created["CreateIssue"]["links"]
    assert {"GetIssue", "UpdateIssue", "DeleteIssue", "CreateComment", "ListComments", "ListIssueHistory",
            "ListSubIssues", "AddIssueFile", "ListIssueFiles"} == set(issue_links)
    assert issue_links["GetIssue"]["parameters"] == {"issue_id": "$response.body#/uuid"}
    comment_links = created["CreateComment"]["links"]
    # RemoveReaction also needs an emoji, which a create does not give.
    assert set(comment_links) == {"UpdateComment", "DeleteComment", "AddReaction"}
    assert comment_links["AddReaction"]["parameters"] == {
        "issue_id": "$request.path.issue_id", "comment_id": "$response.body#/uuid"}
    assert created["CreateAttachment"]["links"]["GetAttachment"]["parameters"] == {
        "attachment_id": "$response.body#/attachment/uuid"}
    for link in (*issue_links.values(), *comment_links.values()):
        assert link["operationId"] in ops
