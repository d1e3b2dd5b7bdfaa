"""Reading an issue's history (the entries are written by the unit of work)."""

from __future__ import annotations

from typing import Any

from ..domain.identifiers import IssueRef
from ..domain.roles import Principal
from ..storage.models import HistoryEntry
from .issues import find_issue
from .runner import Runner
from .unit_of_work import UnitOfWork


def list_history(
    runner: Runner, principal: Principal, ref: IssueRef, limit: int, offset: int, after: tuple[Any, ...] | None = None
) -> tuple[list[HistoryEntry], int]:
    def work(uow: UnitOfWork) -> tuple[list[HistoryEntry], int]:
        return uow.history.page(find_issue(uow, ref).uuid, limit, offset, after)

    return runner.run(principal, work, snapshot=True)
