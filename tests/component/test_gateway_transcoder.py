"""The transcoder in front of a recording fake upstream, and with no upstream at all.

These pin down what the gateway sends (request message, update mask,
metadata, deadline) and the errors it makes itself, without a database. The
same behaviour against the real service is in test_gateway_e2e.py.
"""

from __future__ import annotations

import asyncio
import json
import time
from concurrent import futures
from typing import Any, Callable

import grpc
import httpx
import pytest
from google.protobuf import empty_pb2
from google.rpc import code_pb2, error_details_pb2, status_pb2
from grpc_status import rpc_status
from openapi_spec_validator import validate

from gateway.app import build_app
from issues.v1 import issue_file_pb2, issue_pb2, issue_service_pb2 as pb

from ..harness import _free_port as closed_port

ISSUE_ID = "0f6d6f74-7d92-4d20-bf6c-2e37d2c1d9c8"


class Upstream:
    """A gRPC server answering IssueService methods with canned handlers, recording each call."""

    def __init__(self) -> None:
        self.calls: list[tuple[str, Any, dict[str, str], float | None]] = []
        self.handlers: dict[str, Callable[[Any, grpc.ServicerContext], Any]] = {}
        service = pb.DESCRIPTOR.services_by_name["IssueService"]
        from google.protobuf import message_factory

        def make(name: str, request_class: Any) -> grpc.RpcMethodHandler:
            def behave(request: Any, context: grpc.ServicerContext) -> Any:
                self.calls.append((name, request, dict(context.invocation_metadata()), context.time_remaining()))
                return self.handlers[name](request, context)

            return grpc.unary_unary_rpc_method_handler(
                behave,
                request_deserializer=request_class.FromString,
                response_serializer=lambda m: m.SerializeToString(),
            )

        handlers = {m.name: make(m.name, message_factory.GetMessageClass(m.input_type)) for m in service.methods}
        self.server = grpc.server(futures.ThreadPoolExecutor(max_workers=4))
        self.server.add_generic_rpc_handlers([grpc.method_handlers_generic_handler(service.full_name, handlers)])
        self.port = self.server.add_insecure_port("127.0.0.1:0")
        self.server.start()

    @property
    def target(self) -> str:
        return f"127.0.0.1:{self.port}"


@pytest.fixture(scope="module")
def upstream():
    server = Upstream()
    yield server
    server.server.stop(None)


@pytest.fixture
def fake(upstream):
    upstream.calls.clear()
    upstream.handlers.clear()
    return upstream


def http(target: str, requests: Callable[[httpx.AsyncClient], Any], **app_options: Any) -> Any:
    """Run `requests` against build_app(target) in-process, then close its channel."""

    async def go() -> Any:
        app = build_app(target, **app_options)
        transport = httpx.ASGITransport(app=app)
        try:
            # A token of the right form; the fake service takes any.
            async with httpx.AsyncClient(
                transport=transport, base_url="http://gateway", headers={"Authorization": "Bearer t"}
            ) as client:
                return await requests(client)
        finally:
            await app.state.backend.close()

    return asyncio.run(go())


def call(target: str, method: str, url: str, **kwargs: Any) -> httpx.Response:
    async def one(client: httpx.AsyncClient) -> httpx.Response:
        return await client.request(method, url, **kwargs)

    return http(target, one, **{k: kwargs.pop(k) for k in list(kwargs) if k == "max_body_bytes"})


def error_of(response: httpx.Response) -> dict:
    assert response.headers["content-type"] == "application/json"
    body = response.json()
    assert set(body) == {"error"} and set(body["error"]) == {"code", "status", "message", "details"}
    assert body["error"]["code"] == response.status_code
    return body["error"]


# -- what reaches the service ---------------------------------------------------


def test_authorization_is_forwarded_and_the_default_deadline_applies(fake):
    fake.handlers["GetIssue"] = lambda req, ctx: issue_pb2.Issue(uuid=req.issue_id)
    response = call(fake.target, "GET", f"/api/v1/issues/{ISSUE_ID}", headers={"Authorization": "Bearer abc"})
    assert response.status_code == 200 and response.json()["uuid"] == ISSUE_ID
    [(name, request, metadata, remaining)] = fake.calls
    assert name == "GetIssue" and request.issue_id == ISSUE_ID
    assert metadata["authorization"] == "Bearer abc"
    # The server measures the deadline from when the call reached it, on a
    # clock that may round up: allow a little over the 10 s sent.
    assert remaining is not None and 1.0 < remaining <= 10.5


def test_grpc_timeout_header_sets_the_deadline(fake):
    fake.handlers["GetIssue"] = lambda req, ctx: issue_pb2.Issue()
    call(fake.target, "GET", f"/api/v1/issues/{ISSUE_ID}", headers={"grpc-timeout": "900m"})
    [(_, _, metadata, remaining)] = fake.calls
    assert metadata["authorization"] == "Bearer t"
    # 900 ms sent; the server's clock may round the deadline up a little.
    assert remaining is not None and remaining <= 0.95


def test_a_call_past_its_deadline_is_504(fake):
    def slow(req, ctx):
        time.sleep(1.0)
        return issue_pb2.Issue()

    fake.handlers["GetIssue"] = slow
    response = call(fake.target, "GET", f"/api/v1/issues/{ISSUE_ID}", headers={"grpc-timeout": "50m"})
    assert response.status_code == 504
    assert error_of(response)["status"] == "DEADLINE_EXCEEDED"


def test_malformed_grpc_timeout_is_400(fake):
    response = call(fake.target, "GET", f"/api/v1/issues/{ISSUE_ID}", headers={"grpc-timeout": "soon"})
    assert response.status_code == 400 and fake.calls == []


def test_patch_body_keys_become_the_update_mask_and_null_clears(fake):
    fake.handlers["UpdateIssue"] = lambda req, ctx: issue_pb2.Issue(uuid=req.issue_id)
    body = {"status": "resolved", "resolution_summary": None, "tags": [], "owner": "x@example.com"}
    response = call(fake.target, "PATCH", f"/api/v1/issues/{ISSUE_ID}", json=body)
    assert response.status_code == 200
    [(_, request, _, _)] = fake.calls
    assert request.issue_id == ISSUE_ID
    assert list(request.update_mask.paths) == ["status", "resolution_summary", "tags", "owner"]
    assert request.status == issue_pb2.Issue.STATUS_RESOLVED
    assert not request.HasField("resolution_summary")  # in the mask, unset: cleared
    assert list(request.tags) == [] and request.owner == "x@example.com"


@pytest.mark.parametrize(
    ("body", "field"),
    [({"update_mask": "title", "title": "x"}, "update_mask"), ({"issue_id": ISSUE_ID, "title": "x"}, "issue_id")],
)
def test_patch_body_may_not_carry_the_mask_or_path_fields(fake, body, field):
    response = call(fake.target, "PATCH", f"/api/v1/issues/{ISSUE_ID}", json=body)
    assert response.status_code == 400
    assert error_of(response)["details"][0]["field_violations"] == [
        {"field": field, "description": "cannot be set in the body"}
    ]
    assert fake.calls == []


def test_create_needs_the_required_keys_present(fake):
    response = call(fake.target, "POST", "/api/v1/issues", json={"title": "x"})
    assert response.status_code == 400
    assert error_of(response)["details"][0]["field_violations"] == [
        {"field": "description", "description": "is required"}
    ]
    assert fake.calls == []


def test_an_empty_body_reads_as_an_empty_object(fake):
    response = call(fake.target, "POST", f"/api/v1/issues/{ISSUE_ID}/comments")
    assert response.status_code == 400  # not 415 or malformed JSON: `{}`, which lacks content
    assert error_of(response)["details"][0]["field_violations"] == [{"field": "content", "description": "is required"}]

    fake.handlers["UpdateComment"] = lambda req, ctx: ctx.abort(
        grpc.StatusCode.INVALID_ARGUMENT, "update_mask: names no field"
    )
    response = call(fake.target, "PATCH", f"/api/v1/issues/{ISSUE_ID}/comments/{ISSUE_ID}")
    assert response.status_code == 400
    [(_, request, _, _)] = fake.calls
    assert (request.issue_id, request.comment_id) == (ISSUE_ID, ISSUE_ID)
    assert list(request.update_mask.paths) == [] and not request.HasField("content")


def test_repeated_query_parameters_reach_the_request(fake):
    fake.handlers["ListIssues"] = lambda req, ctx: pb.ListIssuesResponse(count=0)
    response = call(fake.target, "GET", "/api/v1/issues?status=open&status=in_progress&priority=high&limit=5")
    assert response.json() == {"items": [], "count": 0, "next_page_token": ""}
    [(_, request, _, _)] = fake.calls
    assert list(request.status) == [1, 2] and list(request.priority) == [3]
    assert request.limit == 5 and not request.HasField("offset")


def test_response_body_answers_a_bare_array(fake):
    fake.handlers["ListIssueFiles"] = lambda req, ctx: pb.ListIssueFilesResponse(
        files=[issue_file_pb2.IssueFile(uuid="f", file_type=req.file_type)]
    )
    response = call(fake.target, "GET", f"/api/v1/issues/{ISSUE_ID}/files?file_type=troubleshooting_plan")
    assert response.status_code == 200
    assert response.json() == [
        {"uuid": "f", "file_name": "", "file_type": "troubleshooting_plan", "attachment_id": "", "created_at": None}
    ]


def test_delete_is_204_with_an_empty_body(fake):
    fake.handlers["DeleteIssue"] = lambda req, ctx: empty_pb2.Empty()
    response = call(fake.target, "DELETE", f"/api/v1/issues/{ISSUE_ID}")
    assert response.status_code == 204 and response.content == b""


def test_rich_status_details_reach_the_envelope(fake):
    def invalid(req, ctx):
        bad = error_details_pb2.BadRequest(
            field_violations=[
                error_details_pb2.BadRequest.FieldViolation(field="title", description="must not be blank")
            ]
        )
        status = status_pb2.Status(code=code_pb2.INVALID_ARGUMENT, message="title: must not be blank")
        status.details.add().Pack(bad)
        ctx.abort_with_status(rpc_status.to_status(status))

    fake.handlers["CreateIssue"] = invalid
    response = call(fake.target, "POST", "/api/v1/issues", json={"title": " ", "description": []})
    assert response.status_code == 400
    assert error_of(response) == {
        "code": 400,
        "status": "INVALID_ARGUMENT",
        "message": "title: must not be blank",
        "details": [
            {
                "@type": "type.googleapis.com/google.rpc.BadRequest",
                "field_violations": [{"field": "title", "description": "must not be blank"}],
            }
        ],
    }


def test_a_crashing_service_is_500_without_a_trace(fake):
    def crash(req, ctx):
        raise RuntimeError("secret stack detail")

    fake.handlers["GetIssue"] = crash
    response = call(fake.target, "GET", f"/api/v1/issues/{ISSUE_ID}")
    assert response.status_code == 500
    assert "secret" not in response.text and "Traceback" not in response.text
    assert error_of(response)["status"] == "UNKNOWN"


def test_unauthenticated_is_401_with_www_authenticate(fake):
    fake.handlers["ListIssues"] = lambda req, ctx: ctx.abort(grpc.StatusCode.UNAUTHENTICATED, "the token is not valid")
    response = call(fake.target, "GET", "/api/v1/issues", headers={"Authorization": "Bearer nope"})
    assert response.status_code == 401
    assert response.headers["www-authenticate"] == "Bearer"


def test_an_authorization_header_grpc_cannot_carry_is_401(fake):
    response = call(
        fake.target, "GET", "/api/v1/issues", headers={"Authorization": "Bearer caf\u00e9".encode("latin-1")}
    )
    assert response.status_code == 401 and fake.calls == []


# -- errors the gateway makes itself (no upstream needed) ------------------------


@pytest.fixture(scope="module")
def nowhere() -> str:
    return f"127.0.0.1:{closed_port()}"


def test_unknown_route_is_404_in_the_envelope(nowhere):
    for path in ("/nope", "/api/v1/issues/", "/api/v1/issues/x/y", "/api/v2/issues"):
        response = call(nowhere, "GET", path)
        assert response.status_code == 404, path
        assert error_of(response)["status"] == "NOT_FOUND"


def test_wrong_method_is_405_with_allow(nowhere):
    response = call(nowhere, "PUT", "/api/v1/issues/x")
    assert response.status_code == 405
    assert response.headers["allow"] == "DELETE, GET, HEAD, OPTIONS, PATCH"
    assert error_of(response)["message"] == "PUT is not allowed here; allowed: DELETE, GET, HEAD, OPTIONS, PATCH"
    response = call(nowhere, "DELETE", "/api/v1/issues/metrics")
    assert response.status_code == 405 and response.headers["allow"] == "GET, HEAD, OPTIONS"
    response = call(nowhere, "POST", "/healthz")
    assert response.status_code == 405 and error_of(response)["code"] == 405


def test_malformed_json_is_400(nowhere):
    for body in (b"{", b'{"title": "x",}', b"\xff\xfe", b'{"n": NaN}', b"[1e999]"):
        response = call(nowhere, "POST", "/api/v1/issues", content=body, headers={"content-type": "application/json"})
        assert response.status_code == 400, body
        assert error_of(response)["message"].startswith("the body is not valid JSON")


def test_unknown_keys_and_wrong_types_are_400_before_any_call(nowhere):
    response = call(nowhere, "POST", "/api/v1/issues", json={"title": 1, "description": [], "colour": "red"})
    assert response.status_code == 400  # not 503: the unreachable service was never called
    assert error_of(response)["details"][0]["field_violations"] == [
        {"field": "title", "description": "must be a string"},
        {"field": "colour", "description": "is not a known field"},
    ]


def test_bad_query_parameters_are_400_before_any_call(nowhere):
    response = call(nowhere, "GET", "/api/v1/issues?status=opened&limit=ten")
    assert response.status_code == 400
    assert {v["field"] for v in error_of(response)["details"][0]["field_violations"]} == {"status", "limit"}


@pytest.mark.parametrize(
    "content_type", ["text/plain", "application/x-www-form-urlencoded", "multipart/form-data; boundary=x"]
)
def test_a_body_that_is_not_json_is_415(nowhere, content_type):
    response = call(
        nowhere, "POST", "/api/v1/issues", content=b'{"title": "x"}', headers={"content-type": content_type}
    )
    assert response.status_code == 415
    assert error_of(response)["code"] == 415


def test_a_body_without_a_content_type_is_415(nowhere):
    response = call(nowhere, "POST", "/api/v1/issues", content=b'{"title": "x"}', headers={"content-type": ""})
    assert response.status_code == 415


def test_json_with_a_charset_or_a_json_suffix_is_accepted(nowhere):
    for content_type in ("application/json; charset=utf-8", "application/merge-patch+json"):
        response = call(
            nowhere,
            "POST",
            "/api/v1/issues",
            content=b'{"title": 1, "description": []}',
            headers={"content-type": content_type},
        )
        assert response.status_code == 400  # read and judged, not refused as 415


def test_a_body_over_the_limit_by_content_length_is_413(nowhere):
    response = call(
        nowhere,
        "POST",
        "/api/v1/issues",
        content=b"x" * 2049,
        headers={"content-type": "application/json"},
        max_body_bytes=2048,
    )
    assert response.status_code == 413
    assert error_of(response)["message"] == "the request body is larger than 2048 bytes"


def test_a_streamed_body_over_the_limit_is_413_without_reading_it_all(nowhere):
    sent = []

    async def chunks():
        for _ in range(1000):
            sent.append(1)
            yield b" " * 1024

    response = call(
        nowhere,
        "POST",
        "/api/v1/issues",
        content=chunks(),
        headers={"content-type": "application/json"},
        max_body_bytes=4096,
    )
    assert response.status_code == 413
    assert len(sent) < 1000  # refused part way, not after the whole upload


def test_the_default_limit_is_one_mebibyte(nowhere):
    body = json.dumps({"title": "x" * (1 << 20)}).encode()
    response = call(nowhere, "POST", "/api/v1/issues", content=body, headers={"content-type": "application/json"})
    assert response.status_code == 413


def test_an_unreachable_service_is_503_without_addresses(nowhere):
    response = call(nowhere, "GET", f"/api/v1/issues/{ISSUE_ID}")
    assert response.status_code == 503
    error = error_of(response)
    assert error["status"] == "UNAVAILABLE" and "127.0.0.1" not in error["message"]


def test_probes(nowhere, fake):
    assert call(nowhere, "GET", "/healthz").json() == {"status": "ok"}
    response = call(nowhere, "GET", "/readyz")
    assert response.status_code == 503 and error_of(response)["status"] == "UNAVAILABLE"
    openapi = call(nowhere, "GET", "/openapi.json")
    assert openapi.status_code == 200 and openapi.json()["openapi"].startswith("3.1")


def test_readyz_follows_the_health_service():
    from grpc_health.v1 import health, health_pb2, health_pb2_grpc

    server = grpc.server(futures.ThreadPoolExecutor(max_workers=2))
    servicer = health.HealthServicer()
    health_pb2_grpc.add_HealthServicer_to_server(servicer, server)
    port = server.add_insecure_port("127.0.0.1:0")
    server.start()
    try:
        target = f"127.0.0.1:{port}"
        servicer.set("", health_pb2.HealthCheckResponse.SERVING)
        assert call(target, "GET", "/readyz").json() == {"status": "serving"}
        servicer.set("", health_pb2.HealthCheckResponse.NOT_SERVING)
        response = call(target, "GET", "/readyz")
        assert response.status_code == 503
        assert error_of(response)["message"] == "the service reports NOT_SERVING"
    finally:
        server.stop(None)


def test_one_channel_serves_every_request(fake):
    fake.handlers["GetIssue"] = lambda req, ctx: issue_pb2.Issue()

    async def many(client: httpx.AsyncClient) -> Any:
        app_backend = client._transport.app.state.backend  # type: ignore[attr-defined]
        await client.get(f"/api/v1/issues/{ISSUE_ID}")
        first = app_backend.channel
        await asyncio.gather(*(client.get(f"/api/v1/issues/{ISSUE_ID}") for _ in range(10)))
        return first is app_backend.channel

    assert http(fake.target, many) is True
    assert len(fake.calls) == 11


# -- a service the gateway has never seen ----------------------------------------


def _gadget_service():
    """`gwe2e.v1.Gadgets`, built at runtime: a new annotated RPC and its messages."""
    from google.api import annotations_pb2, http_pb2
    from google.protobuf import descriptor_pb2, descriptor_pool

    F = descriptor_pb2.FieldDescriptorProto
    f = descriptor_pb2.FileDescriptorProto(name="gwe2e/v1/gadgets.proto", package="gwe2e.v1", syntax="proto3")
    kind = f.enum_type.add(name="GadgetKind")
    for number, name in enumerate(["GADGET_KIND_UNSPECIFIED", "GADGET_KIND_SPROCKET", "GADGET_KIND_FLYWHEEL"]):
        kind.value.add(name=name, number=number)
    req = f.message_type.add(name="RenameGadgetRequest")
    req.field.add(name="gadget_id", number=1, type=F.TYPE_INT64, label=F.LABEL_OPTIONAL)
    req.field.add(name="name", number=2, type=F.TYPE_STRING, label=F.LABEL_OPTIONAL)
    req.field.add(name="kind", number=3, type=F.TYPE_ENUM, type_name=".gwe2e.v1.GadgetKind", label=F.LABEL_OPTIONAL)
    gadget = f.message_type.add(name="Gadget")
    gadget.field.add(name="gadget_id", number=1, type=F.TYPE_INT64, label=F.LABEL_OPTIONAL)
    gadget.field.add(name="name", number=2, type=F.TYPE_STRING, label=F.LABEL_OPTIONAL)
    gadget.field.add(name="kind", number=3, type=F.TYPE_ENUM, type_name=".gwe2e.v1.GadgetKind", label=F.LABEL_OPTIONAL)
    gadget.field.add(
        name="note", number=4, type=F.TYPE_STRING, label=F.LABEL_OPTIONAL, proto3_optional=True, oneof_index=0
    )
    gadget.oneof_decl.add(name="_note")
    service = f.service.add(name="Gadgets")
    method = service.method.add(
        name="RenameGadget", input_type=".gwe2e.v1.RenameGadgetRequest", output_type=".gwe2e.v1.Gadget"
    )
    method.options.Extensions[annotations_pb2.http].CopyFrom(
        http_pb2.HttpRule(custom=http_pb2.CustomHttpPattern(kind="RENAME", path="/v9/gadgets/{gadget_id}"), body="*")
    )
    get = service.method.add(
        name="GetGadget", input_type=".gwe2e.v1.RenameGadgetRequest", output_type=".gwe2e.v1.Gadget"
    )
    get.options.Extensions[annotations_pb2.http].CopyFrom(http_pb2.HttpRule(get="/v9/gadgets/{gadget_id}"))
    return descriptor_pool.Default().AddSerializedFile(f.SerializeToString()).services_by_name["Gadgets"]


def test_a_new_annotated_rpc_is_served_with_no_gateway_change():
    from google.protobuf import message_factory

    service = _gadget_service()
    method = service.methods_by_name["RenameGadget"]
    request_class = message_factory.GetMessageClass(method.input_type)
    gadget_class = message_factory.GetMessageClass(method.output_type)
    seen = []

    def rename(request, context):
        seen.append(request)
        return gadget_class(gadget_id=request.gadget_id, name=request.name, kind=request.kind)

    server = grpc.server(futures.ThreadPoolExecutor(max_workers=2))
    handler = grpc.unary_unary_rpc_method_handler(
        rename, request_deserializer=request_class.FromString, response_serializer=lambda m: m.SerializeToString()
    )
    server.add_generic_rpc_handlers(
        [grpc.method_handlers_generic_handler(service.full_name, {"RenameGadget": handler, "GetGadget": handler})]
    )
    target = f"127.0.0.1:{server.add_insecure_port('127.0.0.1:0')}"
    server.start()
    try:

        async def go(client: httpx.AsyncClient) -> tuple[httpx.Response, ...]:
            ok = await client.request("RENAME", "/v9/gadgets/42", json={"name": "big wheel", "kind": "flywheel"})
            bad = await client.request("RENAME", "/v9/gadgets/forty-two", json={"name": "x"})
            got = await client.get("/v9/gadgets/7?kind=sprocket")
            doc = await client.get("/openapi.json")
            return ok, bad, got, doc

        ok, bad, got, doc = http(target, go, service=service)
    finally:
        server.stop(None)
    assert ok.status_code == 200
    assert ok.json() == {"gadget_id": 42, "name": "big wheel", "kind": "flywheel", "note": None}
    assert seen[0].gadget_id == 42 and seen[0].kind == 2
    assert bad.status_code == 400 and error_of(bad)["details"][0]["field_violations"] == [
        {"field": "gadget_id", "description": "must be an integer"}
    ]
    assert got.json() == {"gadget_id": 7, "name": "", "kind": "sprocket", "note": None}
    # Documented too; a custom verb cannot be described in OpenAPI, so only GET is.
    validate(doc.json())
    assert list(doc.json()["paths"]["/v9/gadgets/{gadget_id}"]) == ["get"]
    assert doc.json()["components"]["schemas"]["Gadget"]["properties"]["note"] == {"type": ["string", "null"]}
