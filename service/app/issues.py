"""Use cases of issues: create, read, list, update, delete, count."""

from __future__ import annotations

import datetime
import uuid
from dataclasses import dataclass
from typing import Any, Generic, Protocol, TypeVar

from ..blobs import BlobStore
from ..domain import workflow
from ..domain.errors import NotFound
from ..domain.roles import Principal
from ..storage import counters
from ..storage.issues import VALUE_FIELDS, PageKey
from ..storage.models import Attachment, Issue
from .unit_of_work import Change, UnitOfWork, fields_of, run
from .uploads import confirm_uploads, ready_attachments

# What a Change of an issue records: what the counters (and later history and
# events) are derived from.
ISSUE_FIELDS = (*VALUE_FIELDS, "created_at", "updated_at")

V = TypeVar("V")


@dataclass(frozen=True)
class IssueView:
    """An issue as shown: its row and its attachments, in order."""

    row: Issue
    attachments: list[Attachment]


class ViewCache(Protocol, Generic[V]):
    """Built issue representations, kept by the caller across requests.

    Keyed by (uuid, version): every change to what an issue shows moves its
    version, so an entry is never stale.
    """

    def get(self, key: PageKey) -> V | None: ...

    def put(self, key: PageKey, value: V) -> None: ...

    def build(self, view: IssueView) -> V: ...


def find_issue(uow: UnitOfWork, issue_id: uuid.UUID, *, for_update: bool = False) -> Issue:
    row = uow.issues.get(issue_id, for_update=for_update)
    if row is None:
        # The same answer whether the issue never existed or is in another workspace.
        raise NotFound(f"issue {issue_id} not found")
    return row


def _views(uow: UnitOfWork, rows: list[Issue]) -> list[IssueView]:
    """Issues with their attachments (one query, only if any are attached)."""
    wanted = [uuid.UUID(i) for row in rows for i in row.attachment_ids]
    found = {str(k): a for k, a in uow.attachments.by_ids(wanted).items()}
    return [IssueView(row, [found[i] for i in row.attachment_ids if i in found]) for row in rows]


def create_issue(principal: Principal, blobs: BlobStore, values: dict[str, Any]) -> IssueView:
    """Create an issue from validated `values` (every create field, defaults applied)."""
    values = dict(values)
    attachment_ids = values.pop("attachment_ids")
    confirm_uploads(principal, blobs, attachment_ids)

    def work(uow: UnitOfWork) -> IssueView:
        attachments = ready_attachments(uow, "attachment_ids", attachment_ids)
        now = uow.now
        row = uow.issues.insert({
            "uuid": uuid.uuid4(),
            "created_by": principal.email,
            "created_at": now,
            "updated_at": now,
            "resolved_at": workflow.resolved_at(values["status"], None, now),
            **values,
            "attachment_ids": [str(a.uuid) for a in attachments],
        })
        if attachments:  # a new issue has none to replace
            uow.attachments.set_for_issue(row, attachments)
        uow.record(Change("issue", "created", row.uuid, row.uuid, None, fields_of(row, ISSUE_FIELDS)))
        return IssueView(row, attachments)

    return run(principal, work, write=True)


def get_issue(principal: Principal, issue_id: uuid.UUID) -> IssueView:
    return run(principal, lambda uow: _views(uow, [find_issue(uow, issue_id)])[0])


def list_issues(
    principal: Principal, cache: ViewCache[V], *, statuses: list[str], priorities: list[str], limit: int, offset: int
) -> tuple[list[V], int]:
    """One page of issues as the cache builds them, and the total matching.

    Only issues the cache has not seen at their current version are loaded
    and built; the keys and the rows come from one snapshot, so they agree.
    """

    def work(uow: UnitOfWork) -> tuple[list[V], int]:
        keys, total = uow.issues.page(statuses, priorities, limit, offset)
        found = {key: cache.get(key) for key in keys}
        missing = [key.uuid for key, value in found.items() if value is None]
        if missing:
            for view in _views(uow, uow.issues.by_ids(missing)):
                key = PageKey(view.row.uuid, view.row.version)
                found[key] = built = cache.build(view)
                cache.put(key, built)
        return [found[key] for key in keys], total  # type: ignore[misc]

    return run(principal, work, snapshot=True)


def update_issue(principal: Principal, blobs: BlobStore, issue_id: uuid.UUID, values: dict[str, Any]) -> IssueView:
    """Apply validated `values` (only the fields to change) to an issue."""
    attachment_ids = values.get("attachment_ids")
    if attachment_ids:
        confirm_uploads(principal, blobs, attachment_ids)

    def work(uow: UnitOfWork) -> IssueView:
        row = find_issue(uow, issue_id, for_update=True)
        before = fields_of(row, ISSUE_FIELDS)
        names = [name for name in values if name != "attachment_ids"]
        for name in names:
            setattr(row, name, values[name])
        if attachment_ids is not None:
            uow.attachments.set_for_issue(row, ready_attachments(uow, "attachment_ids", attachment_ids))
            names.append("attachment_ids")
        if "status" in values:
            row.resolved_at = workflow.resolved_at(row.status, row.resolved_at, uow.now)
            names.append("resolved_at")
        uow.issues.save(row, names, uow.now)
        uow.record(Change("issue", "updated", row.uuid, row.uuid, before, fields_of(row, ISSUE_FIELDS)))
        return _views(uow, [row])[0]

    return run(principal, work, write=True)


def delete_issue(principal: Principal, issue_id: uuid.UUID) -> None:
    def work(uow: UnitOfWork) -> None:
        row = find_issue(uow, issue_id, for_update=True)
        uow.issues.delete(issue_id)
        uow.record(Change("issue", "deleted", row.uuid, row.uuid, fields_of(row, ISSUE_FIELDS), None))

    run(principal, work, write=True)


@dataclass(frozen=True)
class Counts:
    """Aggregates behind the metrics charts."""

    by_status_priority: dict[tuple[str, str], int]
    opened_per_day: dict[str, int]
    resolved_per_day: dict[str, int]


def issue_counts(principal: Principal, since: datetime.date) -> Counts:
    """Read from the counters: a few dozen rows, however many issues there are."""

    def work(uow: UnitOfWork) -> Counts:
        workspace_id = principal.workspace_id
        opened, resolved = counters.per_day(workspace_id, since)
        return Counts(counters.by_status_priority(workspace_id), opened, resolved)

    return run(principal, work, snapshot=True)
