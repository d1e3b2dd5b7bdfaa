"""Safe retries, concurrent edits and bulk updates against real servers, on
SQLite and PostgreSQL (SPEC 8.10 and 8.11): request_id / Idempotency-Key,
etag / ETag / If-Match / If-None-Match, and POST /api/v1/issues:bulkUpdate."""

from __future__ import annotations

import concurrent.futures
import subprocess
import sys
import threading
import uuid
from typing import Any

import grpc
import httpx
import pytest
from google.rpc import error_details_pb2
from grpc_status import rpc_status

from issues.v1 import issue_pb2

from .. import harness
from ..harness import bad_request_fields
from .test_gateway_e2e import error, gateway_url, http, ok  # noqa: F401 - fixtures

Issue = issue_pb2.Issue


def reason(failure: grpc.RpcError) -> str | None:
    """The google.rpc.ErrorInfo reason of a failed call, if it has one."""
    for detail in rpc_status.from_call(failure).details:
        info = error_details_pb2.ErrorInfo()
        if detail.Unpack(info):
            return info.reason
    return None


def refused(call: Any, code: grpc.StatusCode, **fields: Any) -> grpc.RpcError:
    with pytest.raises(grpc.RpcError) as failure:
        call(**fields)
    assert failure.value.code() == code, failure.value.details()
    return failure.value


def info_of(body: dict) -> dict:
    [info] = [d for d in body["error"]["details"] if d["@type"].endswith("google.rpc.ErrorInfo")]
    return info


# -- request_id / Idempotency-Key -----------------------------------------------------


def test_a_repeated_create_gets_the_first_response_and_creates_nothing(http):
    key = {"Idempotency-Key": f"create-{uuid.uuid4()}"}
    body = {"title": "Retried", "description": [{"type": "text", "text": "once"}], "comment": "first"}
    first = http.member.post("/api/v1/issues", json=body, headers=key)
    again = http.member.post("/api/v1/issues", json={**body}, headers=key)

    assert first.status_code == again.status_code == 201
    assert first.content == again.content and first.headers["ETag"] == again.headers["ETag"]
    assert ok(http.viewer.get("/api/v1/issues"))["count"] == 1
    assert ok(http.viewer.get(f"/api/v1/issues/{first.json()['uuid']}/comments"))["count"] == 1

    other = error(
        http.member.post("/api/v1/issues", json={**body, "title": "Another"}, headers=key), 409, "ALREADY_EXISTS"
    )
    assert other["message"].startswith("request_id:")
    assert info_of({"error": other})["reason"] == "REQUEST_ID_REUSED"
    assert ok(http.viewer.get("/api/v1/issues"))["count"] == 1


def test_comments_and_attachments_take_a_key_too_and_keys_belong_to_a_workspace(http):
    issue = ok(http.member.post("/api/v1/issues", json={"title": "t", "description": []}), 201)
    key = {"Idempotency-Key": "shared-key-1"}
    comment = http.member.post(f"/api/v1/issues/{issue['uuid']}/comments", json={"content": "once"}, headers=key)
    assert comment.status_code == 201
    assert (
        http.member.post(f"/api/v1/issues/{issue['uuid']}/comments", json={"content": "once"}, headers=key).json()
        == comment.json()
    )
    assert ok(http.viewer.get(f"/api/v1/issues/{issue['uuid']}/comments"))["count"] == 1
    # The same key for another method is another request.
    error(
        http.member.post("/api/v1/attachments", json={"file_name": "a", "size_bytes": 1}, headers=key),
        409,
        "ALREADY_EXISTS",
    )

    elsewhere = http.client("member")  # another workspace: its own keys
    made = elsewhere.post("/api/v1/attachments", json={"file_name": "a", "size_bytes": 1}, headers=key)
    assert made.status_code == 201


def test_request_id_in_the_body_works_like_the_header_and_both_must_agree(http):
    key = f"body-{uuid.uuid4()}"
    issue = http.member.post("/api/v1/issues", json={"title": "t", "description": [], "request_id": key})
    assert issue.status_code == 201
    # The header with the same key is the same request: its first answer.
    again = http.member.post("/api/v1/issues", json={"title": "t", "description": []}, headers={"Idempotency-Key": key})
    assert again.status_code == 201 and again.content == issue.content
    path = f"/api/v1/issues/{issue.json()['uuid']}/comments"
    for url, body in ((path, {"content": "once"}), ("/api/v1/attachments", {"file_name": "a", "size_bytes": 1})):
        own = f"{url}-{key}"
        first = http.member.post(url, json={**body, "request_id": own})
        repeat = http.member.post(url, json={**body, "request_id": own}, headers={"Idempotency-Key": own})
        assert first.status_code == repeat.status_code == 201
        made, again = first.json(), repeat.json()
        # A pending attachment's repeat is signed afresh; the resource is the first one.
        assert made.get("attachment", made)["uuid"] == again.get("attachment", again)["uuid"]
    assert ok(http.viewer.get(path))["count"] == 1

    both = http.member.post(
        "/api/v1/issues",
        json={"title": "u", "description": [], "request_id": "a-key"},
        headers={"Idempotency-Key": "another-key"},
    )
    assert error(both, 400, "INVALID_ARGUMENT")["details"][0]["field_violations"][0]["field"] == "request_id"
    assert ok(http.viewer.get("/api/v1/issues"))["count"] == 1  # nothing was created


def test_a_pending_attachments_repeat_is_signed_again_and_an_uploaded_ones_is_not(http):
    key = {"Idempotency-Key": f"upload-{uuid.uuid4()}"}
    request = {"file_name": "plan.md", "size_bytes": 2}
    first = ok(http.member.post("/api/v1/attachments", json=request, headers=key), 201)
    again = ok(http.member.post("/api/v1/attachments", json=request, headers=key), 201)
    assert again["attachment"] == first["attachment"] and again["expires_at"] >= first["expires_at"]
    assert httpx.put(again["upload_url"], content=b"ok").status_code == 200
    done = ok(http.member.post("/api/v1/attachments", json=request, headers=key), 201)
    assert done == first  # uploaded: the first response, as stored


def test_request_id_over_grpc_and_its_rules(workspace):
    made = workspace.member.CreateIssue(title="g", request_id="grpc-key")
    assert workspace.member.CreateIssue(title="g", request_id="grpc-key") == made
    failure = refused(workspace.member.CreateIssue, grpc.StatusCode.ALREADY_EXISTS, title="h", request_id="grpc-key")
    assert reason(failure) == "REQUEST_ID_REUSED"
    for bad in ("has space", "x" * 129, "ünïcode"):
        failure = refused(workspace.member.CreateIssue, grpc.StatusCode.INVALID_ARGUMENT, title="g", request_id=bad)
        assert bad_request_fields(failure) == ["request_id"]
    assert workspace.viewer.ListIssues().count == 1


def test_a_refused_first_request_is_not_remembered(http):
    key = {"Idempotency-Key": f"refused-{uuid.uuid4()}"}
    error(
        http.member.post("/api/v1/issues", json={"title": "t", "description": [], "parent_id": "NOPE-9"}, headers=key),
        400,
        "INVALID_ARGUMENT",
    )
    made = ok(http.member.post("/api/v1/issues", json={"title": "t", "description": []}, headers=key), 201)
    assert made["title"] == "t"


def test_racing_creates_with_one_key_on_two_servers_make_one_issue(grpc_server, make_token, tmp_path):
    """Two server processes on one database, each its own batches: their
    creates with one key race in separate transactions; the key decides."""
    token, _ = make_token("member")
    second = harness.ServerProcess(grpc_server.database_url, tmp_path)
    try:
        channels = [grpc.insecure_channel(t) for t in (grpc_server.target, second.target)]
        apis = [harness.Api(ch, token) for ch in channels]
        for round_ in range(4):
            key = f"race-{round_}"
            start = threading.Barrier(8)

            def create(i: int) -> bytes:
                start.wait()
                return apis[i % 2].CreateIssue(title="raced", request_id=key).SerializeToString()

            with concurrent.futures.ThreadPoolExecutor(8) as pool:
                answers = list(pool.map(create, range(8)))
            assert len(set(answers)) == 1
        assert apis[0].ListIssues().count == 4
        for ch in channels:
            ch.close()
    finally:
        second.stop()


# -- etag / ETag / If-Match / If-None-Match -------------------------------------------


def test_get_sends_the_etag_and_if_none_match_gives_304(http):
    issue = ok(http.member.post("/api/v1/issues", json={"title": "t", "description": []}), 201)
    url = f"/api/v1/issues/{issue['identifier']}"
    got = http.viewer.get(url)
    assert got.headers["ETag"] == f'"{issue["etag"]}"' == f'"{got.json()["etag"]}"'

    same = http.viewer.get(url, headers={"If-None-Match": got.headers["ETag"]})
    assert same.status_code == 304 and same.content == b"" and same.headers["ETag"] == got.headers["ETag"]

    changed = ok(http.member.patch(url, json={"priority": "high"}))
    assert changed["etag"] != issue["etag"]
    fresh = http.viewer.get(url, headers={"If-None-Match": got.headers["ETag"]})
    assert fresh.status_code == 200 and fresh.json() == changed and fresh.headers["ETag"] == f'"{changed["etag"]}"'


def test_a_stale_if_match_is_412_and_changes_nothing(http):
    issue = ok(http.member.post("/api/v1/issues", json={"title": "t", "description": []}), 201)
    url = f"/api/v1/issues/{issue['uuid']}"
    current = ok(http.member.patch(url, json={"owner": "a"}, headers={"If-Match": f'"{issue["etag"]}"'}))

    stale = {"If-Match": f'"{issue["etag"]}"'}
    refusal = error(http.member.patch(url, json={"owner": "b"}, headers=stale), 412, "FAILED_PRECONDITION")
    assert info_of({"error": refusal})["reason"] == "ETAG_MISMATCH"
    error(http.admin.delete(url, headers=stale), 412, "FAILED_PRECONDITION")
    assert ok(http.viewer.get(url)) == current
    assert [e["action"] for e in ok(http.viewer.get(f"{url}/history"))["items"]] == ["created", "owner_changed"]

    # A no-op update changes nothing, so the etag stays good; then the current one deletes.
    assert ok(http.member.patch(url, json={"owner": "a"}, headers={"If-Match": f'"{current["etag"]}"'})) == current
    ok(http.admin.delete(url, headers={"If-Match": f'"{current["etag"]}"'}), 204)


def test_comment_etags_move_with_edits_reactions_and_deletion(http):
    issue = ok(http.member.post("/api/v1/issues", json={"title": "t", "description": []}), 201)
    base = f"/api/v1/issues/{issue['uuid']}/comments"
    comment = ok(http.member.post(base, json={"content": "c"}), 201)
    url = f"{base}/{comment['uuid']}"

    reacted = ok(http.member.post(f"{url}/reactions", json={"emoji": "👍"}))
    assert reacted["etag"] != comment["etag"]
    assert ok(http.member.post(f"{url}/reactions", json={"emoji": "👍"}))["etag"] == reacted["etag"]  # no change
    refusal = error(
        http.member.patch(url, json={"content": "d"}, headers={"If-Match": f'"{comment["etag"]}"'}),
        412,
        "FAILED_PRECONDITION",
    )
    assert info_of({"error": refusal})["reason"] == "ETAG_MISMATCH"

    edited = ok(http.member.patch(url, json={"content": "d"}, headers={"If-Match": f'"{reacted["etag"]}"'}))
    ok(http.member.delete(url, headers={"If-Match": f'"{edited["etag"]}"'}), 204)
    # Deleted: a stale etag is still refused; another precondition failure has another reason.
    error(http.member.delete(url, headers={"If-Match": f'"{edited["etag"]}"'}), 412, "FAILED_PRECONDITION")
    other = error(http.member.patch(url, json={"content": "e"}), 412, "FAILED_PRECONDITION")
    assert info_of({"error": other})["reason"] == "COMMENT_DELETED"


def test_etags_over_grpc(workspace):
    issue = workspace.member.CreateIssue(title="t")
    assert issue.etag and workspace.viewer.GetIssue(issue_id=issue.uuid).etag == issue.etag
    updated = workspace.member.UpdateIssue(issue_id=issue.uuid, title="u", etag=issue.etag)
    failure = refused(
        workspace.member.UpdateIssue,
        grpc.StatusCode.FAILED_PRECONDITION,
        issue_id=issue.uuid,
        title="v",
        etag=issue.etag,
    )
    assert reason(failure) == "ETAG_MISMATCH"
    comment = workspace.member.CreateComment(issue_id=issue.uuid, content="c")
    refused(
        workspace.member.DeleteComment,
        grpc.StatusCode.FAILED_PRECONDITION,
        issue_id=issue.uuid,
        comment_id=comment.uuid,
        etag=updated.etag,
    )
    workspace.member.DeleteComment(issue_id=issue.uuid, comment_id=comment.uuid, etag=comment.etag)
    refused(workspace.admin.DeleteIssue, grpc.StatusCode.FAILED_PRECONDITION, issue_id=issue.uuid, etag=issue.etag)
    workspace.admin.DeleteIssue(issue_id=issue.uuid, etag=updated.etag)


def test_lost_update_two_clients_read_then_patch_with_their_etag_one_wins(http):
    """Each round: both read the same etag, both PATCH at once; exactly one succeeds."""
    issue = ok(http.member.post("/api/v1/issues", json={"title": "t", "description": []}), 201)
    url = f"/api/v1/issues/{issue['uuid']}"
    alice, bob = http.client("member", http.slug), http.client("member", http.slug)
    for round_ in range(5):
        etags = {c.get(url).headers["ETag"] for c in (alice, bob)}
        assert len(etags) == 1
        start = threading.Barrier(2)

        def patch(client: httpx.Client, owner: str) -> httpx.Response:
            start.wait()
            return client.patch(url, json={"owner": owner}, headers={"If-Match": etags.copy().pop()})

        with concurrent.futures.ThreadPoolExecutor(2) as pool:
            answers = list(pool.map(patch, (alice, bob), (f"alice-{round_}", f"bob-{round_}")))
        assert sorted(a.status_code for a in answers) == [200, 412], [a.text for a in answers]
        [winner] = [a.json() for a in answers if a.status_code == 200]
        assert ok(http.viewer.get(url)) == winner
    owners = [e for e in ok(http.viewer.get(f"{url}/history"))["items"] if e["action"] == "owner_changed"]
    assert len(owners) == 5


def test_listed_issues_carry_the_current_etag_through_the_message_cache(grpc_server, workspace):
    issue = workspace.member.CreateIssue(title="cached")
    assert workspace.viewer.ListIssues().items[0].etag == issue.etag  # built, and cached
    changed = workspace.member.UpdateIssue(issue_id=issue.uuid, title="changed")
    assert (
        workspace.viewer.ListIssues().items[0].etag
        == changed.etag
        == workspace.viewer.GetIssue(issue_id=issue.uuid).etag
    )

    # A new prefix changes what the issue shows (its identifier), so its etag too.
    slug = harness.in_database(grpc_server.database_url, lambda: _slug_of(issue.uuid))
    command = [
        sys.executable,
        "-m",
        "service",
        "workspace",
        "update",
        "--slug",
        slug,
        "--prefix",
        "NEWP",
        "--database-url",
        grpc_server.database_url,
    ]
    assert subprocess.run(command, capture_output=True, text=True, timeout=60).returncode == 0
    listed = workspace.viewer.ListIssues().items[0]
    got = workspace.viewer.GetIssue(issue_id=issue.uuid)
    assert listed.identifier == got.identifier == "NEWP-1" and listed.etag == got.etag != changed.etag
    refused(
        workspace.member.UpdateIssue,
        grpc.StatusCode.FAILED_PRECONDITION,
        issue_id=issue.uuid,
        title="x",
        etag=changed.etag,
    )


def _slug_of(issue_id: str) -> str:
    from service.storage.models import Issue as IssueRow, Workspace

    return Workspace.get_by_id(IssueRow.get_by_id(uuid.UUID(issue_id)).workspace_id).slug


# -- POST /api/v1/issues:bulkUpdate ----------------------------------------------------


def test_bulk_update_of_a_hundred_ids_gives_each_its_outcome(http):
    admin = http.admin
    ok(
        admin.put(
            "/api/v1/workflow",
            json={
                "transitions": {
                    "open": ["in_progress"],
                    "in_progress": ["resolved", "open"],
                    "resolved": ["open"],
                    "rejected": ["open"],
                }
            },
        )
    )
    mine = [ok(http.member.post("/api/v1/issues", json={"title": f"i{n}", "description": []}), 201) for n in range(70)]
    # 10 resolved: the workflow allows them only back to open, so moving them to in_progress is refused.
    for issue in mine[:10]:
        for status in ("in_progress", "resolved"):
            ok(http.member.patch(f"/api/v1/issues/{issue['uuid']}", json={"status": status}))
    # 5 already as asked: unchanged.
    for issue in mine[10:15]:
        ok(
            http.member.patch(
                f"/api/v1/issues/{issue['uuid']}",
                json={"status": "in_progress", "priority": "high", "tags": ["triaged"]},
            )
        )
    other = http.client("admin")
    theirs = [ok(other.post("/api/v1/issues", json={"title": "theirs", "description": []}), 201) for _ in range(15)]
    unknown = [str(uuid.uuid4()) for _ in range(10)] + [
        f"{mine[0]['identifier'].split('-')[0]}-{9000 + n}" for n in range(5)
    ]

    ids: list[str] = []
    expected: dict[str, str] = {}
    for n in range(70):
        spelled = mine[n]["identifier"].lower() if n % 2 else mine[n]["uuid"]
        ids.append(spelled)
        expected[spelled] = "failed" if n < 10 else "unchanged" if n < 15 else "updated"
    for issue in theirs:
        ids.append(issue["uuid"])
        expected[issue["uuid"]] = "failed"
    ids += unknown
    expected.update({u: "failed" for u in unknown})
    ids = [ids[(i * 37) % 100] for i in range(100)]  # interleaved
    assert len(set(ids)) == 100

    answer = ok(
        http.member.post(
            "/api/v1/issues:bulkUpdate",
            json={"ids": ids, "updates": {"status": "in_progress", "priority": "high", "tags": ["triaged"]}},
        )
    )

    assert [r["id"] for r in answer["results"]] == ids
    assert {r["id"]: r["outcome"] for r in answer["results"]} == expected
    assert answer["updated"] == 55
    not_found = [r["error"] for r in answer["results"] if r["id"] in set(unknown) | {i["uuid"] for i in theirs}]
    assert {(e["code"], e["status"]) for e in not_found} == {(404, "NOT_FOUND")}
    assert all(e["message"].endswith("not found") for e in not_found)  # theirs exactly like unknown ones
    refusals = [
        r["error"]
        for r in answer["results"]
        if r["outcome"] == "failed" and r["id"] not in set(unknown) and r["error"]["code"] == 400
    ]
    assert len(refusals) == 10 and all("from resolved to in_progress" in e["message"] for e in refusals)
    assert all(r["error"] is None for r in answer["results"] if r["outcome"] != "failed")

    for n, issue in enumerate(mine):
        now = ok(http.viewer.get(f"/api/v1/issues/{issue['uuid']}"))
        history = [e["action"] for e in ok(http.viewer.get(f"/api/v1/issues/{issue['uuid']}/history"))["items"]]
        if n < 10:
            assert now["status"] == "resolved" and history == ["created", "status_changed", "status_changed"]
        elif n < 15:
            assert history == ["created", "status_changed", "priority_changed", "tags_changed"]
        else:
            assert (now["status"], now["priority"], now["tags"]) == ("in_progress", "high", ["triaged"])
            assert history == ["created", "status_changed", "priority_changed", "tags_changed"]
    assert all(ok(other.get(f"/api/v1/issues/{i['uuid']}"))["status"] == "open" for i in theirs)


def test_bulk_update_detaches_clears_and_moves_parents(http):
    parent = ok(http.member.post("/api/v1/issues", json={"title": "p", "description": []}), 201)
    kids = [
        ok(http.member.post("/api/v1/issues", json={"title": "k", "description": [], "tags": ["x"]}), 201)
        for _ in range(3)
    ]
    ids = [k["identifier"] for k in kids]
    moved = ok(
        http.member.post(
            "/api/v1/issues:bulkUpdate", json={"ids": ids, "updates": {"parent_id": parent["identifier"], "owner": "o"}}
        )
    )
    assert moved["updated"] == 3 and ok(http.viewer.get(f"/api/v1/issues/{parent['uuid']}"))["sub_issues_count"] == 3
    # A parent that would be the issue itself fails for that issue alone.
    self_parent = ok(
        http.member.post(
            "/api/v1/issues:bulkUpdate",
            json={"ids": [ids[0], parent["uuid"]], "updates": {"parent_id": parent["uuid"]}},
        )
    )
    assert [r["outcome"] for r in self_parent["results"]] == ["unchanged", "failed"]
    assert self_parent["results"][1]["error"]["status"] == "INVALID_ARGUMENT"
    cleared = ok(
        http.member.post(
            "/api/v1/issues:bulkUpdate", json={"ids": ids, "updates": {"parent_id": None, "tags": None, "owner": None}}
        )
    )
    assert cleared["updated"] == 3
    for kid in kids:
        now = ok(http.viewer.get(f"/api/v1/issues/{kid['uuid']}"))
        assert (now["parent_id"], now["tags"], now["owner"]) == (None, [], "Unassigned")
    assert ok(http.viewer.get(f"/api/v1/issues/{parent['uuid']}"))["sub_issues_count"] == 0


def test_bulk_update_input_and_roles(http, workspace):
    issue = ok(http.member.post("/api/v1/issues", json={"title": "t", "description": []}), 201)
    url = "/api/v1/issues:bulkUpdate"
    for body, field in (
        ({"ids": [], "updates": {"status": "open"}}, "ids"),
        ({"ids": [issue["uuid"]] * 101, "updates": {"status": "open"}}, "ids"),
        ({"ids": ["not an id"], "updates": {"status": "open"}}, "ids[0]"),
        ({"ids": [issue["uuid"]], "updates": {}}, "updates"),
        ({"ids": [issue["uuid"]]}, "updates"),
        ({"ids": [issue["uuid"]], "updates": {"status": "done"}}, "updates.status"),
        ({"ids": [issue["uuid"]], "updates": {"owner": " "}}, "updates.owner"),
        ({"ids": [issue["uuid"]], "updates": {"title": "x"}}, "updates.title"),
    ):
        err = error(http.member.post(url, json=body), 400, "INVALID_ARGUMENT")
        assert field in [v["field"] for d in err["details"] for v in d.get("field_violations", [])], (body, err)
    error(http.viewer.post(url, json={"ids": [issue["uuid"]], "updates": {"status": "open"}}), 403, "PERMISSION_DENIED")
    error(http.member.get(url), 405, "UNIMPLEMENTED")
    assert ok(http.viewer.get(f"/api/v1/issues/{issue['uuid']}")) == issue

    # Over gRPC: the same method; an empty mask means the fields that are set.
    made = workspace.member.CreateIssue(title="g")
    from issues.v1 import issue_service_pb2 as pb

    reply = workspace.member.BulkUpdateIssues(
        ids=[made.identifier, "ZZ-1"], updates=pb.IssueUpdates(priority=Issue.PRIORITY_MEDIUM)
    )
    assert reply.updated == 1
    assert [(r.id, r.outcome) for r in reply.results] == [
        (made.identifier, pb.BulkUpdateResult.OUTCOME_UPDATED),
        ("ZZ-1", pb.BulkUpdateResult.OUTCOME_FAILED),
    ]
    assert (reply.results[1].error.code, reply.results[1].error.status) == (404, "NOT_FOUND")
    assert not reply.results[0].HasField("error")
