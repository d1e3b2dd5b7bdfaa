"""What the in-memory repositories of tests/unit store: every table, per
workspace where the service keys it so, and the row helpers they share.

Rows are the service's own Peewee model instances, never saved: a
repository hands out copies and keeps what `save` is given, so a command
that changes a row without saving it changes nothing, as on a database.
"""

from __future__ import annotations

import copy
import datetime
import uuid
from collections import Counter
from typing import Any

from service.storage.models import Attachment, Comment, HistoryEntry, Issue, IssueFile, Webhook, WebhookDelivery
from service.storage.outbox import NewEvent
from service.storage.request_ids import StoredAnswer

NOW = datetime.datetime(2026, 12, 7, 12, 0, 0)


def issue_of(row: Any) -> uuid.UUID:
    """The issue a comment, history entry or file belongs to (its foreign key's value)."""
    return row.__data__["issue"]


def clone(row: Any) -> Any:
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
        # The ?ref= and ?tag= lookup rows of each issue: (refs, tags).
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
        # The counters: issues per (workspace, status, priority), and per
        # (workspace, ISO day) [opened, resolved]; a day's row exists once a
        # change touched it, even if its sums are back at zero (as the table's).
        self.counts: Counter[tuple[int, str, str]] = Counter()
        self.days: dict[tuple[int, datetime.date], list[int]] = {}
        # The event counter row's count of active webhooks, per workspace.
        self.active_webhooks: Counter[int] = Counter()
        self.webhooks: dict[uuid.UUID, Webhook] = {}
        self.deliveries: dict[uuid.UUID, WebhookDelivery] = {}

    def snapshot(self) -> Tables:
        return copy.deepcopy(self)
