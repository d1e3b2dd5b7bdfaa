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
    assert set(created) == {"CreateIssue", "CreateComment", "CreateAttachment", "AddIssueFile", "CreateWebhook"}
    for name in ("CreateIssue", "CreateComment", "CreateAttachment", "CreateWebhook"):
        assert created[name]["headers"]["Location"]["required"] is True
    # An issue's files have no item path: no Location, no links.
    assert "headers" not in created["AddIssueFile"] and "links" not in created["AddIssueFile"]

    issue_links = created["CreateIssue"]["links"]
    assert {
        "GetIssue",
        "UpdateIssue",
        "DeleteIssue",
        "CreateComment",
        "ListComments",
        "ListIssueHistory",
        "ListSubIssues",
        "AddIssueFile",
        "ListIssueFiles",
    } == set(issue_links)
    assert issue_links["GetIssue"]["parameters"] == {"issue_id": "$response.body#/uuid"}
    comment_links = created["CreateComment"]["links"]
    # RemoveReaction also needs an emoji, which a create does not give.
    assert set(comment_links) == {"UpdateComment", "DeleteComment", "AddReaction"}
    assert comment_links["AddReaction"]["parameters"] == {
        "issue_id": "$request.path.issue_id",
        "comment_id": "$response.body#/uuid",
    }
    assert created["CreateAttachment"]["links"]["GetAttachment"]["parameters"] == {
        "attachment_id": "$response.body#/attachment/uuid"
    }
    # A webhook names its id `id` (SPEC 8.13).
    assert created["CreateWebhook"]["links"]["GetWebhook"]["parameters"] == {"webhook_id": "$response.body#/id"}
    for link in (*issue_links.values(), *comment_links.values()):
        assert link["operationId"] in ops


def reply_components(doc: dict) -> dict[str, dict]:
    return {
        name: s for name, s in doc["components"]["schemas"].items() if not name.endswith("Input") and "properties" in s
    }


def admits_null(schema: dict) -> bool:
    return "null" in (schema.get("type") if isinstance(schema.get("type"), list) else [schema.get("type")]) or any(
        s.get("type") == "null" for s in schema.get("anyOf", [])
    )


def test_reply_timestamps_the_server_always_sets_are_not_nullable(doc):
    timestamps = {
        (name, key): admits_null(s)
        for name, c in reply_components(doc).items()
        for key, s in c["properties"].items()
        if s.get("format") == "date-time" or any(o.get("format") == "date-time" for o in s.get("anyOf", []))
    }
    nullable = {where for where, null in timestamps.items() if null}
    # Only the ones the proto declares optional: an issue not yet resolved, a pending attachment's URL.
    assert nullable == {("Issue", "resolved_at"), ("GetAttachmentResponse", "expires_at")}
    for always in (
        ("Issue", "created_at"),
        ("Issue", "updated_at"),
        ("Comment", "created_at"),
        ("Event", "occurred_at"),
        ("HistoryEntry", "timestamp"),
        ("CreateAttachmentResponse", "expires_at"),
    ):
        assert always in timestamps and always not in nullable
    # Nor are the messages the server always fills.
    for name, key in (
        ("Chart", "chart_data"),
        ("CreateAttachmentResponse", "attachment"),
        ("Event", "data"),
        ("Workflow", "transitions"),
    ):
        assert not admits_null(reply_components(doc)[name]["properties"][key]), (name, key)


def test_timestamp_filters_are_date_times_from_year_1(doc):
    import re

    params = {p["name"]: p["schema"] for p in doc["paths"]["/api/v1/issues"]["get"]["parameters"]}
    for name in ("created_after", "created_before", "updated_after"):
        schema = params[name]
        assert schema["format"] == "date-time"
        pattern = re.compile(schema["pattern"])
        assert pattern.match("0001-01-01T00:00:00Z") and pattern.match("2026-04-13T10:30:00.123456789+02:00")
        assert not pattern.match("0000-01-01T00:00:00Z")  # which the server refuses


def test_an_emoji_is_never_empty(doc):
    add = doc["paths"]["/api/v1/issues/{issue_id}/comments/{comment_id}/reactions"]["post"]
    emoji = add["requestBody"]["content"]["application/json"]["schema"]["properties"]["emoji"]
    assert emoji["minLength"] == 1


def walk(node, path=()):
    """Every (path, schema object) in the document."""
    if isinstance(node, dict):
        yield path, node
        for key, value in node.items():
            yield from walk(value, (*path, key))
    elif isinstance(node, list):
        for i, value in enumerate(node):
            yield from walk(value, (*path, i))


def test_each_enum_is_one_named_component_and_every_use_refers_to_it(doc):
    schemas = doc["components"]["schemas"]
    enums = {name for name, s in schemas.items() if "enum" in s}
    assert enums == {
        "IssueStatus",
        "IssuePriority",
        "AttachmentStatus",
        "ChartChartType",
        "BulkUpdateResultOutcome",
        "WebhookDeliveryStatus",
    }
    inline = [
        path
        for path, node in walk(doc)
        if "enum" in node and not (len(path) == 3 and path[:2] == ("components", "schemas"))
    ]
    assert inline == []  # no enum is written out anywhere else
    assert None not in schemas["IssuePriority"]["enum"]
    # A nullable use (null leaves it unset) is the component or null: one optional type for generators.
    create = doc["paths"]["/api/v1/issues"]["post"]["requestBody"]["content"]["application/json"]["schema"]
    assert create["properties"]["priority"] == {
        "anyOf": [{"$ref": "#/components/schemas/IssuePriority"}, {"type": "null"}]
    }
    assert reply_components(doc)["Issue"]["properties"]["status"] == {"$ref": "#/components/schemas/IssueStatus"}


def test_blocks_event_data_and_chart_options_are_open_objects(doc):
    import jsonschema

    schemas = doc["components"]["schemas"]
    json_object = schemas["JsonObject"]
    assert json_object["type"] == "object" and json_object["additionalProperties"] == {}
    ref = {"$ref": "#/components/schemas/JsonObject"}
    assert reply_components(doc)["Issue"]["properties"]["description"]["items"] == ref
    assert reply_components(doc)["Event"]["properties"]["data"] == ref
    chart = reply_components(doc)["ChartData"]["properties"]
    assert chart["colors"]["anyOf"][0] == chart["display_config"]["anyOf"][0] == ref
    create = doc["paths"]["/api/v1/issues"]["post"]["requestBody"]["content"]["application/json"]["schema"]
    blocks = {**create["properties"]["description"], "components": doc["components"]}
    # What the server admits, the document admits: any object, nested, of any keys.
    jsonschema.Draft202012Validator(blocks).validate(
        [{"type": "text", "text": "x"}, {"type": "list", "items": [{"text": "y", "n": 1.5, "ok": None}]}, {}]
    )
    assert not jsonschema.Draft202012Validator(blocks).is_valid(["text"])
