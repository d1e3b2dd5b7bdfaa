"""A page of large items stays under the 4 MiB gRPC clients accept by default:
it holds fewer items, `count` stays the total, and paging by offset reaches
every item."""

from __future__ import annotations

import grpc
from google.protobuf import struct_pb2

from .. import harness

BIG = 900_000  # characters of one description block: just under the 1 MiB request cap


def big_block(tag: str) -> struct_pb2.Struct:
    block = struct_pb2.Struct()
    block.update({"type": "text", "text": tag * BIG})
    return block


def test_a_page_of_large_issues_fits_a_default_client(grpc_server, make_token):
    token, _ = make_token("member")
    # A fresh channel with gRPC's default 4 MiB receive limit, as grpcurl and grpc-js have.
    with grpc.insecure_channel(grpc_server.target) as channel:
        api = harness.Api(channel, token)
        made = {api.CreateIssue(title=f"big {i}", description=[big_block(str(i))]).uuid for i in range(6)}
        seen: list[str] = []
        while True:
            page = api.ListIssues(limit=100, offset=len(seen))
            assert page.count == 6
            assert page.ByteSize() < 4 << 20
            if not page.items:
                break
            assert len(page.items) < 6  # six would not fit one answer
            seen += [i.uuid for i in page.items]
    assert sorted(seen) == sorted(made) and len(seen) == 6


def test_a_page_of_long_comments_fits_a_default_client(grpc_server, make_token):
    token, _ = make_token("member")
    with grpc.insecure_channel(grpc_server.target) as channel:
        api = harness.Api(channel, token)
        issue = api.CreateIssue(title="talkative").uuid
        # 10,000 four-byte characters: 40 kB a comment, 120 of them ~4.8 MB.
        for i in range(120):
            api.CreateComment(issue_id=issue, content=chr(0x1F600 + i % 50) * 10_000)
        first = api.ListComments(issue_id=issue, limit=1000)
        assert first.count == 120 and 0 < len(first.items) < 120
        rest = api.ListComments(issue_id=issue, limit=1000, offset=len(first.items))
        assert len(first.items) + len(rest.items) == 120
