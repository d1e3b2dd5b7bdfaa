"""service/app/write_batches.py with updates: one batch, one commit, each
update its own outcome; on both backends, through the real update use case
and database."""

from __future__ import annotations

import logging
import time
import uuid
from types import SimpleNamespace
from typing import Any

import pytest

from service.app import issues
from service.app.runner import Runner
from service.app.write_batches import _commit, _in_lock_order, _Write
from service.domain.errors import DeadlineExceeded, EtagMismatch, NotFound
from service.domain.etags import issue_etag
from service.domain.identifiers import IssueRef
from service.domain.roles import Principal, Role
from service.storage import database
from service.storage.models import HistoryEntry, Issue, IssueTag

from .test_create_batches import Gather, statements
from .test_unit_of_work import VALUES, blobs, committed, db, member, runner  # noqa: F401 - fixtures


def gathered(
    monkeypatch: pytest.MonkeyPatch, runner: Runner, caller: Principal, blobs: Any, updates: list[tuple[Any, ...]]
) -> list[_Write]:
    """Each (issue, values, etag) update's work, kept to commit as one batch."""
    gather = Gather()
    monkeypatch.setattr(runner, "writes", gather)
    for row, values, etag in updates:
        issues.update_issue(runner, caller, blobs, IssueRef(uuid=row.uuid), values, etag=etag)
    monkeypatch.undo()
    return gather.batch


def etag_at(row: Any, version: int) -> str:
    return issue_etag(row.uuid, version, row.prefix)


def stored(row: Any) -> tuple[str, int, list[str]]:
    """An issue's owner and version as committed, and its history's new owners in order."""

    def read() -> tuple[str, int, list[str]]:
        issue = Issue.get(Issue.uuid == row.uuid)
        history = (
            HistoryEntry.select()
            .where((HistoryEntry.issue == row.uuid) & (HistoryEntry.field == "owner"))
            .order_by(HistoryEntry.created_at, HistoryEntry.position, HistoryEntry.uuid)
        )
        return issue.owner, issue.version, [h.new_value for h in history]

    return database.transaction(read)


def test_a_batch_of_updates_with_refusals_commits_once_and_each_keeps_its_outcome(
    db, blobs, monkeypatch, caplog, runner, committed
):
    caller = member("upd")
    x = issues.create_issue(runner, caller, blobs, {**VALUES, "title": "x"}).row
    y = issues.create_issue(runner, caller, blobs, {**VALUES, "title": "y"}).row
    missing = SimpleNamespace(uuid=uuid.uuid4())
    commits = len(committed)
    batch = gathered(
        monkeypatch,
        runner,
        caller,
        blobs,
        [
            (x, {"owner": "a"}, etag_at(x, 1)),
            (y, {"owner": "never"}, etag_at(y, 5)),  # stale: refused
            (x, {"owner": "b"}, etag_at(x, 2)),  # the etag its predecessor in the batch leaves
            (x, {"owner": "c"}, etag_at(x, 2)),  # the same etag again: stale after "b"
            (missing, {"owner": "nobody"}, None),  # not found
            (y, {"owner": "y"}, None),
        ],
    )
    with caplog.at_level(logging.DEBUG, logger="peewee"):
        _commit(runner, _in_lock_order(batch))
    xa, y_stale, xb, xc, gone, yy = batch
    assert [xa.result.row.owner, xb.result.row.owner, yy.result.row.owner] == ["a", "b", "y"]
    assert (xa.error, xb.error, yy.error) == (None, None, None)
    assert isinstance(y_stale.error, EtagMismatch) and isinstance(xc.error, EtagMismatch)
    assert isinstance(gone.error, NotFound)
    assert (y_stale.result, xc.result, gone.result) == (None, None, None)
    # What each was answered with is what committed, in arrival order per issue.
    assert stored(x) == ("b", 3, ["a", "b"])
    assert stored(y) == ("y", 2, ["y"])
    assert xb.result.row.version == 3
    assert len(committed) == commits + 1  # one commit for the whole batch
    assert [s for s in statements(caplog) if s.upper().startswith("SAVEPOINT")]  # the guarded second run


def test_updates_that_all_apply_take_no_savepoint_and_an_issue_changed_twice_keeps_its_last_tags(
    db, blobs, monkeypatch, caplog, runner, committed
):
    caller = member("tags")
    x = issues.create_issue(runner, caller, blobs, {**VALUES, "title": "x", "tags": ["one"]}).row
    y = issues.create_issue(runner, caller, blobs, {**VALUES, "title": "y"}).row
    commits = len(committed)
    batch = gathered(
        monkeypatch,
        runner,
        caller,
        blobs,
        [(x, {"tags": ["two"]}, None), (y, {"owner": "p"}, None), (x, {"tags": ["three", "four"]}, None)],
    )
    with caplog.at_level(logging.DEBUG, logger="peewee"):
        _commit(runner, _in_lock_order(batch))
    assert [item.error for item in batch] == [None, None, None]
    assert not [s for s in statements(caplog) if "SAVEPOINT" in s.upper()]
    assert len(committed) == commits + 1
    tags = database.transaction(
        lambda: sorted(t.tag for t in IssueTag.select().where(IssueTag.issue == x.uuid))  # type: ignore[arg-type]
    )
    assert tags == ["four", "three"]
    assert database.transaction(lambda: Issue.get(Issue.uuid == x.uuid).version) == 3


def test_creates_lead_and_updates_follow_in_issue_order_each_issue_in_arrival_order():
    caller = Principal(1, "w", "m@w.co", Role.MEMBER)

    def item(key: str | None, n: int) -> _Write:
        return _Write(caller, lambda uow: n, None, issue=None if key is None else IssueRef(prefix=key, number=1))

    batch = [item("b", 0), item(None, 1), item("a", 2), item("b", 3), item(None, 4), item("a", 5)]
    assert [i.work(None) for i in _in_lock_order(batch)] == [1, 4, 2, 5, 0, 3]


def test_a_batch_commits_within_its_least_patient_callers_deadline_and_the_rest_run_again(
    db, blobs, monkeypatch, runner, committed
):
    """A caller whose deadline passes is told DEADLINE_EXCEEDED by its own
    client, so its write must not commit with the others: the batch's
    transaction is bounded by the earliest deadline, and when that ends it,
    the late write fails alone and the others commit in a new transaction."""
    caller = member("late")
    x = issues.create_issue(runner, caller, blobs, {**VALUES, "title": "x"}).row
    y = issues.create_issue(runner, caller, blobs, {**VALUES, "title": "y"}).row
    batch = gathered(
        monkeypatch, runner, caller, blobs, [(x, {"owner": "late"}, None), (y, {"owner": "patient"}, None)]
    )
    late, patient = batch
    slow_work = late.work

    def slow(uow: Any) -> Any:
        time.sleep(0.6)  # past its own deadline, inside the batch's transaction
        return slow_work(uow)

    late.work, late.deadline = slow, time.monotonic() + 0.3
    patient.deadline = time.monotonic() + 30
    _commit(runner, _in_lock_order(batch))
    assert isinstance(late.error, DeadlineExceeded) and late.result is None
    assert patient.error is None and patient.result.row.owner == "patient"
    owner, version, history = stored(x)
    assert owner != "late" and (version, history) == (1, [])  # nothing of the late write committed
    assert stored(y) == ("patient", 2, ["patient"])
