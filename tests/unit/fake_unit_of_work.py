"""In-memory repositories, sufficient for the use cases tested in tests/unit,
and a Storage that runs units of work on them (cosmicpython's FakeUnitOfWork).

Rows are the service's own Peewee model instances, never saved: a
repository hands out copies and keeps what `save` is given, so a command
that changes a row without saving it changes nothing, as on a database. A
transaction that raises is rolled back whole (every table as it was), and
so is a savepoint. What the derived writes store (history, events, answers
to request_ids, counters) is kept as data to assert on.
"""

from __future__ import annotations

import contextlib
import copy
import datetime
import uuid
from collections import Counter
from typing import Any, Callable, Iterable, Iterator, TypeVar

from service.api.messages import JsonRenderer
from service.app.runner import Committed, Runner
from service.app.unit_of_work import Repositories
from service.domain.identifiers import IssueRef
from service.domain.roles import Principal, Role
from service.storage.counters import Deltas
from service.storage.history import NewEntry
from service.storage.models import Attachment, Comment, HistoryEntry, Issue, IssueFile
from service.storage.outbox import NewEvent
from service.storage.request_ids import ClaimTaken, StoredAnswer

T = TypeVar("T")
NOW = datetime.datetime(2026, 12, 7, 12, 0, 0)


def _issue_of(row: Any) -> uuid.UUID:
    """The issue a comment, history entry or file belongs to (its foreign key's value)."""
    return row.__data__["issue"]


def _clone(row: Any) -> Any:
    """A detached copy of a model instance (and the prefix an issue carries)."""
    twin = type(row)(__no_default__=True, **copy.deepcopy(row.__data__))
    if hasattr(row, "prefix"):
        twin.prefix = row.prefix
    return twin


class Tables:
    """Everything stored, per workspace where the service keys it so."""

    def __init__(self) -> None:
        self.prefixes: dict[int, str] = {}
        self.issue_seq: Counter[int] = Counter()
        self.workflows: dict[int, dict[str, Any]] = {}
        self.issues: dict[uuid.UUID, Issue] = {}
        self.issue_workspace: dict[uuid.UUID, int] = {}
        self.lookups: dict[uuid.UUID, tuple[dict[str, str], list[str]]] = {}
        self.comments: dict[uuid.UUID, Comment] = {}
        self.reactions: list[tuple[uuid.UUID, str, str]] = []
        self.attachments: dict[uuid.UUID, Attachment] = {}
        self.issue_attachments: dict[uuid.UUID, list[uuid.UUID]] = {}
        self.comment_attachments: dict[uuid.UUID, list[uuid.UUID]] = {}
        self.files: list[IssueFile] = []
        self.history: list[HistoryEntry] = []
        self.request_ids: dict[tuple[int, str], StoredAnswer] = {}
        self.events: dict[int, list[NewEvent]] = {}
        self.counts: Counter[tuple[int, str, str]] = Counter()
        # Workspaces with an active webhook (taking every event type), and the deliveries queued.
        self.webhooks: set[int] = set()
        self.deliveries: list[tuple[int, int, str]] = []

    def snapshot(self) -> Tables:
        return copy.deepcopy(self)


class FakeIssues:
    def __init__(self, tables: Tables, workspace_id: int) -> None:
        self._t, self.workspace_id = tables, workspace_id

    def lock_ahead(self, issue_ids: Any) -> None:
        """Nothing to lock here: every get reads the tables as they are."""

    def _mine(self, issue_id: uuid.UUID | None) -> bool:
        return issue_id is not None and self._t.issue_workspace.get(issue_id) == self.workspace_id

    def insert(self, values: dict[str, Any], prefix: str) -> Issue:
        row = Issue(**{**values, "workspace": self.workspace_id, "version": 1})
        row.prefix = prefix
        self._t.issues[row.uuid] = _clone(row)
        self._t.issue_workspace[row.uuid] = self.workspace_id
        return row

    def get(self, issue_id: uuid.UUID, *, for_update: bool = False) -> Issue | None:
        return _clone(self._t.issues[issue_id]) if self._mine(issue_id) else None

    def find(self, ref: IssueRef, *, for_update: bool = False) -> Issue | None:
        if ref.uuid is not None:
            return self.get(ref.uuid)
        found = [
            i
            for i in self._t.issues.values()
            if self._mine(i.uuid) and (i.number, i.prefix) == (ref.number, ref.prefix)
        ]
        return _clone(found[0]) if found else None

    def save(self, row: Issue, names: list[str], updated_at: datetime.datetime) -> None:
        row.updated_at = updated_at
        row.version += 1
        stored = self._t.issues[row.uuid]
        for name in [*names, "updated_at", "version"]:
            setattr(stored, name, copy.deepcopy(getattr(row, name)))

    def delete(self, issue_id: uuid.UUID) -> None:
        del self._t.issues[issue_id]
        self._t.lookups.pop(issue_id, None)
        self._t.comments = {k: c for k, c in self._t.comments.items() if _issue_of(c) != issue_id}
        self._t.history = [h for h in self._t.history if _issue_of(h) != issue_id]

    def write_lookups(
        self,
        replaced: list[uuid.UUID],
        refs: list[tuple[uuid.UUID, dict[str, str]]],
        tags: list[tuple[uuid.UUID, list[str]]],
    ) -> None:
        for issue_id in replaced:
            self._t.lookups.pop(issue_id, None)
        for (issue_id, given_refs), (_, given_tags) in zip(refs, tags):
            self._t.lookups[issue_id] = (dict(given_refs), list(dict.fromkeys(given_tags)))

    def ancestors(self, issue_id: uuid.UUID, *, lock: bool) -> list[uuid.UUID]:
        chain: list[uuid.UUID] = []
        current = self._t.issues[issue_id].parent_uuid if self._mine(issue_id) else None
        while current is not None:
            chain.append(current)
            current = self._t.issues[current].parent_uuid
        return chain

    def children(self, parent_id: uuid.UUID, *, for_update: bool = False) -> list[Issue]:
        rows = [i for i in self._t.issues.values() if i.parent_uuid == parent_id and self._mine(i.uuid)]
        return [_clone(i) for i in sorted(rows, key=lambda i: (i.created_at, str(i.uuid)))]

    def sub_page(
        self, parent_id: uuid.UUID, limit: int, offset: int, after: tuple[Any, ...] | None = None
    ) -> tuple[list[Issue], int]:
        rows = self.children(parent_id)
        if after is not None:
            rows = [i for i in rows if (i.created_at, str(i.uuid)) > (after[0], str(after[1]))]
        return rows[offset : offset + limit], len(self.children(parent_id))

    def add_to_sub_count(self, parent_id: uuid.UUID, delta: int) -> None:
        stored = self._t.issues.get(parent_id)
        if stored is None:  # deleted in the same transaction: an UPDATE of no row
            return
        stored.sub_issues_count += delta
        stored.version += 1

    def by_ids(self, ids: list[uuid.UUID]) -> list[Issue]:
        return [_clone(self._t.issues[i]) for i in ids if self._mine(i)]


class FakeComments:
    def __init__(self, tables: Tables, workspace_id: int) -> None:
        self._t, self.workspace_id = tables, workspace_id

    def insert(self, issue_id: uuid.UUID, created_by: str, content: str, now: datetime.datetime) -> Comment:
        row = Comment(
            uuid=uuid.uuid4(), issue=issue_id, content=content, created_by=created_by, created_at=now, updated_at=now
        )
        self._t.comments[row.uuid] = _clone(row)
        return row

    def get(self, issue_id: uuid.UUID, comment_id: uuid.UUID, *, for_update: bool = False) -> Comment | None:
        row = self._t.comments.get(comment_id)
        mine = row is not None and _issue_of(row) == issue_id
        return _clone(row) if mine and self._t.issue_workspace.get(issue_id) == self.workspace_id else None

    def save(self, row: Comment, names: list[str]) -> None:
        row.version += 1
        stored = self._t.comments[row.uuid]
        for name in [*names, "version"]:
            setattr(stored, name, copy.deepcopy(getattr(row, name)))

    def page(
        self, issue_id: uuid.UUID, limit: int, offset: int, after: tuple[Any, ...] | None = None
    ) -> tuple[list[Comment], int]:
        rows = sorted(
            (c for c in self._t.comments.values() if _issue_of(c) == issue_id),
            key=lambda c: (c.created_at, str(c.uuid)),
        )
        total = len(rows)
        if after is not None:
            rows = [c for c in rows if (c.created_at, str(c.uuid)) > (after[0], str(after[1]))]
        return [_clone(c) for c in rows[offset : offset + limit]], total


class FakeReactions:
    def __init__(self, tables: Tables, workspace_id: int) -> None:
        self._t = tables

    def add(self, comment_id: uuid.UUID, emoji: str, user: str, at: datetime.datetime) -> bool:
        if (comment_id, emoji, user) in self._t.reactions:
            return False
        self._t.reactions.append((comment_id, emoji, user))
        return True

    def remove(self, comment_id: uuid.UUID, emoji: str, user: str) -> bool:
        if (comment_id, emoji, user) not in self._t.reactions:
            return False
        self._t.reactions.remove((comment_id, emoji, user))
        return True

    def for_comments(self, comment_ids: list[uuid.UUID]) -> dict[uuid.UUID, list[tuple[str, str]]]:
        out: dict[uuid.UUID, list[tuple[str, str]]] = {}
        for comment_id, emoji, user in self._t.reactions:
            if comment_id in comment_ids:
                out.setdefault(comment_id, []).append((emoji, user))
        return out


class FakeAttachments:
    def __init__(self, tables: Tables, workspace_id: int) -> None:
        self._t, self.workspace_id = tables, workspace_id

    def insert(
        self,
        created_by: str,
        *,
        file_name: str,
        content_type: str,
        size_bytes: int,
        sha256: str | None,
        expires_at: datetime.datetime,
    ) -> Attachment:
        attachment_id = uuid.uuid4()
        row = Attachment(
            uuid=attachment_id,
            workspace=self.workspace_id,
            file_name=file_name,
            content_type=content_type,
            size_bytes=size_bytes,
            sha256=sha256,
            status="pending",
            object_key=f"{self.workspace_id}/{attachment_id}",
            created_by=created_by,
            created_at=NOW,
            upload_expires_at=expires_at,
        )
        self._t.attachments[row.uuid] = _clone(row)
        return row

    def get(self, attachment_id: uuid.UUID) -> Attachment | None:
        row = self._t.attachments.get(attachment_id)
        return _clone(row) if row is not None and row.workspace_id == self.workspace_id else None

    def renew_upload(self, row: Attachment, expires_at: datetime.datetime) -> bool:
        stored = self._t.attachments[row.uuid]
        if stored.status != "pending":
            return False
        stored.upload_expires_at = row.upload_expires_at = expires_at
        return True

    def mark_ready(self, attachment: Attachment, sha256: str) -> bool:
        stored = self._t.attachments[attachment.uuid]
        if stored.status != "pending":
            return False
        stored.status, stored.sha256 = "ready", sha256
        return True

    def by_ids(self, ids: Iterable[uuid.UUID], *, lock: bool = False) -> dict[uuid.UUID, Attachment]:
        return {i: row for i in ids if (row := self.get(i)) is not None}

    def set_for_issue(self, issue: Issue, attachments: list[Attachment]) -> None:
        self._t.issue_attachments[issue.uuid] = [a.uuid for a in attachments]

    def for_comments(self, comment_ids: list[uuid.UUID]) -> dict[uuid.UUID, list[Attachment]]:
        return {
            c: [_clone(self._t.attachments[a]) for a in self._t.comment_attachments[c]]
            for c in comment_ids
            if self._t.comment_attachments.get(c)
        }

    def set_for_comment(self, comment_id: uuid.UUID, attachments: list[Attachment]) -> None:
        self._t.comment_attachments[comment_id] = [a.uuid for a in attachments]


class FakeFiles:
    def __init__(self, tables: Tables, workspace_id: int) -> None:
        self._t, self.workspace_id = tables, workspace_id

    def for_issue(self, issue_id: uuid.UUID, file_type: str = "") -> list[IssueFile]:
        return [_clone(f) for f in self._t.files if _issue_of(f) == issue_id and file_type in ("", f.file_type)]

    def insert(
        self, issue_id: uuid.UUID, attachment: Attachment, file_type: str, file_name: str, now: datetime.datetime
    ) -> IssueFile:
        row = IssueFile(
            uuid=uuid.uuid4(),
            issue=issue_id,
            file_name=file_name,
            file_type=file_type,
            attachment_id=attachment.uuid,
            created_at=now,
        )
        self._t.files.append(_clone(row))
        return row


class FakeHistory:
    def __init__(self, tables: Tables, workspace_id: int) -> None:
        self._t = tables

    def insert(self, groups: list[tuple[list[NewEntry], str]], at: datetime.datetime) -> list[HistoryEntry]:
        rows = [
            HistoryEntry(
                uuid=uuid.uuid4(),
                issue=e.issue_id,
                position=i,
                action=e.action,
                field=e.field,
                old_value=e.old_value,
                new_value=e.new_value,
                actor=actor,
                created_at=at,
            )
            for i, (e, actor) in enumerate((e, actor) for entries, actor in groups for e in entries)
        ]
        self._t.history += [_clone(r) for r in rows]
        return rows


class FakeRequestIds:
    def __init__(self, tables: Tables, workspace_id: int) -> None:
        self._t, self.workspace_id = tables, workspace_id
        # Claims a concurrent transaction holds: claiming one of them fails as on PostgreSQL.
        self.held_elsewhere: set[str] = set()

    def get(self, request_id: str) -> StoredAnswer | None:
        return self._t.request_ids.get((self.workspace_id, request_id))

    def forget(self, request_id: str) -> None:
        del self._t.request_ids[(self.workspace_id, request_id)]

    def claim(self, request_id: str, fingerprint: str, now: datetime.datetime) -> None:
        if request_id in self.held_elsewhere or (self.workspace_id, request_id) in self._t.request_ids:
            raise ClaimTaken(request_id)
        self._t.request_ids[(self.workspace_id, request_id)] = StoredAnswer(fingerprint, None, None, now)

    def answer(self, request_id: str, resource_id: uuid.UUID | None, response: bytes) -> None:
        claimed = self._t.request_ids[(self.workspace_id, request_id)]
        self._t.request_ids[(self.workspace_id, request_id)] = StoredAnswer(
            claimed.fingerprint, resource_id, response, claimed.created_at
        )


class FakeWorkspace:
    def __init__(self, tables: Tables, workspace_id: int) -> None:
        self._t, self.workspace_id = tables, workspace_id

    def number_issues(self, rows: list[Any]) -> None:
        prefix = self._t.prefixes[self.workspace_id]
        for row in rows:
            self._t.issue_seq[self.workspace_id] += 1
            row.number, row.prefix = self._t.issue_seq[self.workspace_id], prefix
            stored = self._t.issues[row.uuid]
            stored.number, stored.prefix = row.number, prefix

    def workflow(self) -> dict[str, Any] | None:
        return copy.deepcopy(self._t.workflows.get(self.workspace_id))

    def set_workflow(self, transitions: dict[str, list[str]]) -> None:
        self._t.workflows[self.workspace_id] = copy.deepcopy(transitions)


class FakeDerived:
    def __init__(self, tables: Tables, workspace_id: int) -> None:
        self._t, self.workspace_id = tables, workspace_id

    def apply_counts(self, deltas: Deltas) -> None:
        for (status, priority), n in deltas.counts.items():
            self._t.counts[(self.workspace_id, status, priority)] += n

    def append_events(self, events: list[NewEvent]) -> tuple[int, int]:
        stored = self._t.events.setdefault(self.workspace_id, [])
        stored += events
        return len(stored), int(self.workspace_id in self._t.webhooks)

    def queue_deliveries(self, events: list[NewEvent], first_sequence: int, at: datetime.datetime) -> bool:
        self._t.deliveries += [(self.workspace_id, first_sequence + i, e.type) for i, e in enumerate(events)]
        return bool(events)


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
            derived=FakeDerived(t, workspace_id),
        )

    def transaction(self, body: Callable[[], T], *, write: bool, snapshot: bool) -> T:
        self.transactions += 1
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
        return [(h.action, h.field, h.old_value, h.new_value) for h in self.tables.history if _issue_of(h) == issue_id]
