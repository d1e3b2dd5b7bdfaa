"""The in-memory repositories of comments, reactions, attachments, files,
history, request_ids and the workspace, and the derived store (counters,
outbox, webhook deliveries): storage/*.py's, on Tables."""

from __future__ import annotations

import copy
import datetime
import uuid
from typing import Any, Iterable

from service.app import webhook_deliveries
from service.storage.counters import Deltas
from service.storage.history import NewEntry
from service.storage.models import Attachment, Comment, HistoryEntry, Issue, IssueFile
from service.storage.outbox import NewEvent
from service.storage.request_ids import ClaimTaken, StoredAnswer

from .fake_tables import NOW, Tables, clone, issue_of
from .fake_webhooks import FakeWebhooks


class FakeComments:
    def __init__(self, tables: Tables, workspace_id: int) -> None:
        self._t, self.workspace_id = tables, workspace_id

    def insert(self, issue_id: uuid.UUID, created_by: str, content: str, now: datetime.datetime) -> Comment:
        row = Comment(
            uuid=uuid.uuid4(), issue=issue_id, content=content, created_by=created_by, created_at=now, updated_at=now
        )
        self._t.comments[row.uuid] = clone(row)
        return row

    def get(self, issue_id: uuid.UUID, comment_id: uuid.UUID, *, for_update: bool = False) -> Comment | None:
        row = self._t.comments.get(comment_id)
        mine = row is not None and issue_of(row) == issue_id
        return clone(row) if mine and self._t.issue_workspace.get(issue_id) == self.workspace_id else None

    def save(self, row: Comment, names: list[str]) -> None:
        row.version += 1
        stored = self._t.comments[row.uuid]
        for name in [*names, "version"]:
            setattr(stored, name, copy.deepcopy(getattr(row, name)))

    def page(
        self, issue_id: uuid.UUID, limit: int, offset: int, after: tuple[Any, ...] | None = None
    ) -> tuple[list[Comment], int]:
        rows = sorted(
            (c for c in self._t.comments.values() if issue_of(c) == issue_id),
            key=lambda c: (c.created_at, str(c.uuid)),
        )
        total = len(rows)
        if after is not None:
            rows = [c for c in rows if (c.created_at, str(c.uuid)) > (after[0], str(after[1]))]
        return [clone(c) for c in rows[offset : offset + limit]], total


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
        self._t.attachments[row.uuid] = clone(row)
        return row

    def get(self, attachment_id: uuid.UUID) -> Attachment | None:
        row = self._t.attachments.get(attachment_id)
        return clone(row) if row is not None and row.workspace_id == self.workspace_id else None

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
            c: [clone(self._t.attachments[a]) for a in self._t.comment_attachments[c]]
            for c in comment_ids
            if self._t.comment_attachments.get(c)
        }

    def set_for_comment(self, comment_id: uuid.UUID, attachments: list[Attachment]) -> None:
        self._t.comment_attachments[comment_id] = [a.uuid for a in attachments]


class FakeFiles:
    def __init__(self, tables: Tables, workspace_id: int) -> None:
        self._t, self.workspace_id = tables, workspace_id

    def for_issue(self, issue_id: uuid.UUID, file_type: str = "") -> list[IssueFile]:
        return [clone(f) for f in self._t.files if issue_of(f) == issue_id and file_type in ("", f.file_type)]

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
        self._t.files.append(clone(row))
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
        self._t.history += [clone(r) for r in rows]
        return rows

    def page(
        self, issue_id: uuid.UUID, limit: int, offset: int, after: tuple[Any, ...] | None = None
    ) -> tuple[list[HistoryEntry], int]:
        def key(h: HistoryEntry) -> tuple[Any, ...]:
            return (h.created_at, h.position, h.uuid)

        rows = sorted((h for h in self._t.history if issue_of(h) == issue_id), key=key)
        total = len(rows)
        if after is not None:
            rows = [h for h in rows if key(h) > tuple(after)]
        return [clone(h) for h in rows[offset : offset + limit]], total


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
        for day in set(deltas.opened) | set(deltas.resolved):
            opened, resolved = deltas.opened[day], deltas.resolved[day]
            if opened or resolved:  # as Deltas.apply: a day's row is written only when it moves
                row = self._t.days.setdefault((self.workspace_id, day), [0, 0])
                row[0] += opened
                row[1] += resolved

    def append_events(self, events: list[NewEvent]) -> tuple[int, int]:
        stored = self._t.events.setdefault(self.workspace_id, [])
        stored += events
        return len(stored), self._t.active_webhooks[self.workspace_id]

    def queue_deliveries(self, events: list[NewEvent], first_sequence: int, at: datetime.datetime) -> bool:
        # The service's own derivation, on the in-memory webhooks.
        hooks = FakeWebhooks(self._t, self.workspace_id)
        return webhook_deliveries.derive(hooks, events, first_sequence, at)  # type: ignore[arg-type]
