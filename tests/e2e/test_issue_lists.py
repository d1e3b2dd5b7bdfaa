"""ListIssues' filters, orders and full-text search, and page tokens on every
list (SPEC 8.8, 8.9), over gRPC and HTTP, on SQLite and PostgreSQL."""

from __future__ import annotations

import base64
import datetime
import random
import threading
import time

import grpc
import pytest
from google.protobuf import field_mask_pb2, struct_pb2

from issues.v1 import issue_pb2

from .. import harness
from ..harness import bad_request_fields
from .test_gateway_e2e import gateway_url, http  # noqa: F401 - fixtures

Issue = issue_pb2.Issue


def refused(call, code=grpc.StatusCode.INVALID_ARGUMENT, **fields) -> grpc.RpcError:
    with pytest.raises(grpc.RpcError) as error:
        call(**fields)
    assert error.value.code() == code, error.value.details()
    return error.value


def block(text: str, kind: str = "text") -> struct_pb2.Struct:
    s = struct_pb2.Struct()
    s.update({"type": kind, "text": text})
    return s


def titles(response) -> list[str]:
    return [i.title for i in response.items]


def walk(list_call, **fields) -> list:
    """Every item of a list, page by page with tokens."""
    items, token, pages = [], "", 0
    while True:
        response = list_call(page_token=token, **fields)
        items += response.items
        pages += 1
        token = response.next_page_token
        if not token:
            return items
        assert pages < 10_000


# -- 8.8 filters ---------------------------------------------------------------------


def test_every_filter_narrows_the_list_and_count(workspace):
    member, admin = workspace.member, workspace.admin
    other = workspace.api("member", "other@example.com")
    a = member.CreateIssue(
        title="alpha", tags=["power", "startup"], owner="ann@example.com", priority=Issue.PRIORITY_HIGH
    )
    b = other.CreateIssue(title="beta", tags=["power"], parent_id=a.uuid)
    c = member.CreateIssue(title="gamma", tags=["startup", "power", "x"], parent_id=a.uuid, refs={"order": "7"})

    def listed(**fields):
        response = workspace.viewer.ListIssues(**fields)
        assert response.count == len(response.items)
        return sorted(titles(response))

    assert listed() == ["alpha", "beta", "gamma"]
    assert listed(owner=["ann@example.com"]) == ["alpha"]
    assert listed(owner=["Unassigned"]) == ["beta", "gamma"]
    assert listed(owner=["Unassigned", "ann@example.com"]) == ["alpha", "beta", "gamma"]  # any of them
    assert listed(owner=["nobody@example.com", "ann@example.com"]) == ["alpha"]
    assert listed(created_by=["other@example.com"]) == ["beta"]
    creators = {i.created_by for i in workspace.viewer.ListIssues().items}
    assert listed(created_by=sorted(creators)) == ["alpha", "beta", "gamma"]  # any of them
    assert listed(tag=["power"]) == ["alpha", "beta", "gamma"]
    assert listed(tag=["power", "startup"]) == ["alpha", "gamma"]  # all of them
    assert listed(tag=["power", "startup", "x"]) == ["gamma"]
    assert listed(tag=["nope"]) == []
    assert listed(parent_id=a.uuid) == ["beta", "gamma"]
    assert listed(parent_id=a.identifier.lower()) == ["beta", "gamma"]
    assert listed(parent_id=c.uuid) == []
    assert listed(parent_id="00000000-0000-4000-8000-000000000000") == []
    assert listed(ref=["order:7"], tag=["x"]) == ["gamma"]
    assert listed(tag=["power"], priority=[Issue.PRIORITY_HIGH]) == ["alpha"]

    # A tag change moves the tag index with it.
    admin.UpdateIssue(issue_id=b.uuid, tags=["x"])
    assert listed(tag=["x"]) == ["beta", "gamma"]
    assert listed(tag=["power"]) == ["alpha", "gamma"]


def test_timestamp_bounds_are_strict_and_take_offsets_and_nanoseconds(workspace):
    first = workspace.member.CreateIssue(title="first")
    time.sleep(0.01)
    second = workspace.member.CreateIssue(title="second")
    t1, t2 = first.created_at.ToDatetime(), second.created_at.ToDatetime()

    def z(t: datetime.datetime, extra: str = "") -> str:
        return t.strftime("%Y-%m-%dT%H:%M:%S.%f") + extra + "Z"

    def listed(**fields):
        return sorted(titles(workspace.viewer.ListIssues(**fields)))

    assert listed(created_after=z(t1)) == ["second"]  # strictly after
    assert listed(created_before=z(t2)) == ["first"]  # strictly before
    assert listed(created_after=z(t1), created_before=z(t2)) == []
    assert listed(created_after=z(t1 - datetime.timedelta(microseconds=1))) == ["first", "second"]
    # Nanoseconds: 1 ns after t1 excludes t1; 1 ns after t2 is after t2, so t2 is before it.
    assert listed(created_after=z(t1, "001")) == ["second"]
    # The calendar's ends, moved past it by an offset, are still bounds (the document admits them).
    assert listed(created_after="0001-01-01T00:00:00+01:00") == ["first", "second"]
    assert listed(created_before="9999-12-31T23:59:59.9999999-01:00") == ["first", "second"]
    assert listed(created_before=z(t2, "001")) == ["first", "second"]
    # The same instant two hours east.
    east = (t1 + datetime.timedelta(hours=2)).strftime("%Y-%m-%dT%H:%M:%S.%f") + "+02:00"
    assert listed(created_after=east) == ["second"]

    workspace.member.UpdateIssue(issue_id=first.uuid, title="first, edited")
    edited = workspace.viewer.GetIssue(issue_id=first.uuid).updated_at.ToDatetime()
    assert listed(updated_after=z(edited - datetime.timedelta(microseconds=1))) == ["first, edited"]
    assert listed(updated_after=z(edited)) == []


def test_search_finds_every_word_whole_in_title_text_blocks_and_summary(workspace, make_token, channel):
    member = workspace.member
    member.CreateIssue(title="Conveyor jam at station 4", description=[block("Belt SLIPS under load")])
    member.CreateIssue(
        title="Brown-out",
        description=[block("voltage sag", kind="heading"), block("nothing here")],
        resolution_summary="Replaced capacitor C12",
    )
    nested = struct_pb2.Struct()
    nested.update({"type": "paragraph", "children": [{"type": "text", "text": "Ünïcode Straße gear"}], "url": "belt"})
    member.CreateIssue(title="Nested", description=[nested])
    # The same words in another workspace are never found from this one.
    harness.Api(channel, make_token("admin")[0]).CreateIssue(title="conveyor belt slips", description=[block("belt")])

    def search(q: str) -> list[str]:
        response = workspace.viewer.ListIssues(q=q)
        assert response.count == len(response.items)
        return sorted(titles(response))

    assert search("conveyor") == ["Conveyor jam at station 4"]
    assert search("slips") == ["Conveyor jam at station 4"]  # only in a description block
    assert search("BELT slips") == ["Conveyor jam at station 4"]  # every word, any case
    assert search("belt slips brownout") == []  # every word must match
    assert search("sli") == []  # whole words only
    assert search("belt") == ["Conveyor jam at station 4"]  # not the `url` key's value
    assert search("c12") == ["Brown-out"]  # the resolution summary
    assert search("capacitor, c12!") == ["Brown-out"]  # punctuation separates words
    assert search("brown") == ["Brown-out"]
    assert search("voltage") == ["Brown-out"]  # any block's `text`, whatever its type
    assert search("straße ÜNÏCODE") == ["Nested"]  # nested children; Unicode case
    assert search("4") == ["Conveyor jam at station 4"]
    assert search("!!!") == ["Brown-out", "Conveyor jam at station 4", "Nested"]  # no words: no filter

    # Updates move the index in their own transaction; deletes leave it.
    first = workspace.viewer.ListIssues(q="conveyor").items[0]
    member.UpdateIssue(issue_id=first.uuid, description=[block("roller worn")])
    assert search("slips") == []
    assert search("roller") == ["Conveyor jam at station 4"]
    member.UpdateIssue(
        issue_id=first.uuid,
        update_mask=field_mask_pb2.FieldMask(paths=["resolution_summary"]),
        resolution_summary="tensioned",
    )
    assert search("tensioned roller") == ["Conveyor jam at station 4"]
    workspace.admin.DeleteIssue(issue_id=first.uuid)
    assert search("roller") == []
    assert search("capacitor") == ["Brown-out"]


def test_search_counts_every_match_on_every_page_and_past_the_end(workspace, make_token, channel):
    """The count and the page of a search come from one read of its matches: the
    count is the workspace's, whatever the page, the order or the offset."""
    member = workspace.member
    made = {}
    for n, (priority, words) in enumerate(
        [
            (Issue.PRIORITY_LOW, "pump valve"),
            (Issue.PRIORITY_HIGH, "pump"),
            (Issue.PRIORITY_MEDIUM, "pump valve"),
            (Issue.PRIORITY_HIGH, "pump valve"),
            (Issue.PRIORITY_LOW, "pump"),
            (Issue.PRIORITY_MEDIUM, "valve"),
        ]
    ):
        made[f"i{n}"] = member.CreateIssue(title=f"i{n} {words}", priority=priority).uuid
    member.UpdateIssue(issue_id=made["i5"], status=Issue.STATUS_IN_PROGRESS)
    # The same words elsewhere count nowhere here.
    other = harness.Api(channel, make_token("admin")[0])
    for _ in range(3):
        other.CreateIssue(title="pump valve")

    pumps = ["i4", "i3", "i2", "i1", "i0"]  # newest first
    for offset in range(0, 7):
        page = workspace.viewer.ListIssues(q="pump", limit=2, offset=offset)
        assert page.count == 5
        assert [t.split()[0] for t in titles(page)] == pumps[offset : offset + 2]
    by_rank = workspace.viewer.ListIssues(q="PUMP", order_by="priority desc", limit=10)
    assert [t.split()[0] for t in titles(by_rank)] == ["i3", "i1", "i2", "i4", "i0"]
    walked = walk(workspace.viewer.ListIssues, q="valve pump", order_by="created_at", limit=1)
    assert [t.split()[0] for t in (i.title for i in walked)] == ["i0", "i2", "i3"]
    for token_page in (workspace.viewer.ListIssues(q="valve pump", limit=1),):
        following = workspace.viewer.ListIssues(page_token=token_page.next_page_token)
        assert token_page.count == following.count == 3  # a token's page counts the whole search
    assert workspace.viewer.ListIssues(q="valve", status=[Issue.STATUS_OPEN]).count == 3
    assert workspace.viewer.ListIssues(q="valve", status=[Issue.STATUS_IN_PROGRESS]).count == 1
    assert workspace.viewer.ListIssues(q="nothing-like-it").count == 0


def test_search_words_are_split_at_punctuation_and_folded_in_any_script(workspace):
    member = workspace.member
    member.CreateIssue(title="Ölpumpe—defekt (O-ring) #5", description=[block("ΣΊΣΥΦΟΣ; naïve_café")])
    member.CreateIssue(title="o ring", resolution_summary="5")

    def search(q: str) -> list[str]:
        response = workspace.viewer.ListIssues(q=q)
        assert response.count == len(response.items)
        return sorted(titles(response))

    pump = ["Ölpumpe—defekt (O-ring) #5"]
    both = sorted(pump + ["o ring"])
    assert search("ÖLPUMPE") == pump
    assert search("defekt.") == pump  # the em dash and the full stop separate words
    assert search("o-ring") == both  # 'o' and 'ring', each a word
    assert search("ring #5") == both
    assert search("σίσυφος") == pump  # Greek, final sigma folded
    assert search("naïve café") == pump  # `_` separates words; accents are kept
    assert search("naive") == []
    assert search("naïve_café") == pump


def test_orders_break_ties_and_priority_orders_by_rank(workspace):
    member = workspace.member
    low = member.CreateIssue(title="low", priority=Issue.PRIORITY_LOW)
    high = member.CreateIssue(title="high", priority=Issue.PRIORITY_HIGH)
    medium = member.CreateIssue(title="medium", priority=Issue.PRIORITY_MEDIUM)
    member.UpdateIssue(issue_id=low.uuid, owner="someone")  # updated last (a no-op update would write nothing)
    del high, medium

    def order(order_by: str | None) -> list[str]:
        fields = {"order_by": order_by} if order_by is not None else {}
        by_page = [i.title for i in walk(workspace.viewer.ListIssues, limit=1, **fields)]
        assert by_page == titles(workspace.viewer.ListIssues(**fields))  # tokens walk the same order
        return by_page

    assert order(None) == ["medium", "high", "low"]
    assert order("created_at desc") == ["medium", "high", "low"]
    assert order("created_at") == ["low", "high", "medium"]
    assert order("updated_at desc") == ["low", "medium", "high"]
    assert order("updated_at") == ["high", "medium", "low"]
    assert order("priority desc") == ["high", "medium", "low"]
    assert order("priority") == ["low", "medium", "high"]


def test_issues_of_one_priority_page_by_creation_then_uuid(workspace):
    for i in range(7):
        workspace.member.CreateIssue(title=f"p{i}", priority=Issue.PRIORITY_MEDIUM)
    walked = walk(workspace.viewer.ListIssues, limit=2, order_by="priority")
    assert [i.title for i in walked] == [f"p{i}" for i in range(7)]


# -- bad parameters -----------------------------------------------------------------

BAD = [
    ({"owner": [" "]}, "owner[0]"),
    ({"owner": ["x"] * 21}, "owner"),
    ({"created_by": [""]}, "created_by[0]"),
    ({"tag": ["x"] * 21}, "tag"),
    ({"parent_id": "nope"}, "parent_id"),
    ({"created_after": "2026-04-13"}, "created_after"),
    ({"created_after": "2026-04-13T10:30:00"}, "created_after"),
    ({"created_before": "2026-02-30T10:30:00Z"}, "created_before"),
    ({"created_before": "2026-04-13 10:30:00Z"}, "created_before"),
    ({"updated_after": "2026-04-13T10:30:00.1234567890Z"}, "updated_after"),
    ({"updated_after": "0000-01-01T00:00:00Z"}, "updated_after"),
    ({"q": "x" * 501}, "q"),
    ({"q": "a\x00b"}, "q"),
    ({"order_by": "title"}, "order_by"),
    ({"order_by": "created_at DESC"}, "order_by"),
    ({"order_by": "priority asc"}, "order_by"),
    ({"page_token": "abc", "offset": 0}, "page_token"),
    ({"page_token": "not-a-token"}, "page_token"),
]


@pytest.mark.parametrize("fields,field", BAD, ids=[f for _, f in BAD])
def test_each_bad_parameter_is_invalid_argument_naming_it(workspace, fields, field):
    assert bad_request_fields(refused(workspace.viewer.ListIssues, **fields)) == [field]


def test_bad_parameters_over_http_are_400_naming_each(http):
    client = http.viewer
    for query, field in [
        ("owner=%20", "owner[0]"),
        ("created_after=yesterday", "created_after"),
        ("created_before=2026-02-30T10:30:00Z", "created_before"),
        ("updated_after=2026-04-13T10:30:00", "updated_after"),
        ("order_by=title", "order_by"),
        ("order_by=created_at%20DESC", "order_by"),
        ("q=", "q"),
        ("tags=power", "tags"),
        ("sort=created_at", "sort"),
        ("page_token=zzz", "page_token"),
        ("page_token=zzz&offset=0", "page_token"),
        ("parent_id=x", "parent_id"),
    ]:
        response = client.get(f"/api/v1/issues?{query}")
        assert response.status_code == 400, query
        error = response.json()["error"]
        assert error["status"] == "INVALID_ARGUMENT"
        fields = [v["field"] for d in error["details"] for v in d.get("field_violations", [])]
        assert fields == [field], (query, fields)


def test_filters_and_search_over_http(http):
    admin = http.admin
    made = admin.post(
        "/api/v1/issues",
        json={
            "title": "Pump cavitation",
            "description": [{"type": "text", "text": "Impeller pitting"}],
            "tags": ["pump", "hydraulics"],
            "owner": "ops@example.com",
        },
    ).json()
    admin.post("/api/v1/issues", json={"title": "Pump seal", "description": [], "tags": ["pump"]})
    body = admin.get("/api/v1/issues", params=[("tag", "pump"), ("tag", "hydraulics"), ("q", "pitting")]).json()
    assert [i["uuid"] for i in body["items"]] == [made["uuid"]] and body["count"] == 1
    assert body["next_page_token"] == ""
    body = admin.get("/api/v1/issues", params={"owner": "ops@example.com", "order_by": "priority desc"}).json()
    assert body["count"] == 1
    # Repeatable like created_by: any of them.
    body = admin.get("/api/v1/issues", params=[("owner", "ops@example.com"), ("owner", "Unassigned")]).json()
    assert body["count"] == 2
    first = admin.get("/api/v1/issues", params={"q": "pump", "limit": 1, "order_by": "created_at"}).json()
    assert first["count"] == 2 and first["items"][0]["title"] == "Pump cavitation" and first["next_page_token"]
    second = admin.get(
        "/api/v1/issues",
        params={"q": "pump", "limit": 1, "order_by": "created_at", "page_token": first["next_page_token"]},
    ).json()
    assert [i["title"] for i in second["items"]] == ["Pump seal"] and second["next_page_token"] == ""
    other_order = admin.get(
        "/api/v1/issues",
        params={"q": "pump", "limit": 1, "order_by": "created_at desc", "page_token": first["next_page_token"]},
    )
    assert other_order.status_code == 400 and "page_token" in other_order.text


# -- 8.9 page tokens ----------------------------------------------------------------


def test_tokens_are_bound_to_their_filters_order_and_list_and_refuse_tampering(workspace, make_token, channel):
    for i in range(5):
        workspace.member.CreateIssue(title=f"t{i}", tags=["a"])
    viewer = workspace.viewer
    token = viewer.ListIssues(limit=2, tag=["a"]).next_page_token
    assert token and len(viewer.ListIssues(limit=2, tag=["a"], page_token=token).items) == 2

    for fields in (
        {"tag": ["b"]},
        {"tag": ["a", "b"]},
        {"order_by": "created_at"},
        {"tag": ["a"], "q": "t1"},
        {"status": [Issue.STATUS_OPEN]},
    ):
        assert bad_request_fields(refused(viewer.ListIssues, page_token=token, limit=2, **fields)) == ["page_token"]
    # Another workspace's list, and another kind of list, refuse it too.
    stranger = harness.Api(channel, make_token("admin")[0])
    assert bad_request_fields(refused(stranger.ListIssues, page_token=token, tag=["a"])) == ["page_token"]
    issue = viewer.ListIssues(limit=1).items[0]
    assert bad_request_fields(refused(viewer.ListComments, issue_id=issue.uuid, page_token=token)) == ["page_token"]

    raw = bytearray(base64.urlsafe_b64decode(token + "=" * (-len(token) % 4)))
    for i in (0, len(raw) // 2, len(raw) - 1):
        altered = bytearray(raw)
        altered[i] ^= 1
        forged = base64.urlsafe_b64encode(bytes(altered)).decode().rstrip("=")
        assert bad_request_fields(refused(viewer.ListIssues, page_token=forged, tag=["a"])) == ["page_token"]
    # A position of our own choosing, even with the right shape, has no valid signature.
    body = raw[:-16]
    assert bad_request_fields(
        refused(viewer.ListIssues, tag=["a"], page_token=base64.urlsafe_b64encode(bytes(body) + b"\0" * 16).decode())
    ) == ["page_token"]
    assert bad_request_fields(refused(viewer.ListIssues, page_token="x" * 4097)) == ["page_token"]
    # AIP-158: the first request's parameters may come again with the token; a changed one may not.
    assert len(viewer.ListIssues(page_token=token, limit=2, offset=0, tag=["a"]).items) == 2
    assert bad_request_fields(refused(viewer.ListIssues, page_token=token, offset=1, tag=["a"])) == ["page_token"]
    shifted = viewer.ListIssues(limit=2, offset=1, tag=["a"], order_by="created_at")
    again = viewer.ListIssues(limit=2, offset=1, tag=["a"], order_by="created_at", page_token=shifted.next_page_token)
    alone = viewer.ListIssues(limit=2, tag=["a"], order_by="created_at", page_token=shifted.next_page_token)
    assert titles(shifted) == ["t1", "t2"] and titles(again) == titles(alone) == ["t3", "t4"]
    assert again.next_page_token == alone.next_page_token == ""
    refusal = refused(
        viewer.ListIssues, limit=2, offset=0, tag=["a"], order_by="created_at", page_token=shifted.next_page_token
    )
    assert bad_request_fields(refusal) == ["page_token"]
    assert "page_token: was made for other parameters (offset)" in refusal.details()


# The first request of each walk below: every kind of ListIssues parameter.
FILTERED = {
    "tag": ["pump"],
    "q": "pump",
    "order_by": "priority desc",
    "status": [Issue.STATUS_OPEN],
    "created_after": "2000-01-01T00:00:00Z",
    "owner": ["ops@example.com", "Unassigned"],
}


def _pumps(create) -> None:
    """Seven issues FILTERED lists, and two it does not."""
    priorities = ["low", "high", "medium", "high", "low", "high", "medium"]
    for i, priority in enumerate(priorities):
        create(title=f"pump {i}", tags=["pump"] + (["valve"] if i % 2 else []), priority=priority)
    create(title="valve", tags=["valve"], priority="high")
    create(title="pump elsewhere", tags=["hydraulics"], priority="high")


def test_a_token_alone_lists_what_its_first_request_listed(workspace):
    viewer = workspace.viewer
    _pumps(
        lambda priority, **fields: workspace.member.CreateIssue(
            priority=getattr(Issue, f"PRIORITY_{priority.upper()}"), **fields
        )
    )
    repeating = walk(viewer.ListIssues, limit=2, **FILTERED)
    assert len(repeating) == 7

    first = viewer.ListIssues(limit=2, **FILTERED)
    alone, token = list(first.items), first.next_page_token
    while token:
        page = viewer.ListIssues(limit=2, page_token=token)
        assert page.count == first.count == 7  # the first request's filters, not the whole list's
        alone += page.items
        token = page.next_page_token
    assert [i.uuid for i in alone] == [i.uuid for i in repeating]
    # Some of the parameters again, the others left to the token: the same page.
    partly = viewer.ListIssues(limit=2, tag=["pump"], order_by="priority desc", page_token=first.next_page_token)
    assert [i.uuid for i in partly.items] == [i.uuid for i in repeating[2:4]]
    # A parameter of another value is refused, named in the message.
    for changed, named in (
        ({"tag": ["valve"]}, "tag"),
        ({"order_by": "priority"}, "order_by"),
        ({"status": [Issue.STATUS_OPEN, Issue.STATUS_RESOLVED], "q": "valve"}, "status, q"),
    ):
        refusal = refused(viewer.ListIssues, page_token=first.next_page_token, **changed)
        assert bad_request_fields(refusal) == ["page_token"]
        assert f"was made for other parameters ({named})" in refusal.details()


def test_parameters_too_long_for_a_token_must_come_again_with_it(workspace):
    for i in range(3):
        workspace.member.CreateIssue(title=f"t{i}", tags=["a"])
    owners = ["Unassigned"] + [f"{i:02d}" + "o" * 300 for i in range(19)]
    first = workspace.viewer.ListIssues(limit=1, owner=owners, order_by="created_at")
    assert first.count == 3 and len(first.next_page_token) < 200  # their digest, not them
    again = workspace.viewer.ListIssues(
        limit=1, owner=list(reversed(owners)), order_by="created_at", page_token=first.next_page_token
    )
    assert titles(again) == ["t1"] and again.count == 3
    refusal = refused(workspace.viewer.ListIssues, limit=1, page_token=first.next_page_token)
    assert bad_request_fields(refusal) == ["page_token"] and "too long for a token to carry" in refusal.details()


def test_a_token_alone_lists_what_its_first_request_listed_over_http(http):
    admin = http.admin
    _pumps(lambda **fields: admin.post("/api/v1/issues", json={"description": [], **fields}).raise_for_status())
    query = [
        (name, value)
        for name, values in {**FILTERED, "status": ["open"]}.items()
        for value in (values if isinstance(values, list) else [values])
    ]
    first = admin.get("/api/v1/issues", params=query + [("limit", 3)]).json()
    pages = [first]
    while pages[-1]["next_page_token"]:
        pages.append(admin.get("/api/v1/issues", params={"page_token": pages[-1]["next_page_token"]}).json())
    assert [len(p["items"]) for p in pages] == [3, 4] and {p["count"] for p in pages} == {7}
    everything = admin.get("/api/v1/issues", params=query).json()
    assert [i["uuid"] for p in pages for i in p["items"]] == [i["uuid"] for i in everything["items"]]
    # The same parameters again (repeated ones in another order) are the first request's.
    again = admin.get("/api/v1/issues", params=list(reversed(query)) + [("page_token", first["next_page_token"])])
    assert again.json()["items"] == pages[1]["items"]
    changed = admin.get("/api/v1/issues", params={"tag": "valve", "page_token": first["next_page_token"]})
    assert changed.status_code == 400
    assert changed.json()["error"]["message"].startswith("page_token: was made for other parameters (tag)")


def test_every_list_under_an_issue_pages_by_token(workspace):
    member = workspace.member
    parent = member.CreateIssue(title="parent")
    for i in range(5):
        member.CreateIssue(title=f"child {i}", parent_id=parent.uuid)
        member.CreateComment(issue_id=parent.uuid, content=f"comment {i}")
        member.UpdateIssue(issue_id=parent.uuid, title=f"parent {i}")

    for method, total in (("ListComments", 5), ("ListSubIssues", 5), ("ListIssueHistory", None)):
        call = getattr(workspace.viewer, method)
        everything = call(issue_id=parent.uuid, limit=1000)
        assert everything.next_page_token == ""
        if total is not None:
            assert everything.count == total
        walked = walk(call, issue_id=parent.uuid, limit=2)
        assert [i.uuid for i in walked] == [i.uuid for i in everything.items], method
        first = call(issue_id=parent.uuid, limit=2)
        assert first.count == everything.count and first.next_page_token
        assert bad_request_fields(refused(call, issue_id=parent.uuid, page_token=first.next_page_token, offset=1)) == [
            "page_token"
        ]
        # Bound to its issue: the same token on another issue's list is refused.
        assert bad_request_fields(refused(call, issue_id=parent.identifier, page_token=first.next_page_token)) == [
            "page_token"
        ]


def test_a_token_walk_sees_every_issue_that_existed_throughout_exactly_once(workspace):
    member, admin = workspace.member, workspace.admin
    stable = {member.CreateIssue(title=f"stable {i}").uuid for i in range(60)}
    doomed = [member.CreateIssue(title=f"doomed {i}").uuid for i in range(30)]
    stop = threading.Event()
    problems: list[BaseException] = []
    done = {"created": 0, "deleted": 0}

    def churn(seed: int) -> None:
        rnd = random.Random(seed)
        try:
            # Bounded: a walk in creation order would chase creates made faster than it reads.
            for _ in range(60):
                if stop.is_set():
                    return
                if rnd.random() < 0.5 and doomed:
                    try:
                        admin.DeleteIssue(issue_id=doomed.pop())
                        done["deleted"] += 1
                    except IndexError:
                        pass
                else:
                    member.CreateIssue(title="new", priority=rnd.choice([Issue.PRIORITY_LOW, Issue.PRIORITY_HIGH]))
                    done["created"] += 1
        except BaseException as error:  # noqa: BLE001 - reported below
            problems.append(error)

    threads = [threading.Thread(target=churn, args=(seed,)) for seed in range(3)]
    for thread in threads:
        thread.start()

    def slow_list(**fields):
        time.sleep(0.02)  # the others get to write between pages
        return workspace.viewer.ListIssues(**fields)

    try:
        for order_by in ("created_at desc", "created_at", "priority desc", "priority"):
            before = dict(done)
            seen = [i.uuid for i in walk(slow_list, limit=7, order_by=order_by)]
            assert len(seen) == len(set(seen)), "an issue was listed twice"
            assert stable <= set(seen), "an issue that existed throughout was skipped"
            if order_by == "created_at desc":
                assert done["created"] > before["created"], "nothing was created during the walk"
    finally:
        stop.set()
        for thread in threads:
            thread.join(timeout=60)
    assert not problems
    assert done["deleted"] > 0


def test_offset_pages_still_work_and_give_a_token(workspace):
    for i in range(5):
        workspace.member.CreateIssue(title=f"o{i}")
    page = workspace.viewer.ListIssues(limit=2, offset=1, order_by="created_at")
    assert titles(page) == ["o1", "o2"] and page.count == 5
    rest = walk(workspace.viewer.ListIssues, limit=2, order_by="created_at")
    assert [i.title for i in rest] == [f"o{i}" for i in range(5)]
    after = workspace.viewer.ListIssues(limit=2, order_by="created_at", page_token=page.next_page_token)
    assert titles(after) == ["o3", "o4"] and after.next_page_token == ""
