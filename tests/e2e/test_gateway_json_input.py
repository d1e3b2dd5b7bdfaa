"""JSON bodies that are legal JSON but no request: 400 naming the field, never a 500.

Real HTTP to a real gateway in front of a real server, once per backend.
"""

from __future__ import annotations

import httpx
import pytest

from gateway.codec import MAX_DEPTH
from service.domain.limits import BLOCK_DEPTH_MAX

from .test_gateway_e2e import create, error, gateway_url, http, ok, violated_fields  # noqa: F401 - fixtures

JSON = {"content-type": "application/json"}


def post_raw(client: httpx.Client, path: str, body: str) -> httpx.Response:
    # Written by hand: json.dumps would escape nothing we want escaped, and never repeats a key.
    return client.post(path, content=body.encode("ascii"), headers=JSON)


@pytest.mark.parametrize(
    "body, field",
    [
        (r'{"title": "\ud800", "description": []}', "title"),
        (r'{"title": "ok \udfff", "description": []}', "title"),
        (r'{"title": "t", "description": [], "tags": ["a", "\ud800"]}', "tags[1]"),
        (r'{"title": "t", "description": [{"type": "text", "text": "\udc00"}]}', "description[0].text"),
        (r'{"title": "t", "description": [], "owner": "\ud83d"}', "owner"),
        (r'{"\ud800": 1, "title": "t", "description": []}', "body"),
        (r'{"title": "t", "description": [{"\udc00x": 1}]}', "body"),
    ],
)
def test_a_lone_surrogate_is_400_naming_the_field(http, body, field):
    err = error(post_raw(http.member, "/api/v1/issues", body), 400, "INVALID_ARGUMENT")
    assert violated_fields(err) == [field]
    assert "surrogate" in err["message"]
    assert ok(http.viewer.get("/api/v1/issues"))["count"] == 0


def test_a_surrogate_pair_is_one_character_and_accepted(http):
    issue = ok(post_raw(http.member, "/api/v1/issues", r'{"title": "ok \ud83d\ude00", "description": []}'), 201)
    assert issue["title"] == "ok \U0001f600"


def test_surrogates_in_comment_and_patch_bodies(http):
    issue = create(http.member)
    err = error(
        post_raw(http.member, f"/api/v1/issues/{issue['uuid']}/comments", r'{"content": "\ud800"}'),
        400,
        "INVALID_ARGUMENT",
    )
    assert violated_fields(err) == ["content"]
    err = error(
        http.member.patch(
            f"/api/v1/issues/{issue['uuid']}", content=rb'{"resolution_summary": "\udbff"}', headers=JSON
        ),
        400,
        "INVALID_ARGUMENT",
    )
    assert violated_fields(err) == ["resolution_summary"]
    assert ok(http.viewer.get(f"/api/v1/issues/{issue['uuid']}")) == issue


@pytest.mark.parametrize(
    "body, key",
    [
        ('{"title": "a", "title": "b", "description": []}', "title"),
        ('{"title": "a", "description": [{"text": "x", "text": "y"}]}', "text"),
    ],
)
def test_a_repeated_key_is_400_naming_it(http, body, key):
    err = error(post_raw(http.member, "/api/v1/issues", body), 400, "INVALID_ARGUMENT")
    assert violated_fields(err) == [key]
    assert "more than once" in err["message"]
    assert ok(http.viewer.get("/api/v1/issues"))["count"] == 0


def nested(depth: int, opener: str) -> str:
    """A body whose deepest value sits at JSON depth `depth`, inside one description block."""
    # The body object is level 1, the description array 2, the block 3.
    if opener == "{":
        block = '{"a": ' * (depth - 2) + "1" + "}" * (depth - 2)
    else:
        block = '{"a": ' + "[" * (depth - 3) + "1" + "]" * (depth - 3) + "}"
    return '{"title": "deep", "description": [' + block + "]}"


@pytest.mark.parametrize("opener", ["{", "["])
def test_blocks_nest_to_the_servers_limit_and_bodies_to_the_gateways(http, opener):
    # Two limits: the service's documented one for a description block
    # (BLOCK_DEPTH_MAX levels; the block is level 3 of the body), and the
    # gateway's guard on the whole body, which keeps the parsers safe.
    deepest = BLOCK_DEPTH_MAX + 2
    issue = ok(post_raw(http.member, "/api/v1/issues", nested(deepest, opener)), 201)
    assert issue["title"] == "deep"
    err = error(post_raw(http.member, "/api/v1/issues", nested(deepest + 1, opener)), 400, "INVALID_ARGUMENT")
    assert violated_fields(err) == ["description[0]"]
    err = error(post_raw(http.member, "/api/v1/issues", nested(MAX_DEPTH + 1, opener)), 400, "INVALID_ARGUMENT")
    assert violated_fields(err) == ["body"]
    assert f"more than {MAX_DEPTH} levels" in err["message"]


@pytest.mark.parametrize("depth", [100, 2_000, 200_000])
def test_deep_nesting_even_past_the_recursion_limit_is_400(http, depth):
    body = '{"title": "t", "description": [' + "[" * depth + "]" * depth + "]}"
    err = error(post_raw(http.member, "/api/v1/issues", body), 400, "INVALID_ARGUMENT")
    assert violated_fields(err) == ["body"]
    assert ok(http.viewer.get("/api/v1/issues"))["count"] == 0
