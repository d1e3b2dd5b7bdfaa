"""Turning what the use cases return into the protobuf messages of the contract,
and keeping built issue messages for the next list page that shows them."""

from __future__ import annotations

import collections
import datetime
import json
import threading
from typing import TYPE_CHECKING, Any, Hashable

from google.protobuf import struct_pb2, timestamp_pb2
from google.protobuf.message import Message

from common.enums import enum_numbers
from common.jsonout import to_json
from issues.v1 import (
    attachment_pb2,
    comment_pb2,
    event_pb2,
    history_pb2,
    issue_file_pb2,
    issue_pb2,
    issue_service_pb2,
    workflow_pb2,
)

from ..app.attachments import UploadTarget
from ..app.comments import CommentView
from ..app.issues import IssueView, PageKey
from ..domain.etags import comment_etag, issue_etag
from ..domain.identifiers import identifier
from ..domain.workflow import STATUSES

if TYPE_CHECKING:
    from ..storage.models import Attachment, HistoryEntry, IssueFile
    from ..storage.outbox import StoredEvent

_STATUS = enum_numbers(issue_pb2.Issue.Status.DESCRIPTOR)
_PRIORITY = enum_numbers(issue_pb2.Issue.Priority.DESCRIPTOR)


_EPOCH = datetime.datetime(1970, 1, 1)

# Every list response stays under the 4 MiB that gRPC clients accept by
# default (grpcurl, grpc-js, Python): a page returns fewer items when its
# items are large (AIP-158 allows it). `count` stays the total, so clients
# continue from offset + len(items).
RESPONSE_BYTES_MAX = 4 << 20
_PAGE_BUDGET = RESPONSE_BYTES_MAX - (64 << 10)  # room for the envelope and count


def fit(items: list[Any]) -> list[Any]:
    """The longest prefix of `items` whose encoding fits the page budget
    (never empty when `items` is not: one item is always far below it).
    An item is a message, or an entry already encoded (`IssueMessages`)."""
    total = 0
    for i, item in enumerate(items):
        total += len(item) if type(item) is bytes else item.ByteSize() + 8  # + the field's tag and length prefix
        if total > _PAGE_BUDGET and i:
            return items[:i]
    return items


def timestamp(value: datetime.datetime) -> timestamp_pb2.Timestamp:
    """A naive UTC datetime (as storage keeps them) as a Timestamp.

    Plain arithmetic: Timestamp.FromDatetime goes through calendar.timegm and
    was a tenth of a 100-issue page's CPU.
    """
    made = timestamp_pb2.Timestamp()
    _set_timestamp(made, value)
    return made


def issue(view: IssueView) -> issue_pb2.Issue:
    """The issue's message, built once per view: an update's history and
    event (through JsonRenderer) and its answer share it."""
    built = view.rendered.get("message")
    if built is None:
        built = view.rendered["message"] = _issue(view)
    return built


def _issue(view: IssueView) -> issue_pb2.Issue:
    # Fields set one by one on the new message, and empty repeated and map
    # fields left alone: keyword arguments build a Timestamp, a list or a
    # dict per field only to copy it in, which was half a list page's CPU.
    row = view.row
    message = issue_pb2.Issue()
    message.uuid = issue_id = str(row.uuid)
    message.title = row.title
    message.status = _STATUS[row.status]
    message.priority = _PRIORITY[row.priority]
    if row.tags:
        message.tags.extend(row.tags)
    message.owner = row.owner
    message.created_by = row.created_by
    _set_timestamp(message.created_at, row.created_at)
    _set_timestamp(message.updated_at, row.updated_at)
    if row.session_ids:
        message.sessions.extend([issue_pb2.SessionRef(uuid=s) for s in row.session_ids])
    if view.attachments:
        message.attachments.extend([attachment(a) for a in view.attachments])
    if row.number is not None:
        message.number = row.number
    message.identifier = identifier(row.prefix, row.number)
    message.sub_issues_count = row.sub_issues_count
    if row.refs:
        message.refs.update(row.refs)
    # From what the cache below keys on (uuid, version, prefix): a cached
    # message always carries its own version's etag.
    message.etag = issue_etag(issue_id, row.version, row.prefix)
    for block in row.description:
        _set_struct(message.description.add(), block)
    if row.resolution_summary is not None:
        message.resolution_summary = row.resolution_summary
    if row.job_run_id is not None:
        message.job_run_id = row.job_run_id
    if row.resolved_at is not None:
        _set_timestamp(message.resolved_at, row.resolved_at)
    if row.parent_uuid is not None:
        message.parent_id = str(row.parent_uuid)
    return message


def _set_timestamp(target: timestamp_pb2.Timestamp, value: datetime.datetime) -> None:
    """A naive UTC datetime written into a Timestamp in place (a message's own
    field, instead of a new Timestamp copied in)."""
    delta = value - _EPOCH
    target.seconds = delta.days * 86400 + delta.seconds
    target.nanos = delta.microseconds * 1000


def _set_struct(target: struct_pb2.Struct, value: dict[str, Any]) -> None:
    """Struct.update, with string values (most of a description) set directly."""
    fields = target.fields
    for key, item in value.items():
        if type(item) is str:
            fields[key].string_value = item
        else:
            target.update({key: item})


def reactions(pairs: list[tuple[str, str]]) -> list[comment_pb2.Reaction]:
    """One entry per emoji, ordered by its earliest reaction; users in reaction order."""
    users: dict[str, list[str]] = {}
    for emoji, user in pairs:
        users.setdefault(emoji, []).append(user)
    return [comment_pb2.Reaction(emoji=e, count=len(u), users=u) for e, u in users.items()]


def comment(view: CommentView) -> comment_pb2.Comment:
    # A deleted comment keeps its row; its content and files are withheld.
    row = view.row
    return comment_pb2.Comment(
        uuid=str(row.uuid),
        content="" if row.is_deleted else row.content,
        attachments=[] if row.is_deleted else [attachment(a) for a in view.attachments],
        reactions=[] if row.is_deleted else reactions(view.reactions),
        created_by=row.created_by,
        created_at=timestamp(row.created_at),
        updated_at=timestamp(row.updated_at),
        is_edited=row.is_edited,
        is_deleted=row.is_deleted,
        etag=comment_etag(row.uuid, row.version),
    )


def history_entry(row: HistoryEntry) -> history_pb2.HistoryEntry:
    message = history_pb2.HistoryEntry(
        uuid=str(row.uuid),
        action=row.action,
        actor=row.actor,
        timestamp=timestamp(row.created_at),
    )
    if row.field is not None:
        message.field = row.field
    # Value keeps JSON as given, null included (a unset Value would print as null too).
    if row.old_value is not None:
        _json_value(message.old_value, row.old_value)
    if row.new_value is not None:
        _json_value(message.new_value, row.new_value)
    return message


def _json_value(target: struct_pb2.Value, value: Any) -> None:
    holder = struct_pb2.Struct()
    holder.update({"v": value})
    target.CopyFrom(holder.fields["v"])


class JsonRenderer:
    """The contract's JSON, for history values and events' data (the use cases' Renderer)."""

    def issue_json(self, view: IssueView) -> dict[str, Any]:
        return to_json(issue(view))

    def comment_json(self, view: CommentView) -> dict[str, Any]:
        return to_json(comment(view))

    def history_json(self, entry: HistoryEntry) -> dict[str, Any]:
        return to_json(history_entry(entry))

    def file_json(self, row: IssueFile) -> dict[str, Any]:
        return to_json(issue_file(row))

    def workflow_json(self, transitions: dict[str, list[str]]) -> dict[str, Any]:
        return to_json(workflow(transitions))


def workflow(transitions: dict[str, list[str]]) -> workflow_pb2.Workflow:
    moves = workflow_pb2.Transitions()
    for status in STATUSES:
        getattr(moves, status).extend(_STATUS[t] for t in transitions[status])
    return workflow_pb2.Workflow(transitions=moves)


def event(stored: StoredEvent) -> event_pb2.Event:
    """A stored event as the contract's message (its data parsed once)."""
    message = event_pb2.Event(
        sequence=stored.sequence,
        type=stored.type,
        actor=stored.actor,
        occurred_at=timestamp(stored.occurred_at),
    )
    if stored.issue_id is not None:
        message.issue_id = str(stored.issue_id)
    message.data.SetInParent()  # set even when empty: an event always has its data
    message.data.update(json.loads(stored.data))
    return message


def issue_file(row: IssueFile) -> issue_file_pb2.IssueFile:
    return issue_file_pb2.IssueFile(
        uuid=str(row.uuid),
        file_name=row.file_name,
        file_type=row.file_type,
        attachment_id=str(row.attachment_id),
        created_at=timestamp(row.created_at),
    )


def upload_target(target: UploadTarget) -> issue_service_pb2.CreateAttachmentResponse:
    return issue_service_pb2.CreateAttachmentResponse(
        attachment=attachment(target.attachment),
        upload_url=target.url,
        expires_at=timestamp(target.expires_at),
        upload_headers=target.headers,
    )


_ATTACHMENT_STATUS = {
    "pending": attachment_pb2.Attachment.STATUS_PENDING,
    "ready": attachment_pb2.Attachment.STATUS_READY,
}


def attachment(row: Attachment) -> attachment_pb2.Attachment:
    message = attachment_pb2.Attachment(
        uuid=str(row.uuid),
        file_name=row.file_name,
        content_type=row.content_type,
        size_bytes=row.size_bytes,
        status=_ATTACHMENT_STATUS[row.status],
        created_by=row.created_by,
        created_at=timestamp(row.created_at),
    )
    if row.sha256:
        message.sha256 = row.sha256
    return message


# The field number of `items` in the list responses that show issues: an
# encoded entry is that field's tag, the issue's length and its bytes.
_ITEMS = issue_service_pb2.ListIssuesResponse.DESCRIPTOR.fields_by_name["items"]
_ITEMS_TAG = bytes([_ITEMS.number << 3 | 2])  # wire type 2: length-delimited


def _varint(n: int) -> bytes:
    out = bytearray()
    while n > 0x7F:
        out.append(n & 0x7F | 0x80)
        n >>= 7
    out.append(n)
    return bytes(out)


def items_entry(message: issue_pb2.Issue) -> bytes:
    """The issue as one `items` entry of a list response, encoded as `encode`
    (pipeline.py) would encode it inside the response: deterministically."""
    encoded = message.SerializeToString(deterministic=True)
    return _ITEMS_TAG + _varint(len(encoded)) + encoded


def list_response(entries: list[bytes], tail: Message) -> bytes:
    """A list response's bytes: its `items` already encoded, then the rest of
    `tail` (count, next_page_token), which must leave `items` empty.

    The same bytes as the whole response encoded at once: a message's fields
    are written in field-number order, `items` (1) first, and a repeated
    field is the concatenation of its entries."""
    return b"".join(entries) + tail.SerializeToString(deterministic=True)


# Pages remembered as asked for: a 100-issue page is 100 entries, so a few
# times the pages the entries can hold.
_PAGES_MAX = 1_000


class IssueMessages:
    """Encoded issues, reused across list pages (the use cases' ViewCache).

    Turning a stored row into an Issue message costs tens of microseconds of
    Python, and a 100-issue page pays it a hundred times while the same
    recent issues are listed again and again; building the response from
    those messages and encoding it cost as much again. So what is kept is
    each issue already encoded as an `items` entry (`items_entry`), and a
    page is their concatenation (`list_response`).

    Entries are keyed by (uuid, version, prefix): every change to what an
    issue shows moves its version (or, for its identifier, the prefix), so
    an entry is never stale, and the etag in it, derived from the same key,
    is always the issue's current one. Nothing in an Issue depends on who
    asks, so one entry serves every caller. Old entries stop being asked for
    and fall out of the LRU.
    """

    def __init__(self, max_entries: int = 20_000) -> None:
        # About 300 bytes an entry on the benchmark's issues (and the key):
        # twice the 10,000 built messages kept before, in less memory.
        self._max = max_entries
        self._entries: collections.OrderedDict[PageKey, bytes] = collections.OrderedDict()
        # The parameters of the pages asked for lately: the use case reads the
        # rows of another page with its keys (app/issues.list_issues).
        self._pages: collections.OrderedDict[Hashable, None] = collections.OrderedDict()
        self._lock = threading.Lock()

    def get_many(self, keys: list[PageKey]) -> list[bytes | None]:
        # A page's keys under one lock: a get each, locked each, was 2 us a key.
        entries = self._entries
        get, move_to_end = entries.get, entries.move_to_end
        out = []
        with self._lock:
            for key in keys:
                found = get(key)
                if found is not None:
                    move_to_end(key)
                out.append(found)
        return out

    def put(self, key: PageKey, entry: bytes) -> None:
        with self._lock:
            self._entries[key] = entry
            self._entries.move_to_end(key)
            while len(self._entries) > self._max:
                self._entries.popitem(last=False)

    def build(self, view: IssueView) -> bytes:
        return items_entry(issue(view))

    def page_seen(self, page: Hashable) -> bool:
        with self._lock:
            seen = page in self._pages
            self._pages[page] = None
            self._pages.move_to_end(page)
            if len(self._pages) > _PAGES_MAX:
                self._pages.popitem(last=False)
            return seen
