"""HTTP itself at the gateway: HEAD, OPTIONS, CORS, Authorization, header bounds, declared ranges.

Real HTTP to a real gateway (uvicorn) in front of the real server, per backend.
"""

from __future__ import annotations

from typing import Iterator

import httpx
import pytest

from gateway.limits import MAX_HEADER_BYTES
from gateway.server import start_in_thread

from .. import harness
from .test_gateway_e2e import create, error, gateway_url, http, ok, violated_fields  # noqa: F401 - fixtures

ALLOWED_ORIGIN = "https://tracker.example"


def test_head_answers_like_get_without_a_body(gateway_url, http):
    issue = create(http.member)
    for path in ("/api/v1/issues", f"/api/v1/issues/{issue['uuid']}", "/api/v1/issues/metrics"):
        got, head = http.viewer.get(path), http.viewer.head(path)
        assert (head.status_code, head.content) == (200, b""), path
        assert head.headers["content-type"] == got.headers["content-type"] == "application/json"
        # The GET's headers exactly, its coding (gzip, for a large one) and length included.
        assert head.headers["content-length"] == got.headers["content-length"]
        assert head.headers.get("content-encoding") == got.headers.get("content-encoding")
    for path in ("/healthz", "/readyz", "/openapi.json"):
        head = http.viewer.head(path)
        assert (head.status_code, head.content) == (200, b""), path
    # Errors too: the status and headers of the GET, no body.
    missing = http.viewer.head("/api/v1/issues/00000000-0000-4000-8000-000000000000")
    assert (missing.status_code, missing.content) == (404, b"")
    unauthenticated = httpx.head(f"{gateway_url}/api/v1/issues")
    assert unauthenticated.status_code == 401 and unauthenticated.headers["www-authenticate"] == "Bearer"


def test_options_lists_the_allowed_methods(gateway_url):
    for path, allow in (
        ("/api/v1/issues", "GET, HEAD, OPTIONS, POST"),
        ("/api/v1/issues/abc", "DELETE, GET, HEAD, OPTIONS, PATCH"),
        ("/healthz", "GET, HEAD, OPTIONS"),
    ):
        response = httpx.options(gateway_url + path)  # no token needed to ask
        assert (response.status_code, response.headers["allow"], response.content) == (204, allow, b""), path
        assert "access-control-allow-origin" not in response.headers  # CORS is off by default
    error(httpx.options(gateway_url + "/api/v1/nothing"), 404, "NOT_FOUND")


def test_cors_is_off_unless_origins_are_allowed(http):
    response = http.viewer.get("/api/v1/issues", headers={"Origin": ALLOWED_ORIGIN})
    ok(response)
    assert not [h for h in response.headers if h.startswith("access-control-")]


@pytest.fixture(scope="module")
def cors_url(grpc_server: harness.ServerProcess) -> Iterator[str]:
    handle = start_in_thread("127.0.0.1:0", grpc_server.target, cors_origins=(ALLOWED_ORIGIN, "http://localhost:3000"))
    try:
        yield f"http://127.0.0.1:{handle.port}"
    finally:
        handle.stop()


def test_cors_preflight_and_requests_from_an_allowed_origin(cors_url, make_token):
    token, _ = make_token("member")
    preflight = httpx.options(
        f"{cors_url}/api/v1/issues",
        headers={
            "Origin": ALLOWED_ORIGIN,
            "Access-Control-Request-Method": "POST",
            "Access-Control-Request-Headers": "authorization, content-type",
        },
    )
    assert preflight.status_code == 204
    assert preflight.headers["access-control-allow-origin"] == ALLOWED_ORIGIN
    assert preflight.headers["access-control-allow-methods"] == "GET, HEAD, OPTIONS, POST"
    allowed_headers = {h.strip().lower() for h in preflight.headers["access-control-allow-headers"].split(",")}
    assert {"authorization", "content-type"} <= allowed_headers
    assert "Origin" in preflight.headers["vary"]

    created = httpx.post(
        f"{cors_url}/api/v1/issues",
        json={"title": "from a browser", "description": []},
        headers={"Origin": ALLOWED_ORIGIN, "Authorization": f"Bearer {token}"},
    )
    assert created.status_code == 201
    assert created.headers["access-control-allow-origin"] == ALLOWED_ORIGIN
    assert "WWW-Authenticate" in created.headers["access-control-expose-headers"]
    # Errors carry the headers too, so the page can read why.
    refused = httpx.get(f"{cors_url}/api/v1/issues", headers={"Origin": ALLOWED_ORIGIN})
    assert refused.status_code == 401 and refused.headers["access-control-allow-origin"] == ALLOWED_ORIGIN


def test_cors_says_nothing_to_other_origins(cors_url):
    for origin in ("https://evil.example", "https://tracker.example.evil", "null"):
        preflight = httpx.options(
            f"{cors_url}/api/v1/issues", headers={"Origin": origin, "Access-Control-Request-Method": "POST"}
        )
        assert not [h for h in preflight.headers if h.startswith("access-control-")], origin
        assert "Origin" in preflight.headers["vary"]


def test_a_missing_or_malformed_authorization_header_is_401_in_http_terms(gateway_url):
    for headers, phrase in (
        ({}, "missing credentials"),
        ({"Authorization": "Basic dXNlcjpwYXNz"}, "must be"),
        ({"Authorization": "Bearer"}, "must be"),
        ({"Authorization": "Token abc"}, "must be"),
    ):
        response = httpx.get(f"{gateway_url}/api/v1/issues", headers=headers)
        err = error(response, 401, "UNAUTHENTICATED")
        assert response.headers["www-authenticate"] == "Bearer"
        assert phrase in err["message"] and "Authorization: Bearer <token>" in err["message"]
        assert "metadata" not in err["message"]
    err = error(
        httpx.get(f"{gateway_url}/api/v1/issues", headers={"Authorization": "Bearer iss_nope"}), 401, "UNAUTHENTICATED"
    )
    assert "metadata" not in err["message"]


def test_a_body_that_is_not_json_is_415_unimplemented(http):
    err = error(
        http.member.post("/api/v1/issues", content=b"<issue/>", headers={"content-type": "application/xml"}),
        415,
        "UNIMPLEMENTED",
    )
    assert "application/json" in err["message"]


@pytest.mark.parametrize("name", ["Authorization", "X-Trace"])
def test_an_oversized_header_is_431_naming_it(http, name):
    value = "Bearer " + "x" * 60_000 if name == "Authorization" else "x" * 60_000
    err = error(http.viewer.get("/api/v1/issues", headers={name: value}), 431, "INVALID_ARGUMENT")
    assert violated_fields(err) == [name] and name in err["message"]
    # At the bound a header passes (a token that long is merely not valid).
    at_bound = http.viewer.get("/api/v1/issues", headers={"X-Trace": "x" * MAX_HEADER_BYTES})
    ok(at_bound)


def test_many_headers_together_are_431(http):
    headers = {f"X-Note-{i}": "x" * 1000 for i in range(40)}
    err = error(http.viewer.get("/api/v1/issues", headers=headers), 431, "INVALID_ARGUMENT")
    assert violated_fields(err) == ["headers"]


@pytest.mark.parametrize(
    "query, field, message",
    [
        ("limit=2147483648", "limit", "must be between 1 and 1000"),
        ("limit=-99999999999", "limit", "must be between 1 and 1000"),
        ("offset=2147483648", "offset", "must be between 0 and 2147483647"),
    ],
)
def test_a_number_past_its_type_names_the_declared_range(http, query, field, message):
    err = error(http.viewer.get(f"/api/v1/issues?{query}"), 400, "INVALID_ARGUMENT")
    assert violated_fields(err) == [field] and message in err["message"]
    assert "-2147483648" not in err["message"]


def test_days_past_int32_names_its_range(http):
    err = error(http.viewer.get("/api/v1/issues/metrics?days=4294967296"), 400, "INVALID_ARGUMENT")
    assert violated_fields(err) == ["days"] and "between 1 and 366" in err["message"]


def test_service_serve_passes_cors_origins_to_its_gateway(tmp_path):
    origin = "https://app.example"
    server = harness.ServerProcess(
        f"sqlite:///{tmp_path / 'cors.db'}", tmp_path, http=True, env={"ISSUES_CORS_ORIGINS": origin}
    )
    try:
        preflight = httpx.options(
            f"{server.http_url}/api/v1/issues", headers={"Origin": origin, "Access-Control-Request-Method": "GET"}
        )
        assert preflight.headers["access-control-allow-origin"] == origin
        other = httpx.options(
            f"{server.http_url}/api/v1/issues",
            headers={"Origin": "https://evil.example", "Access-Control-Request-Method": "GET"},
        )
        assert "access-control-allow-origin" not in other.headers
    finally:
        server.stop()
