"""The gateway's reply writer: the bytes the json module would write, and kept texts that never go stale."""

from __future__ import annotations

import json

from google.protobuf import struct_pb2

from gateway.codec import ReplyWriter, to_json
from gateway.codec.writing import dumps
from issues.v1 import comment_pb2, issue_pb2, issue_service_pb2 as pb


def _json_module(message: object) -> bytes:
    return json.dumps(to_json(message), ensure_ascii=False, separators=(",", ":"), allow_nan=False).encode()


def _issue(n: int, **fields: object) -> issue_pb2.Issue:
    issue = issue_pb2.Issue(
        uuid=f"00000000-0000-4000-8000-{n:012d}",
        title=f'Issue {n} — ünïcode \u2028 "quoted" \\ </script>',
        status=issue_pb2.Issue.STATUS_RESOLVED,
        tags=["a", "b"],
        resolution_summary="done",
        refs={"order": "8001", "z": "1"},
        etag=f"etag{n}",
        **fields,  # type: ignore[arg-type]
    )
    block = struct_pb2.Struct()
    block.update({"type": "paragraph", "text": "x\x01y", "n": 5, "f": 2.5, "deep": {"list": [1, None, True]}})
    issue.description.append(block)
    issue.created_at.FromSeconds(1_765_000_000)
    return issue


def test_a_page_is_written_as_the_json_module_writes_it_kept_or_not() -> None:
    page = pb.ListIssuesResponse(items=[_issue(i) for i in range(5)], count=5, next_page_token="t")
    writer = ReplyWriter()
    expected = _json_module(page)
    assert writer.write(page) == expected
    assert writer.write(page, keep=True) == expected  # texts made and kept
    assert writer.write(page, keep=True) == expected  # texts from the kept ones
    assert writer.write(pb.ListIssuesResponse(count=0), keep=True) == b'{"items":[],"count":0,"next_page_token":""}'


def test_a_resource_at_the_top_and_a_bare_field_are_written_alike() -> None:
    writer = ReplyWriter()
    issue = _issue(1)
    assert writer.write(issue, keep=True) == writer.write(issue, keep=True) == _json_module(issue)
    page = pb.ListIssuesResponse(items=[_issue(1), _issue(2)])
    assert json.loads(writer.write(page, keep=True, field="items")) == json.loads(_json_module(page))["items"]
    comments = pb.ListCommentsResponse(items=[comment_pb2.Comment(uuid="c", content="hi", etag="e")])
    assert writer.write(comments, keep=True) == _json_module(comments)


def test_a_kept_text_follows_every_field_not_just_the_etag() -> None:
    # The same uuid and etag with another field changed (a count that moves
    # without a new version, say) is another text: the key is the whole message.
    writer = ReplyWriter()
    before, after = _issue(1, sub_issues_count=0), _issue(1, sub_issues_count=3)
    assert json.loads(writer.write(before, keep=True))["sub_issues_count"] == 0
    assert json.loads(writer.write(after, keep=True))["sub_issues_count"] == 3
    assert (
        json.loads(writer.write(pb.ListIssuesResponse(items=[after]), keep=True))["items"][0]["sub_issues_count"] == 3
    )


def test_the_kept_texts_stay_within_their_bound() -> None:
    issue = _issue(0)
    one = len(issue.SerializeToString()) + len(_json_module(issue))
    writer = ReplyWriter(max_bytes=3 * one + one // 2, max_entry_bytes=2 * one)
    written = [writer.write(_issue(n), keep=True) for n in range(10)]
    assert written == [_json_module(_issue(n)) for n in range(10)]
    assert writer.kept == 3
    assert writer.kept_bytes <= 3 * one + one // 2
    # A kept text is answered as it is (the same bytes object); the oldest are out.
    assert all(writer.write(_issue(n), keep=True) is written[n] for n in (7, 8, 9))
    again = writer.write(_issue(0), keep=True)
    assert again == written[0] and again is not written[0]
    assert writer.kept == 3
    # A text over the per-entry bound is written but not kept.
    big = _issue(99, owner="x" * (2 * one))
    assert writer.write(big, keep=True) == _json_module(big)
    assert writer.kept == 3


def test_what_orjson_refuses_the_json_module_writes() -> None:
    # Deeper than orjson's 255 levels (no message gets there: upb stops at 100
    # levels of nesting, about 50 of JSON), and a float orjson spells otherwise.
    deep: dict[str, object] = {}
    node = deep
    for _ in range(300):
        node["d"] = {}
        node = node["d"]  # type: ignore[assignment]
    assert dumps(deep) == json.dumps(deep, separators=(",", ":")).encode()
    tiny = struct_pb2.Struct()
    tiny.update({"f": 1e-05})
    written = ReplyWriter().write(issue_pb2.Issue(description=[tiny]))
    assert json.loads(written)["description"][0]["f"] == 1e-05
