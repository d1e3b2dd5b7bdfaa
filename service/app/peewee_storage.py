"""The Storage units of work run on in production: Peewee's repositories,
transactions and savepoints (service/storage)."""

from __future__ import annotations

import datetime
from typing import Any, Callable, ContextManager, TypeVar

from ..storage import database, outbox
from ..storage.attachments import AttachmentRepository
from ..storage.comments import CommentRepository
from ..storage.counters import Deltas
from ..storage.files import FileRepository
from ..storage.history import HistoryRepository
from ..storage.issues import IssueRepository
from ..storage.outbox import NewEvent
from ..storage.reactions import ReactionRepository
from ..storage.request_ids import RequestIdRepository
from ..storage.webhooks import WebhookRepository
from ..storage.workspaces import WorkspaceRepository
from . import webhook_deliveries
from .unit_of_work import Repositories

T = TypeVar("T")


class _Derived:
    """The counters, the outbox and the webhook deliveries of one workspace."""

    def __init__(self, workspace_id: int, webhooks: WebhookRepository) -> None:
        self.workspace_id = workspace_id
        self.webhooks = webhooks

    def apply_counts(self, deltas: Deltas) -> None:
        deltas.apply()

    def append_events(self, events: list[NewEvent]) -> tuple[int, int]:
        return outbox.append(self.workspace_id, events)

    def queue_deliveries(self, events: list[NewEvent], first_sequence: int, at: datetime.datetime) -> bool:
        if database.is_postgres():  # one round trip under the counter's lock, not two (m0013's webhook_queue)
            return self.webhooks.queue_events([e.type for e in events], first_sequence, at) > 0
        return webhook_deliveries.derive(self.webhooks, events, first_sequence, at)


class PeeweeStorage:
    """Repositories on the process's database (storage.database)."""

    def repositories(self, workspace_id: int) -> Repositories:
        webhooks = WebhookRepository(workspace_id)
        return Repositories(
            workspace=WorkspaceRepository(workspace_id),
            issues=IssueRepository(workspace_id),
            comments=CommentRepository(workspace_id),
            reactions=ReactionRepository(workspace_id),
            attachments=AttachmentRepository(workspace_id),
            files=FileRepository(workspace_id),
            history=HistoryRepository(workspace_id),
            request_ids=RequestIdRepository(workspace_id),
            webhooks=webhooks,
            derived=_Derived(workspace_id, webhooks),
        )

    def transaction(self, body: Callable[[], T], *, write: bool, snapshot: bool) -> T:
        return database.transaction(body, write=write, snapshot=snapshot)

    def savepoint(self) -> ContextManager[Any]:
        return database.savepoint()  # type: ignore[no-any-return]
