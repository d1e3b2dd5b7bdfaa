"""Use cases of issues: create, read, list, update (one or in bulk), delete, count."""

from __future__ import annotations

import datetime
import uuid
from dataclasses import dataclass
from typing import Any, Generic, Hashable, Literal, Protocol, TypeVar

from common.errors import http_status_of

from ..blobs import BlobStore
from ..domain import workflow
from ..domain.errors import NotFound, ServiceError
from ..domain.etags import issue_etag
from ..domain.identifiers import IssueRef
from ..domain.issue_filters import IssueFilter
from ..domain.roles import Principal
from ..storage.issues import VALUE_FIELDS, PageKey
from ..storage.models import Issue
from .changes import Change, fields_of
from .comment_record import record_comment
from .page_tokens import Page
from .relations import resolve_parent
from .request_ids import RequestId
from .runner import Runner
from .unit_of_work import UnitOfWork
from .uploads import confirm_uploads, ready_attachments
from .views import IssueView

__all__ = [
    "BulkResult",
    "IssueView",
    "PageKey",
    "ViewCache",
    "bulk_update",
    "create_issue",
    "delete_issue",
    "find_issue",
    "get_issue",
    "issue_counts",
    "list_issues",
    "list_sub_issues",
    "update_issue",
    "views_of",
]

# What a Change of an issue records: what the counters, history and events
# are derived from.
ISSUE_FIELDS = (*VALUE_FIELDS, "created_at", "updated_at")

V = TypeVar("V")


class ViewCache(Protocol, Generic[V]):
    """Built issue representations, kept by the caller across requests.

    Keyed by (uuid, version, prefix): every change to what an issue shows
    moves its version, so an entry is never stale.
    """

    def get_many(self, keys: list[PageKey]) -> list[V | None]:
        """What is kept under each key (None where nothing is), in order."""

    def put(self, key: PageKey, value: V) -> None: ...

    def page_seen(self, page: Hashable) -> bool:
        """Whether a page of these parameters was asked for lately (and remember that it now was)."""

    def build(self, view: IssueView) -> V: ...


def find_issue(uow: UnitOfWork, ref: IssueRef | uuid.UUID, *, for_update: bool = False) -> Issue:
    ref = ref if isinstance(ref, IssueRef) else IssueRef(uuid=ref)
    row = uow.issues.find(ref, for_update=for_update)
    if row is None:
        # The same answer whether the issue never existed or is in another workspace.
        raise NotFound(f"issue {ref} not found")
    return row


def views_of(uow: UnitOfWork, rows: list[Issue]) -> list[IssueView]:
    """Issues with their attachments (one query, only if any are attached)."""
    wanted = [uuid.UUID(i) for row in rows for i in row.attachment_ids]
    found = {str(k): a for k, a in uow.attachments.by_ids(wanted).items()}
    return [IssueView(row, [found[i] for i in row.attachment_ids if i in found]) for row in rows]


def _copy(row: Issue) -> Issue:
    """The row as it is now, for the `before` side of a change."""
    copy = Issue(__no_default__=True, **row.__data__)
    copy.prefix = row.prefix
    return copy


def create_issue(
    runner: Runner,
    principal: Principal,
    blobs: BlobStore,
    values: dict[str, Any],
    *,
    comment: str | None = None,
    parent: IssueRef | None = None,
    request_id: RequestId | None = None,
) -> IssueView:
    """Create an issue from validated `values` (every create field, defaults
    applied), with its first comment and its parent if given; `request_id`:
    its request_id (a repeat raises `Replay`)."""
    values = dict(values)
    attachment_ids = values.pop("attachment_ids")
    confirm_uploads(runner, principal, blobs, attachment_ids)

    def work(uow: UnitOfWork) -> IssueView:
        attachments = ready_attachments(uow, "attachment_ids", attachment_ids)
        parent_id = resolve_parent(uow, parent, None) if parent is not None else None
        now = uow.now
        row = uow.issues.insert(
            {
                "uuid": uuid.uuid4(),
                "created_by": principal.email,
                "created_at": now,
                "updated_at": now,
                "resolved_at": workflow.resolved_at(values["status"], None, now),
                **values,
                "attachment_ids": [str(a.uuid) for a in attachments],
                "number": None,
                "parent_uuid": parent_id,
            },
            "",
        )
        uow.number_at_commit(row)  # number and prefix: the transaction's last statement
        if attachments:  # a new issue has none to replace
            uow.attachments.set_for_issue(row, attachments)
        view = IssueView(row, attachments)
        uow.record(Change("issue", "created", row.uuid, row.uuid, None, fields_of(row, ISSUE_FIELDS), (None, view)))
        if comment is not None:
            record_comment(uow, row.uuid, comment, [])
        return view

    # Committed with the workspace's other creates in flight: gapless numbers
    # without one WAL flush per create (write_batches.py).
    return runner.writes.run(principal, work, request_id=request_id)


def get_issue(runner: Runner, principal: Principal, ref: IssueRef) -> IssueView:
    return runner.run(principal, lambda uow: views_of(uow, [find_issue(uow, ref)])[0])


def list_issues(
    runner: Runner,
    principal: Principal,
    cache: ViewCache[V],
    f: IssueFilter,
    order_by: str,
    *,
    limit: int,
    offset: int,
    after: tuple[Any, ...] | None = None,
) -> Page[V]:
    """One page of issues as the cache builds them, with their positions and
    the total matching: from `offset`, or after the position `after`.

    Only issues the cache has not seen at their current version are loaded
    and built. The count and the keys are one statement (so one snapshot),
    and a page the cache holds whole needs nothing more: no transaction.
    The rows the cache misses are a second statement, which may see a later
    state; each row must be the version its key named, else the page is
    read again with both statements in one snapshot.
    """

    # A page not asked for lately is likely built from rows: they come with
    # its keys, in one statement. Another is likely cached: its keys alone.
    with_rows = not cache.page_seen((principal.workspace_id, f, order_by, limit, offset, after))

    def work(uow: UnitOfWork) -> Page[V] | None:
        parent_uuid = None
        if f.parent is not None:
            parent = uow.issues.find(f.parent)
            if parent is None:  # no such issue here: it has no sub-issues to list
                return Page([], [], 0, False)
            parent_uuid = parent.uuid
        total, listed = uow.issues.counted_page(
            f, parent_uuid, order_by, limit=limit + 1, offset=offset, after=after, with_rows=with_rows
        )
        more = len(listed) > limit
        listed = listed[:limit]
        keys = [PageKey(i.uuid, i.version, i.prefix) for i in listed]
        found = dict(zip(keys, cache.get_many(keys)))
        if listed and listed[0].row is not None:  # read with the keys: one snapshot
            wanted = [(key, i.row) for i, key in zip(listed, keys) if found[key] is None]
            loaded = dict(zip([key for key, _ in wanted], views_of(uow, [row for _, row in wanted])))
        else:
            missing = [uuid.UUID(key.uuid) for key, value in found.items() if value is None]
            views = views_of(uow, uow.issues.by_ids(missing)) if missing else []
            loaded = {PageKey(str(v.row.uuid), v.row.version, v.row.prefix): v for v in views}
            if len(loaded) != len(missing) or not all(found[key] is not None or key in loaded for key in keys):
                return None  # changed (or gone) since the keys were read
        for key, view in loaded.items():
            found[key] = built = cache.build(view)
            cache.put(key, built)
        return Page([found[key] for key in keys], [i.position for i in listed], total, more)  # type: ignore[misc]

    # The parent's lookup and the page are two statements that must agree.
    page = None if f.parent is not None else runner.run(principal, work)
    if page is None:
        page = runner.run(principal, work, snapshot=True)
    assert page is not None  # one snapshot: every row is its key's version
    return page


def update_issue(
    runner: Runner,
    principal: Principal,
    blobs: BlobStore,
    ref: IssueRef,
    values: dict[str, Any],
    *,
    etag: str | None = None,
) -> IssueView:
    """Apply validated `values` (only the fields to change) to an issue, if
    its etag is still `etag` (when given).

    `parent_id` in `values` is an IssueRef, or None to detach.
    """
    attachment_ids = values.get("attachment_ids")
    if attachment_ids:
        confirm_uploads(runner, principal, blobs, attachment_ids)
    # Committed with the workspace's other writes in flight: one WAL flush and
    # one set of counter, history and event statements for all (write_batches.py).
    return runner.writes.run(principal, lambda uow: _update(uow, ref, values)[0], etag=etag, issue=ref)


def _update(uow: UnitOfWork, ref: IssueRef, values: dict[str, Any]) -> tuple[IssueView, bool]:
    """The issue after applying `values`, and whether anything changed: an
    update to what the issue already is writes nothing (no version, no
    history), so its etag stays valid."""
    row = find_issue(uow, ref, for_update=True)
    uow.check_etag(issue_etag(row.uuid, row.version, row.prefix), f"issue {ref}")
    before = views_of(uow, [_copy(row)])[0]
    wanted = {k: v for k, v in values.items() if k not in ("attachment_ids", "parent_id")}
    if "status" in wanted:
        workflow.check_move(uow.workspace.workflow() or workflow.default_transitions(), row.status, wanted["status"])
        wanted["resolved_at"] = workflow.resolved_at(wanted["status"], row.resolved_at, uow.now)
    if "parent_id" in values:
        parent = values["parent_id"]
        wanted["parent_uuid"] = resolve_parent(uow, parent, row.uuid) if parent is not None else None
    attachments = before.attachments
    if values.get("attachment_ids") is not None:
        attachments = ready_attachments(uow, "attachment_ids", values["attachment_ids"])
        wanted["attachment_ids"] = [str(a.uuid) for a in attachments]
    changed = [name for name, value in wanted.items() if getattr(row, name) != value]
    if not changed:
        return before, False
    for name in changed:
        setattr(row, name, wanted[name])
    if "attachment_ids" in changed:
        uow.attachments.set_for_issue(row, attachments)
    uow.issues.save(row, changed, uow.now)
    after = IssueView(row, attachments)
    uow.record(
        Change(
            "issue",
            "updated",
            row.uuid,
            row.uuid,
            fields_of(before.row, ISSUE_FIELDS),
            fields_of(row, ISSUE_FIELDS),
            (before, after),
        )
    )
    return after, True


@dataclass(frozen=True)
class BulkResult:
    """What became of one issue of a bulk update."""

    outcome: Literal["updated", "unchanged", "failed"]
    error: ServiceError | None = None

    def error_shown(self) -> dict[str, Any] | None:
        """The error as the response and the event show it: HTTP code, status name, message."""
        if self.error is None:
            return None
        return {"code": http_status_of(self.error.code), "status": self.error.code, "message": self.error.message}


def bulk_update(
    runner: Runner,
    principal: Principal,
    refs: list[IssueRef],
    values: dict[str, Any],
    *,
    asked: list[str] | None = None,
) -> list[BulkResult]:
    """Apply the same validated `values` to each issue `refs` names, one
    result per ref in their order (`asked`: the ids as the caller wrote them).

    Each issue is updated on its own, as UpdateIssue would (its own unit of
    work and transaction: the workflow, history, counters and events as for
    one update), so one refused or failed does not stop the others, and
    another workspace's issue fails as NOT_FOUND exactly like one that does
    not exist. When any was updated, one `issues.bulk_updated` event follows,
    showing the ids, the fields set and each outcome.
    """
    results: list[BulkResult] = []
    for ref in refs:
        try:
            _, changed = runner.run(principal, lambda uow, ref=ref: _update(uow, ref, values), write=True)  # type: ignore[misc]
        except ServiceError as error:
            results.append(BulkResult("failed", error))
        else:
            results.append(BulkResult("updated" if changed else "unchanged"))
    updated = sum(r.outcome == "updated" for r in results)
    if updated:
        ids = asked if asked is not None else [str(ref) for ref in refs]
        _emit_bulk_updated(
            runner,
            principal,
            {
                "ids": ids,
                "fields": sorted(values),
                "updated": updated,
                "results": [{"id": i, "outcome": r.outcome, "error": r.error_shown()} for i, r in zip(ids, results)],
            },
        )
    return results


def _emit_bulk_updated(runner: Runner, principal: Principal, data: dict[str, Any]) -> None:
    """Write one `issues.bulk_updated` event showing `data` (JSON-ready: the
    ids and updates asked for, the results), in a unit of work of its own
    (each issue's own changes emit their events as they commit)."""
    bulk = Change("bulk", "updated", None, None, None, None, view=data)
    runner.run(principal, lambda uow: uow.record(bulk), write=True)


def delete_issue(runner: Runner, principal: Principal, ref: IssueRef, *, etag: str | None = None) -> None:
    """Delete an issue (if its etag is still `etag`, when given); its
    sub-issues are detached, each with a history entry."""

    def work(uow: UnitOfWork) -> None:
        row = find_issue(uow, ref, for_update=True)
        uow.check_etag(issue_etag(row.uuid, row.version, row.prefix), f"issue {ref}")
        for child in uow.issues.children(row.uuid, for_update=True):
            before = IssueView(_copy(child), [])
            child.parent_uuid = None
            uow.issues.save(child, ["parent_uuid"], uow.now)
            uow.record(
                Change(
                    "issue",
                    "updated",
                    child.uuid,
                    child.uuid,
                    fields_of(before.row, ISSUE_FIELDS),
                    fields_of(child, ISSUE_FIELDS),
                    (before, IssueView(child, [])),
                )
            )
        was = views_of(uow, [row])[0]  # its event shows the issue as it was
        uow.issues.delete(row.uuid)
        uow.record(Change("issue", "deleted", row.uuid, row.uuid, fields_of(row, ISSUE_FIELDS), None, (was, None)))

    runner.run(principal, work, write=True, etag=etag)


def list_sub_issues(
    runner: Runner, principal: Principal, ref: IssueRef, limit: int, offset: int, after: tuple[Any, ...] | None = None
) -> tuple[list[IssueView], int]:
    def work(uow: UnitOfWork) -> tuple[list[IssueView], int]:
        parent = find_issue(uow, ref)
        rows, total = uow.issues.sub_page(parent.uuid, limit, offset, after)
        return views_of(uow, rows), total

    return runner.run(principal, work, snapshot=True)


@dataclass(frozen=True)
class Counts:
    """Aggregates behind the metrics charts."""

    by_status_priority: dict[tuple[str, str], int]
    opened_per_day: dict[str, int]
    resolved_per_day: dict[str, int]


def issue_counts(runner: Runner, principal: Principal, since: datetime.date) -> Counts:
    """Read from the counters: a few dozen rows, however many issues there are."""

    def work(uow: UnitOfWork) -> Counts:
        opened, resolved = uow.issues.opened_and_resolved_per_day(since)
        return Counts(uow.issues.counts_by_status_priority(), opened, resolved)

    return runner.run(principal, work, snapshot=True)
