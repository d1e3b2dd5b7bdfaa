"""Malformed request bytes, over every gRPC method: never INTERNAL.

Bounded: a fixed seed and a fixed number of payloads per method. Afterwards
the server still reports SERVING and every issue still lists.
"""

from __future__ import annotations

import random

import grpc
import pytest
from grpc_health.v1 import health_pb2, health_pb2_grpc
from grpc_reflection.v1alpha import reflection_pb2

from common.descriptors import SERVICE
from issues.v1 import issue_service_pb2 as pb

PER_METHOD = 25
NEVER = {grpc.StatusCode.INTERNAL, grpc.StatusCode.UNKNOWN}


def payloads(valid: bytes, rng: random.Random) -> list[bytes]:
    """Random bytes, truncations and bit flips of a valid request, bad UTF-8 and wrong wire types."""
    out = [bytes(rng.randrange(256) for _ in range(rng.randrange(1, 40))) for _ in range(8)]
    for _ in range(8):
        if valid:
            mutated = bytearray(valid)
            mutated[rng.randrange(len(mutated))] ^= 1 << rng.randrange(8)
            out += [bytes(mutated), valid[: rng.randrange(len(valid))]]
    out += [b"\x0a\x02\xc3\x28", b"\x0a\x03\xed\xa0\x80", b"\x08\x01\x0a", b"\x0d\x00\x00", b"\xff" * 11]
    return out[:PER_METHOD]


def _call(channel: grpc.Channel, path: str, streaming: bool, raw: bytes, metadata) -> grpc.StatusCode:
    try:
        if streaming:
            for _ in channel.unary_stream(path)(raw, metadata=metadata, timeout=5):
                pass
        else:
            channel.unary_unary(path)(raw, metadata=metadata, timeout=5)
    except grpc.RpcError as error:
        return error.code()
    return grpc.StatusCode.OK


def _valid_request(method) -> bytes:
    samples = {
        "CreateIssue": pb.CreateIssueRequest(title="t"),
        "GetIssue": pb.GetIssueRequest(issue_id="0f6d6f74-7d92-4d20-bf6c-2e37d2c1d9c8"),
        "CreateComment": pb.CreateCommentRequest(issue_id="0f6d6f74-7d92-4d20-bf6c-2e37d2c1d9c8", content="c"),
    }
    return samples[method.name].SerializeToString() if method.name in samples else b""


def test_malformed_bytes_never_answer_internal(grpc_server, channel, workspace):
    rng = random.Random(8)
    created = workspace.member.CreateIssue(title="survivor")
    seen: dict[str, set[grpc.StatusCode]] = {}
    targets = [(f"/{SERVICE.full_name}/{m.name}", m.server_streaming, _valid_request(m)) for m in SERVICE.methods]
    targets += [
        ("/grpc.health.v1.Health/Check", False, health_pb2.HealthCheckRequest(service="x").SerializeToString()),
        ("/grpc.health.v1.Health/List", False, b""),
        ("/grpc.health.v1.Health/Watch", True, health_pb2.HealthCheckRequest(service="").SerializeToString()),
    ]
    for path, streaming, valid in targets:
        for raw in payloads(valid, rng):
            for metadata in ((), workspace.admin.metadata):
                follows = {"/Watch": health_pb2.HealthCheckRequest, "/WatchEvents": pb.WatchEventsRequest}
                kind = next((k for k in follows if path.endswith(k)), None)
                if kind is not None and (metadata or kind == "/Watch"):
                    # A valid watch streams forever; only ask with bytes that are no request.
                    try:
                        follows[kind].FromString(raw)
                        continue
                    except Exception:  # noqa: BLE001 - undecodable: the case under test
                        pass
                code = _call(channel, path, streaming, raw, metadata)
                assert code not in NEVER, (path, raw, code)
                seen.setdefault(path, set()).add(code)
    assert grpc.StatusCode.INVALID_ARGUMENT in seen[f"/{SERVICE.full_name}/CreateIssue"]
    assert seen["/grpc.health.v1.Health/Check"] >= {grpc.StatusCode.INVALID_ARGUMENT}
    health = health_pb2_grpc.HealthStub(channel).Check(health_pb2.HealthCheckRequest(), timeout=5)
    assert health.status == health_pb2.HealthCheckResponse.SERVING
    assert created.uuid in {i.uuid for i in workspace.viewer.ListIssues(limit=1000).items}


def test_health_lists_every_service(channel):
    listed = health_pb2_grpc.HealthStub(channel).List(health_pb2.HealthListRequest(), timeout=5)
    assert {name: s.status for name, s in listed.statuses.items()} == {
        "": health_pb2.HealthCheckResponse.SERVING,
        SERVICE.full_name: health_pb2.HealthCheckResponse.SERVING,
    }


@pytest.mark.parametrize("package", ["grpc.reflection.v1", "grpc.reflection.v1alpha"])
def test_reflection_answers_under_both_packages(channel, package):
    call = channel.stream_stream(
        f"/{package}.ServerReflection/ServerReflectionInfo",
        request_serializer=reflection_pb2.ServerReflectionRequest.SerializeToString,
        response_deserializer=reflection_pb2.ServerReflectionResponse.FromString,
    )
    [answer] = list(call(iter([reflection_pb2.ServerReflectionRequest(list_services="")]), timeout=5))
    names = {s.name for s in answer.list_services_response.service}
    assert {SERVICE.full_name, "grpc.health.v1.Health", "grpc.reflection.v1.ServerReflection"} <= names
