"""Creates with a request_id, in the unit of work, on both backends, with real threads (SPEC 8.10)."""

from __future__ import annotations

import datetime
import threading
from concurrent.futures import ThreadPoolExecutor
from typing import Any, Callable

import pytest

from service.app import attachments, comments, gc, issues
from service.app.comment_record import record_comment
from service.app.request_ids import Replay, RequestId
from service.app.write_batches import _commit, _Write
from service.domain.errors import InvalidArgument, RequestIdReused
from service.domain.identifiers import IssueRef
from service.domain.times import utcnow
from service.storage import database
from service.storage.models import Attachment, Comment, Issue, RequestIdRow
from service.storage.request_ids import ClaimTaken, RequestIdRepository

from .test_unit_of_work import VALUES, blobs, committed, db, member, runner  # noqa: F401 - fixtures


def encode(result: Any) -> bytes:
    """What a stored response says here: what was created (the API stores the message)."""
    row = result.attachment if isinstance(result, attachments.UploadTarget) else result.row
    return f"{type(result).__name__} {row.uuid}".encode()


def keyed(key: str, fingerprint: str = "the same request") -> RequestId:
    return RequestId(key, fingerprint, encode)


def answer(create: Callable[[], Any]) -> bytes:
    """What the caller is answered with: the result as `keyed` encodes it, or the stored answer."""
    try:
        result = create()
    except Replay as repeat:
        return repeat.response
    return encode(result)


def count(model: Any, *where: Any) -> int:
    query = model.select()
    return database.transaction(lambda: (query.where(*where) if where else query).count())


def race(n: int, call: Callable[[], bytes]) -> list[bytes]:
    """`call` from `n` threads let go at once."""
    start = threading.Barrier(n)

    def go() -> bytes:
        start.wait()
        return call()

    with ThreadPoolExecutor(n) as pool:
        return [f.result() for f in [pool.submit(go) for _ in range(n)]]


def interleaved(monkeypatch: pytest.MonkeyPatch, parties: int) -> None:
    """On PostgreSQL, make each racer look its request_id up before any of them stores it,
    so that the unique key, not the lookup, decides (SQLite serialises writers: nothing to force)."""
    if not database.is_postgres():
        return
    looked = threading.Barrier(parties, timeout=10)
    lookup = RequestIdRepository.get
    waited: set[int] = set()

    def get(self: RequestIdRepository, request_id: str) -> Any:
        found = lookup(self, request_id)
        if threading.get_ident() not in waited:  # only each racer's first lookup
            waited.add(threading.get_ident())
            looked.wait()
        return found

    monkeypatch.setattr(RequestIdRepository, "get", get)


def test_racing_creates_with_one_request_id_make_one_issue_and_share_its_answer(db, blobs, runner):
    caller = member("racing")
    answers = race(
        6, lambda: answer(lambda: issues.create_issue(runner, caller, blobs, VALUES, request_id=keyed("k-1")))
    )
    assert len(set(answers)) == 1 and answers[0].startswith(b"IssueView ")
    assert count(Issue, Issue.workspace == caller.workspace_id) == 1
    # Later, and from a single caller, the same.
    assert answer(lambda: issues.create_issue(runner, caller, blobs, VALUES, request_id=keyed("k-1"))) == answers[0]
    assert count(Issue, Issue.workspace == caller.workspace_id) == 1


def test_racing_comments_in_separate_transactions_make_one(db, blobs, monkeypatch, runner):
    caller = member("commenting")
    issue = IssueRef(uuid=issues.create_issue(runner, caller, blobs, VALUES).row.uuid)
    interleaved(monkeypatch, 2)
    taken: list[str] = []
    claim = RequestIdRepository.claim

    def counting_claim(self: RequestIdRepository, request_id: str, *args: Any) -> None:
        try:
            claim(self, request_id, *args)
        except ClaimTaken:
            taken.append(request_id)
            raise

    monkeypatch.setattr(RequestIdRepository, "claim", counting_claim)

    answers = race(
        2, lambda: answer(lambda: comments.add_comment(runner, caller, blobs, issue, "c", [], request_id=keyed("k-2")))
    )

    assert len(set(answers)) == 1 and answers[0].startswith(b"CommentView ")
    assert count(Comment, Comment.issue == issue.uuid) == 1
    assert count(RequestIdRow, RequestIdRow.workspace_id == caller.workspace_id) == 1
    # On PostgreSQL both looked first, so the key decided: the loser's claim waited, failed, and rolled back.
    assert taken == (["k-2"] if database.is_postgres() else [])


@pytest.mark.parametrize("backend", ["postgres"], scope="session")  # SQLite serialises writers: no such race
def test_a_create_in_a_batch_that_loses_the_race_rolls_back_alone(backend, db, blobs, monkeypatch, runner):
    """A batched create whose request_id another transaction claimed first:
    its savepoint rolls back (no issue), and it answers with what was stored."""
    caller = member("batching")
    issue = IssueRef(uuid=issues.create_issue(runner, caller, blobs, VALUES).row.uuid)
    claimed_by_other = threading.Event()
    claim = RequestIdRepository.claim

    def claim_second(self: RequestIdRepository, request_id: str, *args: Any) -> None:
        if threading.current_thread().name.startswith("batch"):
            assert claimed_by_other.wait(10)  # the comment's claim is in, uncommitted: this one waits on it
        claim(self, request_id, *args)
        if not threading.current_thread().name.startswith("batch"):
            claimed_by_other.set()

    monkeypatch.setattr(RequestIdRepository, "claim", claim_second)
    interleaved(monkeypatch, 2)
    shared = keyed("k-3")
    out: dict[str, bytes] = {}
    threads = [
        threading.Thread(
            name="batch",
            target=lambda: out.update(
                issue=answer(
                    lambda: issues.create_issue(runner, caller, blobs, {**VALUES, "title": "lost"}, request_id=shared)
                )
            ),
        ),
        threading.Thread(
            name="other",
            target=lambda: out.update(
                comment=answer(lambda: comments.add_comment(runner, caller, blobs, issue, "won", [], request_id=shared))
            ),
        ),
    ]
    for t in threads:
        t.start()
    for t in threads:
        t.join(30)

    assert out["issue"] == out["comment"] and out["comment"].startswith(b"CommentView ")
    assert count(Issue, Issue.title == "lost") == 0


def test_repeats_within_one_batch_are_answered_as_the_first_of_them(db, blobs, runner):
    """Creates batched into one transaction: the first claims the key, a
    repeat after it in the batch gets its very answer, another request with
    the key is refused; one row is created and one response stored."""
    caller = member("one-batch")
    issue = issues.create_issue(runner, caller, blobs, VALUES).row.uuid

    def work(uow: Any) -> comments.CommentView:
        return comments.CommentView(record_comment(uow, issue, "batched", []), [])

    batch = [
        _Write(caller, work, keyed("k-8")),
        _Write(caller, work, keyed("k-8")),
        _Write(caller, work, keyed("k-8", "another request")),
        _Write(caller, work, None),
    ]
    _commit(runner, batch)

    first, repeat, other, unkeyed = batch
    assert first.error is None and repeat.result is first.result and repeat.error is None
    assert isinstance(other.error, RequestIdReused) and unkeyed.error is None
    assert count(Comment, Comment.content == "batched") == 2  # the first's and the unkeyed one's
    stored = database.transaction(lambda: RequestIdRepository(caller.workspace_id).get("k-8"))
    assert stored.response == encode(first.result) and stored.resource_id == first.result.row.uuid


def test_the_same_request_id_with_another_request_is_refused_and_changes_nothing(db, blobs, runner):
    caller = member("reusing")
    first = answer(lambda: issues.create_issue(runner, caller, blobs, VALUES, request_id=keyed("k-4")))
    with pytest.raises(RequestIdReused) as refused:
        issues.create_issue(
            runner, caller, blobs, {**VALUES, "title": "other"}, request_id=keyed("k-4", "another request")
        )
    assert refused.value.code == "ALREADY_EXISTS" and refused.value.metadata == {"field": "request_id"}
    assert count(Issue, Issue.workspace == caller.workspace_id) == 1
    # Keys are the workspace's own: another workspace's k-4 is a new request.
    other = member("reusing-elsewhere")
    assert answer(lambda: issues.create_issue(runner, other, blobs, VALUES, request_id=keyed("k-4"))) != first


def test_a_refused_first_request_stores_nothing_and_its_retry_runs_again(db, blobs, runner):
    caller = member("refusing")
    with pytest.raises(InvalidArgument):
        issues.create_issue(
            runner, caller, blobs, VALUES, parent=IssueRef(prefix="REF", number=99), request_id=keyed("k-5")
        )
    assert count(RequestIdRow, RequestIdRow.workspace_id == caller.workspace_id) == 0
    made = issues.create_issue(runner, caller, blobs, VALUES, request_id=keyed("k-5"))  # the retry runs, and is stored
    repeated = answer(lambda: issues.create_issue(runner, caller, blobs, VALUES, request_id=keyed("k-5")))
    assert repeated == f"IssueView {made.row.uuid}".encode()


def test_a_repeated_attachment_still_pending_gets_a_fresh_upload_url(db, blobs, monkeypatch, runner):
    caller = member("uploading")

    def create() -> attachments.UploadTarget:
        return attachments.create_attachment(
            runner,
            caller,
            blobs,
            file_name="a.txt",
            content_type="text/plain",
            size_bytes=2,
            sha256=None,
            url_seconds=3600,
            request_id=keyed("k-6"),
        )

    first = create()
    later = first.expires_at - datetime.timedelta(minutes=50)  # the retry comes ten minutes on
    monkeypatch.setattr(runner, "clock", lambda: later)
    again = create()  # pending still: a new URL for the same attachment, and a new lease
    assert again.attachment.uuid == first.attachment.uuid and again.url != first.url
    assert again.expires_at == later + datetime.timedelta(hours=1)
    assert (
        database.transaction(lambda: Attachment.get_by_id(first.attachment.uuid)).upload_expires_at == again.expires_at
    )
    assert (
        database.transaction(lambda: RequestIdRepository(caller.workspace_id).get("k-6")).resource_id
        == first.attachment.uuid
    )

    database.transaction(lambda: attachments.attachments_store.mark_ready(first.attachment, "0" * 64), write=True)
    with pytest.raises(Replay) as repeat:  # uploaded: the first response stands
        create()
    assert repeat.value.response == f"UploadTarget {first.attachment.uuid}".encode()


def test_records_expire_after_a_day_and_gc_removes_them(db, blobs, runner):
    caller = member("expiring")
    made = issues.create_issue(runner, caller, blobs, VALUES, request_id=keyed("k-7")).row.uuid
    day_ago = utcnow() - datetime.timedelta(hours=24, seconds=1)
    database.transaction(lambda: RequestIdRow.update(created_at=day_ago).execute(), write=True)

    # Expired: the key is new again (a second issue), and stored afresh.
    again = issues.create_issue(runner, caller, blobs, VALUES, request_id=keyed("k-7")).row.uuid
    assert again != made and count(Issue, Issue.workspace == caller.workspace_id) == 2

    database.transaction(lambda: RequestIdRow.update(created_at=day_ago).execute(), write=True)
    assert gc.collect(blobs, 86400).expired_request_ids == 1
    assert count(RequestIdRow) == 0
