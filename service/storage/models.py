"""Peewee models: one class per table created by the migrations.

Everything a user stores belongs to a workspace; every query filters on it,
which is what keeps workspaces invisible to each other.
Timestamps are naive UTC datetimes with microseconds.
"""

from __future__ import annotations

import uuid

import peewee

from ..domain.times import utcnow
from .database import database
from .fields import JSONField


class BaseModel(peewee.Model):
    class Meta:
        database = database
        legacy_table_names = False


class Workspace(BaseModel):
    id = peewee.AutoField()
    slug = peewee.CharField(max_length=64, unique=True)
    created_at = peewee.DateTimeField(default=utcnow)
    # The identifiers' prefix (ACM in ACM-42); older ones stay in workspace_prefixes.
    prefix = peewee.CharField(max_length=10, default="ISS")
    # The last issue number given (m0006).
    issue_seq = peewee.IntegerField(default=0)
    # {status: [statuses it may move to]}; None: every move allowed.
    workflow = JSONField(null=True)

    class Meta:
        table_name = "workspaces"


class WorkspacePrefix(BaseModel):
    workspace = peewee.ForeignKeyField(Workspace, on_delete="CASCADE", column_name="workspace_id", index=False)
    prefix = peewee.CharField(max_length=10)

    class Meta:
        table_name = "workspace_prefixes"
        primary_key = peewee.CompositeKey("workspace", "prefix")


class ApiToken(BaseModel):
    id = peewee.AutoField()
    workspace = peewee.ForeignKeyField(Workspace, on_delete="CASCADE", column_name="workspace_id")
    email = peewee.CharField(max_length=320)
    role = peewee.CharField(max_length=16)
    # sha256 of the token; the token itself is never stored.
    token_hash = peewee.CharField(max_length=64, unique=True)
    created_at = peewee.DateTimeField(default=utcnow)
    # None: never expires / not revoked / not used yet (last_used_at is batched, a minute behind).
    expires_at = peewee.DateTimeField(null=True)
    revoked_at = peewee.DateTimeField(null=True)
    last_used_at = peewee.DateTimeField(null=True)

    class Meta:
        table_name = "api_tokens"


class Issue(BaseModel):
    uuid = peewee.UUIDField(primary_key=True, default=uuid.uuid4)
    workspace = peewee.ForeignKeyField(Workspace, on_delete="CASCADE", column_name="workspace_id", index=False)
    title = peewee.CharField(max_length=500)
    description = JSONField(default=list)
    status = peewee.CharField(max_length=16)
    priority = peewee.CharField(max_length=16)
    tags = JSONField(default=list)
    owner = peewee.TextField()
    resolution_summary = peewee.TextField(null=True)
    created_by = peewee.CharField(max_length=320)
    created_at = peewee.DateTimeField(default=utcnow)
    updated_at = peewee.DateTimeField(default=utcnow)
    # Set when the issue becomes resolved, cleared when it is reopened.
    resolved_at = peewee.DateTimeField(null=True)
    job_run_id = peewee.TextField(null=True)
    session_ids = JSONField(default=list)
    # Uuids of the attached files, in order; mirrored by issue_files rows of
    # type "attachment" (written together in storage/attachments.py).
    attachment_ids = JSONField(default=list)
    # Moves with every change to what the issue shows (m0004); keys the
    # cache of built issue messages.
    version = peewee.IntegerField(default=1)
    # m0006: the per-workspace number, the parent, its children, references.
    number = peewee.IntegerField(null=True)
    parent_uuid = peewee.UUIDField(null=True)
    sub_issues_count = peewee.IntegerField(default=0)
    refs = JSONField(default=dict)
    # m0007: the words full-text search finds the issue by (domain/search.py);
    # written with the columns it comes from, never read back (see READ_FIELDS).
    search_text = peewee.TextField(default="")

    class Meta:
        table_name = "issues"


# What reads of issues load: every column but the search words, which only
# the full-text index needs.
Issue.READ_FIELDS = tuple(f for f in Issue._meta.sorted_fields if f.name != "search_text")


class IssueRefRow(BaseModel):
    """One reference of an issue, for the ?ref= filter's index."""

    issue = peewee.ForeignKeyField(Issue, on_delete="CASCADE", column_name="issue_uuid", index=False)
    workspace_id = peewee.IntegerField()
    ref_key = peewee.CharField(max_length=64)
    ref_value = peewee.CharField(max_length=256)

    class Meta:
        table_name = "issue_refs"
        primary_key = peewee.CompositeKey("issue", "ref_key")


class IssueTag(BaseModel):
    """One tag of an issue, for the ?tag= filter's index (m0007)."""

    issue = peewee.ForeignKeyField(Issue, on_delete="CASCADE", column_name="issue_uuid", index=False)
    workspace_id = peewee.IntegerField()
    tag = peewee.CharField(max_length=100)

    class Meta:
        table_name = "issue_tags"
        primary_key = peewee.CompositeKey("issue", "tag")


class HistoryEntry(BaseModel):
    uuid = peewee.UUIDField(primary_key=True)
    issue = peewee.ForeignKeyField(Issue, on_delete="CASCADE", column_name="issue_uuid", index=False)
    # Orders the entries one change wrote with one timestamp.
    position = peewee.IntegerField()
    action = peewee.CharField(max_length=64)
    field = peewee.CharField(max_length=64, null=True)
    old_value = JSONField(null=True)
    new_value = JSONField(null=True)
    actor = peewee.CharField(max_length=320)
    created_at = peewee.DateTimeField()

    class Meta:
        table_name = "issue_history"


class Comment(BaseModel):
    uuid = peewee.UUIDField(primary_key=True, default=uuid.uuid4)
    issue = peewee.ForeignKeyField(Issue, on_delete="CASCADE", column_name="issue_uuid", index=False)
    content = peewee.TextField()
    created_by = peewee.CharField(max_length=320)
    created_at = peewee.DateTimeField(default=utcnow)
    updated_at = peewee.DateTimeField(default=utcnow)
    is_edited = peewee.BooleanField(default=False)
    is_deleted = peewee.BooleanField(default=False)
    # Moves with every change to what the comment shows, reactions included
    # (m0008); its etag is derived from it.
    version = peewee.IntegerField(default=1)

    class Meta:
        table_name = "comments"


class Reaction(BaseModel):
    comment = peewee.ForeignKeyField(Comment, on_delete="CASCADE", column_name="comment_uuid", index=False)
    emoji = peewee.CharField(max_length=64)
    user_email = peewee.CharField(max_length=320)
    created_at = peewee.DateTimeField()

    class Meta:
        table_name = "reactions"
        primary_key = peewee.CompositeKey("comment", "emoji", "user_email")


class IssueFile(BaseModel):
    uuid = peewee.UUIDField(primary_key=True, default=uuid.uuid4)
    issue = peewee.ForeignKeyField(Issue, on_delete="CASCADE", column_name="issue_uuid", index=False)
    file_name = peewee.TextField()
    file_type = peewee.CharField(max_length=64)
    attachment_id = peewee.UUIDField()
    created_at = peewee.DateTimeField(default=utcnow)

    class Meta:
        table_name = "issue_files"


class Attachment(BaseModel):
    uuid = peewee.UUIDField(primary_key=True, default=uuid.uuid4)
    workspace = peewee.ForeignKeyField(Workspace, on_delete="CASCADE", column_name="workspace_id", index=False)
    file_name = peewee.CharField(max_length=255)
    content_type = peewee.CharField(max_length=255)
    size_bytes = peewee.BigIntegerField()
    # Declared by the uploader, or computed from the bytes once they arrive.
    sha256 = peewee.CharField(max_length=64, null=True)
    # pending until the bytes are stored and verified, then ready.
    status = peewee.CharField(max_length=16)
    # Where the bytes live in the blob store.
    object_key = peewee.CharField(max_length=255, unique=True)
    created_by = peewee.CharField(max_length=320)
    created_at = peewee.DateTimeField(default=utcnow)
    upload_expires_at = peewee.DateTimeField()
    uploaded_at = peewee.DateTimeField(null=True)

    class Meta:
        table_name = "attachments"


class CommentAttachment(BaseModel):
    comment = peewee.ForeignKeyField(Comment, on_delete="CASCADE", column_name="comment_uuid", index=False)
    attachment = peewee.ForeignKeyField(Attachment, column_name="attachment_uuid", index=False)
    position = peewee.IntegerField()

    class Meta:
        table_name = "comment_attachments"
        primary_key = peewee.CompositeKey("comment", "attachment")


class IssueCount(BaseModel):
    """How many issues a workspace has per (status, priority); see counters.py."""

    workspace = peewee.ForeignKeyField(Workspace, on_delete="CASCADE", column_name="workspace_id", index=False)
    status = peewee.CharField(max_length=16)
    priority = peewee.CharField(max_length=16)
    shard = peewee.SmallIntegerField()
    n = peewee.BigIntegerField()

    class Meta:
        table_name = "issue_counts"
        primary_key = peewee.CompositeKey("workspace", "status", "priority", "shard")


class IssueDay(BaseModel):
    """How many issues a workspace opened and resolved per UTC day; see counters.py."""

    workspace = peewee.ForeignKeyField(Workspace, on_delete="CASCADE", column_name="workspace_id", index=False)
    day = peewee.DateField()
    shard = peewee.SmallIntegerField()
    opened = peewee.BigIntegerField()
    resolved = peewee.BigIntegerField()

    class Meta:
        table_name = "issue_days"
        primary_key = peewee.CompositeKey("workspace", "day", "shard")


class RequestIdRow(BaseModel):
    """A create's request_id: its claim, then its stored answer (m0008), kept a day."""

    workspace_id = peewee.IntegerField()
    request_id = peewee.CharField(max_length=128)
    # sha256 of the request: a repeat must be the same request.
    fingerprint = peewee.CharField(max_length=64)
    # What the create made (an attachment is signed afresh while pending).
    resource_id = peewee.UUIDField(null=True)
    # The serialized response message; null only inside the claiming transaction.
    response = peewee.BlobField(null=True)
    created_at = peewee.DateTimeField()

    class Meta:
        table_name = "request_ids"
        primary_key = peewee.CompositeKey("workspace_id", "request_id")


class EventCounter(BaseModel):
    """A workspace's last event sequence given, the last pruned (m0009) and the last rewind's restart (m0011); see storage/outbox.py."""

    workspace = peewee.ForeignKeyField(Workspace, on_delete="CASCADE", column_name="workspace_id", primary_key=True)
    last_sequence = peewee.BigIntegerField()
    pruned_sequence = peewee.BigIntegerField(default=0)
    # Where the counter restarted after the database's history went back (m0011, storage/rewinds.py).
    rewound_sequence = peewee.BigIntegerField(default=0)
    # How many of the workspace's webhooks are active (m0010): none, no lookup.
    active_webhooks = peewee.IntegerField(default=0)

    class Meta:
        table_name = "event_counters"


class Event(BaseModel):
    """One committed change of a workspace (the outbox, m0009); see storage/outbox.py."""

    workspace = peewee.ForeignKeyField(Workspace, on_delete="CASCADE", column_name="workspace_id", index=False)
    sequence = peewee.BigIntegerField()
    type = peewee.CharField(max_length=64)
    issue_uuid = peewee.UUIDField(null=True)
    actor = peewee.CharField(max_length=320)
    occurred_at = peewee.DateTimeField()
    # The event's data as JSON text, rendered when the change was made.
    data = peewee.TextField()

    class Meta:
        table_name = "events"
        primary_key = peewee.CompositeKey("workspace", "sequence")


class ServerSecret(BaseModel):
    """Secrets every replica must share, such as the URL signing key."""

    name = peewee.CharField(max_length=64, primary_key=True)
    value = peewee.CharField(max_length=255)
    created_at = peewee.DateTimeField(default=utcnow)

    class Meta:
        table_name = "server_secrets"


# Columns the database computes itself, which no model reads or writes:
# PostgreSQL's tsvector of the search words (m0007; SQLite's index is FTS5).
DATABASE_DERIVED: dict[str, set[str]] = {"issues": {"search"}}

ALL_MODELS: tuple[type[BaseModel], ...] = (
    Workspace,
    WorkspacePrefix,
    ApiToken,
    Issue,
    IssueRefRow,
    IssueTag,
    HistoryEntry,
    Comment,
    Reaction,
    IssueFile,
    Attachment,
    CommentAttachment,
    ServerSecret,
    IssueCount,
    IssueDay,
    RequestIdRow,
    EventCounter,
    Event,
)


class Webhook(BaseModel):
    """An endpoint that receives the workspace's events (m0010); see storage/webhooks.py."""

    id = peewee.UUIDField(primary_key=True)
    workspace = peewee.ForeignKeyField(Workspace, on_delete="CASCADE", column_name="workspace_id", index=False)
    url = peewee.CharField(max_length=2048)
    events = JSONField()
    description = peewee.TextField()
    active = peewee.BooleanField()
    disabled_reason = peewee.TextField(null=True)
    secret = peewee.CharField(max_length=128)
    previous_secret = peewee.CharField(max_length=128, null=True)
    previous_secret_until = peewee.DateTimeField(null=True)
    failing_since = peewee.DateTimeField(null=True)
    failures_in_row = peewee.IntegerField(default=0)
    created_at = peewee.DateTimeField()
    updated_at = peewee.DateTimeField()

    class Meta:
        table_name = "webhooks"


class WebhookDelivery(BaseModel):
    """One event (or ping) to send to one webhook, and its attempts so far (m0010)."""

    id = peewee.UUIDField(primary_key=True)
    workspace = peewee.ForeignKeyField(Workspace, on_delete="CASCADE", column_name="workspace_id", index=False)
    webhook = peewee.UUIDField(column_name="webhook_id")  # no foreign key: see m0010
    event_sequence = peewee.BigIntegerField(null=True)
    event_type = peewee.CharField(max_length=64)
    payload = peewee.TextField(null=True)
    status = peewee.CharField(max_length=16)
    attempts = peewee.IntegerField(default=0)
    last_status_code = peewee.IntegerField(null=True)
    last_error = peewee.TextField(null=True)
    last_duration_ms = peewee.IntegerField(null=True)
    next_attempt_at = peewee.DateTimeField(null=True)
    leased_until = peewee.DateTimeField(null=True)
    lease_id = peewee.UUIDField(null=True)
    created_at = peewee.DateTimeField()
    delivered_at = peewee.DateTimeField(null=True)

    class Meta:
        table_name = "webhook_deliveries"
