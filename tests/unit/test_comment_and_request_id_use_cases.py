"""Comments, reactions, files and safe retries (request_id) against the fake
unit of work (tests/unit/fake_unit_of_work.py), with no database."""

from __future__ import annotations

import datetime
from typing import Any, ClassVar

import pytest

from service.app import attachments, comments, history, issues
from service.app.request_ids import Replay, RequestId
from service.domain.errors import (
    FailedPrecondition,
    InvalidArgument,
    NotFound,
    PermissionDenied,
    RequestIdReused,
    Unavailable,
)
from service.domain.etags import comment_etag
from service.domain.identifiers import IssueRef
from service.domain.roles import Role

from .fake_unit_of_work import FakeWorld
from .test_issue_use_cases import VALUES


@pytest.fixture
def world() -> FakeWorld:
    return FakeWorld()


def new_issue(world: FakeWorld, principal: Any) -> IssueRef:
    return IssueRef(uuid=issues.create_issue(world.runner, principal, None, VALUES).row.uuid)  # type: ignore[arg-type]


def comment(world: FakeWorld, principal: Any, issue: IssueRef, content: str = "hello", **kw: Any) -> Any:
    return comments.add_comment(world.runner, principal, None, issue, content, [], **kw)  # type: ignore[arg-type]


def keyed(key: str, fingerprint: str = "the same request") -> RequestId:
    return RequestId(key, fingerprint, lambda result: f"answer {result.row.uuid}".encode())


def test_a_comment_is_stored_with_its_history_and_event(world):
    caller = world.member()
    issue = new_issue(world, caller)
    view = comment(world, caller, issue)
    assert world.tables.comments[view.row.uuid].content == "hello"
    assert world.history(issue.uuid)[-1] == ("comment_added", None, None, str(view.row.uuid))
    assert world.events(caller)[-1] == ("comment.created", issue.uuid)


def test_its_author_edits_a_comment_and_the_edit_is_an_event(world):
    caller = world.member()
    issue = new_issue(world, caller)
    view = comment(world, caller, issue)
    edited = comments.edit_comment(world.runner, caller, None, issue, view.row.uuid, "edited", None)  # type: ignore[arg-type]
    stored = world.tables.comments[view.row.uuid]
    assert (stored.content, stored.is_edited, stored.version) == ("edited", True, 2)
    assert edited.row.version == 2 and world.events(caller)[-1] == ("comment.updated", issue.uuid)


def test_another_member_may_not_edit_a_comment_but_an_admin_may(world):
    author = world.member(email="author@acme.co")
    issue = new_issue(world, author)
    view = comment(world, author, issue)
    other = world.member(email="other@acme.co")
    with pytest.raises(PermissionDenied):
        comments.edit_comment(world.runner, other, None, issue, view.row.uuid, "x", None)  # type: ignore[arg-type]
    admin = world.member(email="admin@acme.co", role=Role.ADMIN)
    comments.edit_comment(world.runner, admin, None, issue, view.row.uuid, "moderated", None)  # type: ignore[arg-type]
    assert world.tables.comments[view.row.uuid].content == "moderated"


def test_a_comment_edit_with_a_stale_etag_is_refused(world):
    caller = world.member()
    issue = new_issue(world, caller)
    view = comment(world, caller, issue)
    etag = comment_etag(view.row.uuid, view.row.version)
    comments.edit_comment(world.runner, caller, None, issue, view.row.uuid, "one", None, etag=etag)  # type: ignore[arg-type]
    with pytest.raises(Exception, match="etag"):
        comments.edit_comment(world.runner, caller, None, issue, view.row.uuid, "two", None, etag=etag)  # type: ignore[arg-type]
    assert world.tables.comments[view.row.uuid].content == "one"


def test_deleting_a_comment_twice_changes_nothing_the_second_time(world):
    caller = world.member()
    issue = new_issue(world, caller)
    view = comment(world, caller, issue)
    comments.delete_comment(world.runner, caller, issue, view.row.uuid)
    comments.delete_comment(world.runner, caller, issue, view.row.uuid)
    assert world.tables.comments[view.row.uuid].is_deleted
    assert [t for t, _ in world.events(caller)].count("comment.deleted") == 1
    assert world.committed[-1].event_workspaces == frozenset()


def test_a_deleted_comment_can_neither_be_edited_nor_reacted_to(world):
    caller = world.member()
    issue = new_issue(world, caller)
    view = comment(world, caller, issue)
    comments.delete_comment(world.runner, caller, issue, view.row.uuid)
    with pytest.raises(FailedPrecondition):
        comments.edit_comment(world.runner, caller, None, issue, view.row.uuid, "x", None)  # type: ignore[arg-type]
    with pytest.raises(FailedPrecondition):
        comments.add_reaction(world.runner, caller, issue, view.row.uuid, "👍")


def test_reacting_twice_with_one_emoji_adds_one_reaction_and_one_event(world):
    caller = world.member()
    issue = new_issue(world, caller)
    view = comment(world, caller, issue)
    first = comments.add_reaction(world.runner, caller, issue, view.row.uuid, "👍")
    again = comments.add_reaction(world.runner, caller, issue, view.row.uuid, "👍")
    assert first.reactions == again.reactions == [("👍", caller.email)]
    assert again.row.version == first.row.version == 2  # the comment shows its reactions: a new version once
    assert [t for t, _ in world.events(caller)].count("reaction.added") == 1


def test_removing_a_reaction_is_an_event_and_removing_none_is_not(world):
    caller = world.member()
    issue = new_issue(world, caller)
    view = comment(world, caller, issue)
    comments.add_reaction(world.runner, caller, issue, view.row.uuid, "🎉")
    comments.remove_reaction(world.runner, caller, issue, view.row.uuid, "🎉")
    comments.remove_reaction(world.runner, caller, issue, view.row.uuid, "🎉")
    assert world.tables.reactions == []
    assert [t for t, _ in world.events(caller)][-2:] == ["reaction.added", "reaction.removed"]


def test_comments_are_listed_oldest_first_with_deleted_ones_counted(world):
    caller = world.member()
    issue = new_issue(world, caller)
    made = [comment(world, caller, issue, f"c{i}") for i in range(3)]
    comments.delete_comment(world.runner, caller, issue, made[0].row.uuid)
    views, total = comments.list_comments(world.runner, caller, issue, 2, 0)
    assert ([v.row.content for v in views], total) == (["c0", "c1"], 3)
    assert views[0].row.is_deleted


def test_a_repeated_create_is_answered_with_the_stored_answer_and_creates_nothing(world):
    caller = world.member()
    first = issues.create_issue(world.runner, caller, None, VALUES, request_id=keyed("k-1"))  # type: ignore[arg-type]
    with pytest.raises(Replay) as replay:
        issues.create_issue(world.runner, caller, None, VALUES, request_id=keyed("k-1"))  # type: ignore[arg-type]
    assert replay.value.response == f"answer {first.row.uuid}".encode()
    assert len(world.tables.issues) == 1
    stored = world.tables.request_ids[(caller.workspace_id, "k-1")]
    assert stored.resource_id == first.row.uuid


def test_a_request_id_reused_for_another_request_is_refused(world):
    caller = world.member()
    issue = new_issue(world, caller)
    comment(world, caller, issue, request_id=keyed("k-2"))
    with pytest.raises(RequestIdReused):
        comment(world, caller, issue, "other", request_id=keyed("k-2", "another request"))
    assert len(world.tables.comments) == 1


def test_request_ids_are_each_workspaces_own(world):
    alice, bob = world.member("alice"), world.member("bob")
    issues.create_issue(world.runner, alice, None, VALUES, request_id=keyed("k-3"))  # type: ignore[arg-type]
    issues.create_issue(world.runner, bob, None, VALUES, request_id=keyed("k-3"))  # type: ignore[arg-type]
    assert len(world.tables.issues) == 2


def test_a_refused_create_keeps_no_claim_so_its_retry_runs(world):
    caller = world.member()
    with pytest.raises(InvalidArgument):
        issues.create_issue(
            world.runner,
            caller,
            None,
            VALUES,  # type: ignore[arg-type]
            parent=IssueRef(prefix="ACM", number=9),
            request_id=keyed("k-4"),
        )
    assert world.tables.request_ids == {}
    made = issues.create_issue(world.runner, caller, None, VALUES, request_id=keyed("k-4"))  # type: ignore[arg-type]
    assert world.tables.request_ids[(caller.workspace_id, "k-4")].response == f"answer {made.row.uuid}".encode()


def test_a_request_id_older_than_a_day_is_new_again(world):
    caller = world.member()
    issues.create_issue(world.runner, caller, None, VALUES, request_id=keyed("k-5"))  # type: ignore[arg-type]
    world.now += datetime.timedelta(hours=24)
    issues.create_issue(world.runner, caller, None, VALUES, request_id=keyed("k-5"))  # type: ignore[arg-type]
    assert len(world.tables.issues) == 2


def test_a_claim_another_transaction_holds_rolls_the_work_back(world):
    """The other transaction never stored its answer (it rolled back, or the
    answer expired in between): the caller is told to retry, and this
    create left nothing behind."""
    caller = world.member()
    issue = new_issue(world, caller)
    world.storage.request_ids_held_elsewhere.add("k-6")
    with pytest.raises(Unavailable):
        comment(world, caller, issue, request_id=keyed("k-6"))
    assert world.tables.comments == {} and world.tables.request_ids == {}


def test_a_repeated_pending_upload_gets_a_fresh_lease_and_an_uploaded_one_the_stored_answer(world):
    caller = world.member()

    class Blobs:
        def upload_target(self, key: str, **kw: Any) -> tuple[str, dict[str, str]]:
            return f"https://blobs/{key}?until={kw['expires_at'].isoformat()}", {}

    def create() -> attachments.UploadTarget:
        return attachments.create_attachment(
            world.runner,
            caller,
            Blobs(),
            file_name="a.txt",
            content_type="text/plain",
            size_bytes=2,  # type: ignore[arg-type]
            sha256=None,
            url_seconds=3600,
            request_id=RequestId("k-7", "f", lambda target: str(target.attachment.uuid).encode()),
        )

    first = create()
    world.now += datetime.timedelta(minutes=10)
    again = create()
    assert again.attachment.uuid == first.attachment.uuid and again.url != first.url
    assert world.tables.attachments[first.attachment.uuid].upload_expires_at == again.expires_at
    world.tables.attachments[first.attachment.uuid].status = "ready"
    with pytest.raises(Replay) as replay:
        create()
    assert replay.value.response == str(first.attachment.uuid).encode()


def test_a_ready_attachment_goes_on_an_issue_and_a_pending_one_is_refused(world):
    caller = world.member()
    issue = new_issue(world, caller)
    attachment = world.storage.repositories(caller.workspace_id).attachments.insert(
        caller.email, file_name="f.txt", content_type="text/plain", size_bytes=1, sha256=None, expires_at=world.now
    )

    class NothingUploaded:  # the store has no bytes for it: it stays pending
        def uploaded_size(self, key: str) -> None:
            return None

    with pytest.raises(InvalidArgument, match="not been uploaded"):
        issues.update_issue(
            world.runner,
            caller,
            NothingUploaded(),
            issue,  # type: ignore[arg-type]
            {"attachment_ids": [attachment.uuid]},
        )
    world.tables.attachments[attachment.uuid].status = "ready"
    view = issues.update_issue(world.runner, caller, None, issue, {"attachment_ids": [attachment.uuid]})  # type: ignore[arg-type]
    assert [a.uuid for a in view.attachments] == [attachment.uuid]
    assert world.history(issue.uuid)[-1][:2] == ("attachments_changed", "attachments")


def test_a_file_on_an_issue_is_recorded_with_its_history_and_event(world):
    caller = world.member()
    issue = new_issue(world, caller)
    attachment = world.storage.repositories(caller.workspace_id).attachments.insert(
        caller.email, file_name="log.txt", content_type="text/plain", size_bytes=1, sha256=None, expires_at=world.now
    )
    world.tables.attachments[attachment.uuid].status = "ready"
    row = attachments.add_issue_file(world.runner, caller, None, issue, attachment.uuid, "log", None)  # type: ignore[arg-type]
    assert [f.file_type for f in attachments.list_issue_files(world.runner, caller, issue, "log")] == ["log"]
    assert world.history(issue.uuid)[-1] == ("file_added", None, None, str(row.uuid))
    assert world.events(caller)[-1] == ("file.added", issue.uuid)


def test_a_pending_upload_whose_bytes_arrived_intact_is_confirmed_and_used(world):
    caller = world.member()
    issue = new_issue(world, caller)
    repositories = world.storage.repositories(caller.workspace_id)
    intact, cut_off = (
        repositories.attachments.insert(
            caller.email, file_name=name, content_type="text/plain", size_bytes=2, sha256=None, expires_at=world.now
        )
        for name in ("intact.txt", "cut-off.txt")
    )

    class Uploaded:
        removed: ClassVar[list[str]] = []

        def uploaded_size(self, key: str) -> int:
            return 2 if key == intact.object_key else 1

        def sha256(self, key: str) -> str:
            return "ab" * 32

        def delete(self, key: str) -> None:
            self.removed.append(key)

    blobs = Uploaded()
    with pytest.raises(InvalidArgument, match=r"attachment_ids\[1\]"):
        comments.add_comment(world.runner, caller, blobs, issue, "c", [intact.uuid, cut_off.uuid])  # type: ignore[arg-type]
    assert blobs.removed == [cut_off.object_key]  # its bytes do not match: removed, to upload again
    assert (world.tables.attachments[intact.uuid].status, world.tables.attachments[intact.uuid].sha256) == (
        "ready",
        "ab" * 32,
    )
    view = comments.add_comment(world.runner, caller, blobs, issue, "c", [intact.uuid])  # type: ignore[arg-type]
    assert [a.uuid for a in view.attachments] == [intact.uuid]


def test_repeats_within_one_batch_are_answered_as_the_first_and_announced_once(world):
    """Creates batched into one transaction (the Runner's one commit path):
    a repeat after the first in the batch gets its very answer, another
    request with the key is refused alone, and the commit is announced once."""
    from service.app.comment_record import record_comment
    from service.app.write_batches import _commit, _Write

    caller = world.member()
    issue = new_issue(world, caller)

    def work(uow: Any) -> comments.CommentView:
        return comments.CommentView(record_comment(uow, issue.uuid, "batched", []), [])

    batch = [
        _Write(caller, work, keyed("k-8")),
        _Write(caller, work, keyed("k-8")),
        _Write(caller, work, keyed("k-8", "another request")),
        _Write(caller, work, None),
    ]
    announced = len(world.committed)
    _commit(world.runner, batch)
    first, repeat, other, unkeyed = batch
    assert first.error is None and repeat.result is first.result and unkeyed.error is None
    assert isinstance(other.error, RequestIdReused)
    assert [c.content for c in world.tables.comments.values()] == ["batched", "batched"]
    assert len(world.committed) == announced + 1 and world.committed[-1].event_workspaces == {caller.workspace_id}
    assert world.tables.request_ids[(caller.workspace_id, "k-8")].resource_id == first.result.row.uuid


def test_reading_a_pending_attachment_whose_bytes_arrived_confirms_it_and_signs_a_download(world):
    caller = world.member()
    pending = world.storage.repositories(caller.workspace_id).attachments.insert(
        caller.email, file_name="a.txt", content_type="text/plain", size_bytes=2, sha256=None, expires_at=world.now
    )

    class Arrived:
        def uploaded_size(self, key: str) -> int:
            return 2

        def sha256(self, key: str) -> str:
            return "cd" * 32

        def download_url(self, key: str, **kw: Any) -> str:
            return f"https://blobs/{key}/{kw['file_name']}"

    read = attachments.get_attachment(world.runner, caller, Arrived(), pending.uuid, 60)  # type: ignore[arg-type]
    assert (read.attachment.status, read.url) == ("ready", f"https://blobs/{pending.object_key}/a.txt")
    assert world.tables.attachments[pending.uuid].sha256 == "cd" * 32
    with pytest.raises(NotFound):
        attachments.get_attachment(world.runner, world.member("other"), Arrived(), pending.uuid, 60)  # type: ignore[arg-type]


def test_history_is_listed_oldest_first_from_an_offset_or_after_a_position(world):
    caller = world.member()
    issue = new_issue(world, caller)
    for title in ("one", "two", "three"):
        issues.update_issue(world.runner, caller, None, issue, {"title": title})  # type: ignore[arg-type]
    rows, total = history.list_history(world.runner, caller, issue, 2, 1)
    assert [r.new_value for r in rows] == ["one", "two"] and total == 4
    last = rows[-1]
    rows, _ = history.list_history(world.runner, caller, issue, 5, 0, (last.created_at, last.position, last.uuid))
    assert [r.new_value for r in rows] == ["three"]
    with pytest.raises(NotFound):
        history.list_history(world.runner, world.member("other"), issue, 5, 0)
