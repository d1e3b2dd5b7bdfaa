"""The OpenAPI document generated from the descriptors (no server needed)."""

from __future__ import annotations

import jsonschema
import pytest
from openapi_spec_validator import validate

from common.descriptors import DATE_TIME_PATTERN
from gateway.app import SERVICE
from gateway.openapi import build_openapi
from gateway.routing import RouteTable

from .test_gateway_contract import (
    COMMENT_RESPONSE,
    CREATE_COMMENT_REQUEST,
    CREATE_ISSUE_REQUEST,
    FILES_RESPONSE,
    ISSUE_RESPONSE,
    METRICS_RESPONSE,
    UPDATE_COMMENT_REQUEST,
    UPDATE_ISSUE_REQUEST,
)
from .test_gateway_routing import CONTRACT_ROUTES

# Our additive chart keys, on top of the contract's example.
METRICS_RESPONSE = {
    "metrics": [
        {
            **METRICS_RESPONSE["metrics"][0],
            "chart_data": {**METRICS_RESPONSE["metrics"][0]["chart_data"], "labels": [], "series": []},
        }
    ]
}


@pytest.fixture(scope="module")
def doc() -> dict:
    return build_openapi(SERVICE, RouteTable.for_service(SERVICE))


def validator(doc: dict, schema: dict) -> jsonschema.Draft202012Validator:
    # Local refs (#/components/...) resolve against a root that carries the components.
    return jsonschema.Draft202012Validator(
        {**schema, "components": doc["components"]}, format_checker=jsonschema.Draft202012Validator.FORMAT_CHECKER
    )


def response_schema(doc: dict, verb: str, path: str, code: int) -> dict:
    return doc["paths"][path][verb.lower()]["responses"][str(code)]["content"]["application/json"]["schema"]


def body_schema(doc: dict, verb: str, path: str) -> dict:
    return doc["paths"][path][verb.lower()]["requestBody"]["content"]["application/json"]["schema"]


def test_the_document_is_valid_openapi_3_1(doc):
    assert doc["openapi"].startswith("3.1")
    validate(doc)


@pytest.mark.parametrize(("verb", "path", "method", "code"), CONTRACT_ROUTES)
def test_every_contract_route_is_documented(doc, verb, path, method, code):
    op = doc["paths"][path][verb.lower()]
    assert op["operationId"] == method
    assert str(code) in op["responses"]
    assert op["security"] == [{"bearerAuth": []}]
    assert {p["name"] for p in op["parameters"] if p["in"] == "path"} == set(
        part[1:-1] for part in path.split("/") if part.startswith("{")
    )


def test_every_binding_is_documented(doc):
    for b in RouteTable.for_service(SERVICE).bindings:
        path = "/" + "/".join(
            lit if lit is not None else "{" + dict(b.template.variables)[i] + "}"
            for i, lit in enumerate(b.template.literals)
        )
        path += f":{b.template.verb}" if b.template.verb else ""  # a custom method's own path
        assert b.verb.lower() in doc["paths"][path], (b.verb, path)


def test_bearer_auth_and_open_probes(doc):
    assert doc["components"]["securitySchemes"]["bearerAuth"] == {"type": "http", "scheme": "bearer"}
    assert doc["paths"]["/healthz"]["get"]["security"] == []
    assert doc["paths"]["/readyz"]["get"]["security"] == []


@pytest.mark.parametrize(
    ("verb", "path", "code", "example"),
    [
        ("POST", "/api/v1/issues", 201, ISSUE_RESPONSE),
        ("GET", "/api/v1/issues/{issue_id}", 200, ISSUE_RESPONSE),
        ("PATCH", "/api/v1/issues/{issue_id}", 200, ISSUE_RESPONSE),
        ("GET", "/api/v1/issues", 200, {"items": [ISSUE_RESPONSE], "count": 1, "next_page_token": ""}),
        ("POST", "/api/v1/issues/{issue_id}/comments", 201, COMMENT_RESPONSE),
        (
            "GET",
            "/api/v1/issues/{issue_id}/comments",
            200,
            {"items": [COMMENT_RESPONSE], "count": 1, "next_page_token": ""},
        ),
        ("GET", "/api/v1/issues/metrics", 200, METRICS_RESPONSE),
        ("GET", "/api/v1/issues/{issue_id}/files", 200, FILES_RESPONSE),
    ],
)
def test_the_contract_examples_fit_the_response_schemas(doc, verb, path, code, example):
    validator(doc, response_schema(doc, verb, path, code)).validate(example)


def test_issue_schema_requires_every_key_and_allows_null_only_where_nullable(doc):
    issue = doc["components"]["schemas"]["Issue"]
    assert set(issue["required"]) >= set(ISSUE_RESPONSE)
    v = validator(doc, {"$ref": "#/components/schemas/Issue"})
    for nullable in ("resolution_summary", "job_run_id", "resolved_at", "parent_id"):
        v.validate({**ISSUE_RESPONSE, nullable: None})
    # Enums are never null in replies (the server never sends value 0), nor
    # are the timestamps the server always sets (the contract's "Nullable: No").
    for not_nullable in (
        "uuid",
        "title",
        "description",
        "tags",
        "owner",
        "created_by",
        "sessions",
        "status",
        "priority",
        "created_at",
        "updated_at",
    ):
        assert not v.is_valid({**ISSUE_RESPONSE, not_nullable: None}), not_nullable
    missing = dict(ISSUE_RESPONSE)
    del missing["job_run_id"]
    assert not v.is_valid(missing)
    assert not v.is_valid({**ISSUE_RESPONSE, "status": "STATUS_OPEN"})
    assert not v.is_valid({**ISSUE_RESPONSE, "created_at": "yesterday"})


def test_the_contract_example_requests_fit_the_request_schemas(doc):
    validator(doc, body_schema(doc, "POST", "/api/v1/issues")).validate(CREATE_ISSUE_REQUEST)
    patch = validator(doc, body_schema(doc, "PATCH", "/api/v1/issues/{issue_id}"))
    patch.validate(UPDATE_ISSUE_REQUEST)
    patch.validate({"resolution_summary": None, "job_run_id": None})
    validator(doc, body_schema(doc, "POST", "/api/v1/issues/{issue_id}/comments")).validate(CREATE_COMMENT_REQUEST)
    validator(doc, body_schema(doc, "PATCH", "/api/v1/issues/{issue_id}/comments/{comment_id}")).validate(
        UPDATE_COMMENT_REQUEST
    )


def test_request_schemas_refuse_what_the_gateway_refuses(doc):
    create = validator(doc, body_schema(doc, "POST", "/api/v1/issues"))
    assert not create.is_valid({"title": "t"})  # description is REQUIRED
    assert not create.is_valid({"title": "t", "description": [], "colour": "red"})
    assert not create.is_valid({"title": "t", "description": [], "status": "STATUS_OPEN"})
    assert not create.is_valid({"title": "t", "description": [], "uuid": "x"})  # not a request field
    patch = body_schema(doc, "PATCH", "/api/v1/issues/{issue_id}")
    assert "update_mask" not in patch["properties"] and "issue_id" not in patch["properties"]


def test_list_filters_are_repeatable_query_parameters(doc):
    params = {p["name"]: p for p in doc["paths"]["/api/v1/issues"]["get"]["parameters"]}
    assert set(params) == {
        "status",
        "priority",
        "limit",
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
        "page_token",
    }
    for repeated in ("owner", "created_by", "tag"):
        assert params[repeated]["explode"] is True and params[repeated]["schema"]["type"] == "array"
    # The rules the server holds them to are stated: the timestamp and order_by patterns, q's length.
    for name in ("created_after", "created_before", "updated_after"):
        assert params[name]["schema"]["format"] == "date-time"
        assert params[name]["schema"]["pattern"] == DATE_TIME_PATTERN
    assert params["order_by"]["schema"]["pattern"] == "^(created_at|updated_at|priority)( desc)?$"
    assert params["q"]["schema"]["maxLength"] == 500 and params["page_token"]["schema"]["maxLength"] == 4096
    assert params["status"]["schema"] == {"type": "array", "items": {"$ref": "#/components/schemas/IssueStatus"}}
    assert doc["components"]["schemas"]["IssueStatus"] == {
        "type": "string",
        "enum": ["open", "in_progress", "resolved", "rejected"],
    }
    assert params["status"]["explode"] is True
    assert params["limit"]["schema"]["type"] == "integer"


def test_delete_answers_204_without_content(doc):
    for path in ("/api/v1/issues/{issue_id}", "/api/v1/issues/{issue_id}/comments/{comment_id}"):
        assert "content" not in doc["paths"][path]["delete"]["responses"]["204"]


def test_the_error_envelope_is_documented_on_every_operation(doc):
    envelope = {
        "error": {
            "code": 400,
            "status": "INVALID_ARGUMENT",
            "message": "title: is required",
            "details": [
                {
                    "@type": "type.googleapis.com/google.rpc.BadRequest",
                    "field_violations": [{"field": "title", "description": "is required"}],
                }
            ],
        }
    }
    validator(doc, {"$ref": "#/components/schemas/Error"}).validate(envelope)
    unauthorized = doc["components"]["responses"]["Unauthorized"]
    assert unauthorized["headers"]["WWW-Authenticate"]["required"] is True
    for path, ops in doc["paths"].items():
        for verb, op in ops.items():
            if path.startswith("/api/"):
                # No catch-all: each status listed is one the operation can answer with, in the envelope.
                assert "default" not in op["responses"], (verb, path)
                errors = {s: r for s, r in op["responses"].items() if int(s) >= 400}
                assert {"400", "401", "500", "503"} <= set(errors), (verb, path)
                for ref in errors.values():
                    response = doc["components"]["responses"][ref["$ref"].rsplit("/", 1)[1]]
                    assert response["content"]["application/json"]["schema"] == {"$ref": "#/components/schemas/Error"}


def test_each_operation_lists_the_statuses_its_binding_can_answer_with(doc):
    def errors(verb: str, path: str) -> set[int]:
        return {int(s) for s in doc["paths"][path][verb]["responses"] if int(s) >= 400}

    always = {400, 401, 429, 431, 500, 503, 504}  # 429: the per-token rate limit
    assert errors("get", "/api/v1/issues") == always  # any token may read
    assert errors("post", "/api/v1/issues") == always | {403, 409, 413, 415}  # 409: an Idempotency-Key reused
    assert errors("get", "/api/v1/issues/{issue_id}") == always | {404}
    assert errors("patch", "/api/v1/issues/{issue_id}/comments/{comment_id}") == always | {403, 404, 412, 413, 415}
    assert errors("delete", "/api/v1/issues/{issue_id}") == always | {403, 404, 412}
    assert doc["servers"] == [{"url": "/", "description": "The gateway serving this document."}]


def test_request_fields_carry_the_rules_their_protos_declare(doc):
    create = validator(doc, body_schema(doc, "POST", "/api/v1/issues"))
    ok = {"title": "t", "description": []}
    create.validate({**ok, "title": "x" * 500, "tags": ["t"] * 100, "owner": None})
    for bad in (
        {"title": "x" * 501},
        {"title": "   "},
        {"title": "a\x00"},
        {"tags": ["t"] * 101},
        {"tags": [""]},
        {"attachment_ids": ["not-a-uuid"]},
        {"description": [{}] * 1001},
    ):
        assert not create.is_valid({**ok, **bad}), bad

    patch = validator(doc, body_schema(doc, "PATCH", "/api/v1/issues/{issue_id}"))
    patch.validate({"owner": None, "tags": None, "resolution_summary": None})  # clearable
    for bad in ({}, {"title": None}, {"status": None}, {"priority": None}):
        assert not patch.is_valid(bad), bad

    attachment = validator(doc, body_schema(doc, "POST", "/api/v1/attachments"))
    base = {"file_name": "plan.md"}
    for size in (0, 536870912, "536870912", "0"):
        attachment.validate({**base, "size_bytes": size})
    for size in (-1, 536870913, "536870913", "-1", "01"):
        assert not attachment.is_valid({**base, "size_bytes": size}), size
    assert not attachment.is_valid({**base, "size_bytes": 1, "file_name": "a/b"})

    limit = next(p for p in doc["paths"]["/api/v1/issues"]["get"]["parameters"] if p["name"] == "limit")
    assert (limit["schema"]["minimum"], limit["schema"]["maximum"]) == (1, 1000)
    issue_id = doc["paths"]["/api/v1/issues/{issue_id}"]["get"]["parameters"][0]["schema"]
    # An issue is named by its uuid or its identifier (SPEC 8.1).
    assert issue_id["format"] == "issue_id" and issue_id["pattern"].startswith("^(?:[0-9a-fA-F]{8}-")


def test_blob_routes_are_binary_and_signed_not_bearer():
    document = build_openapi(SERVICE)
    blob = document["paths"]["/blobs/{workspace_id}/{attachment_id}"]
    upload, download = blob["put"], blob["get"]
    assert upload["security"] == [] and download["security"] == []
    assert upload["requestBody"]["content"] == {
        "application/octet-stream": {"schema": {"type": "string", "format": "binary"}}
    }
    binary = {"schema": {"type": "string", "format": "binary"}}
    # Any media type, octet-stream named first (generators read no wildcard).
    assert download["responses"]["200"]["content"] == {"application/octet-stream": binary, "*/*": binary}
    assert "Content-Disposition" in download["responses"]["200"]["headers"]
    assert {"403", "404", "409", "412", "413"} <= set(upload["responses"]) and "401" not in upload["responses"]
    assert "415" not in upload["responses"]
    assert {p["name"] for p in upload["parameters"]} == {"workspace_id", "attachment_id", "expires", "signature"}
