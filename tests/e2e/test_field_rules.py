"""Every rule declared in the protos (`issues.v1.rules`) holds on the server, at its edges.

The OpenAPI document states the rules; the server enforces its own checks.
This keeps the two from drifting apart: for each rule on each request field of
each HTTP binding, a value at the limit is accepted and one past it is refused
with a 400 naming the field, through real HTTP to a real gateway and server
(a field a header sets, such as request_id, through its header). The cases
are derived from the descriptors, so a new rule is tested as soon as it is
declared (a new `pattern` needs samples in PATTERN_SAMPLES).
"""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from typing import Any, Iterator
from urllib.parse import quote

import httpx
import pytest
from google.protobuf.descriptor import FieldDescriptor

from common.descriptors import SERVICE, Rules, field_rules, query_name
from gateway.headers import request_headers
from gateway.routing import Binding, RouteTable
from issues.v1 import options_pb2

from .. import harness
from .test_gateway_e2e import gateway_url  # noqa: F401 - the fixture: a gateway per backend

TABLE = RouteTable.for_service(SERVICE)
# An event stream shares its path and request rules with its unary twin
# (WatchEvents and ListEvents): the twin's cases cover them.
BINDINGS = {b.method.name: b for b in TABLE.bindings if not b.event_stream}

# A valid body for each method with one; each case changes one key of it.
BASE_BODIES: dict[str, dict[str, Any]] = {
    "CreateIssue": {"title": "t", "description": []},
    "UpdateIssue": {"priority": "high"},
    "CreateComment": {"content": "c"},
    "UpdateComment": {"content": "edited"},
    "AddIssueFile": {"attachment_id": "{attachment_id}", "file_type": "plan"},
    "CreateAttachment": {"file_name": "plan.md", "size_bytes": 1},
    "UpdateWorkflow": {"transitions": {s: [] for s in ("open", "in_progress", "resolved", "rejected")}},
    "AddReaction": {"emoji": "👍"},
    "BulkUpdateIssues": {"ids": ["{issue_id}"], "updates": {"priority": "high"}},
    # Inactive: nothing is ever sent to this (public, literal) address.
    "CreateWebhook": {"url": "https://1.1.1.1/hook", "active": False},
    "UpdateWebhook": {"description": "edited"},
    "RotateWebhookSecret": {},
    "PingWebhook": {},
    "RedeliverWebhookDelivery": {},
}
# A URL of exactly n characters (n >= len(URL_BASE)).
URL_BASE = "https://1.1.1.1/"

# pattern -> (values that match it, values that do not); both must hold on the server.
PATTERN_SAMPLES: dict[str, tuple[list[str], list[str]]] = {
    r"^[a-z0-9_]{1,64}:[^\x00]{1,256}$": (
        ["order:8001", "a_1:x:y"],
        ["Order:1", "order", "order:", "or-der:1", "o:a\x00"],
    ),
    r"^[^\x00]*$": (["8001", "x y"], ["a\x00b"]),
    r"^[^/\\]*$": (["plan v2.md", "a.b-c_d"], ["dir/plan.md", r"dir\plan.md"]),
    "^[a-z0-9_]{1,64}$": (["troubleshooting_plan", "a", "x" * 64], ["Plan", "plan-b", "x" * 65]),
    "^[a-z0-9_]{0,64}$": (["", "troubleshooting_plan"], ["Plan", "plan b"]),
    r"^(?:[\w.+-]+/[\w.+-]+(?:\s*;[^\x00\n]*)?)?$": (
        ["", "text/markdown", "text/plain; charset=utf-8"],
        ["markdown", "text/", "text/plain; x=\x00"],
    ),
    "^[0-9a-fA-F]{64}$": (["ab" * 32, "AB" * 32], ["ab" * 31, "g" * 64]),
    r"^(issue\.(created|updated|deleted)|comment\.(created|updated|deleted)|reaction\.(added|removed)|file\.added"
    r"|workflow\.updated|issues\.bulk_updated)$": (
        ["issue.created", "issues.bulk_updated", "reaction.removed"],
        ["Issue.created", "issue", "issue.exploded", "issuexcreated"],
    ),
    "^(created_at|updated_at|priority)( desc)?$": (
        ["created_at", "updated_at desc", "priority desc"],
        ["title", "created_at DESC", "priority asc", " created_at"],
    ),
    "^[!-~]*$": (["4a1e-retry:1~", "x"], ["has space", "two  spaces"]),
    r"^[hH][tT][tT][pP][sS]?://([A-Za-z0-9._~%!$&'()*+,;=-]+|\[[0-9A-Fa-f:.]+\])(:(6553[0-5]|655[0-2][0-9]"
    r"|65[0-4][0-9]{2}|6[0-4][0-9]{3}|[1-5][0-9]{4}|[0-9]{1,4}))?([/?#][!-~]*)?$": (
        ["https://1.1.1.1/hook", "HTTP://1.1.1.1:65535/a?b=c#d", "http://[2606:4700::1111]/x"],
        ["ftp://1.1.1.1/", "https://u:p@1.1.1.1/", "http://1.1.1.1:65536/", "http://1.1.1.1/a b", "http://[zz]/"],
    ),
}
# A page token is signed by the server, so no string of the right length is
# one: only the refusals past the rules are checked here (tokens that work:
# tests/e2e/test_issue_lists.py).
SIGNED = ("page_token",)


@dataclass(frozen=True)
class Edge:
    method: str
    field: str
    rule: str
    value: Any
    accepted: bool
    named: str  # the field a refusal must name

    @property
    def id(self) -> str:
        return f"{self.method}.{self.field}.{self.rule}.{'ok' if self.accepted else 'refused'}"


SEEDED = ("issue_id", "comment_id", "attachment_id", "emoji", "webhook_id", "delivery_id")


def _item_sample(f: FieldDescriptor, rules: Rules) -> Any:
    if f.message_type is not None:
        return {}
    if rules.format == "uuid":
        return "{attachment_id}" if "attachment" in f.name else str(uuid.uuid4())
    if rules.format == "issue_id":
        return "{issue_id}"
    for pattern in rules.patterns:
        if pattern in PATTERN_SAMPLES:
            return PATTERN_SAMPLES[pattern][0][0]
    return "t"


def _string_edges(rules: Rules, field: str) -> Iterator[tuple[str, Any, bool]]:
    if rules.format == "uri":  # lengths as URLs; an http(s) URL with a host
        assert rules.max_length is not None and not rules.min_length
        yield "max_length", URL_BASE + "x" * (rules.max_length - len(URL_BASE)), True
        yield "max_length", URL_BASE + "x" * (rules.max_length + 1 - len(URL_BASE)), False
        yield "uri", "http://1.1.1.1:8080/a?b=c", True
        yield from (("uri", bad, False) for bad in ("ftp://1.1.1.1/", "https:///no-host", "1.1.1.1/hook"))
        return
    if rules.max_length is not None:
        yield "max_length", "x" * rules.max_length, True
        yield "max_length", "x" * (rules.max_length + 1), False
    if rules.min_length:
        yield "min_length", "x" * rules.min_length, True
        yield "min_length", "x" * (rules.min_length - 1), False
    if rules.not_blank:
        yield "not_blank", " x ", True
        yield "not_blank", " \t\u3000\x1c", False
        yield "no_nul", "x\x00y", False
    if rules.format == "issue_id":
        # An issue by uuid or by identifier (any case); the seeded parent where one must exist.
        seeded = "parent" if field == "parent_id" else "issue_id"
        yield "issue_id", f"{{{seeded}}}", True
        yield "issue_id", f"{{{seeded}_identifier}}:lower", True
        yield "issue_id", "not-an-issue", False
    if rules.format == "date-time":
        # RFC 3339 as the pattern spells it (years 0001 to 9999), of a date that exists.
        yield from (
            ("date-time", v, True)
            for v in (
                "2026-04-13T10:30:00Z",
                "2026-04-13T10:30:00.123456789+02:00",
                "1999-12-31T23:59:59-11:30",
                "0001-01-01T00:00:00+01:00",
                "9999-12-31T23:59:59.999999999-01:00",
            )
        )
        yield from (
            ("date-time", v, False)
            for v in (
                "2026-04-13",
                "2026-04-13T10:30:00",
                "2026-04-13 10:30:00Z",
                "2026-13-01T00:00:00Z",
                "2026-04-13T10:30:00.1234567890Z",
                "2026-04-13t10:30:00z",
                "2026-04-13T24:00:00Z",
                "0000-01-01T00:00:00Z",
                "2026-02-30T00:00:00Z",
            )
        )
    if rules.format == "emoji":
        yield "emoji", "👍🏽", True
        yield "emoji", "x", False
        yield "emoji", "👍👍", False
    if rules.format == "uuid":
        # Any case is the canonical spelling too; a seeded id where the server looks it up.
        seeded = "attachment_id" if "attachment" in field else field if field in SEEDED else None
        yield "uuid", f"{{{seeded}}}:upper" if seeded else str(uuid.uuid4()).upper(), True
        yield "uuid", "not-a-uuid", False
    for pattern in rules.patterns:
        if pattern in PATTERN_SAMPLES:
            good, bad = PATTERN_SAMPLES[pattern]
            yield from (("pattern", v, True) for v in good)
            yield from (("pattern", v, False) for v in bad)


def _map_edges(method: str, name: str, rules: Rules) -> Iterator[Edge]:
    """A map of strings: how many keys, what keys, and the string rules on each value."""
    if rules.max_items is not None:
        full = {f"k{i}": "v" for i in range(rules.max_items)}
        yield Edge(method, name, "max_items", full, True, name)
        yield Edge(method, name, "max_items", {**full, "one_more": "v"}, False, name)
    if rules.key_pattern:
        yield Edge(method, name, "key_pattern", {"order_1": "v"}, True, name)
        yield Edge(method, name, "key_pattern", {"Order": "v"}, False, f"{name}.Order")
    for rule, value, ok in _string_edges(rules, name):
        yield Edge(method, name, rule, {"k": value}, ok, f"{name}.k")


def _edges(b: Binding, f: FieldDescriptor) -> Iterator[Edge]:
    rules = field_rules(f)
    name, method = f.name, b.method.name
    if f.message_type is not None and f.message_type.GetOptions().map_entry:
        yield from _map_edges(method, name, rules)
    elif f.is_repeated:
        item = _item_sample(f, rules)
        if rules.max_items is not None:
            yield Edge(method, name, "max_items", [item] * rules.max_items, True, name)
            yield Edge(method, name, "max_items", [item] * (rules.max_items + 1), False, name)
        for rule, value, ok in _string_edges(rules, name):
            yield Edge(method, name, rule, [value], ok, f"{name}[0]")
    elif f.type == FieldDescriptor.TYPE_STRING:
        for rule, value, ok in _string_edges(rules, name):
            yield Edge(method, name, rule, value, ok, name)
    else:
        if rules.minimum is not None:
            yield Edge(method, name, "minimum", rules.minimum, True, name)
            yield Edge(method, name, "minimum", rules.minimum - 1, False, name)
        if rules.maximum is not None:
            yield Edge(method, name, "maximum", rules.maximum, True, name)
            yield Edge(method, name, "maximum", rules.maximum + 1, False, name)


def _cases() -> list[Edge]:
    cases: list[Edge] = []
    for b in BINDINGS.values():
        mask = b.update_mask_field
        for f in b.method.input_type.fields:
            if mask is not None and f is mask:
                continue
            cases += [e for e in _edges(b, f) if not (e.accepted and e.field in SIGNED)]
            if mask is not None and f.name not in b.template.variable_fields | set(
                request_headers(b.method.input_type)
            ):
                # In an update, null clears the field: allowed exactly where `clearable` says so.
                cases.append(Edge(b.method.name, f.name, "null", None, field_rules(f).clearable, f.name))
    return cases


CASES = _cases()


def test_every_declared_rule_and_pattern_has_edge_cases():
    fields = [(b.method.name, f) for b in BINDINGS.values() for f in b.method.input_type.fields]
    declared = {(method, f.name) for method, f in fields if field_rules(f) != Rules()}
    assert declared <= {(c.method, c.field) for c in CASES}
    explicit = {f.GetOptions().Extensions[options_pb2.rules].pattern for _, f in fields} - {""}
    assert explicit <= set(PATTERN_SAMPLES), "a new pattern needs samples in PATTERN_SAMPLES"
    assert len(CASES) > 100


@pytest.fixture(scope="module")
def caller(gateway_url: str, database_url: str) -> Iterator[httpx.Client]:
    token, _ = harness.mint_token(database_url, "admin")
    with httpx.Client(base_url=gateway_url, headers={"Authorization": f"Bearer {token}"}, timeout=30) as client:
        yield client


@pytest.fixture(scope="module")
def ready_attachment(caller: httpx.Client) -> str:
    created = caller.post("/api/v1/attachments", json={"file_name": "plan.md", "size_bytes": 2})
    assert created.status_code == 201, created.text
    assert httpx.put(created.json()["upload_url"], content=b"ok").status_code == 200
    return created.json()["attachment"]["uuid"]


def _fill(value: Any, ids: dict[str, str]) -> Any:
    """Put the seeded ids where the case says `{issue_id}` (`:upper` for their upper-case spelling)."""
    if isinstance(value, list):
        return [_fill(v, ids) for v in value]
    if isinstance(value, dict):
        return {k: _fill(v, ids) for k, v in value.items()}
    if isinstance(value, str) and value.startswith("{") and "}" in value:
        name, _, suffix = value[1:].partition("}")
        if name in ids:
            return {":upper": ids[name].upper(), ":lower": ids[name].lower()}.get(suffix, ids[name])
    return value


def _request(caller: httpx.Client, edge: Edge, ids: dict[str, str]) -> httpx.Response:
    b = BINDINGS[edge.method]
    value = _fill(edge.value, ids)
    path_params = {name: ids[name] for _, name in b.template.variables}
    query: dict[str, Any] = {}
    headers: dict[str, str] = {}
    body: dict[str, Any] | None = None
    if b.body == "*":
        body = _fill(BASE_BODIES[edge.method], ids)
    if edge.field in path_params:
        path_params[edge.field] = value
    elif edge.field in (by_header := request_headers(b.method.input_type)):
        headers[by_header[edge.field]] = value
    elif body is not None:
        body[edge.field] = value
    else:
        query[query_name(b.method.input_type.fields_by_name[edge.field])] = value
    names = dict(b.template.variables)
    path = "".join(
        "/" + (quote(str(path_params[names[i]]), safe="") if lit is None else lit)
        for i, lit in enumerate(b.template.literals)
    ) + (f":{b.template.verb}" if b.template.verb else "")
    return caller.request(b.verb.upper(), path, params=query, json=body, headers=headers)


@pytest.fixture
def own_caller(gateway_url: str, database_url: str) -> Iterator[httpx.Client]:
    """A caller in a workspace of its own (request_id cases: the same key on another request is a 409)."""
    token, _ = harness.mint_token(database_url, "admin")
    with httpx.Client(base_url=gateway_url, headers={"Authorization": f"Bearer {token}"}, timeout=30) as client:
        yield client


@pytest.mark.parametrize("edge", [pytest.param(e, id=e.id) for e in CASES])
def test_a_declared_rule_holds_on_the_server(request, caller, ready_attachment, edge):
    if edge.field == "request_id":
        caller = request.getfixturevalue("own_caller")
    issue = caller.post("/api/v1/issues", json={"title": "edge", "description": []}).json()
    parent = caller.post("/api/v1/issues", json={"title": "parent", "description": []}).json()
    comment = caller.post(f"/api/v1/issues/{issue['uuid']}/comments", json={"content": "c"}).json()
    hook = caller.post("/api/v1/webhooks", json=BASE_BODIES["CreateWebhook"]).json()
    delivery = caller.post(f"/api/v1/webhooks/{hook['id']}:ping", json={}).json()
    ids = {
        "issue_id": issue["uuid"],
        "comment_id": comment["uuid"],
        "attachment_id": ready_attachment,
        "issue_id_identifier": issue["identifier"],
        "parent": parent["uuid"],
        "parent_identifier": parent["identifier"],
        "emoji": "👍",
        "webhook_id": hook["id"],
        "delivery_id": delivery["id"],
    }

    response = _request(caller, edge, ids)

    if edge.accepted:
        assert response.status_code < 300, response.text
    else:
        assert response.status_code == 400, response.text
        fields = [v["field"] for d in response.json()["error"]["details"] for v in d.get("field_violations", [])]
        assert _over_http(edge) in fields, response.text


def _over_http(edge: Edge) -> str:
    """The path a refusal names over HTTP: a field read from a query
    parameter of another name (`after_sequence`, `?after=`) is named as the parameter."""
    field = SERVICE.methods_by_name[edge.method].input_type.fields_by_name.get(edge.field)
    if field is None or query_name(field) == field.name or not edge.named.startswith(field.name):
        return edge.named
    return query_name(field) + edge.named[len(field.name) :]


def test_only_the_canonical_uuid_spelling_is_accepted(caller, ready_attachment):
    """format uuid means 8-4-4-4-12 hex digits; braces, urn: and bare hex are refused (in the path and in a body)."""
    issue = caller.post("/api/v1/issues", json={"title": "spelling", "description": []}).json()
    bare = issue["uuid"].replace("-", "")
    for response, field in (
        (caller.get(f"/api/v1/issues/{bare}"), "issue_id"),
        (
            caller.post(
                "/api/v1/issues", json={"title": "t", "description": [], "attachment_ids": [f"{{{ready_attachment}}}"]}
            ),
            "attachment_ids[0]",
        ),
    ):
        assert response.status_code == 400, response.text
        assert field in [v["field"] for d in response.json()["error"]["details"] for v in d["field_violations"]]
