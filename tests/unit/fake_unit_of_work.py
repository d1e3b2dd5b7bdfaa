"""A Storage that runs units of work on in-memory repositories, sufficient
for the use cases tested in tests/unit (cosmicpython's FakeUnitOfWork), and
a world of workspaces and callers around it.

The repositories (fake_issues.py, fake_repositories.py, fake_webhooks.py)
keep the service's own Peewee model instances in Tables (fake_tables.py),
never saved. A transaction that raises is rolled back whole (every table as
it was), and so is a savepoint. What the derived writes store (history,
events, answers to request_ids, counters, webhook deliveries) is kept as
data to assert on.
"""

from __future__ import annotations

import contextlib
import datetime
import uuid
from typing import Any, Callable, Iterator, TypeVar

from service.api.messages import JsonRenderer
from service.app.runner import Committed, Runner
from service.app.unit_of_work import Repositories
from service.domain.roles import Principal, Role

from .fake_issues import FakeIssues
from .fake_repositories import (
    FakeAttachments,
    FakeComments,
    FakeDerived,
    FakeFiles,
    FakeHistory,
    FakeReactions,
    FakeRequestIds,
    FakeWorkspace,
)
from .fake_tables import NOW, Tables, issue_of
from .fake_webhooks import FakeWebhooks

__all__ = ["NOW", "FakeStorage", "FakeWorld", "Tables"]

T = TypeVar("T")


class FakeStorage:
    """A Storage on in-memory Tables: a transaction that raises leaves them as they were."""

    def __init__(self) -> None:
        self.tables = Tables()
        self.transactions = 0
        self.request_ids_held_elsewhere: set[str] = set()

    def repositories(self, workspace_id: int) -> Repositories:
        t = self.tables
        request_ids = FakeRequestIds(t, workspace_id)
        request_ids.held_elsewhere = self.request_ids_held_elsewhere
        return Repositories(
            workspace=FakeWorkspace(t, workspace_id),
            issues=FakeIssues(t, workspace_id),  # type: ignore[arg-type]
            comments=FakeComments(t, workspace_id),
            reactions=FakeReactions(t, workspace_id),  # type: ignore[arg-type]
            attachments=FakeAttachments(t, workspace_id),
            files=FakeFiles(t, workspace_id),  # type: ignore[arg-type]
            history=FakeHistory(t, workspace_id),
            request_ids=request_ids,  # type: ignore[arg-type]
            webhooks=FakeWebhooks(t, workspace_id),  # type: ignore[arg-type]
            derived=FakeDerived(t, workspace_id),
        )

    def transaction(self, body: Callable[[], T], *, write: bool, snapshot: bool) -> T:
        self.transactions += 1
        if not write:  # no snapshot: the Runner refuses a read that records changes, and no read writes
            return body()
        with self.savepoint():
            return body()

    @contextlib.contextmanager
    def savepoint(self) -> Iterator[None]:
        before = self.tables.snapshot()
        try:
            yield
        except BaseException:
            self.tables.__dict__.update(before.__dict__)  # rolled back: every table as it was
            raise


class FakeWorld:
    """A Runner on FakeStorage, with workspaces, callers and what each commit announced."""

    def __init__(self, renderer: Any = None) -> None:
        self.storage = FakeStorage()
        self.committed: list[Committed[Any]] = []
        # A clock a second on at each reading, so that creation order is time order.
        self.now = NOW
        self.runner = Runner(
            self.storage, renderer or JsonRenderer(), clock=self._tick, after_commit=self.committed.append
        )

    def _tick(self) -> datetime.datetime:
        self.now += datetime.timedelta(seconds=1)
        return self.now

    @property
    def tables(self) -> Tables:
        return self.storage.tables

    def member(self, slug: str = "acme", role: Role = Role.MEMBER, email: str | None = None) -> Principal:
        workspace_id = next((w for w, p in self.tables.prefixes.items() if p == slug[:3].upper()), None)
        if workspace_id is None:
            workspace_id = len(self.tables.prefixes) + 1
            self.tables.prefixes[workspace_id] = slug[:3].upper()
        return Principal(workspace_id, slug, email or f"m@{slug}.co", role)

    def events(self, principal: Principal) -> list[tuple[str, Any]]:
        """The workspace's events: (type, issue id)."""
        return [(e.type, e.issue_id) for e in self.tables.events.get(principal.workspace_id, [])]

    def history(self, issue_id: uuid.UUID) -> list[tuple[str, str | None, Any, Any]]:
        return [(h.action, h.field, h.old_value, h.new_value) for h in self.tables.history if issue_of(h) == issue_id]
