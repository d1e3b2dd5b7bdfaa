"""The call pipeline serves streaming methods, either way, as it serves unary ones.

A test-only service (`issuestest.v1.Probe`) is declared here with the
contract's own options, and served through the real pipeline by the gRPC
server production runs (grpc.aio, its handlers on a thread pool, as
service/runtime/server.py starts it), in the test's process: the token is checked before the first message, the role is
enforced, an error mid-stream reaches the client as its status, and one
access line is written when the stream ends. A client stream has each
message decoded, and a `signed_url` method takes no token but has no caller.
"""

from __future__ import annotations

import asyncio
import json
import logging
import threading
import time
from concurrent import futures
from typing import Any, Iterator

import grpc
import pytest
from google.protobuf import descriptor_pb2, descriptor_pool

from common import logs
from issues.v1 import issue_pb2, issue_service_pb2, options_pb2
from service.api.admission import Admission
from service.api.pipeline import Call, Pipeline
from service.api.service import generic_handler
from service.app.tokens import Authenticator
from service.domain.errors import NotFound
from service.storage import migrate

from .. import harness


def _probe_service() -> Any:
    pool = descriptor_pool.Default()
    try:
        return pool.FindServiceByName("issuestest.v1.Probe")
    except KeyError:
        pass
    proto = descriptor_pb2.FileDescriptorProto(
        name="issuestest/v1/probe.proto",
        package="issuestest.v1",
        syntax="proto3",
        dependency=["issues/v1/options.proto", "issues/v1/issue_service.proto", "issues/v1/issue.proto"],
    )
    service = proto.service.add(name="Probe")
    # (name, role, server streaming, client streaming, signed_url)
    for name, role, streaming, client, signed in (
        ("Count", options_pb2.ROLE_VIEWER, True, False, False),
        ("Purge", options_pb2.ROLE_ADMIN, True, False, False),
        ("Echo", options_pb2.ROLE_VIEWER, False, False, False),
        ("Unguarded", 0, False, False, False),
        ("Join", options_pb2.ROLE_VIEWER, False, True, False),
        ("Signed", 0, False, True, True),
    ):
        method = service.method.add(
            name=name,
            input_type=".issues.v1.GetIssueRequest",
            output_type=".issues.v1.Issue",
            server_streaming=streaming,
            client_streaming=client,
        )
        if role:
            method.options.Extensions[options_pb2.required_role] = role
        if signed:
            method.options.Extensions[options_pb2.signed_url] = True
    pool.Add(proto)
    return pool.FindServiceByName("issuestest.v1.Probe")


class Probe:
    def Count(self, request: Any, call: Call) -> Iterator[issue_pb2.Issue]:
        # issue_id says how many to send; "fail" sends two, then NOT_FOUND.
        if request.issue_id == "fail":
            yield issue_pb2.Issue(title="1")
            yield issue_pb2.Issue(title="2")
            raise NotFound("gone mid-stream")
        for i in range(int(request.issue_id)):
            yield issue_pb2.Issue(title=str(i + 1), created_by=call.principal.email)

    def Purge(self, request: Any, call: Call) -> Iterator[issue_pb2.Issue]:
        yield issue_pb2.Issue(title="purged")

    def Echo(self, request: Any, call: Call) -> issue_pb2.Issue:
        return issue_pb2.Issue(title=request.issue_id)

    def Unguarded(self, request: Any, call: Call) -> issue_pb2.Issue:
        return issue_pb2.Issue(title="should never run")

    def Join(self, requests: Iterator[Any], call: Call) -> issue_pb2.Issue:
        return issue_pb2.Issue(title="+".join(r.issue_id for r in requests), created_by=call.principal.email)

    def Signed(self, requests: Iterator[Any], call: Call) -> issue_pb2.Issue:
        titles = [r.issue_id for r in requests]
        if titles == ["who"]:
            return issue_pb2.Issue(created_by=call.principal.email)  # there is no one: fails closed
        return issue_pb2.Issue(title="+".join(titles))


def _pipeline(pool: futures.ThreadPoolExecutor) -> Pipeline:
    return Pipeline(Authenticator(), Admission.for_call_slots(4), None, pool)


@pytest.fixture
def probe(database_url: str) -> Iterator[grpc.Channel]:
    logging.getLogger("service.rpc").setLevel(logging.INFO)  # access lines are INFO
    migrate.migrate(harness.use_database(database_url))
    pool = futures.ThreadPoolExecutor(max_workers=Admission.for_call_slots(4).threads)
    loop = asyncio.new_event_loop()
    thread = threading.Thread(target=loop.run_forever, daemon=True)
    thread.start()

    async def start() -> tuple[grpc.aio.Server, int]:
        server = grpc.aio.server(migration_thread_pool=pool)
        server.add_generic_rpc_handlers((generic_handler(_probe_service(), _pipeline(pool), [Probe()]),))
        port = server.add_insecure_port("127.0.0.1:0")
        await server.start()
        return server, port

    server, port = asyncio.run_coroutine_threadsafe(start(), loop).result(10)
    try:
        with grpc.insecure_channel(f"127.0.0.1:{port}") as channel:
            yield channel
    finally:
        asyncio.run_coroutine_threadsafe(server.stop(None), loop).result(10)
        loop.call_soon_threadsafe(loop.stop)
        thread.join(5)
        pool.shutdown(wait=False)
        logs.flush()  # this test's access lines, not the next one's (a process flushes at exit)


def stream(channel: grpc.Channel, method: str, issue_id: str, token: str | None) -> list[str]:
    call = channel.unary_stream(
        f"/issuestest.v1.Probe/{method}",
        request_serializer=issue_service_pb2.GetIssueRequest.SerializeToString,
        response_deserializer=issue_pb2.Issue.FromString,
    )
    metadata = (("authorization", f"Bearer {token}"),) if token else ()
    return [m.title for m in call(issue_service_pb2.GetIssueRequest(issue_id=issue_id), metadata=metadata, timeout=10)]


def access_lines(capfd: pytest.CaptureFixture[str]) -> list[dict[str, Any]]:
    """The access lines written so far; the server may write one just after
    the client has its status, so wait a moment for the first."""
    lines: list[dict[str, Any]] = []
    deadline = time.monotonic() + 5
    while not lines and time.monotonic() < deadline:
        lines += [e for e in map(json.loads, capfd.readouterr().err.splitlines()) if e.get("msg") == "rpc"]
        time.sleep(0.02)
    return lines


def test_a_stream_knows_its_caller_and_logs_once_when_it_ends(probe, make_token, capfd):
    token, slug = make_token("viewer", email="watcher@example.com")
    capfd.readouterr()
    assert stream(probe, "Count", "3", token) == ["1", "2", "3"]
    [line] = access_lines(capfd)
    assert (line["method"], line["code"], line["workspace"]) == ("/issuestest.v1.Probe/Count", "OK", slug)


def test_a_stream_without_a_valid_token_sends_nothing(probe):
    for token in (None, "iss_not-a-token"):
        with pytest.raises(grpc.RpcError) as error:
            stream(probe, "Count", "3", token)
        assert error.value.code() == grpc.StatusCode.UNAUTHENTICATED


def test_a_stream_enforces_the_methods_role(probe, make_token):
    viewer, slug = make_token("viewer")
    admin, _ = make_token("admin", slug)
    with pytest.raises(grpc.RpcError) as error:
        stream(probe, "Purge", "1", viewer)
    assert error.value.code() == grpc.StatusCode.PERMISSION_DENIED
    assert stream(probe, "Purge", "1", admin) == ["purged"]


def test_an_error_mid_stream_ends_it_with_that_status(probe, make_token, capfd):
    token, _ = make_token("viewer")
    call = probe.unary_stream(
        "/issuestest.v1.Probe/Count",
        request_serializer=issue_service_pb2.GetIssueRequest.SerializeToString,
        response_deserializer=issue_pb2.Issue.FromString,
    )
    received = []
    with pytest.raises(grpc.RpcError) as error:
        for message in call(
            issue_service_pb2.GetIssueRequest(issue_id="fail"),
            metadata=(("authorization", f"Bearer {token}"),),
            timeout=10,
        ):
            received.append(message.title)
    assert received == ["1", "2"]
    assert (error.value.code(), error.value.details()) == (grpc.StatusCode.NOT_FOUND, "gone mid-stream")
    assert [line["code"] for line in access_lines(capfd)] == ["NOT_FOUND"]


def test_a_method_without_a_role_is_refused_and_bytes_that_are_no_request_are_bad_input(probe, make_token):
    token, _ = make_token("admin")
    metadata = (("authorization", f"Bearer {token}"),)
    raw = probe.unary_unary("/issuestest.v1.Probe/Unguarded")
    with pytest.raises(grpc.RpcError) as error:
        raw(issue_service_pb2.GetIssueRequest(issue_id="x").SerializeToString(), metadata=metadata, timeout=10)
    assert error.value.code() == grpc.StatusCode.PERMISSION_DENIED
    echo = probe.unary_unary("/issuestest.v1.Probe/Echo")
    assert issue_pb2.Issue.FromString(echo(b"\x0a\x02ok", metadata=metadata, timeout=10)).title == "ok"
    for garbage in (b"\xff\xff\xff", b"\x0a\x05ab", b"\x0a\x02\xc3\x28"):  # bad tag, truncated, invalid UTF-8
        with pytest.raises(grpc.RpcError) as error:
            echo(garbage, metadata=metadata, timeout=10)
        assert error.value.code() == grpc.StatusCode.INVALID_ARGUMENT, garbage


def test_every_method_must_have_exactly_one_servicer():
    with pytest.raises(RuntimeError, match="Unguarded is implemented by 0"):
        generic_handler(_probe_service(), _pipeline(futures.ThreadPoolExecutor(1)), [_Without(Probe(), "Unguarded")])


class _Without:
    """A servicer lacking one method."""

    def __init__(self, inner: object, missing: str) -> None:
        self._inner, self._missing = inner, missing

    def __getattr__(self, name: str) -> Any:
        if name == self._missing:
            raise AttributeError(name)
        return getattr(self._inner, name)


def client_stream(channel: grpc.Channel, method: str, raws: list[bytes], token: str | None) -> issue_pb2.Issue:
    call = channel.stream_unary(f"/issuestest.v1.Probe/{method}", response_deserializer=issue_pb2.Issue.FromString)
    metadata = (("authorization", f"Bearer {token}"),) if token else ()
    return call(iter(raws), metadata=metadata, timeout=10)


def _raw(issue_id: str) -> bytes:
    return issue_service_pb2.GetIssueRequest(issue_id=issue_id).SerializeToString()


def test_a_client_stream_decodes_each_message_and_logs_once(probe, make_token, capfd):
    token, slug = make_token("viewer", email="sender@example.com")
    capfd.readouterr()
    reply = client_stream(probe, "Join", [_raw("a"), _raw("b"), _raw("c")], token)
    assert (reply.title, reply.created_by) == ("a+b+c", "sender@example.com")
    [line] = access_lines(capfd)
    assert (line["method"], line["code"], line["workspace"]) == ("/issuestest.v1.Probe/Join", "OK", slug)

    with pytest.raises(grpc.RpcError) as error:
        client_stream(probe, "Join", [_raw("a"), b"\xff\xff\xff", _raw("c")], token)
    assert error.value.code() == grpc.StatusCode.INVALID_ARGUMENT
    assert [line["code"] for line in access_lines(capfd)] == ["INVALID_ARGUMENT"]
    for bad in (None, "iss_not-a-token"):
        with pytest.raises(grpc.RpcError) as error:
            client_stream(probe, "Join", [_raw("a")], bad)
        assert error.value.code() == grpc.StatusCode.UNAUTHENTICATED


def test_a_signed_url_method_needs_no_token_and_has_no_caller(probe):
    assert client_stream(probe, "Signed", [_raw("x"), _raw("y")], None).title == "x+y"
    with pytest.raises(grpc.RpcError) as error:
        client_stream(probe, "Signed", [_raw("who")], None)
    assert error.value.code() == grpc.StatusCode.UNAUTHENTICATED
