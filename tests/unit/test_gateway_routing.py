"""The route table, read from google.api.http annotations (no server needed)."""

from __future__ import annotations

import itertools

import pytest
from google.api import annotations_pb2, http_pb2
from google.protobuf import descriptor_pb2, descriptor_pool, empty_pb2  # noqa: F401 - empty registers its file

from gateway.routing import PathTemplate, RouteTable, bindings
from issues.v1 import issue_service_pb2, options_pb2

SERVICE = issue_service_pb2.DESCRIPTOR.services_by_name["IssueService"]

# SPEC section 4, verbatim: every one of these must come out of the annotations.
CONTRACT_ROUTES = [
    ("POST", "/api/v1/issues", "CreateIssue", 201),
    ("GET", "/api/v1/issues", "ListIssues", 200),
    ("GET", "/api/v1/issues/metrics", "GetIssueMetrics", 200),
    ("GET", "/api/v1/issues/{issue_id}", "GetIssue", 200),
    ("PATCH", "/api/v1/issues/{issue_id}", "UpdateIssue", 200),
    ("DELETE", "/api/v1/issues/{issue_id}", "DeleteIssue", 204),
    ("GET", "/api/v1/issues/{issue_id}/comments", "ListComments", 200),
    ("POST", "/api/v1/issues/{issue_id}/comments", "CreateComment", 201),
    ("PATCH", "/api/v1/issues/{issue_id}/comments/{comment_id}", "UpdateComment", 200),
    ("DELETE", "/api/v1/issues/{issue_id}/comments/{comment_id}", "DeleteComment", 204),
    ("GET", "/api/v1/issues/{issue_id}/files", "ListIssueFiles", 200),
]


@pytest.fixture(scope="module")
def table() -> RouteTable:
    return RouteTable.for_service(SERVICE)


@pytest.mark.parametrize(("verb", "path", "method", "code"), CONTRACT_ROUTES)
def test_every_contract_route_comes_from_the_annotations(table, verb, path, method, code):
    [binding] = [b for b in table.bindings if b.verb == verb and b.template.text == path]
    assert binding.method.name == method
    assert binding.success_code == code


def test_every_annotated_method_is_routed(table):
    annotated = {m.name for m in SERVICE.methods if m.GetOptions().HasExtension(annotations_pb2.http)}
    assert annotated >= {name for _, _, name, _ in CONTRACT_ROUTES}
    assert {b.method.name for b in table.bindings} == annotated


def test_literal_segment_wins_over_a_variable(table):
    found = table.resolve("GET", "/api/v1/issues/metrics")
    assert found.binding.method.name == "GetIssueMetrics"
    assert found.path_params == {}


def test_a_variable_takes_any_other_segment(table):
    found = table.resolve("GET", "/api/v1/issues/0f6d6f74-7d92-4d20-bf6c-2e37d2c1d9c8")
    assert found.binding.method.name == "GetIssue"
    assert found.path_params == {"issue_id": "0f6d6f74-7d92-4d20-bf6c-2e37d2c1d9c8"}


def test_two_variables(table):
    found = table.resolve("PATCH", "/api/v1/issues/a/comments/b")
    assert found.binding.method.name == "UpdateComment"
    assert found.path_params == {"issue_id": "a", "comment_id": "b"}


def test_wrong_method_on_a_known_path_lists_the_allowed_ones(table):
    found = table.resolve("PUT", "/api/v1/issues/x")
    assert found.binding is None
    assert found.allowed == ("DELETE", "GET", "HEAD", "OPTIONS", "PATCH")


def test_the_literal_resource_answers_405_rather_than_falling_back_to_the_variable(table):
    # PATCH exists on /issues/{issue_id}, but /issues/metrics is its own resource.
    found = table.resolve("PATCH", "/api/v1/issues/metrics")
    assert found.binding is None
    assert found.allowed == ("GET", "HEAD", "OPTIONS")


@pytest.mark.parametrize(
    "path", ["/", "/api/v1", "/api/v1/issue", "/api/v1/issues/", "/api/v1/issues/x/y", "api/v1/issues"]
)
def test_unknown_paths_resolve_to_nothing(table, path):
    assert table.resolve("GET", path) is None


def test_variables_are_percent_decoded_after_splitting(table):
    found = table.resolve("GET", "/api/v1/issues/a%2Fb%20c")
    assert found.binding.method.name == "GetIssue"
    assert found.path_params == {"issue_id": "a/b c"}


def test_body_and_query_fields(table):
    by_name = {b.method.name: b for b in table.bindings}
    assert by_name["CreateIssue"].body == "*" and by_name["CreateIssue"].query_fields == ()
    assert [f.name for f in by_name["ListIssues"].query_fields] == [
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
    ]
    assert [f.name for f in by_name["ListComments"].query_fields] == ["limit", "offset", "page_token"]
    assert [f.name for f in by_name["ListIssueFiles"].query_fields] == ["file_type"]
    assert by_name["ListIssueFiles"].response_body == "files"


def test_update_mask_is_recognised_only_on_patch_with_a_whole_body(table):
    masks = {b.method.name for b in table.bindings if b.update_mask_field is not None}
    assert masks == {"UpdateIssue", "UpdateComment", "UpdateWebhook"}


@pytest.mark.parametrize(
    ("text", "literals", "variables", "verb"),
    [
        ("/a/{x}/b", ("a", None, "b"), ((1, "x"),), None),
        ("/a/{x=*}", ("a", None), ((1, "x"),), None),
        ("/a/{x.y}", ("a", None), ((1, "x.y"),), None),
        ("/a/b:bulkUpdate", ("a", "b"), (), "bulkUpdate"),
        ("/a/{x}:archive", ("a", None), ((1, "x"),), "archive"),
    ],
)
def test_template_parsing(text, literals, variables, verb):
    t = PathTemplate.parse(text)
    assert t.literals == literals and t.variables == variables and t.verb == verb


@pytest.mark.parametrize("text", ["a/b", "/", "/a/{x=**}", "/a/**", "/a/b:", "/a/b:9x", "/a:b/c", "/a/{x}{y}"])
def test_unsupported_templates_fail_when_the_table_is_built(text):
    with pytest.raises(ValueError):
        PathTemplate.parse(text)


# -- a service this gateway has never seen -------------------------------------


_serial = itertools.count()


def _synthetic_service(rules: dict[str, http_pb2.HttpRule], success: dict[str, int] | None = None):
    """A new annotated service, built at runtime: the gateway must route it unchanged."""
    name = f"gwtest{next(_serial)}"
    f = descriptor_pb2.FileDescriptorProto(name=f"{name}.proto", package=name, syntax="proto3")
    f.dependency.extend(["google/protobuf/empty.proto"])
    req = f.message_type.add(name="Req")
    req.field.add(
        name="thing_id",
        number=1,
        type=descriptor_pb2.FieldDescriptorProto.TYPE_STRING,
        label=descriptor_pb2.FieldDescriptorProto.LABEL_OPTIONAL,
    )
    req.field.add(
        name="n",
        number=2,
        type=descriptor_pb2.FieldDescriptorProto.TYPE_INT32,
        label=descriptor_pb2.FieldDescriptorProto.LABEL_OPTIONAL,
    )
    service = f.service.add(name="Things")
    for method_name, rule in rules.items():
        m = service.method.add(name=method_name, input_type=f".{name}.Req", output_type=".google.protobuf.Empty")
        m.options.Extensions[annotations_pb2.http].CopyFrom(rule)
        if success and method_name in success:
            m.options.Extensions[options_pb2.http_success_code] = success[method_name]
    service.method.add(name="NotOnHttp", input_type=f".{name}.Req", output_type=".google.protobuf.Empty")
    return descriptor_pool.Default().AddSerializedFile(f.SerializeToString()).services_by_name["Things"]


def test_a_new_annotated_rpc_gets_its_route_with_no_gateway_change():
    service = _synthetic_service(
        {
            "GetThing": http_pb2.HttpRule(
                get="/v9/things/{thing_id}",
                additional_bindings=[http_pb2.HttpRule(get="/v9/legacy/things/{thing_id}")],
            ),
            "Poke": http_pb2.HttpRule(
                custom=http_pb2.CustomHttpPattern(kind="POKE", path="/v9/things/{thing_id}"), body="*"
            ),
        },
        success={"Poke": 202},
    )
    table = RouteTable.for_service(service)
    assert [(b.verb, b.template.text, b.method.name) for b in table.bindings] == [
        ("GET", "/v9/things/{thing_id}", "GetThing"),
        ("GET", "/v9/legacy/things/{thing_id}", "GetThing"),
        ("POKE", "/v9/things/{thing_id}", "Poke"),
    ]
    assert table.resolve("GET", "/v9/legacy/things/7").path_params == {"thing_id": "7"}
    assert table.resolve("POKE", "/v9/things/7").binding.success_code == 202
    # Empty responses default to 204; the method without a rule has no route.
    assert table.resolve("GET", "/v9/things/7").binding.success_code == 204
    assert "NotOnHttp" not in {b.method.name for b in bindings(service)}


def test_custom_verbs_are_routed_from_the_annotation():
    """AIP-136: `:verb` after the last segment, matched generically, before a template without one."""
    service = _synthetic_service(
        {
            "GetThing": http_pb2.HttpRule(get="/v9/things/{thing_id}"),
            "ArchiveThing": http_pb2.HttpRule(post="/v9/things/{thing_id}:archive", body="*"),
            "ListThings": http_pb2.HttpRule(get="/v9/things"),
            "BatchPoke": http_pb2.HttpRule(post="/v9/things:batchPoke", body="*"),
        }
    )
    table = RouteTable.for_service(service)

    assert table.resolve("POST", "/v9/things:batchPoke").binding.method.name == "BatchPoke"
    assert table.resolve("GET", "/v9/things").binding.method.name == "ListThings"
    archive = table.resolve("POST", "/v9/things/7:archive")
    assert archive.binding.method.name == "ArchiveThing" and archive.path_params == {"thing_id": "7"}
    # Not the verb: an id with a colon in it, encoded or not.
    assert table.resolve("GET", "/v9/things/7:archive").binding is None  # the verb's resource, another method: 405
    assert table.resolve("GET", "/v9/things/7%3Aarchive").path_params == {"thing_id": "7:archive"}
    assert table.resolve("POST", "/v9/things/7%3Aarchive").binding is None  # GetThing's resource: 405
    wrong = table.resolve("GET", "/v9/things:batchPoke")
    assert wrong.binding is None and "POST" in wrong.allowed
    assert table.resolve("POST", "/v9/things:other") is None


def test_the_bulk_update_is_a_custom_method(table):
    found = table.resolve("POST", "/api/v1/issues:bulkUpdate")
    assert found.binding.method.name == "BulkUpdateIssues" and found.path_params == {}
    assert table.resolve("GET", "/api/v1/issues").binding.method.name == "ListIssues"


def test_a_rule_naming_a_missing_field_is_refused():
    service = _synthetic_service({"Bad": http_pb2.HttpRule(get="/v9/x/{nope}")})
    with pytest.raises(ValueError, match="nope"):
        RouteTable.for_service(service)


def test_the_same_verb_and_path_twice_is_refused():
    service = _synthetic_service(
        {"A": http_pb2.HttpRule(get="/v9/y/{thing_id}"), "B": http_pb2.HttpRule(get="/v9/y/{n}")}
    )
    with pytest.raises(ValueError):
        RouteTable.for_service(service)
