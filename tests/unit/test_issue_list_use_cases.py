"""Listing and counting issues (SPEC 8.8, 8.9) against the fake unit of work
(tests/unit/fake_unit_of_work.py): filters, orders, positions and page
tokens, the built-message cache, and the counts behind the metrics."""

from __future__ import annotations

import datetime
import uuid
from typing import Any

import pytest

from issues.v1 import issue_pb2, issue_service_pb2 as pb
from service.api import messages
from service.api.issues import IssuesServicer
from service.api.pipeline import Call
from service.app import issues, page_tokens
from service.app.page_tokens import Page
from service.app.views import IssueView
from service.domain.errors import InvalidArgument
from service.domain.identifiers import IssueRef
from service.domain.issue_filters import IssueFilter
from service.storage.issues import PageKey

from .fake_issues import FakeIssues
from .fake_unit_of_work import FakeWorld
from .test_issue_use_cases import VALUES

Issue = issue_pb2.Issue


class Titles:
    """A ViewCache that builds an issue's title, and counts what it built."""

    def __init__(self) -> None:
        self.entries: dict[PageKey, str] = {}
        self.built: list[str] = []
        self.pages: set[Any] = set()

    def get_many(self, keys: list[PageKey]) -> list[str | None]:
        return [self.entries.get(key) for key in keys]

    def put(self, key: PageKey, value: str) -> None:
        self.entries[key] = value

    def page_seen(self, page: Any) -> bool:
        seen = page in self.pages
        self.pages.add(page)
        return seen

    def build(self, view: IssueView) -> str:
        self.built.append(view.row.title)
        return view.row.title


@pytest.fixture
def world() -> FakeWorld:
    return FakeWorld()


def create(world: FakeWorld, caller: Any, title: str, **values: Any) -> uuid.UUID:
    return issues.create_issue(world.runner, caller, None, {**VALUES, "title": title, **values}).row.uuid  # type: ignore[arg-type]


def listed(
    world: FakeWorld, caller: Any, order_by: str = "created_at", limit: int = 50, offset: int = 0, **filters: Any
) -> Page[str]:
    return issues.list_issues(
        world.runner, caller, Titles(), IssueFilter(**filters), order_by, limit=limit, offset=offset
    )


def titles(world: FakeWorld, caller: Any, **kw: Any) -> list[str]:
    return listed(world, caller, **kw).items


def test_each_filter_narrows_the_list_and_the_count_is_all_that_match(world):
    caller = world.member()
    create(world, caller, "a", status="open", priority="high", owner="ann", tags=["x", "y"], refs={"order": "1"})
    create(world, caller, "b", status="resolved", priority="low", owner="bob", tags=["x"], refs={"order": "2"})
    create(world, caller, "c", status="in_progress", priority="high", owner="ann", tags=["y"])
    assert titles(world, caller, statuses=("open", "resolved")) == ["a", "b"]  # any of
    assert titles(world, caller, priorities=("high",), owners=("ann",)) == ["a", "c"]
    assert titles(world, caller, tags=("x", "y")) == ["a"]  # all of
    assert titles(world, caller, refs=(("order", "2"),)) == ["b"]
    assert titles(world, caller, created_by=("m@acme.co",)) == ["a", "b", "c"]
    assert titles(world, caller, created_by=("someone@else.co",)) == []
    page = listed(world, caller, limit=1, priorities=("high",))
    assert (page.items, page.total, page.more) == (["a"], 2, True)


def test_a_filter_on_tags_and_refs_follows_their_changes(world):
    caller = world.member()
    made = create(world, caller, "a", tags=["old"], refs={"order": "1"})
    issues.update_issue(world.runner, caller, None, IssueRef(uuid=made), {"tags": ["new"], "refs": {}})  # type: ignore[arg-type]
    assert titles(world, caller, tags=("old",)) == [] and titles(world, caller, tags=("new",)) == ["a"]
    assert titles(world, caller, refs=(("order", "1"),)) == []


def test_time_bounds_are_strict(world):
    caller = world.member()
    ids = [create(world, caller, t) for t in "abc"]
    at = [world.tables.issues[i].created_at for i in ids]
    assert titles(world, caller, created_after=at[0]) == ["b", "c"]
    assert titles(world, caller, created_before=at[2]) == ["a", "b"]
    assert titles(world, caller, created_after=at[0], created_before=at[2]) == ["b"]
    issues.update_issue(world.runner, caller, None, IssueRef(uuid=ids[0]), {"title": "a2"})  # type: ignore[arg-type]
    assert titles(world, caller, updated_after=at[2]) == ["a2"]


def test_search_matches_whole_words_of_title_description_and_summary_case_insensitively(world):
    caller = world.member()
    create(world, caller, "Pump failure", description=[{"type": "text", "text": "Valve stuck"}])
    create(world, caller, "Pumping station", resolution_summary="replaced the VALVE")
    assert titles(world, caller, words=("pump",)) == ["Pump failure"]  # whole words only
    assert titles(world, caller, words=("valve",)) == ["Pump failure", "Pumping station"]
    assert titles(world, caller, words=("valve", "stuck")) == ["Pump failure"]  # every word
    page = listed(world, caller, words=("valve",), statuses=("open",), limit=1)
    assert (page.items, page.total) == (["Pump failure"], 2)


def test_a_parent_filter_lists_its_children_and_an_unknown_parent_lists_nothing(world):
    caller = world.member()
    parent = create(world, caller, "parent")
    issues.create_issue(world.runner, caller, None, {**VALUES, "title": "child"}, parent=IssueRef(uuid=parent))  # type: ignore[arg-type]
    assert titles(world, caller, parent=IssueRef(uuid=parent)) == ["child"]
    page = listed(world, caller, parent=IssueRef(prefix="ACM", number=99))
    assert (page.items, page.total, page.more) == ([], 0, False)


def test_another_workspaces_issues_are_neither_listed_nor_counted(world):
    alice, bob = world.member("alice"), world.member("bob")
    create(world, alice, "mine", tags=["t"])
    assert (listed(world, bob).total, listed(world, bob, statuses=("open",)).total) == (0, 0)
    assert titles(world, bob, tags=("t",)) == [] and titles(world, alice, tags=("t",)) == ["mine"]


def test_every_order_ends_in_the_uuid_so_ties_page_stably(world):
    caller = world.member()
    world.runner.clock = lambda: datetime.datetime(2026, 12, 7, 13, 0)  # every issue created at one instant
    made = {create(world, caller, f"{p}{i}", priority=p): p for p in ("low", "high", "medium") for i in range(2)}
    by_uuid = sorted(made)
    title = {i: world.tables.issues[i].title for i in made}
    rank = {"low": 1, "medium": 2, "high": 3}
    assert titles(world, caller, order_by="created_at") == [title[i] for i in by_uuid]
    assert titles(world, caller, order_by="created_at desc") == [title[i] for i in reversed(by_uuid)]
    assert titles(world, caller, order_by="priority desc") == [
        title[i] for i in sorted(made, key=lambda i: (rank[made[i]], i), reverse=True)
    ]
    page = listed(world, caller, order_by="priority", limit=2)
    assert [p[0] for p in page.positions] == [1, 1] and page.more


def test_walking_by_positions_yields_every_issue_that_lasted_exactly_once(world):
    caller = world.member()
    ids = [create(world, caller, f"t{i}") for i in range(7)]
    seen: list[str] = []
    after = None
    while True:
        page = issues.list_issues(
            world.runner, caller, Titles(), IssueFilter(), "updated_at desc", limit=2, offset=0, after=after
        )
        seen += page.items
        if not page.more:
            break
        after = tuple(page.positions[-1])
        if len(seen) == 2:  # others write meanwhile: one created, one of those not yet seen deleted
            create(world, caller, "late")
            issues.delete_issue(world.runner, caller, IssueRef(uuid=ids[0]))
    assert seen == [f"t{i}" for i in range(6, 0, -1)]  # "late" sorts before the walk's position


def test_an_offset_page_skips_that_many(world):
    caller = world.member()
    for t in "abcde":
        create(world, caller, t)
    page = listed(world, caller, offset=3, limit=5)
    assert (page.items, page.total, page.more) == (["d", "e"], 5, False)
    assert listed(world, caller, offset=9).items == []


def test_only_issues_not_built_at_their_current_version_are_built_again(world):
    caller = world.member()
    ids = [create(world, caller, t) for t in "abc"]
    cache = Titles()

    def page() -> list[str]:
        return issues.list_issues(world.runner, caller, cache, IssueFilter(), "created_at", limit=10, offset=0).items

    assert page() == ["a", "b", "c"] and cache.built == ["a", "b", "c"]
    assert page() == ["a", "b", "c"] and len(cache.built) == 3
    issues.update_issue(world.runner, caller, None, IssueRef(uuid=ids[1]), {"title": "B"})  # type: ignore[arg-type]
    assert page() == ["a", "B", "c"] and cache.built[3:] == ["B"]


def test_a_row_changed_between_the_keys_and_its_load_makes_the_page_read_again_in_one_snapshot(world, monkeypatch):
    """A page asked for before is read as keys (and count), then the rows the
    cache misses: two statements outside a transaction. A row loaded at another
    version than its key named is never built or kept under that key; the page
    is read again, in one snapshot."""
    caller = world.member()
    ids = [create(world, caller, t) for t in "abc"]
    cache = Titles()

    def page() -> Page[str]:
        return issues.list_issues(world.runner, caller, cache, IssueFilter(), "created_at", limit=10, offset=0)

    loads: list[list[uuid.UUID]] = []
    real = FakeIssues.by_ids

    def by_ids(self: FakeIssues, wanted: list[uuid.UUID]) -> list[Any]:
        loads.append(list(wanted))
        if len(loads) == 1:  # another caller's update lands between the two statements
            issues.update_issue(world.runner, caller, None, IssueRef(uuid=ids[1]), {"title": "B"})  # type: ignore[arg-type]
        return real(self, wanted)

    monkeypatch.setattr(FakeIssues, "by_ids", by_ids)
    assert page().items == ["a", "b", "c"] and not loads  # first asked for: the rows came with the keys
    issues.update_issue(world.runner, caller, None, IssueRef(uuid=ids[1]), {"title": "b2"})  # type: ignore[arg-type]
    again = page()
    assert again.items == ["a", "B", "c"] and again.total == 3
    assert len(loads) == 2 and cache.built == ["a", "b", "c", "B"]  # "b2" was loaded, never built
    assert sorted(k.version for k in cache.entries) == [1, 1, 1, 3]  # "B" under version 3 only


# -- page tokens through ListIssues (api/paging.py; its key, a server secret, is fixed here)


class Decoded:
    """The servicer, its ListIssues reply (bytes, as it goes on the wire) decoded."""

    def __init__(self, servicer: IssuesServicer) -> None:
        self.servicer = servicer

    def ListIssues(self, request: pb.ListIssuesRequest, call: Call) -> pb.ListIssuesResponse:
        return pb.ListIssuesResponse.FromString(self.servicer.ListIssues(request, call))


@pytest.fixture
def servicer(world, monkeypatch) -> Decoded:
    monkeypatch.setattr(page_tokens, "_key", lambda: b"k" * 32)
    return Decoded(IssuesServicer(world.runner, None))  # type: ignore[arg-type]


def call(principal: Any) -> Call:
    return Call(principal, "ListIssues", None)  # type: ignore[arg-type]


def test_a_token_sent_alone_pages_the_first_requests_list(world, servicer):
    caller = world.member()
    for i in range(5):
        create(world, caller, f"t{i}", priority="high" if i % 2 else "low")
    first = servicer.ListIssues(
        pb.ListIssuesRequest(priority=[Issue.PRIORITY_LOW], order_by="created_at", limit=2), call(caller)
    )
    assert [i.title for i in first.items] == ["t0", "t2"] and first.count == 3 and first.next_page_token
    following = servicer.ListIssues(pb.ListIssuesRequest(page_token=first.next_page_token), call(caller))
    assert [i.title for i in following.items] == ["t4"] and following.count == 3
    assert following.next_page_token == ""


def test_a_token_with_the_same_parameters_again_pages_on_and_with_others_is_refused(world, servicer):
    caller = world.member()
    for i in range(3):
        create(world, caller, f"t{i}", owner="ann")
    request = pb.ListIssuesRequest(owner=["ann"], order_by="created_at desc", limit=1)
    token = servicer.ListIssues(request, call(caller)).next_page_token
    again = pb.ListIssuesRequest(owner=["ann"], order_by="created_at desc", limit=2, page_token=token)
    assert [i.title for i in servicer.ListIssues(again, call(caller)).items] == ["t1", "t0"]
    for changed in (
        pb.ListIssuesRequest(owner=["bob"], page_token=token),
        pb.ListIssuesRequest(order_by="created_at", page_token=token),
        pb.ListIssuesRequest(page_token=token[:-2]),
    ):
        with pytest.raises(InvalidArgument) as refused:
            servicer.ListIssues(changed, call(caller))
        assert [v.field for v in refused.value.violations] == ["page_token"]


def test_a_page_is_the_bytes_of_its_response_encoded_at_once(world, servicer):
    """The page is concatenated from issues encoded one by one (IssueMessages);
    it must be byte for byte what encoding the whole response gives, map
    fields (a description's Struct, refs) in their deterministic order."""
    caller = world.member()
    for i in range(3):
        create(
            world,
            caller,
            f"t{i}",
            tags=["z", "a"],
            refs={"zeta": "1", "alpha": str(i)},
            description=[{"type": "table", "rows": [[1, 2.5], ["x", None]], "b": {"y": 1, "a": True}}],
        )
    request = pb.ListIssuesRequest(order_by="created_at", limit=2)
    for _ in range(2):  # built, then from the cache
        raw = servicer.servicer.ListIssues(request, call(caller))
        views = [
            issues.get_issue(world.runner, caller, IssueRef(uuid=uuid.UUID(i.uuid)))
            for i in servicer.ListIssues(request, call(caller)).items
        ]
        whole = pb.ListIssuesResponse(
            items=[messages.issue(v) for v in views],
            count=3,
            next_page_token=pb.ListIssuesResponse.FromString(raw).next_page_token,
        )
        assert raw == whole.SerializeToString(deterministic=True)
        assert [i.title for i in whole.items] == ["t0", "t1"] and whole.next_page_token


def test_a_token_is_bound_to_its_workspace(world, servicer):
    alice, bob = world.member("alice"), world.member("bob")
    for i in range(2):
        create(world, alice, f"t{i}")
    token = servicer.ListIssues(pb.ListIssuesRequest(limit=1), call(alice)).next_page_token
    with pytest.raises(InvalidArgument):
        servicer.ListIssues(pb.ListIssuesRequest(page_token=token), call(bob))


# -- counts (the metrics' charts)


def test_counts_follow_creates_resolutions_and_deletes_per_status_priority_and_day(world):
    caller = world.member()
    day = world.now.date()
    a, b = create(world, caller, "a", priority="high"), create(world, caller, "b")
    issues.update_issue(world.runner, caller, None, IssueRef(uuid=a), {"status": "resolved"})  # type: ignore[arg-type]
    issues.delete_issue(world.runner, caller, IssueRef(uuid=b))
    counts = issues.issue_counts(world.runner, caller, day)
    assert counts.by_status_priority == {("resolved", "high"): 1}
    assert (counts.opened_per_day, counts.resolved_per_day) == ({day.isoformat(): 1}, {day.isoformat(): 1})
    assert issues.issue_counts(world.runner, caller, day + datetime.timedelta(days=1)).opened_per_day == {}
    assert issues.issue_counts(world.runner, world.member("other"), day).by_status_priority == {}
    assert listed(world, caller, statuses=("resolved",)).total == 1  # the list's count reads the same counters
