"""Use cases and their unit of work against a real database, on both backends."""

from __future__ import annotations

import pathlib
import uuid
from typing import Any, Iterator

import pytest

from service.api.messages import JsonRenderer
from service.app import comments, issues
from service.app.changes import Change
from service.app.issues import IssueView, PageKey
from service.app.peewee_storage import PeeweeStorage
from service.app.runner import Committed, Runner
from service.blobs.filesystem import FilesystemStore
from service.blobs.signing import Signer
from service.domain.errors import NotFound
from service.domain.identifiers import IssueRef, default_prefix
from service.domain.issue_filters import DEFAULT_ORDER, IssueFilter
from service.domain.roles import Principal, Role
from service.domain.times import utcnow
from service.storage import counters, database, migrate, workspaces
from service.storage.attachments import AttachmentRepository
from service.storage.comments import CommentRepository
from service.storage.files import FileRepository
from service.storage.models import Issue

VALUES = {
    "title": "t",
    "description": [],
    "status": "open",
    "priority": "low",
    "tags": [],
    "owner": "o",
    "resolution_summary": None,
    "job_run_id": None,
    "session_ids": [],
    "attachment_ids": [],
}


@pytest.fixture
def db(fresh_database_url: str) -> Iterator[Any]:
    handle = database.open_database(fresh_database_url, pool_size=4)
    database.bind(handle)
    migrate.migrate(handle)
    yield handle
    handle.close_all()


@pytest.fixture
def committed() -> list[Committed[Any]]:
    """What each commit of `runner` left to announce, in order."""
    return []


@pytest.fixture
def runner(db: Any, committed: list[Committed[Any]]) -> Runner:
    """As the server builds it at startup (its after-commit effects kept in `committed`)."""
    return Runner(PeeweeStorage(), JsonRenderer(), after_commit=committed.append)


@pytest.fixture
def blobs(tmp_path: pathlib.Path) -> FilesystemStore:
    return FilesystemStore(tmp_path / "blobs", "http://unused", Signer("k"))


def member(slug: str) -> Principal:
    workspace_id = database.transaction(lambda: workspaces.ensure(slug, default_prefix(slug)).id, write=True)
    return Principal(workspace_id, slug, f"m@{slug}.co", Role.MEMBER)


def recount(workspace_id: int) -> dict[tuple[str, str], int]:
    rows = database.transaction(
        lambda: list(Issue.select(Issue.status, Issue.priority).where(Issue.workspace == workspace_id).tuples())
    )
    out: dict[tuple[str, str], int] = {}
    for key in rows:
        out[key] = out.get(key, 0) + 1
    return out


def test_counters_follow_every_recorded_change(db, blobs, runner):
    caller = member("counting")
    made = [issues.create_issue(runner, caller, blobs, {**VALUES, "priority": p}) for p in ("low", "high", "high")]
    issues.update_issue(runner, caller, blobs, IssueRef(uuid=made[1].row.uuid), {"status": "resolved"})
    issues.update_issue(runner, caller, blobs, IssueRef(uuid=made[2].row.uuid), {"priority": "medium"})
    issues.delete_issue(runner, caller, IssueRef(uuid=made[0].row.uuid))
    stored = database.transaction(lambda: counters.by_status_priority(caller.workspace_id))
    assert stored == recount(caller.workspace_id) == {("resolved", "high"): 1, ("open", "medium"): 1}


def test_a_command_that_fails_after_recording_writes_nothing(db, blobs, runner):
    caller = member("failing")
    issues.create_issue(runner, caller, blobs, VALUES)

    def work(uow):
        uow.record(
            Change(
                "issue",
                "created",
                uuid.uuid4(),
                None,
                None,
                {"status": "open", "priority": "low", "created_at": uow.now, "resolved_at": None},
            )
        )
        raise RuntimeError("the command fails before commit")

    with pytest.raises(RuntimeError):
        runner.run(caller, work, write=True)
    assert database.transaction(lambda: counters.by_status_priority(caller.workspace_id)) == {("open", "low"): 1}


def test_a_change_records_before_and_after_and_names_what_changed(db, blobs, runner):
    caller = member("recording")
    seen: list[Change] = []
    created = issues.create_issue(runner, caller, blobs, VALUES)

    def work(uow):
        row = uow.issues.get(created.row.uuid, for_update=True)
        before = {"title": row.title, "owner": row.owner, "tags": row.tags}
        row.owner = "someone"
        uow.issues.save(row, ["owner"], uow.now)
        change = Change(
            "issue", "updated", row.uuid, row.uuid, before, {"title": row.title, "owner": row.owner, "tags": row.tags}
        )
        seen.append(change)
        return row.version

    version = runner.run(caller, work, write=True)
    assert seen[0].changed_fields == ["owner"]
    assert version == created.row.version + 1


def test_repositories_never_reach_into_another_workspace(db, blobs, runner):
    alice, bob = member("alice"), member("bob")
    issue = issues.create_issue(runner, alice, blobs, VALUES).row.uuid
    comment = comments.add_comment(runner, alice, blobs, IssueRef(uuid=issue), "hello", []).row.uuid
    attachment = database.transaction(
        lambda: AttachmentRepository(alice.workspace_id).insert(
            alice.email, file_name="f", content_type="text/plain", size_bytes=0, sha256=None, expires_at=utcnow()
        ),
        write=True,
    ).uuid

    def as_bob():
        return (
            CommentRepository(bob.workspace_id).get(issue, comment),
            CommentRepository(bob.workspace_id).page(issue, 10, 0),
            FileRepository(bob.workspace_id).for_issue(issue),
            AttachmentRepository(bob.workspace_id).by_ids([attachment]),
            AttachmentRepository(bob.workspace_id).get(attachment),
        )

    assert database.transaction(as_bob, snapshot=True) == (None, ([], 0), [], {}, None)
    with pytest.raises(NotFound):
        comments.list_comments(runner, bob, IssueRef(uuid=issue), 10, 0)
    with pytest.raises(NotFound):
        issues.update_issue(runner, bob, blobs, IssueRef(uuid=issue), {"title": "stolen"})
    assert issues.get_issue(runner, alice, IssueRef(uuid=issue)).row.title == "t"


class CountingCache:
    """A ViewCache that remembers what it was asked to build."""

    def __init__(self) -> None:
        self.entries: dict[PageKey, str] = {}
        self.built: list[PageKey] = []
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
        self.built.append(PageKey(str(view.row.uuid), view.row.version, view.row.prefix))
        return f"{view.row.title}@{view.row.version}"


def test_a_listed_issue_is_built_again_only_after_it_changed(db, blobs, runner):
    caller = member("caching")
    first = issues.create_issue(runner, caller, blobs, {**VALUES, "title": "a"}).row.uuid
    issues.create_issue(runner, caller, blobs, {**VALUES, "title": "b"})
    cache = CountingCache()

    def listed() -> tuple[list[str], int]:
        page = issues.list_issues(runner, caller, cache, IssueFilter(), DEFAULT_ORDER, limit=10, offset=0)
        return page.items, page.total

    assert listed() == (["b@1", "a@1"], 2)
    assert listed() == (["b@1", "a@1"], 2)
    assert len(cache.built) == 2
    issues.update_issue(runner, caller, blobs, IssueRef(uuid=first), {"title": "a2"})
    assert listed() == (["b@1", "a2@2"], 2)
    assert cache.built[2:] == [PageKey(str(first), 2, "CAC")]
