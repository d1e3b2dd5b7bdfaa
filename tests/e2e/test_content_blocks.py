"""Description blocks: JSON numbers only, and a nesting limit checked on every
write path, so that nothing stored can break a later read."""

from __future__ import annotations

import math

import grpc
import pytest
from google.protobuf import field_mask_pb2, struct_pb2

from service.domain.limits import BLOCK_DEPTH_MAX

from ..harness import bad_request_fields


def nested(levels: int) -> struct_pb2.Struct:
    """A block nesting `levels` objects (the block itself is the first)."""
    block = struct_pb2.Struct()
    inner = block
    for _ in range(levels - 1):
        inner = inner.fields["a"].struct_value
    inner.fields["leaf"].string_value = "x"
    return block


def with_arrays(levels: int) -> struct_pb2.Struct:
    """A block whose nesting is mostly arrays: {"a": [[[...["x"]...]]]}."""
    block = struct_pb2.Struct()
    value = block.fields["a"]
    for _ in range(levels - 1):
        value = value.list_value.values.add()
    value.string_value = "x"
    return block


def refused_fields(call, **fields) -> list[str]:
    with pytest.raises(grpc.RpcError) as error:
        call(**fields)
    assert error.value.code() == grpc.StatusCode.INVALID_ARGUMENT, error.value.details()
    return bad_request_fields(error.value)


@pytest.mark.parametrize("number", [math.nan, math.inf, -math.inf])
def test_non_finite_numbers_are_refused_naming_the_block(workspace, number):
    block = struct_pb2.Struct()
    block.update({"type": "chart", "points": [1, {"y": number}]})
    before = workspace.viewer.ListIssues().count
    assert refused_fields(workspace.member.CreateIssue, title="t", description=[struct_pb2.Struct(), block]) == [
        "description[1]"
    ]
    assert workspace.viewer.ListIssues().count == before


def test_blocks_nest_up_to_the_limit_and_stay_listable(workspace):
    deepest = [nested(BLOCK_DEPTH_MAX), with_arrays(BLOCK_DEPTH_MAX)]
    created = workspace.member.CreateIssue(title="deep", description=deepest)
    assert list(created.description) == deepest
    listed = workspace.viewer.ListIssues(limit=1000)
    assert [i.description for i in listed.items if i.uuid == created.uuid] == [created.description]


@pytest.mark.parametrize("block", [nested(BLOCK_DEPTH_MAX + 1), with_arrays(BLOCK_DEPTH_MAX + 1), nested(33)])
def test_deeper_blocks_are_refused_on_create_and_update(workspace, block):
    issue = workspace.member.CreateIssue(title="flat")
    assert refused_fields(workspace.member.CreateIssue, title="t", description=[block]) == ["description[0]"]
    mask = field_mask_pb2.FieldMask(paths=["description"])
    assert refused_fields(workspace.member.UpdateIssue, issue_id=issue.uuid, update_mask=mask, description=[block]) == [
        "description[0]"
    ]
    assert workspace.viewer.GetIssue(issue_id=issue.uuid).description == []


def _field(number: int, payload: bytes) -> bytes:
    """A length-delimited protobuf field (lengths here stay under 2**14)."""
    n = len(payload)
    length = bytes([n]) if n < 128 else bytes([(n & 0x7F) | 0x80, n >> 7])
    return bytes([number << 3 | 2]) + length + payload


def test_a_block_too_deep_for_the_parser_is_bad_input_not_internal(workspace, channel):
    # 40 objects deep, written by hand: protobuf cannot decode it at all.
    struct = b""
    for _ in range(40):
        entry = _field(1, b"a") + _field(2, _field(5, struct))  # {"a": {...}}: map entry, Value.struct_value
        struct = _field(1, entry)
    request = _field(1, b"t") + _field(2, struct)  # CreateIssueRequest{title, description: [block]}
    create = channel.unary_unary("/issues.v1.IssueService/CreateIssue")
    before = workspace.viewer.ListIssues().count
    with pytest.raises(grpc.RpcError) as error:
        create(request, metadata=workspace.member.metadata, timeout=10)
    assert error.value.code() == grpc.StatusCode.INVALID_ARGUMENT
    assert workspace.viewer.ListIssues().count == before
