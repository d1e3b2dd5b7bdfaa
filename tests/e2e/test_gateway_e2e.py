"""The HTTP/JSON contract end to end: real HTTP -> gateway (uvicorn) -> gRPC server -> database.

Runs once per backend (SQLite and PostgreSQL, via conftest's `grpc_server`)
and per transport (`gateway_url`: in-process, and the standalone gateway on SQLite).
The golden tests replay every example of the contract document
(seeds/002_8235afc3359864fc.txt) and hold the responses to its keys, types
and nulls; SPEC section 4 adds the `Z` on timestamps and allows `updated_at`.
"""

from __future__ import annotations

import re
import uuid
from dataclasses import dataclass
from typing import Any, Callable, Iterator

import httpx
import pytest

from gateway.server import start_in_thread

from .. import harness
from ..unit.test_gateway_contract import (
    ACTIVE_ISSUES_CHART,
    ADDITIVE_COMMENT_KEYS,
    ADDITIVE_ISSUE_KEYS,
    COMMENT_RESPONSE,
    COMMENT_TYPES,
    CREATE_COMMENT_REQUEST,
    CREATE_ISSUE_REQUEST,
    FILES_RESPONSE,
    ISSUE_RESPONSE,
    ISSUE_TYPES,
    UPDATE_COMMENT_REQUEST,
    UPDATE_ISSUE_REQUEST,
)

ISSUE_KEYS = set(ISSUE_TYPES) | ADDITIVE_ISSUE_KEYS  # SPEC: additive keys allowed, updated_at expected
TIMESTAMP = re.compile(r"^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{6}Z$")
MISSING = "00000000-0000-4000-8000-000000000000"


# -- fixtures -----------------------------------------------------------------


@pytest.fixture(scope="session", params=["in-process", "standalone"])
def gateway_url(
    request: pytest.FixtureRequest, grpc_server: harness.ServerProcess, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[str]:
    """This backend's server over HTTP, on each transport: `serve`'s own gateway,
    whose calls reach the service in-process, and `python -m gateway` in a
    process of its own, over gRPC. The standalone one runs on SQLite only
    (conftest deselects the rest): its transport does not depend on the database.
    """
    if request.param == "in-process":
        yield grpc_server.http_url
        return
    gateway = harness.GatewayProcess(grpc_server.target, harness._free_port(), tmp_path_factory.mktemp("gateway"))
    try:
        yield gateway.url
    finally:
        gateway.stop()


@dataclass
class Workspace:
    slug: str
    admin: httpx.Client
    member: httpx.Client
    viewer: httpx.Client
    client: Callable[..., httpx.Client]


@pytest.fixture
def http(gateway_url: str, make_token: Callable[..., tuple[str, str]]) -> Iterator[Workspace]:
    """A fresh workspace with an HTTP client per role (and a factory for more)."""
    clients: list[httpx.Client] = []

    def client(role: str = "admin", workspace: str | None = None, email: str | None = None) -> httpx.Client:
        token, _ = make_token(role, workspace, email)
        c = httpx.Client(base_url=gateway_url, headers={"Authorization": f"Bearer {token}"}, timeout=30)
        clients.append(c)
        return c

    admin_token, slug = make_token("admin")
    admin = httpx.Client(base_url=gateway_url, headers={"Authorization": f"Bearer {admin_token}"}, timeout=30)
    clients.append(admin)
    try:
        yield Workspace(slug, admin, client("member", slug), client("viewer", slug), client)
    finally:
        for c in clients:
            c.close()


def ok(response: httpx.Response, status: int = 200) -> Any:
    assert response.status_code == status, response.text
    if status == 204:
        assert response.content == b""
        return None
    assert response.headers["content-type"] == "application/json"
    return response.json()


def error(response: httpx.Response, status: int, code: str) -> dict:
    assert response.status_code == status, response.text
    assert response.headers["content-type"] == "application/json"
    body = response.json()
    assert list(body) == ["error"]
    assert set(body["error"]) == {"code", "status", "message", "details"}
    assert (body["error"]["code"], body["error"]["status"]) == (status, code)
    assert isinstance(body["error"]["message"], str) and body["error"]["message"]
    assert "Traceback" not in response.text
    return body["error"]


def violated_fields(err: dict) -> list[str]:
    return [
        v["field"]
        for d in err["details"]
        if d["@type"].endswith("google.rpc.BadRequest")
        for v in d["field_violations"]
    ]


def assert_issue_shape(issue: dict) -> None:
    assert set(issue) == ISSUE_KEYS
    for key, types in ISSUE_TYPES.items():
        assert isinstance(issue[key], types), (key, issue[key])
    uuid.UUID(issue["uuid"])
    assert TIMESTAMP.match(issue["created_at"]) and TIMESTAMP.match(issue["updated_at"])


def assert_comment_shape(comment: dict) -> None:
    assert set(comment) == set(COMMENT_TYPES) | ADDITIVE_COMMENT_KEYS
    for key, types in COMMENT_TYPES.items():
        assert isinstance(comment[key], types), (key, comment[key])
    assert TIMESTAMP.match(comment["created_at"]) and TIMESTAMP.match(comment["updated_at"])


def create(client: httpx.Client, **fields: Any) -> dict:
    return ok(client.post("/api/v1/issues", json={"title": "an issue", "description": [], **fields}), 201)


# -- golden: every example of the contract document ----------------------------


def test_golden_create_issue(http):
    engineer = http.client("member", http.slug, "engineer@example.com")
    issue = ok(engineer.post("/api/v1/issues", json=CREATE_ISSUE_REQUEST), 201)

    assert_issue_shape(issue)
    generated = {"uuid", "created_at", "updated_at", "number", "identifier", "etag"}
    assert {k: v for k, v in issue.items() if k not in generated} == {
        k: v for k, v in ISSUE_RESPONSE.items() if k not in generated
    }


def test_golden_list_issues(http):
    wanted = create(http.member, status="open", priority="high")
    create(http.member, status="open", priority="low")
    create(http.member, status="resolved", priority="high")

    body = ok(http.viewer.get("/api/v1/issues?status=open&priority=high"))
    assert set(body) == {"items", "count", "next_page_token"}  # next_page_token: SPEC 8.9, additive
    assert body["count"] == 1 and isinstance(body["count"], int)
    assert body["items"] == [wanted]


def test_golden_get_issue(http):
    issue = create(http.member, description=[{"type": "text", "text": "Seen on board 3", "level": 2}])
    got = ok(http.viewer.get(f"/api/v1/issues/{issue['uuid']}"))
    assert_issue_shape(got)
    assert got == issue
    assert got["description"] == [{"type": "text", "text": "Seen on board 3", "level": 2}]


def test_golden_update_issue(http):
    issue = create(http.member, title="Power rail undervoltage at startup")
    updated = ok(http.member.patch(f"/api/v1/issues/{issue['uuid']}", json=UPDATE_ISSUE_REQUEST))
    assert_issue_shape(updated)
    assert updated["status"] == "in_progress" and updated["owner"] == "engineer@example.com"
    unchanged = {k: v for k, v in issue.items() if k not in ("status", "owner", "updated_at", "etag")}
    assert {k: updated[k] for k in unchanged} == unchanged


def test_golden_delete_issue(http):
    issue = create(http.member)
    ok(http.admin.delete(f"/api/v1/issues/{issue['uuid']}"), 204)
    error(http.admin.get(f"/api/v1/issues/{issue['uuid']}"), 404, "NOT_FOUND")


def test_golden_metrics(http):
    for priority, n in (("high", 5), ("medium", 3), ("low", 1)):
        for i in range(n):
            create(http.member, priority=priority, status="open" if i % 2 else "in_progress")
    create(http.member, priority="high", status="resolved")  # not active: not counted
    create(http.member, priority="medium", status="rejected")

    body = ok(http.viewer.get("/api/v1/issues/metrics"))
    assert list(body) == ["metrics"]
    first = body["metrics"][0]
    assert list(first) == ["chart_type", "chart_data"]
    data = first["chart_data"]
    contract = ACTIVE_ISSUES_CHART["chart_data"]
    assert first["chart_type"] == "pie_chart"
    assert {k: data[k] for k in contract} == contract
    assert set(data) - set(contract) <= {"labels", "series"}  # additive keys only
    assert all(type(point["value"]) is int for point in data["data"])
    for chart in body["metrics"]:
        assert chart["chart_type"] in ("pie_chart", "mixed_chart")


def test_golden_comments(http):
    issue = create(http.member)
    engineer = http.client("member", http.slug, "engineer@example.com")
    base = f"/api/v1/issues/{issue['uuid']}/comments"

    comment = ok(engineer.post(base, json=CREATE_COMMENT_REQUEST), 201)
    assert_comment_shape(comment)
    generated = {"uuid", "created_at", "updated_at", "etag"}
    assert {k: v for k, v in comment.items() if k not in generated} == {
        k: v for k, v in COMMENT_RESPONSE.items() if k not in generated
    }
    assert comment["created_at"] == comment["updated_at"]

    listed = ok(http.viewer.get(base))
    assert listed == {"items": [comment], "count": 1, "next_page_token": ""}

    edited = ok(engineer.patch(f"{base}/{comment['uuid']}", json=UPDATE_COMMENT_REQUEST))
    assert_comment_shape(edited)
    assert edited["content"] == UPDATE_COMMENT_REQUEST["content"]
    assert edited["is_edited"] is True and edited["uuid"] == comment["uuid"]

    ok(engineer.delete(f"{base}/{comment['uuid']}"), 204)
    [gone] = ok(http.viewer.get(base))["items"]
    assert_comment_shape(gone)
    assert gone["is_deleted"] is True and gone["content"] == "" and gone["attachments"] == []


def test_golden_files(http):
    issue = create(http.member)
    assert ok(http.viewer.get(f"/api/v1/issues/{issue['uuid']}/files")) == []
    assert ok(http.viewer.get(f"/api/v1/issues/{issue['uuid']}/files?file_type=troubleshooting_plan")) == []
    error(http.viewer.get(f"/api/v1/issues/{MISSING}/files"), 404, "NOT_FOUND")


# -- PATCH semantics ------------------------------------------------------------


def test_patch_changes_only_the_keys_present(http):
    issue = create(
        http.member,
        title="before",
        priority="medium",
        tags=["a"],
        owner="o@example.com",
        resolution_summary="rs",
        job_run_id="run-1",
        description=[{"type": "text"}],
    )
    updated = ok(http.member.patch(f"/api/v1/issues/{issue['uuid']}", json={"title": "after"}))
    assert updated["title"] == "after"
    for key in (
        "description",
        "status",
        "priority",
        "tags",
        "owner",
        "resolution_summary",
        "job_run_id",
        "created_at",
        "created_by",
    ):
        assert updated[key] == issue[key], key


def test_patch_null_clears_nullable_fields(http):
    issue = create(http.member, resolution_summary="fixed by reboot", job_run_id="run-9", owner="o@example.com")
    updated = ok(
        http.member.patch(f"/api/v1/issues/{issue['uuid']}", json={"resolution_summary": None, "job_run_id": None})
    )
    assert updated["resolution_summary"] is None and updated["job_run_id"] is None
    assert updated["owner"] == "o@example.com"
    again = ok(http.viewer.get(f"/api/v1/issues/{issue['uuid']}"))
    assert again["resolution_summary"] is None and again["job_run_id"] is None


def test_patch_null_owner_returns_to_unassigned(http):
    issue = create(http.member, owner="o@example.com")
    assert ok(http.member.patch(f"/api/v1/issues/{issue['uuid']}", json={"owner": None}))["owner"] == "Unassigned"


def test_patch_tags_replace(http):
    issue = create(http.member, tags=["power", "startup"])
    assert ok(http.member.patch(f"/api/v1/issues/{issue['uuid']}", json={"tags": ["thermal"]}))["tags"] == ["thermal"]
    assert ok(http.member.patch(f"/api/v1/issues/{issue['uuid']}", json={"tags": []}))["tags"] == []


def test_patch_sets_nullable_fields_and_description(http):
    issue = create(http.member)
    updated = ok(
        http.member.patch(
            f"/api/v1/issues/{issue['uuid']}",
            json={
                "resolution_summary": "done",
                "job_run_id": "run-2",
                "status": "resolved",
                "description": [{"type": "text", "text": "new", "n": 1.5}],
            },
        )
    )
    assert (updated["resolution_summary"], updated["job_run_id"], updated["status"]) == ("done", "run-2", "resolved")
    assert updated["description"] == [{"type": "text", "text": "new", "n": 1.5}]


@pytest.mark.parametrize(
    ("body", "field"),
    [
        ({"status": "done"}, "status"),
        ({"title": ""}, "title"),
        ({"title": None}, "title"),
        ({"tags": "x"}, "tags"),
        ({"colour": "red"}, "colour"),
        ({"update_mask": "title"}, "update_mask"),
        ({}, "update_mask"),
    ],
)
def test_patch_bad_input_is_400_naming_the_field_and_changes_nothing(http, body, field):
    issue = create(http.member)
    err = error(http.member.patch(f"/api/v1/issues/{issue['uuid']}", json=body), 400, "INVALID_ARGUMENT")
    assert field in violated_fields(err)
    assert ok(http.viewer.get(f"/api/v1/issues/{issue['uuid']}")) == issue


# -- filters and paging ----------------------------------------------------------


def test_repeatable_filters_match_any(http):
    made: dict[tuple[str, str], str] = {}
    for status in ("open", "in_progress", "resolved", "rejected"):
        for priority in ("low", "medium", "high"):
            made[(status, priority)] = create(http.member, status=status, priority=priority)["uuid"]

    def uuids(query: str) -> tuple[set[str], int]:
        body = ok(http.viewer.get(f"/api/v1/issues?{query}"))
        return {i["uuid"] for i in body["items"]}, body["count"]

    found, count = uuids("status=open&status=in_progress")
    assert found == {u for (s, _), u in made.items() if s in ("open", "in_progress")} and count == 6
    found, count = uuids("status=resolved&priority=high&priority=low")
    assert found == {made[("resolved", "high")], made[("resolved", "low")]} and count == 2
    found, count = uuids("priority=medium")
    assert count == 4 and found == {u for (_, p), u in made.items() if p == "medium"}
    assert uuids("")[1] == 12


def test_paging_walks_every_issue_once_newest_first(http):
    for i in range(7):
        create(http.member, title=f"issue {i}")
    everything = ok(http.viewer.get("/api/v1/issues?limit=1000"))
    assert everything["count"] == 7 and len(everything["items"]) == 7
    stamps = [i["created_at"] for i in everything["items"]]
    assert stamps == sorted(stamps, reverse=True)

    walked: list[dict] = []
    offset = 0
    while True:
        page = ok(http.viewer.get(f"/api/v1/issues?limit=3&offset={offset}"))
        assert page["count"] == 7  # matching issues, not the page length
        if not page["items"]:
            break
        assert len(page["items"]) <= 3
        walked += page["items"]
        offset += 3
    assert walked == everything["items"]
    assert offset == 9


def test_a_page_of_large_issues_has_fewer_items_and_every_one_is_reachable(http):
    # Six issues near the 1 MiB body limit would make one reply over gRPC's
    # 4 MiB default: a page holds fewer, count stays the total.
    blocks = [{"type": "text", "text": "x" * 800} for _ in range(1000)]
    made = [create(http.member, title=f"big {i}", description=blocks)["uuid"] for i in range(6)]
    seen: list[str] = []
    while True:
        response = http.viewer.get(f"/api/v1/issues?limit=1000&offset={len(seen)}")
        body = ok(response)
        assert body["count"] == 6 and len(response.content) < 4 << 20
        if not body["items"]:
            break
        assert len(body["items"]) < 6 and all(i["description"] == blocks for i in body["items"])
        seen += [i["uuid"] for i in body["items"]]
    assert sorted(seen) == sorted(made)


def test_default_page_size_is_100(http):
    body = ok(http.viewer.get("/api/v1/issues"))
    assert body == {"items": [], "count": 0, "next_page_token": ""}


@pytest.mark.parametrize(
    ("query", "field"),
    [
        ("limit=0", "limit"),
        ("limit=1001", "limit"),
        ("offset=-1", "offset"),
        ("limit=ten", "limit"),
        ("status=opened", "status"),
        ("priority=HIGH", "priority"),
        ("sort=title", "sort"),
    ],
)
def test_bad_list_parameters_are_400_naming_them(http, query, field):
    err = error(http.viewer.get(f"/api/v1/issues?{query}"), 400, "INVALID_ARGUMENT")
    assert any(f == field or f.startswith(field + "[") for f in violated_fields(err)), err


def test_comment_paging(http):
    issue = create(http.member)
    base = f"/api/v1/issues/{issue['uuid']}/comments"
    made = [ok(http.member.post(base, json={"content": f"c{i}"}), 201)["uuid"] for i in range(5)]
    first = ok(http.viewer.get(f"{base}?limit=2"))
    rest = ok(http.viewer.get(f"{base}?limit=1000&offset=2"))
    assert first["count"] == rest["count"] == 5
    assert [c["uuid"] for c in first["items"] + rest["items"]] == made  # oldest first
    error(http.viewer.get(f"{base}?limit=0"), 400, "INVALID_ARGUMENT")


# -- status codes ------------------------------------------------------------------


def test_unauthenticated_is_401_with_www_authenticate(gateway_url, http):
    issue = create(http.member)
    for headers in ({}, {"Authorization": "Bearer not-a-token"}, {"Authorization": "Basic dXNlcjpwYXNz"}):
        for method, path in (
            ("GET", "/api/v1/issues"),
            ("GET", f"/api/v1/issues/{issue['uuid']}"),
            ("DELETE", f"/api/v1/issues/{issue['uuid']}"),
        ):
            response = httpx.request(method, gateway_url + path, headers=headers)
            error(response, 401, "UNAUTHENTICATED")
            assert response.headers["www-authenticate"] == "Bearer"
    ok(http.viewer.get(f"/api/v1/issues/{issue['uuid']}"))  # the delete attempts changed nothing


def test_bad_input_from_the_service_is_400_with_field_violations(http):
    err = error(http.member.post("/api/v1/issues", json={"title": "   ", "description": []}), 400, "INVALID_ARGUMENT")
    assert violated_fields(err) == ["title"]
    assert err["details"][0]["@type"] == "type.googleapis.com/google.rpc.BadRequest"
    err = error(
        http.member.post("/api/v1/issues", json={"title": "x" * 501, "description": []}), 400, "INVALID_ARGUMENT"
    )
    assert violated_fields(err) == ["title"]
    err = error(http.viewer.get("/api/v1/issues/not-a-uuid"), 400, "INVALID_ARGUMENT")
    assert violated_fields(err) == ["issue_id"]
    issue = create(http.member)
    err = error(
        http.member.post(f"/api/v1/issues/{issue['uuid']}/comments", json={"content": "x" * 10_001}),
        400,
        "INVALID_ARGUMENT",
    )
    assert violated_fields(err) == ["content"]
    err = error(
        http.member.post(
            f"/api/v1/issues/{issue['uuid']}/comments",
            json={"content": "x", "attachment_ids": [str(uuid.uuid4()) for _ in range(11)]},
        ),
        400,
        "INVALID_ARGUMENT",
    )
    assert violated_fields(err) == ["attachment_ids"]


def test_bad_json_is_400_and_creates_nothing(http):
    for body, field in (
        (b'{"title": "x"', None),
        (b'{"title": 5, "description": []}', "title"),
        (b'{"title": "x", "description": [], "created_by": "me"}', "created_by"),
        (b'{"title": "x", "description": "text"}', "description"),
        (b'{"title": "x", "description": [], "status": "closed"}', "status"),
    ):
        err = error(
            http.member.post("/api/v1/issues", content=body, headers={"content-type": "application/json"}),
            400,
            "INVALID_ARGUMENT",
        )
        if field:
            assert violated_fields(err) == [field]
    assert ok(http.viewer.get("/api/v1/issues"))["count"] == 0


def test_roles_through_http(http):
    error(http.viewer.post("/api/v1/issues", json={"title": "x", "description": []}), 403, "PERMISSION_DENIED")
    issue = create(http.member)
    error(http.viewer.patch(f"/api/v1/issues/{issue['uuid']}", json={"title": "y"}), 403, "PERMISSION_DENIED")
    error(http.member.delete(f"/api/v1/issues/{issue['uuid']}"), 403, "PERMISSION_DENIED")
    base = f"/api/v1/issues/{issue['uuid']}/comments"
    comment = ok(http.admin.post(base, json={"content": "admin's"}), 201)
    error(http.member.patch(f"{base}/{comment['uuid']}", json={"content": "mine now"}), 403, "PERMISSION_DENIED")
    error(http.member.delete(f"{base}/{comment['uuid']}"), 403, "PERMISSION_DENIED")
    error(http.viewer.post(base, json={"content": "x"}), 403, "PERMISSION_DENIED")
    ok(http.viewer.get(base))
    ok(http.admin.delete(f"/api/v1/issues/{issue['uuid']}"), 204)


def test_another_workspaces_issue_is_404(http):
    issue = create(http.member)
    stranger = http.client("admin")  # a fresh workspace
    path = f"/api/v1/issues/{issue['uuid']}"
    error(stranger.get(path), 404, "NOT_FOUND")
    error(stranger.patch(path, json={"title": "mine"}), 404, "NOT_FOUND")
    error(stranger.delete(path), 404, "NOT_FOUND")
    error(stranger.get(f"{path}/comments"), 404, "NOT_FOUND")
    error(stranger.post(f"{path}/comments", json={"content": "hi"}), 404, "NOT_FOUND")
    error(stranger.get(f"{path}/files"), 404, "NOT_FOUND")
    assert ok(stranger.get("/api/v1/issues"))["count"] == 0
    assert ok(http.viewer.get(path))["title"] == issue["title"]


def test_not_found(http):
    error(http.viewer.get(f"/api/v1/issues/{MISSING}"), 404, "NOT_FOUND")
    error(http.member.patch(f"/api/v1/issues/{MISSING}", json={"title": "x"}), 404, "NOT_FOUND")
    error(http.admin.delete(f"/api/v1/issues/{MISSING}"), 404, "NOT_FOUND")
    issue = create(http.member)
    error(
        http.admin.patch(f"/api/v1/issues/{issue['uuid']}/comments/{MISSING}", json={"content": "x"}), 404, "NOT_FOUND"
    )
    error(http.admin.delete(f"/api/v1/issues/{issue['uuid']}/comments/{MISSING}"), 404, "NOT_FOUND")
    error(http.viewer.get("/api/v1/nothing"), 404, "NOT_FOUND")
    error(http.viewer.get("/api/v1/issues/"), 404, "NOT_FOUND")


def test_method_not_allowed(http):
    response = http.admin.put("/api/v1/issues", json={})
    error(response, 405, "UNIMPLEMENTED")
    assert response.headers["allow"] == "GET, HEAD, OPTIONS, POST"
    response = http.admin.post("/api/v1/issues/metrics", json={})
    error(response, 405, "UNIMPLEMENTED")
    assert response.headers["allow"] == "GET, HEAD, OPTIONS"


def test_editing_a_deleted_comment_is_412(http):
    issue = create(http.member)
    base = f"/api/v1/issues/{issue['uuid']}/comments"
    comment = ok(http.member.post(base, json={"content": "x"}), 201)
    ok(http.member.delete(f"{base}/{comment['uuid']}"), 204)
    error(http.member.patch(f"{base}/{comment['uuid']}", json={"content": "y"}), 412, "FAILED_PRECONDITION")


def test_too_large_and_not_json(http):
    big = b'{"title": "' + b"x" * (1 << 20) + b'", "description": []}'
    error(
        http.member.post("/api/v1/issues", content=big, headers={"content-type": "application/json"}),
        413,
        "RESOURCE_EXHAUSTED",
    )
    error(
        http.member.post(
            "/api/v1/issues", content=b"title=x", headers={"content-type": "application/x-www-form-urlencoded"}
        ),
        415,
        "UNIMPLEMENTED",
    )
    assert ok(http.viewer.get("/api/v1/issues"))["count"] == 0


def test_probes_and_openapi(gateway_url):
    assert ok(httpx.get(f"{gateway_url}/healthz")) == {"status": "ok"}
    assert ok(httpx.get(f"{gateway_url}/readyz")) == {"status": "serving"}
    doc = ok(httpx.get(f"{gateway_url}/openapi.json"))
    assert "/api/v1/issues/{issue_id}" in doc["paths"]


def test_readyz_is_503_when_the_service_is_down():
    dead = f"127.0.0.1:{harness._free_port()}"  # nothing listens there
    handle = start_in_thread("127.0.0.1:0", dead)
    try:
        error(httpx.get(f"http://127.0.0.1:{handle.port}/readyz", timeout=10), 503, "UNAVAILABLE")
        error(
            httpx.get(
                f"http://127.0.0.1:{handle.port}/api/v1/issues", timeout=10, headers={"Authorization": "Bearer iss_any"}
            ),
            503,
            "UNAVAILABLE",
        )
        ok(httpx.get(f"http://127.0.0.1:{handle.port}/healthz"))
    finally:
        handle.stop()


def test_service_serve_runs_the_gateway_in_process(fresh_database_url, tmp_path):
    """The README's path: one `python -m service serve` gives gRPC and HTTP, file uploads included."""
    server = harness.ServerProcess(fresh_database_url, tmp_path, http=True)
    sent: list[tuple[str, int]] = []

    def log(response: httpx.Response, status: int) -> Any:
        sent.append((response.request.method, response.status_code))
        return ok(response, status)

    try:
        token, _ = harness.mint_token(fresh_database_url, "admin", email="engineer@example.com")
        with httpx.Client(
            base_url=f"http://127.0.0.1:{server.http_port}", headers={"Authorization": f"Bearer {token}"}, timeout=30
        ) as c:
            issue = log(c.post("/api/v1/issues", json=CREATE_ISSUE_REQUEST), 201)
            assert_issue_shape(issue)
            assert log(c.get("/api/v1/issues"), 200)["count"] == 1
            log(c.patch(f"/api/v1/issues/{issue['uuid']}", json={"status": "resolved"}), 200)
            log(c.post(f"/api/v1/issues/{issue['uuid']}/comments", json=CREATE_COMMENT_REQUEST), 201)

            # The contract's file record, through the attachment flow.
            plan = b"# Troubleshooting plan\n1. Probe C12\n"
            created = log(
                c.post(
                    "/api/v1/attachments",
                    json={
                        "file_name": "troubleshooting_plan.md",
                        "content_type": "text/markdown",
                        "size_bytes": len(plan),
                    },
                ),
                201,
            )
            upload = httpx.put(created["upload_url"], content=plan, timeout=30)
            sent.append(("PUT", upload.status_code))
            assert upload.status_code < 300, upload.text
            files = f"/api/v1/issues/{issue['uuid']}/files"
            record = log(
                c.post(
                    files, json={"attachment_id": created["attachment"]["uuid"], "file_type": "troubleshooting_plan"}
                ),
                201,
            )
            assert set(record) == set(FILES_RESPONSE[0])
            assert all(isinstance(v, str) for v in record.values()) and TIMESTAMP.match(record["created_at"])
            assert (record["file_name"], record["file_type"], record["attachment_id"]) == (
                "troubleshooting_plan.md",
                "troubleshooting_plan",
                created["attachment"]["uuid"],
            )
            assert log(c.get(f"{files}?file_type=troubleshooting_plan"), 200) == [record]
            assert log(c.get(f"{files}?file_type=other"), 200) == []

            log(c.delete(f"/api/v1/issues/{issue['uuid']}"), 204)
            ok(c.get("/readyz"))  # a probe that succeeds is not logged
    finally:
        assert server.stop() == 0
    access = [e for e in server.log_entries() if e.get("logger") == "gateway.access"]
    assert [(e["method"], e["status"]) for e in access] == sent  # one line per request, in order


@pytest.mark.parametrize(
    ("method", "path", "body", "field"),
    [
        ("POST", "/api/v1/issues", {"title": "a\x00b", "description": []}, "title"),
        ("POST", "/api/v1/issues", {"title": "a", "description": [], "owner": "\x00"}, "owner"),
        ("POST", "/api/v1/issues/{issue}/comments", {"content": "\x00"}, "content"),
        ("GET", "/api/v1/issues/{issue}/files?file_type=%00", None, "file_type"),
    ],
)
def test_nul_characters_are_refused_naming_the_field(http, method, path, body, field):
    # PostgreSQL text cannot hold NUL; the fuzzer found it as a 500 before the service refused it.
    issue = create(http.member)
    response = http.member.request(method, path.format(issue=issue["uuid"]), json=body)
    assert violated_fields(error(response, 400, "INVALID_ARGUMENT")) == [field]
