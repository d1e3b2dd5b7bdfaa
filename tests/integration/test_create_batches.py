"""service/app/write_batches.py: a batch of creates runs without savepoints,
and only a batch with a refused create runs again with one per create; on
both backends, through the real create use case and database."""

from __future__ import annotations

import logging
from typing import Any

import pytest

from service.app import issues
from service.app.runner import Runner
from service.app.write_batches import _commit, _Write
from service.domain.errors import InvalidArgument
from service.domain.identifiers import IssueRef
from service.domain.roles import Principal
from service.storage import database
from service.storage.models import Issue

from .test_unit_of_work import VALUES, blobs, committed, db, member, runner  # noqa: F401 - fixtures


class Gather:
    """Stands in for the batches: keeps each create's work, to commit as one batch."""

    def __init__(self) -> None:
        self.batch: list[_Write] = []

    def run(self, principal: Principal, work: Any, *, request_id: Any = None, **given: Any) -> None:
        self.batch.append(_Write(principal, work, request_id, **given))


def statements(caplog: pytest.LogCaptureFixture) -> list[str]:
    """The SQL peewee ran while `caplog` listened."""
    return [str(r.msg[0]) if isinstance(r.msg, tuple) else str(r.msg) for r in caplog.records if r.name == "peewee"]


def gathered(
    monkeypatch: pytest.MonkeyPatch, runner: Runner, caller: Principal, blobs: Any, *parents: IssueRef | None
) -> list[_Write]:
    gather = Gather()
    monkeypatch.setattr(runner, "writes", gather)
    for i, parent in enumerate(parents):
        issues.create_issue(runner, caller, blobs, {**VALUES, "title": f"c{i}"}, parent=parent)
    monkeypatch.undo()
    return gather.batch


def numbers(caller: Principal) -> list[int]:
    return database.transaction(
        lambda: sorted(i.number for i in Issue.select(Issue.number).where(Issue.workspace == caller.workspace_id))
    )


def test_a_batch_whose_creates_all_succeed_takes_no_savepoint(db, blobs, monkeypatch, caplog, runner):
    caller = member("fast")
    batch = gathered(monkeypatch, runner, caller, blobs, None, None, None)
    with caplog.at_level(logging.DEBUG, logger="peewee"):
        _commit(runner, batch)
    assert [item.error for item in batch] == [None, None, None]
    assert sorted(item.result.row.number for item in batch) == [1, 2, 3] == numbers(caller)
    ran = statements(caplog)
    assert any(s.startswith("INSERT") for s in ran)
    assert not [s for s in ran if "SAVEPOINT" in s.upper()]


def test_a_refused_create_runs_the_batch_again_with_savepoints_and_fails_alone(db, blobs, monkeypatch, caplog, runner):
    caller = member("guarded")
    unknown = IssueRef(prefix="GUA", number=99)
    batch = gathered(monkeypatch, runner, caller, blobs, None, unknown, None)
    with caplog.at_level(logging.DEBUG, logger="peewee"):
        _commit(runner, batch)
    first, refused, last = batch
    assert isinstance(refused.error, InvalidArgument) and refused.result is None
    assert (first.error, last.error) == (None, None)
    # The refused create took no number: the others' are gapless.
    assert sorted([first.result.row.number, last.result.row.number]) == [1, 2] == numbers(caller)
    assert [s for s in statements(caplog) if s.upper().startswith("SAVEPOINT")]  # the second run's
